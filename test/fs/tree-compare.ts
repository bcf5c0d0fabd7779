/**
 * Describes a directory tree for comparisons between ways of building it: per path the type,
 * mode, owner, mtime (non-directories), symlink target, device number, xattrs, a content hash,
 * and the other paths sharing its inode (hardlink groups). Directory mtimes are left out: applying
 * later layers changes them in one tree and not in another.
 */
import { createHash } from 'node:crypto';
import { lstatSync, readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { readXattrsSync } from '../../src/fs/xattr.js';

/** What one path looks like. */
export interface PathShape {
  type: string;
  mode: string;
  owner: string;
  mtime?: number;
  link?: string;
  rdev?: number;
  sha?: string;
  xattrs?: Record<string, string>;
  /** Other paths of the tree with the same inode (non-directories only), sorted. */
  links?: string[];
}

/** Walks `root` (without following symlinks) into path → shape; `.` is the root itself. */
export function treeShape(root: string): Map<string, PathShape> {
  const out = new Map<string, PathShape>();
  const inodes = new Map<string, string[]>();
  const byPath = new Map<string, string>();
  const walk = (rel: string) => {
    const abs = rel === '.' ? root : join(root, rel);
    const st = lstatSync(abs, { bigint: true });
    const type = st.isFile() ? 'file' : st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : st.isFIFO() ? 'fifo'
      : st.isCharacterDevice() ? 'char' : st.isBlockDevice() ? 'block' : 'other';
    const shape: PathShape = { type, mode: (Number(st.mode) & 0o7777).toString(8), owner: `${st.uid}:${st.gid}` };
    if (type !== 'dir') shape.mtime = Number(st.mtimeNs / 1000n); // microseconds
    if (type === 'symlink') shape.link = readlinkSync(abs);
    if (type === 'char' || type === 'block') shape.rdev = Number(st.rdev);
    if (type === 'file') shape.sha = createHash('sha256').update(readFileSync(abs)).digest('hex').slice(0, 16);
    const xattrs = Object.entries(readXattrsSync(abs)).filter(([k]) => !k.startsWith('trusted.overlay.'));
    if (xattrs.length > 0) shape.xattrs = Object.fromEntries(xattrs.map(([k, v]) => [k, v.toString('hex')]));
    out.set(rel, shape);
    if (type !== 'dir') {
      const key = `${st.dev}:${st.ino}`;
      inodes.set(key, [...(inodes.get(key) ?? []), rel]);
      byPath.set(rel, key);
    }
    if (type === 'dir') for (const n of readdirSync(abs).sort()) walk(rel === '.' ? n : `${rel}/${n}`);
  };
  walk('.');
  for (const [rel, key] of byPath) {
    const group = inodes.get(key)!;
    if (group.length > 1) out.get(rel)!.links = group.filter((p) => p !== rel).sort();
  }
  return out;
}

/** Lines that differ between two shapes (empty when equal), for readable assertion messages. */
export function diffShapes(a: Map<string, PathShape>, b: Map<string, PathShape>, names = ['a', 'b']): string[] {
  const out: string[] = [];
  for (const rel of [...new Set([...a.keys(), ...b.keys()])].sort()) {
    const x = JSON.stringify(a.get(rel));
    const y = JSON.stringify(b.get(rel));
    if (x !== y) out.push(`${rel}\n  ${names[0]}: ${x}\n  ${names[1]}: ${y}`);
  }
  return out;
}
