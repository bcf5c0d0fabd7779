/**
 * One directory of a build context as packed records (name, lstat fields, symlink target),
 * sorted by name bytewise: what the context walk reads, hashes and, only when a step needs the
 * files, turns into objects. The records are made by the context-scan addon
 * (src/build/native/context-scan.c) when it was compiled, else by `scanDirPortable`, which writes
 * the same bytes with fs.lstat. The layout is described in that C file.
 */
import { lstatSync, readdirSync, readlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { packageRoot } from '../util/package-root.js';

export const RECORD_HEADER = 64;

/** Record kinds. */
export const KIND_OTHER = 0;
export const KIND_FILE = 1;
export const KIND_DIR = 2;
export const KIND_SYMLINK = 3;

/** Lists a directory: the addon when present, else fs.lstat. Throws fs-style errors (code ENOENT, ...). */
export type DirScanner = (abs: string) => Buffer;

let native: DirScanner | null | undefined;

/** The addon's scanner, or undefined when it was not compiled (no C compiler or no Node headers). */
export function nativeScanner(): DirScanner | undefined {
  if (native === undefined) {
    try {
      const addon = createRequire(import.meta.url)(join(packageRoot(), 'dist', 'native', 'context-scan.node')) as { scanDir: DirScanner };
      native = addon.scanDir;
    } catch {
      native = null;
    }
  }
  return native ?? undefined;
}

/** The scanner the walk uses by default. */
export function defaultScanner(): DirScanner {
  return nativeScanner() ?? scanDirPortable;
}

/** Byte size of the record at `off`. */
export function recordSize(buf: Buffer, off: number): number {
  return (RECORD_HEADER + buf.readUInt16LE(off + 2) + buf.readUInt32LE(off + 20) + 7) & ~7;
}

/** The name of the record at `off`. */
export function recordName(buf: Buffer, off: number): string {
  return buf.toString('utf8', off + RECORD_HEADER, off + RECORD_HEADER + buf.readUInt16LE(off + 2));
}

/** The symlink target of the record at `off` ('' for other kinds). */
export function recordLink(buf: Buffer, off: number): string {
  const start = off + RECORD_HEADER + buf.readUInt16LE(off + 2);
  return buf.toString('utf8', start, start + buf.readUInt32LE(off + 20));
}

/** The same records as the addon, made with readdir + lstat by full path (names sorted by code point = UTF-8 bytes). */
export function scanDirPortable(abs: string): Buffer {
  const names = readdirSync(abs).sort(compareCodePoints);
  let out = Buffer.allocUnsafe(16384);
  let len = 0;
  for (const name of names) {
    const path = `${abs}/${name}`;
    const st = lstatSync(path, { throwIfNoEntry: false });
    if (st === undefined) continue; // removed while we listed
    const kind = st.isFile() ? KIND_FILE : st.isDirectory() ? KIND_DIR : st.isSymbolicLink() ? KIND_SYMLINK : KIND_OTHER;
    let link = '';
    if (kind === KIND_SYMLINK) {
      try {
        link = readlinkSync(path);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue;
        throw e;
      }
    }
    const nameLen = Buffer.byteLength(name);
    const linkLen = Buffer.byteLength(link);
    const size = (RECORD_HEADER + nameLen + linkLen + 7) & ~7;
    if (len + size > out.length) {
      const bigger = Buffer.allocUnsafe(Math.max(out.length * 2, len + size));
      out.copy(bigger, 0, 0, len);
      out = bigger;
    }
    out.fill(0, len, len + size);
    out[len] = kind;
    out.writeUInt16LE(nameLen, len + 2);
    out.writeUInt32LE(st.mode, len + 4);
    out.writeUInt32LE(st.uid, len + 8);
    out.writeUInt32LE(st.gid, len + 12);
    out.writeUInt32LE(st.nlink, len + 16);
    out.writeUInt32LE(linkLen, len + 20);
    out.writeDoubleLE(st.size, len + 24);
    out.writeDoubleLE(st.mtimeMs, len + 32);
    out.writeDoubleLE(st.ctimeMs, len + 40);
    out.writeDoubleLE(st.ino, len + 48);
    out.writeDoubleLE(st.dev, len + 56);
    out.write(name, len + RECORD_HEADER, 'utf8');
    out.write(link, len + RECORD_HEADER + nameLen, 'utf8');
    len += size;
  }
  return out.subarray(0, len);
}

/**
 * Orders strings by code point, which is the bytewise UTF-8 order the addon sorts names in
 * (`<` on strings compares UTF-16 units: surrogate pairs would sort before U+E000..U+FFFF).
 */
export function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) return unitRank(x) - unitRank(y);
  }
  return a.length - b.length;
}

function unitRank(u: number): number {
  return u < 0xd800 ? u : u < 0xe000 ? u + 0x2000 : u - 0x800;
}
