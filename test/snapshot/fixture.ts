/**
 * Helpers for the snapshot tests: scratch dirs under <repo>/.cache/tmp (ext4, like the store; an
 * overlay upper dir there keeps trusted xattrs), overlay mounts, a full description of a tree
 * (to compare a merged view with a layer applied onto a copy of its lower dir), and reading a
 * diff tar back.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { readTarEntries } from '../../src/fs/tar-entries.js';
import { readXattrsSync } from '../../src/fs/xattr.js';
import { writeDiffTar } from '../../src/snapshot/diff-tar.js';
import type { DiffOptions, DiffResult } from '../../src/snapshot/diff-tar.js';
import { repoRoot } from '../helpers/corpus.js';

/** True when running as root (overlay mounts, chown, devices, trusted xattrs). */
export const isRoot = process.geteuid?.() === 0;

/** A fresh scratch directory under <repo>/.cache/tmp; remove it with rmSync when done. */
export function scratchDir(prefix: string): string {
  const base = join(repoRoot, '.cache', 'tmp');
  mkdirSync(base, { recursive: true });
  return mkdtempSync(join(base, `${prefix}-`));
}

/** Runs a command, failing the test with its stderr when it exits non-zero. */
export function run(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')}: ${r.stderr || r.error?.message}`);
  return r.stdout;
}

/** An overlay mount of `lower` with a fresh upper dir; `upper`, `merged`. */
export interface Overlay {
  lower: string;
  upper: string;
  merged: string;
  unmount(): void;
}

/** Mounts `lower` (one dir) under `base/m` with upper `base/u` and work dir `base/w`. */
export function mountOverlay(lower: string, base: string): Overlay {
  const upper = join(base, 'u');
  const work = join(base, 'w');
  const merged = join(base, 'm');
  for (const d of [upper, work, merged]) mkdirSync(d, { recursive: true });
  run('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${lower},upperdir=${upper},workdir=${work}`, merged]);
  let mounted = true;
  return {
    lower,
    upper,
    merged,
    unmount() {
      if (mounted) run('umount', [merged]);
      mounted = false;
    },
  };
}

/** Everything a layer must reproduce about a tree: one line per path (root excluded) and the hardlink groups. */
export interface TreeView {
  lines: string[];
  links: string[][];
}

/** type, mode, owner, whole-second mtime, link target or device or content hash, xattrs — and inode groups. */
export function describeTree(root: string): TreeView {
  const lines: string[] = [];
  const inodes = new Map<number, string[]>();
  const walk = (abs: string, rel: string): void => {
    for (const name of readdirSync(abs).sort()) {
      const p = join(abs, name);
      const r = rel === '' ? name : `${rel}/${name}`;
      const st = lstatSync(p);
      let kind: string;
      let body = '';
      if (st.isDirectory()) kind = 'dir';
      else if (st.isFile()) {
        kind = 'file';
        body = createHash('sha256').update(readFileSync(p)).digest('hex').slice(0, 16);
      } else if (st.isSymbolicLink()) {
        kind = 'symlink';
        body = readlinkSync(p);
      } else if (st.isFIFO()) kind = 'fifo';
      else if (st.isCharacterDevice()) kind = 'char';
      else if (st.isBlockDevice()) kind = 'block';
      else kind = 'other';
      if (st.isCharacterDevice() || st.isBlockDevice()) body = `rdev=${st.rdev}`;
      const xattrs = Object.entries(readXattrsSync(p))
        .map(([k, v]) => `${k}=${v.toString('hex')}`)
        .join(',');
      const mode = kind === 'symlink' ? '' : (st.mode & 0o7777).toString(8);
      lines.push(`${r} ${kind} ${mode} ${st.uid}:${st.gid} t=${Math.floor(st.mtimeMs / 1000)} ${body} [${xattrs}]`);
      if (!st.isDirectory()) inodes.set(st.ino, [...(inodes.get(st.ino) ?? []), r]);
      if (st.isDirectory()) walk(p, r);
    }
  };
  walk(root, '');
  const links = [...inodes.values()].filter((g) => g.length > 1).map((g) => g.sort()).sort((a, b) => (a[0]! < b[0]! ? -1 : 1));
  return { lines, links };
}

/** One entry of a diff tar as read back. */
export interface ReadEntry {
  name: string;
  type: string;
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  size: number;
  linkname: string;
  devmajor: number;
  devminor: number;
  xattrs: Record<string, Buffer>;
  data: Buffer;
}

/** Parses a tar with strata's reader. */
export async function readTar(tar: Buffer): Promise<ReadEntry[]> {
  const out: ReadEntry[] = [];
  for await (const e of readTarEntries(Readable.from([tar]), { label: 'test', maxEntrySize: 2 ** 40 })) {
    const chunks: Buffer[] = [];
    for await (const c of e.data) chunks.push(c);
    out.push({
      name: e.name, type: e.type, mode: e.mode, uid: e.uid, gid: e.gid, mtime: e.mtime, size: e.size, linkname: e.linkname,
      devmajor: e.devmajor, devminor: e.devminor, xattrs: Object.fromEntries(e.xattrs), data: Buffer.concat(chunks),
    });
  }
  return out;
}

/** Runs writeDiffTar into memory. */
export async function diffToBuffer(dir: string, opts?: DiffOptions): Promise<{ tar: Buffer; result: DiffResult }> {
  const out = new PassThrough();
  const chunks: Buffer[] = [];
  out.on('data', (c: Buffer) => chunks.push(c));
  const result = await writeDiffTar(dir, out, opts);
  return { tar: Buffer.concat(chunks), result };
}

/** A stream of a buffer, for applyLayer. */
export function streamOf(b: Buffer): Readable {
  return Readable.from([b]);
}
