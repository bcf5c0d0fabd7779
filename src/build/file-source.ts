/**
 * Where COPY and ADD read from: the build context (an in-memory index of a walked directory,
 * filtered by .dockerignore) or a plain directory tree given by path (a stage's root filesystem,
 * an unpacked image). Both answer the same two questions, "what is at this relative path" and
 * "what is in this directory", without ever following a symlink; the selection code resolves
 * symlinks itself, inside the source.
 */
import { lstatSync, readdirSync, readlinkSync } from 'node:fs';
import type { Stats } from 'node:fs';

/** Kinds of entries a source may hold. The build context only yields file, dir and symlink. */
export type SourceEntryType = 'file' | 'dir' | 'symlink' | 'fifo' | 'char' | 'block';

/** One entry of a source, as lstat saw it. */
export interface SourceEntry {
  /** Path relative to the source root, slash-separated; `''` is the root itself. */
  path: string;
  type: SourceEntryType;
  /** Permission bits including setuid/setgid/sticky (07777). */
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtimeMs: number;
  /** Symlink target, verbatim. */
  linkTarget?: string;
  /** Regular files: `sha256:<hex>` of the content, once computed. */
  digest?: string;
  ctimeMs?: number;
  ino?: number;
  dev?: number;
  nlink?: number;
  /** Device number of char/block nodes. */
  rdev?: number;
}

/** A tree COPY can read from. Paths are relative and clean (`''`, `a`, `a/b`); parents are real directories. */
export interface FileSource {
  /** Host directory holding the tree; an entry's data lives at `root + '/' + path`. */
  readonly root: string;
  /** True when copies keep the entries' uid/gid (stages, images); the context's owners become 0:0. */
  readonly keepOwners: boolean;
  /** Short description for messages, e.g. `build context` or `stage "build"`. */
  readonly label: string;
  /** The entry at `path` (never following a symlink there), or undefined when missing or ignored. */
  lookup(path: string): SourceEntry | undefined;
  /** The entries of directory `path`, sorted by name. */
  children(path: string): SourceEntry[];
}

/** True when a fresh lstat still describes the entry as it was selected (and hashed): same file, same content stat. */
export function sameStat(e: SourceEntry, st: Stats | undefined): boolean {
  return st !== undefined && entryType(st) === e.type && (e.type !== 'file' || st.size === e.size) && st.mtimeMs === e.mtimeMs &&
    (e.ctimeMs === undefined || st.ctimeMs === e.ctimeMs) && (e.ino === undefined || (st.ino === e.ino && st.dev === e.dev));
}

/** Host path of an entry. */
export function hostPath(src: FileSource, path: string): string {
  return path === '' ? src.root : `${src.root}/${path}`;
}

/** Joins a relative parent path and a name. */
export function joinPath(parent: string, name: string): string {
  return parent === '' ? name : `${parent}/${name}`;
}

/** The entry type for an lstat result, or undefined for sockets (never copied). */
export function entryType(st: Stats): SourceEntryType | undefined {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'dir';
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isFIFO()) return 'fifo';
  if (st.isCharacterDevice()) return 'char';
  if (st.isBlockDevice()) return 'block';
  return undefined;
}

/** Builds a SourceEntry from an lstat result (reads the link target of symlinks). */
export function entryFromStats(path: string, abs: string, st: Stats, type: SourceEntryType): SourceEntry {
  const e: SourceEntry = {
    path,
    type,
    mode: st.mode & 0o7777,
    uid: st.uid,
    gid: st.gid,
    size: type === 'file' ? st.size : 0,
    mtimeMs: st.mtimeMs,
    ctimeMs: st.ctimeMs,
    ino: st.ino,
    dev: st.dev,
    nlink: st.nlink,
  };
  if (type === 'symlink') e.linkTarget = readlinkSync(abs);
  if (type === 'char' || type === 'block') e.rdev = st.rdev;
  return e;
}

/**
 * A directory tree on disk read as it is (a stage's merged root, an unpacked image): nothing is
 * ignored, owners are kept. Lookups are lazy, so selecting `/app` never walks the rest of the tree.
 */
export class DirSource implements FileSource {
  /** `keepOwners` false makes copies 0:0 like the build context (e.g. for a directory of COPY heredocs). */
  constructor(readonly root: string, readonly label = 'source directory', readonly keepOwners = true) {}

  /** The entry at `path`; callers reach it through directories this source returned, so no parent is a symlink. */
  lookup(path: string): SourceEntry | undefined {
    const abs = hostPath(this, path);
    const st = lstatSync(abs, { throwIfNoEntry: false });
    if (st === undefined) return undefined;
    const type = entryType(st);
    return type === undefined ? undefined : entryFromStats(path, abs, st, type);
  }

  /** The entries of a directory, sorted by name (sockets left out). */
  children(path: string): SourceEntry[] {
    const abs = hostPath(this, path);
    const names = readdirSync(abs).sort();
    const out: SourceEntry[] = [];
    for (const name of names) {
      const e = this.lookup(joinPath(path, name));
      if (e !== undefined) out.push(e);
    }
    return out;
  }
}
