/**
 * `load`: images from a docker-archive (docker 1.10+, podman, skopeo), an OCI layout tar or an
 * OCI layout directory into the store. Three phases, so that a bad archive never touches the
 * store: stage (one streaming pass: hash, decompress, validate; load-stage.ts), check (resolve
 * manifest.json or index.json, match every blob to its digest and every layer to its diff_id;
 * load-docker.ts, load-oci.ts), commit (move staged layers into the blob store without copying,
 * then write config, manifest and names under a lease). The staging directory is removed
 * whatever happens; if the process dies, the next store open removes it.
 */
import { closeSync, createReadStream, openSync, readSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { detectCompression } from '../compress/index.js';
import { ArchiveFormatError } from '../errors.js';
import { tarIndexEntries } from '../fs/tar-index.js';
import { copyRanges, copyRangesHelper } from '../util/copy-ranges.js';
import type { Platform } from '../dockerfile/scope.js';
import type { ImageStore } from '../image/image-store.js';
import { removeQuiet } from '../store/durable.js';
import type { Digest } from '../util/digest.js';
import { ArchiveFile } from './archive-layout.js';
import { dockerArchiveImages } from './load-docker.js';
import { ociLayoutImages } from './load-oci.js';
import { notAnImageArchive, optionalFile, type PlannedImage, type StagedArchive } from './load-plan.js';
import { directoryEntries, tarEntries } from './load-source.js';
import { stageEntries, type SourceEntry } from './load-stage.js';

/** Options of the load functions. */
export interface LoadOptions {
  /** Platform to take from multi-platform indexes (default: the host's). */
  platform?: Platform;
  /** Called after each image is committed (for progress output). */
  onImage?: (img: LoadedImage) => void;
  /** loadArchiveFile: entries at least this big are copied in the kernel (default 256 KiB). */
  kernelCopyMin?: number;
}

/** One image stored by a load. */
export interface LoadedImage {
  id: Digest;
  manifestDigest: Digest;
  /** Full names set (`docker.io/library/busybox:latest`); empty when the archive named none. */
  names: string[];
}

/** What a load stored. */
export interface LoadResult {
  images: LoadedImage[];
}

/**
 * Loads every image of a tar stream (docker-archive or OCI layout, plain or compressed as a
 * whole). `label` names the source in messages (`archive busybox.tar`). Rejects with
 * ArchiveFormatError, DigestMismatchError or UnsafeArchiveError naming the entry and the rule,
 * and then the store is unchanged.
 */
export function loadArchive(images: ImageStore, input: Readable, label: string, opts: LoadOptions = {}): Promise<LoadResult> {
  return loadEntries(images, tarEntries(input, label), label, opts);
}

/** Entries smaller than this are written from Node: a helper range saves nothing on them. */
const MIN_KERNEL_COPY = 256 * 1024;

/**
 * loadArchive from a file. For a tar that is not compressed as a whole, the bytes of its large
 * uncompressed entries (the layers) are copied into the staging dir inside the kernel
 * (util/copy-ranges.ts) while the entries are read, hashed and checked here as for a stream; the
 * file must not change meanwhile (checked). Otherwise, or without the helper, it is streamed.
 */
export async function loadArchiveFile(images: ImageStore, path: string, label: string, opts: LoadOptions = {}): Promise<LoadResult> {
  const helper = copyRangesHelper();
  const before = helper ? await stat(path) : undefined;
  const plan = before?.isFile() ? planCopies(path, label, opts.kernelCopyMin ?? MIN_KERNEL_COPY) : undefined;
  if (!helper || !before || !plan || plan.length === 0) return loadArchive(images, createReadStream(path, { highWaterMark: 1 << 20 }), label, opts);
  return loadStaged(images, opts, async (dir) => {
    const precopied = new Map(plan.map((p, i) => [p.name, join(dir, `c${i}`)]));
    const copying = copyRanges(helper, {
      sources: [path],
      outputs: plan.map((p, i) => ({ path: join(dir, `c${i}`), ranges: [{ source: 0, offset: p.offset, length: p.size }] })),
    });
    copying.catch(() => undefined); // awaited below
    let staged;
    try {
      staged = await stageEntries(tarEntries(createReadStream(path, { highWaterMark: 1 << 20 }), label), dir, label, precopied);
    } finally {
      await copying.catch((e: Error) => {
        throw new ArchiveFormatError(`${label}: cannot copy its layers: ${e.message}`, { cause: e });
      });
    }
    const after = await stat(path);
    if (after.size !== before.size || after.mtimeMs !== before.mtimeMs || after.ctimeMs !== before.ctimeMs || after.ino !== before.ino) {
      throw new ArchiveFormatError(`${label}: the file changed while it was loaded`, { hint: 'load it again once nothing writes to it; nothing was stored' });
    }
    return staged;
  });
}

/** Entries of an uncompressed tar file worth copying in the kernel: big regular files whose first bytes show no compression. */
function planCopies(path: string, label: string, min: number): { name: string; offset: number; size: number }[] | undefined {
  const fd = openSync(path, 'r');
  try {
    const head = Buffer.alloc(8);
    if (detectCompression(head.subarray(0, readSync(fd, head, 0, 8, 0))) !== 'none') return undefined;
    const out: { name: string; offset: number; size: number }[] = [];
    const seen = new Set<string>();
    for (const e of tarIndexEntries(fd, { label, maxEntrySize: Number.MAX_SAFE_INTEGER })) {
      if (e.type !== 'file' || e.size < min || seen.has(e.name)) continue;
      seen.add(e.name);
      const n = readSync(fd, head, 0, 8, e.dataOffset);
      if (detectCompression(head.subarray(0, n)) === 'none') out.push({ name: e.name, offset: e.dataOffset, size: e.size });
    }
    return out;
  } catch {
    return undefined; // a malformed archive: the streaming path reports it properly
  } finally {
    closeSync(fd);
  }
}

/** Loads every image of an OCI layout directory. Same guarantees as loadArchive. */
export function loadLayoutDirectory(images: ImageStore, dir: string, opts: LoadOptions = {}): Promise<LoadResult> {
  return loadEntries(images, directoryEntries(dir), `layout ${dir}`, opts);
}

function loadEntries(images: ImageStore, entries: AsyncIterable<SourceEntry>, label: string, opts: LoadOptions): Promise<LoadResult> {
  return loadStaged(images, opts, (dir) => stageEntries(entries, dir, label));
}

/** Stages an archive into a fresh staging dir with `stage`, finds its images and commits them; the dir goes either way. */
async function loadStaged(images: ImageStore, opts: LoadOptions, stage: (dir: string) => Promise<StagedArchive>): Promise<LoadResult> {
  const dir = await images.store.stagingDir('load');
  try {
    const planned = await planImages(await stage(dir), opts.platform);
    return await commit(images, planned, opts);
  } finally {
    await removeQuiet(dir);
  }
}

/** Finds the images of a staged archive: manifest.json when present (docker-archive), else index.json. */
export async function planImages(staged: StagedArchive, platform?: Platform): Promise<PlannedImage[]> {
  const manifest = optionalFile(staged, ArchiveFile.manifest);
  if (manifest) return dockerArchiveImages(staged, manifest);
  const index = optionalFile(staged, ArchiveFile.index);
  if (index) return ociLayoutImages(staged, index, platform);
  throw notAnImageArchive(staged);
}

/** Moves the layers in and writes each image, holding a lease so GC cannot sweep between the two. */
async function commit(images: ImageStore, planned: readonly PlannedImage[], opts: LoadOptions): Promise<LoadResult> {
  const store = images.store;
  return store.withLease(async () => {
    const out: LoadedImage[] = [];
    for (const img of planned) {
      for (const layer of img.layers) {
        const have = await store.statBlob(layer.diffId);
        if (have?.size !== layer.size) await store.adoptFile(layer.path, layer.diffId, layer.size);
      }
      const { manifestDigest, id } = await images.commitImage(img.rawConfig, img.layers.map((l) => ({ digest: l.diffId, size: l.size })), img.names, { keepUnnamed: true });
      const loaded = { id, manifestDigest, names: [...img.names] };
      out.push(loaded);
      opts.onImage?.(loaded);
    }
    return { images: out };
  });
}
