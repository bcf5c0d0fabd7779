/**
 * Mark-and-sweep garbage collection. The store knows no image format, so the caller says what a
 * blob references (`children`: a manifest lists its config and layers, an index its manifests).
 * Marking starts from every ref target plus the caller's roots; every unmarked blob and every
 * unpacked layer whose diff_id is not live, nor the lower of a live patch layer, is swept.
 *
 * Racing writers. GC holds the "gc" lock exclusively from mark to sweep, and every commit of a
 * blob or layer and every ref update holds it shared, so nothing is added or named mid-GC. That
 * alone does not protect a build that has written blobs but not yet set its ref: those blobs look
 * unreferenced. Such writers take a lease (Store.withLease, a shared hold of the same lock for
 * the whole build), and GC waits for leases to end. As a second guard for lease-less callers,
 * only entries last modified before `start - graceMs` are swept (ingest refreshes the mtime of
 * content it finds already present), so a grace period covers short ingest-then-tag sequences.
 */
import { readdir } from 'node:fs/promises';
import type { BlobDescriptor, ContentStore } from './content.js';
import { isDigest, type Digest } from '../util/digest.js';
import { fsyncDir } from './durable.js';
import { treeSize, type LayerStore } from './layers.js';
import type { LockManager } from './lock.js';
import { GC_LOCK, type RefStore } from './refs.js';
import { cleanDeadTemp, deadTempEntries } from './temp.js';

/** Options of collectGarbage. */
export interface GcOptions {
  /** Digests a marked blob references (called once per existing marked blob). Default: none. */
  children?: (digest: Digest) => Iterable<string> | Promise<Iterable<string>>;
  /** diff_ids of unpacked layers to keep besides those equal to marked blob digests. */
  liveDiffIds?: Iterable<string>;
  /** Report what would be removed without removing anything. */
  dryRun?: boolean;
  /** Keep unmarked entries modified within this many ms before GC started (default 0). */
  graceMs?: number;
  /** How long to wait for leases and writers to finish (default: the store's lock timeout). */
  lockTimeoutMs?: number;
}

/** What a collection found and freed. In a dry run, "removed" means "would be removed". */
export interface GcReport {
  dryRun: boolean;
  /** When marking started (ISO 8601); the sweep cutoff is this minus graceMs. */
  startedAt: string;
  /** Number of reachable blobs present in the store. */
  marked: number;
  /** Reachable digests whose blob is absent (for example layers never pulled). */
  missing: Digest[];
  removedBlobs: BlobDescriptor[];
  removedLayers: { diffId: Digest; size: number }[];
  /** Unreachable entries kept because they are younger than the cutoff. */
  keptRecent: number;
  /** Leftover temp entries of dead writers that were removed (or would be). */
  removedTemp: string[];
  bytesFreed: number;
}

/** The store parts GC works on. */
export interface GcParts {
  content: ContentStore;
  refs: RefStore;
  layers: LayerStore;
  locks: LockManager;
  tmpDir: string;
}

/** Marks from refs + `roots` through `opts.children`, then sweeps under the exclusive "gc" lock. */
export async function collectGarbage(parts: GcParts, roots: Iterable<string>, opts: GcOptions = {}): Promise<GcReport> {
  const rootList = [...roots];
  return parts.locks.withLock(GC_LOCK, 'exclusive', async () => {
    const started = Date.now();
    const cutoff = started - (opts.graceMs ?? 0);
    const dryRun = opts.dryRun === true;
    const report: GcReport = {
      dryRun, startedAt: new Date(started).toISOString(), marked: 0, missing: [],
      removedBlobs: [], removedLayers: [], keptRecent: 0, removedTemp: [], bytesFreed: 0,
    };

    const marked = await mark(parts, rootList, opts.children, report);
    const live = new Set<string>(marked);
    for (const d of opts.liveDiffIds ?? []) live.add(d);

    for (const blob of await parts.content.listBlobs()) {
      if (marked.has(blob.digest)) continue;
      if (blob.mtimeMs >= cutoff) {
        report.keptRecent++;
        continue;
      }
      const freed = dryRun ? blob.size : await parts.content.deleteBlob(blob.digest, { sync: false });
      report.removedBlobs.push({ digest: blob.digest, size: blob.size });
      report.bytesFreed += freed;
    }
    if (!dryRun && report.removedBlobs.length > 0) await fsyncDir(parts.content.dir);

    const layers = await parts.layers.listLayers();
    // A live patch layer keeps the layer dir it stacks on (and that one its own lower).
    const lowerOf = new Map(layers.filter((l) => l.lower !== undefined).map((l) => [l.diffId as string, l.lower as string]));
    for (const d of [...live]) {
      for (let lower = lowerOf.get(d); lower !== undefined && !live.has(lower); lower = lowerOf.get(lower)) live.add(lower);
    }
    for (const layer of layers) {
      if (live.has(layer.diffId)) continue;
      if (layer.mtimeMs >= cutoff) {
        report.keptRecent++;
        continue;
      }
      const size = dryRun ? await treeSize(layer.path) : await parts.layers.removeLayerDir(layer.diffId);
      report.removedLayers.push({ diffId: layer.diffId, size });
      report.bytesFreed += size;
    }

    report.removedTemp = dryRun ? deadTempEntries(await readdir(parts.tmpDir)) : await cleanDeadTemp(parts.tmpDir);
    return report;
  }, { timeoutMs: opts.lockTimeoutMs });
}

/** Breadth-first walk from ref targets and roots; returns the digests of present, reachable blobs. */
async function mark(parts: GcParts, roots: string[], children: GcOptions['children'], report: GcReport): Promise<Set<string>> {
  const marked = new Set<string>();
  const missing = new Set<Digest>();
  const queue: Digest[] = [];
  const push = (d: string) => {
    if (isDigest(d) && !marked.has(d) && !missing.has(d)) queue.push(d);
  };
  for (const ref of await parts.refs.listRefs()) push(ref.digest);
  for (const d of roots) push(d);
  while (queue.length > 0) {
    const d = queue.shift()!;
    if (marked.has(d) || missing.has(d)) continue;
    if (!(await parts.content.hasBlob(d))) {
      missing.add(d);
      continue;
    }
    marked.add(d);
    // A throwing children() aborts the whole GC: sweeping after an incomplete mark loses data.
    if (children) for (const c of await children(d)) push(c);
  }
  report.marked = marked.size;
  report.missing = [...missing].sort();
  return marked;
}
