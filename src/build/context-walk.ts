/**
 * One pass over a build context directory: lstat of every entry that .dockerignore keeps, never
 * following a symlink, skipping whole directories the patterns exclude (unless a `!exception`
 * could re-include something below, in which case the directory is walked and kept only as the
 * parent of what was re-included). Synchronous on purpose: a promise per lstat costs several
 * times the syscall, and a 20,000-file walk is on the critical path of every cached build.
 */
import { lstatSync, readdirSync, readlinkSync } from 'node:fs';
import type { Stats } from 'node:fs';
import type { MatchInfo, PatternMatcher } from '../fs/pattern-matcher.js';
import type { SourceEntry } from './file-source.js';

/** One entry of the build context: a source entry with the stat fields the stat cache keys on always set. */
export interface ContextFile extends SourceEntry {
  type: 'file' | 'dir' | 'symlink';
  ctimeMs: number;
  ino: number;
  dev: number;
  nlink: number;
}

/** The walked tree: every kept entry in walk order (parents first), and each directory's kept entries in name order. */
export interface ContextIndex {
  all: ContextFile[];
  children: Map<string, ContextFile[]>;
  /** Entries skipped because they are neither file, directory nor symlink (sockets, fifos, devices). */
  skippedSpecial: string[];
}

function toFile(path: string, abs: string, st: Stats, type: ContextFile['type']): ContextFile {
  return {
    path,
    type,
    mode: st.mode & 0o7777,
    uid: st.uid,
    gid: st.gid,
    size: type === 'file' ? st.size : 0,
    mtimeMs: st.mtimeMs,
    linkTarget: type === 'symlink' ? readlinkSync(abs) : undefined,
    digest: undefined,
    ctimeMs: st.ctimeMs,
    ino: st.ino,
    dev: st.dev,
    nlink: st.nlink,
  };
}

function typeOf(st: Stats): ContextFile['type'] | undefined {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'dir';
  if (st.isSymbolicLink()) return 'symlink';
  return undefined;
}

/** Walks `root` (an absolute, real directory path) honouring `ignore`. */
export function walkContext(root: string, ignore: PatternMatcher | undefined): ContextIndex {
  const all: ContextFile[] = [];
  const children = new Map<string, ContextFile[]>();
  const skippedSpecial: string[] = [];
  const rootStat = lstatSync(root);
  const rootEntry = toFile('', root, rootStat, 'dir');
  all.push(rootEntry);
  const noInfo = ignore?.match('.').info;

  // Returns the kept entries of `dir`; an excluded directory is only walked for re-included paths.
  const walk = (rel: string, abs: string, info: MatchInfo | undefined): ContextFile[] => {
    const names = readdirSync(abs);
    names.sort();
    const kept: ContextFile[] = [];
    for (const name of names) {
      const childRel = rel === '' ? name : `${rel}/${name}`;
      const childAbs = `${abs}/${name}`;
      const st = lstatSync(childAbs, { throwIfNoEntry: false });
      if (st === undefined) continue; // removed while we walked
      const type = typeOf(st);
      if (type === undefined) {
        skippedSpecial.push(childRel);
        continue;
      }
      let childInfo: MatchInfo | undefined;
      if (ignore !== undefined) {
        const m = ignore.match(childRel, info);
        childInfo = m.info;
        if (m.excluded) {
          if (type !== 'dir' || ignore.canSkipDir(childRel, m.info)) continue;
          const below = walk(childRel, childAbs, m.info);
          if (below.length === 0) continue;
          // Kept only as the parent of re-included entries (which `all` already holds: put it before them).
          const f = toFile(childRel, childAbs, st, type);
          all.splice(all.length - countAll(below, children), 0, f);
          children.set(childRel, below);
          kept.push(f);
          continue;
        }
      }
      const f = toFile(childRel, childAbs, st, type);
      all.push(f);
      kept.push(f);
      if (type === 'dir') children.set(childRel, walk(childRel, childAbs, childInfo));
    }
    return kept;
  };
  children.set('', walk('', root, noInfo));
  return { all, children, skippedSpecial };
}

/** How many entries `kept` and everything below them add up to. */
function countAll(kept: ContextFile[], children: Map<string, ContextFile[]>): number {
  let n = 0;
  for (const f of kept) {
    n++;
    if (f.type === 'dir') n += countAll(children.get(f.path) ?? [], children);
  }
  return n;
}

/** Finds an entry by path: binary search among its parent's (name-sorted) entries. */
export function findEntry(index: ContextIndex, path: string): ContextFile | undefined {
  if (path === '') return index.all[0];
  const slash = path.lastIndexOf('/');
  const list = index.children.get(slash < 0 ? '' : path.slice(0, slash));
  if (list === undefined) return undefined;
  let lo = 0;
  let hi = list.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const p = list[mid]!.path;
    if (p === path) return list[mid];
    if (p < path) lo = mid + 1;
    else hi = mid - 1;
  }
  return undefined;
}
