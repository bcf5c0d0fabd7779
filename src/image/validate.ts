/**
 * Parsing image JSON from untrusted sources (size-capped, shape-checked) and the one
 * `validateImage` that every format's tests end with: digests, sizes, diff_ids and history.
 */
import { pipeline } from 'node:stream/promises';
import { ArchiveFormatError, DigestMismatchError } from '../errors.js';
import { devNull } from '../util/streams.js';
import { HashingStream, isDigest, sha256 } from '../util/digest.js';
import type { Image } from './image.js';
import type { Descriptor, ImageConfig, ImageIndex, Manifest } from './types.js';

/** Largest manifest, index or config strata will parse. */
export const MAX_JSON_BYTES = 8 * 1024 * 1024;

/** Parses a JSON document of at most MAX_JSON_BYTES. */
export function parseJsonCapped(raw: Buffer | string, where: string): unknown {
  const size = typeof raw === 'string' ? Buffer.byteLength(raw) : raw.length;
  if (size > MAX_JSON_BYTES) {
    throw new ArchiveFormatError(`${where}: JSON document of ${size} bytes exceeds the ${MAX_JSON_BYTES}-byte limit`, {
      hint: 'image manifests and configs are small; this archive is not a valid image',
    });
  }
  try {
    return JSON.parse(typeof raw === 'string' ? raw : raw.toString('utf8'));
  } catch (e) {
    throw new ArchiveFormatError(`${where}: invalid JSON: ${(e as Error).message}`, { hint: 'the archive is corrupt or not an image' });
  }
}

function fail(where: string, what: string): never {
  throw new ArchiveFormatError(`${where}: ${what}`, { hint: 'the archive is corrupt or not an image archive' });
}

function checkDescriptor(d: unknown, where: string): Descriptor {
  if (!d || typeof d !== 'object') fail(where, 'descriptor is not an object');
  const x = d as Record<string, unknown>;
  if (typeof x.mediaType !== 'string') fail(where, 'descriptor has no mediaType');
  if (!isDigest(x.digest)) fail(where, `descriptor has an invalid digest ${JSON.stringify(x.digest)}`);
  if (typeof x.size !== 'number' || !Number.isSafeInteger(x.size) || x.size < 0) fail(where, `descriptor ${x.digest} has an invalid size`);
  return x as unknown as Descriptor;
}

/** Parses and checks a manifest. */
export function parseManifest(raw: Buffer | string, where: string): Manifest {
  const m = parseJsonCapped(raw, where) as Record<string, unknown>;
  if (!m || typeof m !== 'object' || m.schemaVersion !== 2) fail(where, 'not a schema 2 manifest');
  const config = checkDescriptor(m.config, `${where} config`);
  if (!Array.isArray(m.layers)) fail(where, 'manifest has no layers array');
  const layers = m.layers.map((l, i) => checkDescriptor(l, `${where} layer ${i}`));
  return { ...(m as object), config, layers } as Manifest;
}

/** Parses and checks an index. */
export function parseIndex(raw: Buffer | string, where: string): ImageIndex {
  const m = parseJsonCapped(raw, where) as Record<string, unknown>;
  if (!m || typeof m !== 'object' || m.schemaVersion !== 2 || !Array.isArray(m.manifests)) fail(where, 'not an image index');
  return { ...(m as object), manifests: m.manifests.map((d, i) => checkDescriptor(d, `${where} manifest ${i}`)) } as ImageIndex;
}

/** Parses and checks an image config. */
export function parseConfig(raw: Buffer | string, where: string): ImageConfig {
  const c = parseJsonCapped(raw, where) as Record<string, unknown>;
  if (!c || typeof c !== 'object') fail(where, 'config is not an object');
  const rootfs = c.rootfs as { type?: unknown; diff_ids?: unknown } | undefined;
  if (!rootfs || rootfs.type !== 'layers' || !Array.isArray(rootfs.diff_ids)) fail(where, 'config has no rootfs.diff_ids');
  for (const d of rootfs.diff_ids) if (!isDigest(d)) fail(where, `config has an invalid diff_id ${JSON.stringify(d)}`);
  if (c.history !== undefined && !Array.isArray(c.history)) fail(where, 'config history is not an array');
  return c as unknown as ImageConfig;
}

/** What validateImage found (for reports). */
export interface ValidationReport {
  digest: string;
  layers: number;
  bytes: number;
}

/**
 * Reads the whole image and checks everything that can be checked: the config digest and size,
 * each layer blob's digest and size, each layer's diff_id, layer count against diff_ids, and that
 * history has one non-empty entry per layer. Throws DigestMismatchError / ArchiveFormatError.
 */
export async function validateImage(img: Image, where = 'image'): Promise<ValidationReport> {
  const manifest = await img.manifest();
  const rawConfig = await img.rawConfig();
  if (sha256(rawConfig) !== manifest.config.digest) {
    throw new DigestMismatchError(`${where}: config hashes to ${sha256(rawConfig)}, manifest says ${manifest.config.digest}`);
  }
  if (rawConfig.length !== manifest.config.size) fail(where, `config is ${rawConfig.length} bytes, manifest says ${manifest.config.size}`);
  const config = await img.config();
  const layers = await img.layers();
  if (layers.length !== config.rootfs.diff_ids.length || layers.length !== manifest.layers.length) {
    fail(where, `${manifest.layers.length} manifest layers, ${layers.length} layers, ${config.rootfs.diff_ids.length} diff_ids`);
  }
  if (config.history) {
    const nonEmpty = config.history.filter((h) => !h.empty_layer).length;
    if (nonEmpty !== layers.length) fail(where, `history has ${nonEmpty} non-empty entries for ${layers.length} layers`);
  }
  let bytes = 0;
  for (let i = 0; i < layers.length; i++) {
    const layer = layers[i]!;
    const desc = manifest.layers[i]!;
    const blob = new HashingStream();
    await pipeline(await layer.compressed(), blob, devNull());
    if (blob.digest() !== desc.digest) throw new DigestMismatchError(`${where}: layer ${i} blob hashes to ${blob.digest()}, manifest says ${desc.digest}`);
    if (blob.size !== desc.size) fail(where, `layer ${i} blob is ${blob.size} bytes, manifest says ${desc.size}`);
    const tar = new HashingStream();
    await pipeline(await layer.uncompressed(), tar, devNull());
    const diffId = config.rootfs.diff_ids[i]!;
    if (tar.digest() !== diffId) throw new DigestMismatchError(`${where}: layer ${i} uncompresses to ${tar.digest()}, config says ${diffId}`);
    if ((await layer.diffId()) !== diffId) fail(where, `layer ${i} reports diff_id ${await layer.diffId()}, config says ${diffId}`);
    bytes += blob.size;
  }
  return { digest: await img.digest(), layers: layers.length, bytes };
}
