/**
 * `save`: images from the store to one tar that is both a docker-archive and an OCI image layout
 * (see archive-layout.ts). Layers leave the store uncompressed; with gzip or zstd each is first
 * compressed into a staged temp file, because a tar header needs the blob's size and the OCI
 * layout its digest before the data. Store blobs are re-hashed as they are read. Memory stays
 * flat: everything streams, and only the JSON documents are held whole.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { join } from 'node:path';
import { rm, writeFile } from 'node:fs/promises';
import type { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { compressStream } from '../compress/index.js';
import { StoreError } from '../errors.js';
import { TarWriter, type TarWriteHeader } from '../fs/tar-writer.js';
import type { ImageStore } from '../image/image-store.js';
import { COMPRESSION_ANNOTATION, MediaType, ociLayerType } from '../image/media-types.js';
import type { Image } from '../image/image.js';
import type { Descriptor } from '../image/types.js';
import { writeOutputFile, writeOutputPath } from '../util/atomic-output.js';
import { copyRanges, copyRangesHelper, type Range } from '../util/copy-ranges.js';
import { isNoSpace, noSpaceError, removeQuiet } from '../store/durable.js';
import { digestHex, HashingStream, sha256, type Digest } from '../util/digest.js';
import {
  archiveDockerManifest, archiveIndex, archiveManifest, archiveRepositories, ArchiveFile, blobEntryName, OCI_LAYOUT_CONTENT,
  type ArchivedImage,
} from './archive-layout.js';
import { selectImages } from './select-images.js';

/** How `save` compresses layers (docker's default is none). */
export type SaveCompression = 'none' | 'gzip' | 'zstd';

/** Options of saveImages. */
export interface SaveOptions {
  compression?: SaveCompression;
}

/** One image written, with the full names recorded for it. */
export interface SavedImage {
  id: Digest;
  names: string[];
}

/** What saveImages wrote. */
export interface SaveResult {
  images: SavedImage[];
  /** Bytes of the tar. */
  bytes: number;
}

/** One file of the archive: its bytes in memory, or a file (a store blob, checked against its digest, or a staged one). */
interface PlannedBlob {
  size: number;
  mtime: number;
  data: Buffer | { path: string; storeDigest?: Digest };
}

/** The archive's entries in order, each a header and its data. */
interface ArchiveEntry {
  header: TarWriteHeader;
  data?: PlannedBlob['data'];
}

/**
 * Writes the images named by `args` (names, IDs, `repo` for all its tags, as `docker save`) to
 * `out` as one tar, and writes the end-of-archive marker; `out` is not ended. Holds a lease, so
 * GC cannot remove a blob while it is being read. Rejects with NotFoundError for unknown images,
 * DigestMismatchError when a store blob is damaged.
 */
export function saveImages(images: ImageStore, args: readonly string[], out: Writable, opts: SaveOptions = {}): Promise<SaveResult> {
  return saveWith(images, args, opts, (entries) => streamArchive(images, entries, out));
}

/**
 * saveImages into a file, atomically: written to a temp file beside `path`, fsynced, renamed.
 * On failure the temp file is removed and an existing `path` is left as it was. Blob bytes are
 * copied inside the kernel (util/copy-ranges.ts) while the store blobs are read and checked
 * here; without the helper the archive is streamed as for saveImages.
 */
export function saveImagesToFile(images: ImageStore, args: readonly string[], path: string, opts: SaveOptions = {}): Promise<SaveResult> {
  const helper = copyRangesHelper();
  if (!helper) return writeOutputFile(path, 'SAVE_OUTPUT', (out) => saveImages(images, args, out, opts));
  return writeOutputPath(path, 'SAVE_OUTPUT', (tmp) => saveWith(images, args, opts, (entries) => copyArchive(images, entries, tmp, helper)));
}

/** Plans the archive of the images named by `args` and hands its entries to `write` (which returns the bytes written). */
async function saveWith(images: ImageStore, args: readonly string[], opts: SaveOptions, write: (entries: ArchiveEntry[]) => Promise<number>): Promise<SaveResult> {
  const store = images.store;
  return store.withLease(async () => {
    const selected = await selectImages(images, args);
    // Without --compression, an image built with `build --compression` keeps that choice.
    const compressionOf = async (image: Image): Promise<SaveCompression> =>
      opts.compression ?? (((await image.manifest()).annotations?.[COMPRESSION_ANNOTATION] as SaveCompression | undefined) ?? 'none');
    const kinds = await Promise.all(selected.map((s) => compressionOf(s.stored.image)));
    const staging = kinds.every((k) => k === 'none') ? undefined : await store.stagingDir('save');
    try {
      const blobs = new Map<string, PlannedBlob>();
      const layerBlobs = new Map<Digest, Descriptor>(); // diff_id → blob as written
      const archived: ArchivedImage[] = [];
      const indexed: { manifest: Descriptor; names: string[] }[] = [];
      for (const [i, sel] of selected.entries()) {
        const img = sel.stored.image;
        const compression = kinds[i]!;
        const manifest = await img.manifest();
        const rawConfig = await img.rawConfig();
        const config = await img.config();
        const mtime = createdSeconds(config.created);
        const diffIds = config.rootfs.diff_ids;
        if (manifest.layers.length !== diffIds.length || manifest.layers.some((l, i) => l.digest !== diffIds[i])) {
          throw new StoreError(`image ${sel.stored.id}: stored layers are not the config's uncompressed diff_ids`, {
            hint: 'the store is damaged; remove the image and load or build it again',
          });
        }
        const layers: Descriptor[] = [];
        for (const diffId of diffIds) {
          let desc = layerBlobs.get(`${compression}:${diffId}` as Digest);
          if (!desc) {
            desc = await planLayer(images, diffId, compression, staging, blobs, mtime);
            layerBlobs.set(`${compression}:${diffId}` as Digest, desc);
          }
          layers.push(desc);
        }
        blobs.set(blobEntryName(sel.stored.id), { size: rawConfig.length, mtime, data: rawConfig });
        const a: ArchivedImage = { configDigest: sel.stored.id, configSize: rawConfig.length, layers, diffIds: [...diffIds], names: sel.names };
        const rawManifest = archiveManifest(a);
        const manifestDigest = sha256(rawManifest);
        blobs.set(blobEntryName(manifestDigest), { size: rawManifest.length, mtime: 0, data: rawManifest });
        archived.push(a);
        indexed.push({ manifest: { mediaType: MediaType.ociManifest, digest: manifestDigest, size: rawManifest.length }, names: sel.names });
      }

      const entries: ArchiveEntry[] = [];
      const dir = { type: 'dir' as const, mode: 0o755, uid: 0, gid: 0, size: 0, mtime: 0 };
      entries.push({ header: { ...dir, name: `${ArchiveFile.blobsDir}/` } }, { header: { ...dir, name: `${ArchiveFile.blobsDir}/sha256/` } });
      for (const name of [...blobs.keys()].sort()) {
        const b = blobs.get(name)!;
        entries.push({ header: fileHeader(name, b.size, b.mtime), data: b.data });
      }
      const docs: [string, Buffer | undefined][] = [
        [ArchiveFile.index, archiveIndex(indexed)],
        [ArchiveFile.manifest, archiveDockerManifest(archived)],
        [ArchiveFile.ociLayout, Buffer.from(OCI_LAYOUT_CONTENT)],
        [ArchiveFile.repositories, archiveRepositories(archived)],
      ];
      for (const [name, data] of docs) if (data) entries.push({ header: fileHeader(name, data.length, 0), data });
      const bytes = await write(entries);
      return { images: selected.map((s) => ({ id: s.stored.id, names: s.names })), bytes };
    } finally {
      if (staging) await removeQuiet(staging);
    }
  });
}


/** Plans one layer blob: the store's uncompressed blob as it is, or a compressed staged copy. */
async function planLayer(
  images: ImageStore,
  diffId: Digest,
  compression: SaveCompression,
  staging: string | undefined,
  blobs: Map<string, PlannedBlob>,
  mtime: number,
): Promise<Descriptor> {
  const store = images.store;
  if (compression === 'none' || !staging) {
    const info = await store.statBlob(diffId);
    if (!info) throw new StoreError(`layer ${diffId} is missing from the store`, { hint: 'the store is damaged; remove the image and load or build it again' });
    blobs.set(blobEntryName(diffId), { size: info.size, mtime, data: { path: store.blobPath(diffId), storeDigest: diffId } });
    return { mediaType: MediaType.ociLayer, digest: diffId, size: info.size };
  }
  const path = join(staging, digestHex(diffId));
  const hash = new HashingStream();
  try {
    await pipeline(await store.openBlob(diffId, { verify: true }), compressStream(compression), hash, createWriteStream(path, { flags: 'wx' }));
  } catch (e) {
    if (isNoSpace(e)) throw noSpaceError(`compressing layer ${diffId}`, e);
    throw e;
  }
  const digest = hash.digest();
  blobs.set(blobEntryName(digest), { size: hash.size, mtime, data: { path } });
  return { mediaType: ociLayerType(compression), digest, size: hash.size };
}

function fileHeader(name: string, size: number, mtime: number) {
  return { name, type: 'file' as const, mode: 0o644, uid: 0, gid: 0, size, mtime };
}

/** The image's creation time in whole seconds (docker stamps config and layer blobs with it), else 0. */
function createdSeconds(created: string | undefined): number {
  const t = created === undefined ? NaN : Date.parse(created);
  return Number.isFinite(t) && t > 0 ? Math.floor(t / 1000) : 0;
}

/** Writes the entries to `out` as a tar, store blobs checked as they stream; returns the bytes written. */
async function streamArchive(images: ImageStore, entries: readonly ArchiveEntry[], out: Writable): Promise<number> {
  const tar = new TarWriter(out);
  for (const e of entries) {
    const d = e.data;
    const data = d === undefined || Buffer.isBuffer(d) ? d : d.storeDigest ? await images.store.openBlob(d.storeDigest, { verify: true }) : createReadStream(d.path);
    await tar.entry(e.header, data);
  }
  await tar.finish();
  return tar.bytes;
}

/**
 * Writes the entries to the new file `out` with the copy-ranges helper: headers, padding and the
 * small documents go to a side file first, and every piece is then a range of that file or of a
 * blob file. Meanwhile each store blob is verified (Store.verifyBlob), so a damaged blob fails
 * the save as it does when streaming. Returns the bytes written.
 */
async function copyArchive(images: ImageStore, entries: readonly ArchiveEntry[], out: string, helper: string): Promise<number> {
  const literal: Buffer[] = [];
  let literalSize = 0;
  const sources = [`${out}.head`];
  const ranges: Range[] = [];
  const lit = (b: Buffer) => {
    if (b.length === 0) return;
    const last = ranges[ranges.length - 1];
    if (last && last.source === 0 && last.offset + last.length === literalSize) last.length += b.length;
    else ranges.push({ source: 0, offset: literalSize, length: b.length });
    literal.push(b);
    literalSize += b.length;
  };
  const checks: Digest[] = [];
  for (const e of entries) {
    lit(TarWriter.headerBytes(e.header));
    const d = e.data;
    if (d === undefined) continue;
    if (Buffer.isBuffer(d)) lit(d);
    else {
      ranges.push({ source: sources.length, offset: 0, length: e.header.size });
      sources.push(d.path);
      if (d.storeDigest) checks.push(d.storeDigest);
    }
    lit(TarWriter.paddingBytes(e.header.size));
  }
  lit(TarWriter.TRAILER);
  await writeFile(sources[0]!, Buffer.concat(literal), { flag: 'wx', mode: 0o600 });
  try {
    const copying = copyRanges(helper, { sources, outputs: [{ path: out, ranges }] });
    copying.catch(() => undefined); // awaited below, after the checks
    let checked: unknown;
    try {
      for (const digest of checks) await images.store.verifyBlob(digest);
    } catch (e) {
      checked = e;
    }
    await copying;
    if (checked) throw checked;
  } finally {
    await rm(sources[0]!, { force: true });
  }
  return ranges.reduce((n, r) => n + r.length, 0);
}
