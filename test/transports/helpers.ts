/**
 * Shared helpers of the transport tests: scratch dirs (under the repo's .cache/tmp, because file
 * creation under /tmp is very slow on the CI machines), store snapshots, synthetic images and the
 * archives that docker 20.10, docker 25+, podman/skopeo and OCI layouts would hold them in.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { compressStream } from '../../src/compress/index.js';
import { repoRoot } from '../helpers/corpus.js';
import { dir as dirEntry, file, symlink, tar } from '../fs/hostile-tars.js';

/** A scratch directory under `<repo>/.cache/tmp` and its cleanup. */
export function scratch(prefix = 'transports-'): { dir: string; cleanup: () => void } {
  const base = join(repoRoot, '.cache', 'tmp');
  mkdirSync(base, { recursive: true });
  const dir = mkdtempSync(join(base, prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Everything that says what a store holds: blob names and sizes, and refs.json byte for byte. */
export function storeSnapshot(root: string): string {
  const blobs = join(root, 'blobs', 'sha256');
  const list = existsSync(blobs) ? readdirSync(blobs).sort().map((n) => `${n} ${statSync(join(blobs, n)).size}`) : [];
  const refs = join(root, 'refs.json');
  return JSON.stringify({ blobs: list, refs: existsSync(refs) ? readFileSync(refs, 'utf8') : null });
}

/** Names left under the store's tmp/ (staging dirs, temp blobs). */
export function storeTemp(root: string): string[] {
  const tmp = join(root, 'tmp');
  return existsSync(tmp) ? readdirSync(tmp) : [];
}

/** `sha256:<hex>` of a buffer. */
export function digestOf(b: Buffer): `sha256:${string}` {
  return `sha256:${createHash('sha256').update(b).digest('hex')}`;
}

/** The hex of a digest. */
export const hexOf = (d: string): string => d.slice('sha256:'.length);

/** A small layer tar with a directory and a few files (content varies with `seed`). */
export function layerTar(seed: string): Buffer {
  return tar(dirEntry(`${seed}/`), file(`${seed}/hello.txt`, `hello from ${seed}\n`), file(`${seed}/data.bin`, Buffer.alloc(3000, seed)));
}

/** Compresses a buffer with the project's zstd encoder. */
export async function zstdBuffer(b: Buffer): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of Readable.from([b]).pipe(compressStream('zstd'))) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** One layer of a synthetic image, as stored in an archive. */
export interface SynthLayer {
  tar: Buffer;
  diffId: `sha256:${string}`;
  blob: Buffer;
  digest: `sha256:${string}`;
  mediaType: string;
}

/** A synthetic image: config bytes and layers. */
export interface SynthImage {
  config: Buffer;
  id: `sha256:${string}`;
  layers: SynthLayer[];
}

/** Options of synthImage. */
export interface SynthOptions {
  compression?: 'none' | 'gzip' | 'zstd';
  /** Media type to claim for every layer (tests that media types may lie). */
  mediaType?: string;
  architecture?: string;
  /** Overrides the diff_ids written into the config. */
  diffIds?: string[];
  created?: string;
}

/** Builds a synthetic image from layer tars. */
export async function synthImage(tars: Buffer[], opts: SynthOptions = {}): Promise<SynthImage> {
  const c = opts.compression ?? 'none';
  const layers: SynthLayer[] = [];
  for (const t of tars) {
    const blob = c === 'gzip' ? gzipSync(t) : c === 'zstd' ? await zstdBuffer(t) : t;
    const mediaType = opts.mediaType ?? `application/vnd.oci.image.layer.v1.tar${c === 'none' ? '' : '+' + c}`;
    layers.push({ tar: t, diffId: digestOf(t), blob, digest: digestOf(blob), mediaType });
  }
  const config = Buffer.from(JSON.stringify({
    created: opts.created ?? '2024-01-01T00:00:00Z',
    architecture: opts.architecture ?? 'amd64',
    os: 'linux',
    config: { Cmd: ['/bin/sh'] },
    rootfs: { type: 'layers', diff_ids: opts.diffIds ?? layers.map((l) => l.diffId) },
    history: layers.map(() => ({ created: '2024-01-01T00:00:00Z', created_by: 'test' })),
  }));
  return { config, id: digestOf(config), layers };
}

/** The OCI manifest of a synthetic image. */
export function manifestOf(img: SynthImage): Buffer {
  return Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: img.id, size: img.config.length },
    layers: img.layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.blob.length })),
  }));
}

/** An archive as a list of entries, turned into tar bytes by archiveTar. */
export type ArchiveEntry = { name: string; data: Buffer } | { name: string; symlink: string } | { name: string; dir: true };

/** Tar bytes of archive entries. */
export function archiveTar(entries: ArchiveEntry[]): Buffer {
  return tar(...entries.map((e) => ('data' in e ? file(e.name, e.data) : 'symlink' in e ? symlink(e.name, e.symlink) : dirEntry(e.name))));
}

/** Entries of a docker 25+ style archive (blobs/sha256 + manifest.json + index.json + oci-layout). */
export function docker25Entries(images: { img: SynthImage; tags: string[] }[]): ArchiveEntry[] {
  const blobs = new Map<string, Buffer>();
  const index: unknown[] = [];
  const items = images.map(({ img, tags }) => {
    blobs.set(hexOf(img.id), img.config);
    for (const l of img.layers) blobs.set(hexOf(l.digest), l.blob);
    const m = manifestOf(img);
    blobs.set(hexOf(digestOf(m)), m);
    for (const t of tags) {
      index.push({ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: digestOf(m), size: m.length, annotations: { 'io.containerd.image.name': `docker.io/library/${t}`, 'org.opencontainers.image.ref.name': t.split(':')[1] } });
    }
    return { Config: `blobs/sha256/${hexOf(img.id)}`, RepoTags: tags, Layers: img.layers.map((l) => `blobs/sha256/${hexOf(l.digest)}`) };
  });
  return [
    { name: 'blobs/', dir: true },
    { name: 'blobs/sha256/', dir: true },
    ...[...blobs].map(([hex, data]) => ({ name: `blobs/sha256/${hex}`, data })),
    { name: 'index.json', data: Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: index })) },
    { name: 'manifest.json', data: Buffer.from(JSON.stringify(items)) },
    { name: 'oci-layout', data: Buffer.from('{"imageLayoutVersion": "1.0.0"}') },
  ];
}

/** Entries of a docker 1.10–24 archive: `<id>/layer.tar`, `<id>/json`, `<hex>.json`, manifest.json, repositories. */
export function legacyDockerEntries(img: SynthImage, tags: string[]): ArchiveEntry[] {
  const ids = img.layers.map((l, i) => createHash('sha256').update(`${i}:${l.diffId}`).digest('hex'));
  const entries: ArchiveEntry[] = [];
  img.layers.forEach((l, i) => {
    entries.push({ name: `${ids[i]}/`, dir: true }, { name: `${ids[i]}/VERSION`, data: Buffer.from('1.0') });
    entries.push({ name: `${ids[i]}/json`, data: Buffer.from(JSON.stringify({ id: ids[i] })) }, { name: `${ids[i]}/layer.tar`, data: l.blob });
  });
  entries.push({ name: `${hexOf(img.id)}.json`, data: img.config });
  entries.push({ name: 'manifest.json', data: Buffer.from(JSON.stringify([{ Config: `${hexOf(img.id)}.json`, RepoTags: tags, Layers: ids.map((id) => `${id}/layer.tar`) }])) });
  entries.push({ name: 'repositories', data: Buffer.from('{}') });
  return entries;
}

/** Entries of a podman/skopeo docker-archive: `<diffid>.tar` files with `<id>/layer.tar` symlinks to them. */
export function podmanDockerEntries(img: SynthImage, tags: string[]): ArchiveEntry[] {
  const entries: ArchiveEntry[] = [];
  const layerPaths: string[] = [];
  img.layers.forEach((l, i) => {
    const id = createHash('sha256').update(`v1:${i}`).digest('hex');
    entries.push({ name: `${hexOf(l.diffId)}.tar`, data: l.blob });
    entries.push({ name: `${id}/layer.tar`, symlink: `../${hexOf(l.diffId)}.tar` });
    layerPaths.push(`${id}/layer.tar`);
  });
  entries.push({ name: `${hexOf(img.id)}.json`, data: img.config });
  entries.push({ name: 'manifest.json', data: Buffer.from(JSON.stringify([{ Config: `${hexOf(img.id)}.json`, RepoTags: tags, Layers: layerPaths }])) });
  return entries;
}

/** Entries of an OCI layout; `refs` gives each manifest's index annotations. */
export function ociEntries(images: { img: SynthImage; annotations?: Record<string, string>; platform?: { os: string; architecture: string } }[], opts: { nestedIndex?: boolean } = {}): ArchiveEntry[] {
  const blobs = new Map<string, Buffer>();
  const descs = images.map(({ img, annotations, platform }) => {
    blobs.set(hexOf(img.id), img.config);
    for (const l of img.layers) blobs.set(hexOf(l.digest), l.blob);
    const m = manifestOf(img);
    blobs.set(hexOf(digestOf(m)), m);
    return { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: digestOf(m), size: m.length, ...(platform ? { platform } : {}), ...(annotations ? { annotations } : {}) };
  });
  let top: unknown[] = descs;
  if (opts.nestedIndex) {
    const nested = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: descs.map(({ annotations: _a, ...d }) => d) }));
    blobs.set(hexOf(digestOf(nested)), nested);
    top = [{ mediaType: 'application/vnd.oci.image.index.v1+json', digest: digestOf(nested), size: nested.length, annotations: images[0]?.annotations ?? {} }];
  }
  return [
    { name: 'oci-layout', data: Buffer.from('{"imageLayoutVersion":"1.0.0"}') },
    { name: 'index.json', data: Buffer.from(JSON.stringify({ schemaVersion: 2, manifests: top })) },
    ...[...blobs].map(([hex, data]) => ({ name: `blobs/sha256/${hex}`, data })),
  ];
}

/** Replaces (or adds) an entry's data. */
export function withEntry(entries: ArchiveEntry[], name: string, data: Buffer): ArchiveEntry[] {
  const out = entries.filter((e) => e.name !== name);
  out.push({ name, data });
  return out;
}
