/**
 * Device nodes, fifos and overlay whiteouts. Node has no mknod(2), so nodes are made by spawning
 * coreutils `mknod` (one short process per node; layers hold few of them).
 */
import { execFile } from 'node:child_process';
import type { BigIntStats, Stats } from 'node:fs';
import { chmod } from 'node:fs/promises';

/** The node types mknod makes. */
export type NodeKind = 'char' | 'block' | 'fifo';

// coreutils prints strerror() text; map the ones callers act on back to errno codes.
const STRERROR_CODES: Array<[string, string]> = [
  ['File exists', 'EEXIST'],
  ['Operation not permitted', 'EPERM'],
  ['Permission denied', 'EACCES'],
  ['No space left on device', 'ENOSPC'],
  ['Disk quota exceeded', 'EDQUOT'],
  ['No such file or directory', 'ENOENT'],
  ['Not a directory', 'ENOTDIR'],
  ['Read-only file system', 'EROFS'],
  ['Invalid argument', 'EINVAL'],
  ['File name too long', 'ENAMETOOLONG'],
];

/**
 * Creates a node at `path` (which must not exist; the final component is never followed) with
 * the exact mode bits `mode`, setuid/setgid/sticky included (umask does not apply). Rejects with
 * an errno-style error. A later chown clears setuid/setgid again, on nodes as on files.
 */
export async function mknod(path: string, kind: NodeKind, major = 0, minor = 0, mode = 0o644): Promise<void> {
  await spawnMknod(path, kind, major, minor, mode & 0o777);
  // coreutils refuses special bits in -m; the node was just made, so chmod reaches it and nothing else.
  if (mode & 0o7000) await chmod(path, mode & 0o7777);
}

function spawnMknod(path: string, kind: NodeKind, major: number, minor: number, mode: number): Promise<void> {
  for (const n of [major, minor]) {
    if (!Number.isSafeInteger(n) || n < 0 || n > 0xffffffff) throw new RangeError(`bad device number ${n}`);
  }
  const args = ['-m', mode.toString(8), '--', path];
  if (kind === 'fifo') args.push('p');
  else args.push(kind === 'char' ? 'c' : 'b', String(major), String(minor));
  return new Promise((resolve, reject) => {
    execFile('mknod', args, { encoding: 'utf8' }, (err, _stdout, stderr) => {
      if (!err) return resolve();
      const text = String(stderr).trim() || err.message;
      const e = new Error(`mknod ${path}: ${text}`) as NodeJS.ErrnoException;
      const spawnCode = (err as NodeJS.ErrnoException).code;
      e.code = typeof spawnCode === 'string' ? spawnCode : STRERROR_CODES.find(([s]) => text.includes(s))?.[1];
      e.syscall = typeof spawnCode === 'string' ? 'spawn mknod' : 'mknod';
      e.path = path;
      reject(e);
    });
  });
}

/** Creates an overlayfs whiteout (character device 0:0) at `path`. Needs root. */
export function makeOverlayWhiteout(path: string): Promise<void> {
  return mknod(path, 'char', 0, 0, 0o000);
}

/** True for an overlayfs whiteout: a character device with device number 0 (lstat result). */
export function isOverlayWhiteout(st: Stats | BigIntStats): boolean {
  return st.isCharacterDevice() && Number(st.rdev) === 0;
}

/** Major number of a device number as the kernel encodes it (glibc's gnu_dev_major). */
export function devMajor(rdev: number): number {
  return Number(((BigInt(rdev) >> 8n) & 0xfffn) | ((BigInt(rdev) >> 32n) & ~0xfffn));
}

/** Minor number of a device number (glibc's gnu_dev_minor). */
export function devMinor(rdev: number): number {
  return Number((BigInt(rdev) & 0xffn) | ((BigInt(rdev) >> 12n) & ~0xffn));
}
