/**
 * What the buildah comparison compares, read the same way from both builders: each layer tar as
 * a sorted list of entry descriptions (hardlinks as groups, whiteouts by kind), an image's root
 * filesystem as a tree shape, its config with the fields neither builder must agree on removed,
 * and its history as (instruction, empty_layer) pairs.
 */
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { createReadStream, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import tarStream from 'tar-stream';
import { ImageStore } from '../../src/image/image-store.js';
import { exportImageToFile } from '../../src/image/export.js';
import { layerFiles } from '../../src/image/layer-files.js';
import type { ImageConfig } from '../../src/image/types.js';
import { treeShape, type PathShape } from '../fs/tree-compare.js';

/** One entry of a layer tar. */
export interface RawEntry {
  path: string;
  kind: string;
  mode: string;
  owner: string;
  link?: string;
  sha?: string;
  hardlinkTo?: string;
}

/** Lists a layer tar (plain or gzip) entry by entry. */
export async function readLayer(path: string): Promise<RawEntry[]> {
  const head = readFileSync(path).subarray(0, 2);
  const out: RawEntry[] = [];
  const extract = tarStream.extract();
  extract.on('entry', (h, stream, next) => {
    const path = h.name.replace(/^\.\//, '').replace(/\/$/, '');
    const base = path.split('/').pop()!;
    const e: RawEntry = { path, kind: h.type ?? 'file', mode: ((h.mode ?? 0) & 0o7777).toString(8), owner: `${h.uid ?? 0}:${h.gid ?? 0}` };
    if (base === '.wh..wh..opq') Object.assign(e, { kind: 'opaque', mode: '', owner: '' });
    else if (base.startsWith('.wh.')) Object.assign(e, { kind: 'whiteout', mode: '', owner: '' });
    else if (h.type === 'symlink') e.link = h.linkname ?? '';
    else if (h.type === 'link') e.hardlinkTo = (h.linkname ?? '').replace(/^\.\//, '');
    const hash = createHash('sha256');
    stream.on('data', (d) => hash.update(d as Buffer));
    stream.on('end', () => {
      if (h.type === 'file') e.sha = hash.digest('hex').slice(0, 16);
      out.push(e);
      next();
    });
    stream.resume();
  });
  const src = createReadStream(path);
  if (head[0] === 0x1f && head[1] === 0x8b) await pipeline(src, createGunzip(), extract);
  else await pipeline(src, extract);
  return out;
}

/**
 * A layer as sorted one-line descriptions. A hardlink is described like the file it links to,
 * with its group (which name a tar writer stores first is arbitrary).
 */
export function describeLayer(entries: RawEntry[]): string[] {
  const byPath = new Map(entries.map((e) => [e.path, e]));
  const groups = new Map<string, string[]>();
  for (const e of entries) {
    if (e.kind !== 'link' || !e.hardlinkTo) continue;
    const g = groups.get(e.hardlinkTo) ?? [e.hardlinkTo];
    g.push(e.path);
    groups.set(e.hardlinkTo, g);
  }
  const groupOf = new Map<string, string[]>();
  for (const g of groups.values()) for (const p of g) groupOf.set(p, [...g].sort());
  const out: string[] = [];
  for (const e of entries) {
    const target = e.kind === 'link' && e.hardlinkTo ? byPath.get(e.hardlinkTo) ?? e : e;
    const kind = e.kind === 'link' ? 'file' : e.kind;
    let line = `${e.path} ${kind}`;
    if (kind !== 'opaque' && kind !== 'whiteout') line += ` ${target.mode} ${target.owner}`;
    if (e.link !== undefined) line += ` -> ${e.link}`;
    if (target.sha) line += ` sha=${target.sha}`;
    const g = groupOf.get(e.path);
    if (g) line += ` links=[${g.join(',')}]`;
    out.push(line);
  }
  return out.sort();
}

/** The layer blobs of an OCI layout's only (or named) image, base first. */
export function ociLayerPaths(layout: string): string[] {
  const blob = (d: string) => join(layout, 'blobs', 'sha256', d.slice(7));
  const index = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
  const manifest = JSON.parse(readFileSync(blob(index.manifests[0]!.digest), 'utf8')) as { layers: { digest: string }[] };
  return manifest.layers.map((l) => blob(l.digest));
}

/** A strata image in a store: its config and its layer files. */
export async function strataImage(root: string, tag: string): Promise<{ config: ImageConfig; layers: string[] }> {
  const images = await ImageStore.open(root);
  const image = await images.resolve(tag);
  return { config: await image.image.config(), layers: (await layerFiles(images, image)).map((l) => l.path) };
}

/** The root filesystem of a strata image (`export`, extracted by GNU tar as root) in `work`/rootfs, and its shape. */
export async function strataTree(root: string, tag: string, work: string): Promise<{ dir: string; tree: Map<string, PathShape> }> {
  const images = await ImageStore.open(root);
  mkdirSync(work, { recursive: true });
  const tar = join(work, 'export.tar');
  await exportImageToFile(images, await images.resolve(tag), tar);
  const dir = join(work, 'rootfs');
  mkdirSync(dir);
  const r = spawnSync('tar', ['-x', '-p', '--numeric-owner', '--xattrs', '--xattrs-include=*', '-f', tar, '-C', dir], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`tar -x of strata's export failed: ${r.stderr}`);
  return { dir, tree: withoutMtimes(treeShape(dir)) };
}

/** A tree shape without file mtimes (the builders' clocks differ; mtimes are not compared). */
export function withoutMtimes(tree: Map<string, PathShape>): Map<string, PathShape> {
  for (const shape of tree.values()) delete shape.mtime;
  return tree;
}

/** Config fields whose values are only about how or where an image was built. */
const CONFIG_NOISE = new Set(['Hostname', 'Domainname', 'Image']);

/** A config with empty values and build-host noise removed (buildah writes every field, strata only set ones). */
export function normalizeConfig(config: Record<string, unknown> | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(config ?? {})) {
    if (CONFIG_NOISE.has(k)) continue;
    let value = v;
    if (k === 'Labels' && v && typeof v === 'object') {
      // buildah stamps its own version on every image it builds.
      value = Object.fromEntries(Object.entries(v).filter(([l]) => l !== 'io.buildah.version'));
    }
    if (value === null || value === false || value === '' || value === 0) continue;
    if (Array.isArray(value) && value.length === 0) continue;
    if (typeof value === 'object' && !Array.isArray(value) && Object.keys(value as object).length === 0) continue;
    out[k] = value;
  }
  return out;
}

/** The instruction a history entry records: strata writes `KIND ...`; buildah `/bin/sh -c #(nop) KIND ...`, or the bare command for RUN. */
export function historyKind(createdBy: string | undefined): string {
  const text = createdBy ?? '';
  const nop = /#\(nop\)\s+([A-Z]+)/.exec(text);
  if (nop) return nop[1]!;
  const word = /^([A-Z]+)\b/.exec(text);
  return word ? word[1]! : 'RUN';
}
