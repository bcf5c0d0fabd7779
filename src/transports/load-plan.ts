/**
 * What `load` has once an archive is staged, and what it will commit: the staged entries (see
 * load-stage.ts) and, per image, its config and the staged uncompressed layer files. Also the
 * lookups both archive formats share: entries by path (symlinks followed), JSON documents
 * (size-capped), and layers checked against their diff_ids.
 */
import { readFile } from 'node:fs/promises';
import { ArchiveFormatError, DigestMismatchError } from '../errors.js';
import { MAX_JSON_BYTES, parseJsonCapped } from '../image/validate.js';
import type { Descriptor } from '../image/types.js';
import type { Digest } from '../util/digest.js';
import { resolveInArchive } from './archive-path.js';
import { blobEntryName } from './archive-layout.js';

/** An entry's content as an uncompressed layer tar, staged on disk. */
export interface StagedLayer {
  path: string;
  diffId: Digest;
  size: number;
  /** Why the tar failed the extraction rules (raised only if the entry is used as a layer). */
  problem?: unknown;
}

/** One regular file of the archive, hashed and staged. */
export interface StagedFile {
  name: string;
  /** Size and sha256 of the entry's bytes as stored in the archive. */
  size: number;
  digest: Digest;
  /** 'none', or the compression its magic bytes showed. */
  compression: string;
  /** The raw bytes on disk (uncompressed entries only; a compressed entry is kept decompressed). */
  rawPath?: string;
  /** Set when the content reads as a tar (after decompression). */
  layer?: StagedLayer;
}

/** A whole staged archive. */
export interface StagedArchive {
  /** `archive FILE`, the prefix of every message. */
  label: string;
  /** The staging directory (removed after the load, whatever happens). */
  dir: string;
  files: Map<string, StagedFile>;
  /** Symlink entries: cleaned name → target as written. */
  symlinks: Map<string, string>;
}

/** A layer ready to enter the store. */
export interface PlannedLayer {
  diffId: Digest;
  size: number;
  path: string;
}

/** An image ready to be committed. */
export interface PlannedImage {
  /** Where it came from, for messages (`manifest.json[0]`, `index.json manifests[1]`). */
  where: string;
  rawConfig: Buffer;
  id: Digest;
  layers: PlannedLayer[];
  /** Full names (`docker.io/library/busybox:latest`). */
  names: string[];
}

/** Finds the file a document path names (symlinks followed). Throws ArchiveFormatError when absent. */
export function fileAt(a: StagedArchive, path: string, where: string): StagedFile {
  const resolved = resolveInArchive(path, a.symlinks, where, a.label);
  const f = a.files.get(resolved);
  if (!f) {
    throw new ArchiveFormatError(`${a.label}: ${where} names ${JSON.stringify(path)}, which is not a file in the archive`, {
      hint: 'the archive is incomplete or corrupt',
    });
  }
  return f;
}

/** The blob a descriptor points at, with its digest and size checked. */
export function blobFor(a: StagedArchive, desc: Descriptor, where: string): StagedFile {
  const f = fileAt(a, blobEntryName(desc.digest), where);
  if (f.digest !== desc.digest) {
    throw new DigestMismatchError(`${a.label}: entry ${JSON.stringify(f.name)}: content hashes to ${f.digest}, but ${where} says ${desc.digest}`, {
      hint: 'the archive is corrupt or was tampered with',
    });
  }
  if (f.size !== desc.size) {
    throw new ArchiveFormatError(`${a.label}: entry ${JSON.stringify(f.name)}: ${f.size} bytes, but ${where} says ${desc.size}`, {
      hint: 'the archive is corrupt',
    });
  }
  return f;
}

/** Reads a staged file as a JSON document, refusing compressed entries and anything over MAX_JSON_BYTES. */
export async function readJson(a: StagedArchive, f: StagedFile, what: string): Promise<{ raw: Buffer; value: unknown }> {
  const where = `${a.label}: entry ${JSON.stringify(f.name)} (${what})`;
  if (f.size > MAX_JSON_BYTES) {
    throw new ArchiveFormatError(`${where}: JSON document of ${f.size} bytes exceeds the ${MAX_JSON_BYTES}-byte limit`, {
      hint: 'image manifests and configs are small; this archive is not a valid image',
    });
  }
  if (!f.rawPath) throw new ArchiveFormatError(`${where}: entry is ${f.compression}-compressed, expected a JSON document`);
  const raw = await readFile(f.rawPath);
  return { raw, value: parseJsonCapped(raw, where) };
}

/** An optional root document (`manifest.json`, `index.json`), or undefined when the archive has none. */
export function optionalFile(a: StagedArchive, name: string): StagedFile | undefined {
  try {
    return fileAt(a, name, name);
  } catch (e) {
    if (e instanceof ArchiveFormatError) return undefined;
    throw e;
  }
}

/**
 * Checks that `f` is an uncompressed-or-compressed tar whose content hashes to `diffId` and passed
 * the extraction rules; returns the staged layer. Errors name the entry and the rule.
 */
export function layerOf(a: StagedArchive, f: StagedFile, diffId: Digest, where: string): PlannedLayer {
  const entry = `${a.label}: entry ${JSON.stringify(f.name)} (${where})`;
  if (!f.layer) throw new ArchiveFormatError(`${entry}: not a layer tar (${f.compression === 'none' ? 'no tar header' : `${f.compression} data that is not a tar`})`);
  if (f.layer.problem !== undefined) throw f.layer.problem;
  if (f.layer.diffId !== diffId) {
    throw new DigestMismatchError(`${entry}: uncompressed layer hashes to ${f.layer.diffId}, but the config's diff_id is ${diffId}`, {
      hint: 'the layer does not belong to this image, or the archive is corrupt',
    });
  }
  return { diffId, size: f.layer.size, path: f.layer.path };
}

/** Thrown when the archive holds neither manifest.json nor index.json. */
export function notAnImageArchive(a: StagedArchive): ArchiveFormatError {
  return new ArchiveFormatError(`${a.label}: neither manifest.json nor index.json found: not a docker-archive or OCI layout`, {
    hint: 'load reads `docker save`/`podman save`/`skopeo copy` archives and OCI image layouts',
  });
}
