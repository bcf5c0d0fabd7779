/**
 * Fixture helpers for the COPY/ADD tests: temp dirs under the checkout's .cache/tmp (tmpfs-like
 * speed matters: /tmp is slow for file creation here), tree builders and a tree snapshot that
 * records what a test compares (type, mode, owner, content or link target).
 */
import { lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, symlinkSync, utimesSync, writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';

const BASE = new URL('../../../.cache/tmp/', import.meta.url).pathname;

/** A fresh temp directory; remove it with `rmTemp`. */
export function makeTemp(prefix = 'build-test-'): string {
  mkdirSync(BASE, { recursive: true });
  return mkdtempSync(join(BASE, prefix));
}

/** Removes a temp directory tree. */
export function rmTemp(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/** A tree description: `dir/` entries end in a slash, `{ link }` is a symlink, strings are file contents. */
export type TreeSpec = Record<string, string | { content: string; mode?: number; mtime?: number } | { link: string } | { dir: true; mode?: number; mtime?: number }>;

/** Creates the entries of `spec` under `root` (parents made as needed, in key order). */
export function makeTree(root: string, spec: TreeSpec): void {
  for (const [path, v] of Object.entries(spec)) {
    const abs = join(root, path);
    if (path.endsWith('/')) {
      mkdirSync(abs, { recursive: true });
      continue;
    }
    mkdirSync(join(abs, '..'), { recursive: true });
    if (typeof v === 'string') writeFileSync(abs, v);
    else if ('link' in v) symlinkSync(v.link, abs);
    else if ('dir' in v) {
      mkdirSync(abs, { recursive: true });
      if (v.mode !== undefined) chmodSync(abs, v.mode);
      if (v.mtime !== undefined) utimesSync(abs, v.mtime, v.mtime);
    } else {
      writeFileSync(abs, v.content);
      if (v.mode !== undefined) chmodSync(abs, v.mode);
      if (v.mtime !== undefined) utimesSync(abs, v.mtime, v.mtime);
    }
  }
}

/** What a snapshot records per path. */
export interface Node {
  type: 'file' | 'dir' | 'symlink' | 'other';
  mode: string;
  owner: string;
  content?: string;
  target?: string;
}

/** Every entry under `root` (not following symlinks), keyed by relative path. */
export function snapshot(root: string): Record<string, Node> {
  const out: Record<string, Node> = {};
  const walk = (rel: string): void => {
    for (const name of readdirSync(join(root, rel)).sort()) {
      const p = rel === '' ? name : `${rel}/${name}`;
      const abs = join(root, p);
      const st = lstatSync(abs);
      const node: Node = {
        type: st.isFile() ? 'file' : st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : 'other',
        mode: (st.mode & 0o7777).toString(8),
        owner: `${st.uid}:${st.gid}`,
      };
      if (st.isFile()) node.content = readFileSync(abs, 'utf8');
      if (st.isSymbolicLink()) node.target = readlinkSync(abs);
      out[p] = node;
      if (st.isDirectory()) walk(p);
    }
  };
  walk('');
  return out;
}

/** Just the paths of a snapshot (sorted), for compact assertions. */
export function paths(root: string): string[] {
  return Object.keys(snapshot(root)).sort();
}
