/**
 * The one extraction engine for untrusted layer tars (OCI changesets): it unpacks a layer into
 * its own directory for use as an overlayfs lower dir ('overlay'), or applies it onto an existing
 * tree ('merge'). Names are cleaned and validated, nothing is written through a symlink, hardlinks
 * stay inside, whiteouts act only where they may, and file data is streamed. The rules live in
 * layer-rules.ts, shared with validateLayer (which checks a layer without writing it) and
 * flatten; see tree-writer.ts for how writes are kept inside the target.
 */
import { realpathSync, statSync } from 'node:fs';
import { NotFoundError } from '../errors.js';
import { LayerApplyError } from './apply-errors.js';
import { readTarEntries } from './tar-entries.js';
import { TreeWriter } from './tree-writer.js';
import type { ApplyMode } from './tree-writer.js';

export type { ApplyMode } from './tree-writer.js';
export { LayerApplyError } from './apply-errors.js';

/** Options of applyLayer. */
export interface ApplyOptions {
  /**
   * 'overlay': the target starts empty; `.wh.x` becomes an overlay whiteout (char device 0:0) and
   * `.wh..wh..opq` sets `trusted.overlay.opaque=y` on its directory (needs root).
   * 'merge': the target holds the lower layers' content; `.wh.x` deletes x and an opaque marker
   * deletes its directory's pre-existing children. Either way a whiteout never removes what this
   * same layer writes (image-spec: whiteouts apply to lower layers only).
   */
  mode: ApplyMode;
  /** Keep uid/gid and setuid/setgid/sticky bits (default: the process is root). */
  sameOwner?: boolean;
  /** Aborting rejects with the signal's reason; the target is then left partly written. */
  signal?: AbortSignal;
  /** Prefix of every message, e.g. `layer sha256:abc…` (default `layer`). */
  label?: string;
  /** Largest accepted entry size in bytes (default 1 TiB). */
  maxEntrySize?: number;
}

/** What applyLayer did. */
export interface ApplyStats {
  /** Tar entries read (including whiteouts and skipped ones). */
  entries: number;
  /** File data bytes written. */
  bytes: number;
  /** Non-fatal problems: device nodes skipped when not root, xattrs the filesystem refused, dropped overlay xattrs. */
  warnings: string[];
}

/** Default for ApplyOptions.maxEntrySize: 1 TiB. */
export const DEFAULT_MAX_ENTRY_SIZE = 2 ** 40;

/**
 * Extracts an uncompressed layer tar stream into targetDir; never writes outside it. Throws
 * UnsafeArchiveError (rule broken), ArchiveFormatError (malformed tar), NoSpaceError, or
 * LayerApplyError (other filesystem failures), each naming the entry. On failure the target is
 * left partly written: extract into a fresh directory and rename it into place on success.
 */
export async function applyLayer(tar: NodeJS.ReadableStream, targetDir: string, opts: ApplyOptions): Promise<ApplyStats> {
  const label = opts.label ?? 'layer';
  const isRoot = process.geteuid?.() === 0;
  const root = resolveTarget(targetDir, label);
  const writer = new TreeWriter(root, {
    mode: opts.mode,
    sameOwner: opts.sameOwner ?? isRoot,
    isRoot,
    label,
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
  let entries = 0;
  try {
    const reader = readTarEntries(tar, {
      label,
      maxEntrySize: opts.maxEntrySize ?? DEFAULT_MAX_ENTRY_SIZE,
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
    for await (const entry of reader) {
      opts.signal?.throwIfAborted();
      entries++;
      await writer.apply(entry);
    }
    opts.signal?.throwIfAborted();
    writer.finish();
  } catch (err) {
    if (opts.signal?.aborted) throw opts.signal.reason;
    throw err;
  }
  return { entries, bytes: writer.bytes, warnings: writer.warnings };
}

function resolveTarget(targetDir: string, label: string): string {
  let root: string;
  try {
    root = realpathSync(targetDir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new NotFoundError(`${label}: target directory ${JSON.stringify(targetDir)} does not exist`, { cause: err });
    }
    throw new LayerApplyError(`${label}: cannot open target directory ${JSON.stringify(targetDir)}: ${(err as Error).message}`, { cause: err });
  }
  if (!statSync(root).isDirectory()) {
    throw new LayerApplyError(`${label}: target ${JSON.stringify(targetDir)} is not a directory`);
  }
  return root;
}
