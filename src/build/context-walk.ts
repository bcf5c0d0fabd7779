/**
 * One pass over a build context directory: every entry that .dockerignore keeps, never following
 * a symlink, skipping whole directories the patterns exclude (unless a `!exception` could
 * re-include something below, in which case the directory is walked and kept only as the parent
 * of what was re-included).
 *
 * The walk keeps each directory's listing as the packed records dir-scan made, plus which of
 * them are kept, and hashes them into one digest of the context's state (names, types, modes,
 * owners, sizes, times, inodes, link targets). Objects per entry (the ContextIndex) are made
 * only when a step needs them: a build whose COPY inputs are already known for this state does
 * not need them. Synchronous on purpose: a promise per directory entry costs several times the
 * syscall, and this walk is on the critical path of every cached build.
 */
import { createHash } from 'node:crypto';
import { lstatSync } from 'node:fs';
import type { MatchInfo, PatternMatcher } from '../fs/pattern-matcher.js';
import { compareCodePoints, defaultScanner, KIND_DIR, KIND_FILE, KIND_OTHER, KIND_SYMLINK, RECORD_HEADER, recordLink, recordName, recordSize, type DirScanner } from './dir-scan.js';
import { joinPath, type SourceEntry } from './file-source.js';

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
}

/** One walked directory: its records and the offsets of those kept (undefined: every file, dir and symlink). */
interface WalkedDir {
  rel: string;
  records: Buffer;
  kept: number[] | undefined;
}

/** What one walk saw. */
export interface ContextSnapshot {
  /** The root directory's own record (named ''). */
  rootRecord: Buffer;
  /** Walked directories, parents before children, each once. */
  dirs: WalkedDir[];
  /** sha256 over every kept record and where it is: equal digests mean an equal tree, by lstat. */
  digest: string;
  /** The latest ctime (ms) among kept entries: a change after the walk began gives a later one. */
  newestCtimeMs: number;
  /** Entries skipped because they are neither file, directory nor symlink (sockets, fifos, devices). */
  skippedSpecial: string[];
}

/** Walks `root` (an absolute, real directory path) honouring `ignore`. */
export function walkContext(root: string, ignore: PatternMatcher | undefined, scan: DirScanner = defaultScanner()): ContextSnapshot {
  const dirs: WalkedDir[] = [];
  const skippedSpecial: string[] = [];
  const rootRecord = rootRecordOf(root);
  let newest = rootRecord.readDoubleLE(40);

  // Returns how many entries of `abs` were kept; an excluded directory is only walked for re-included paths.
  const walk = (rel: string, abs: string, info: MatchInfo | undefined): number => {
    const records = scan(abs);
    const node: WalkedDir = { rel, records, kept: ignore === undefined ? undefined : [] };
    dirs.push(node);
    let count = 0;
    for (let off = 0; off < records.length; off += recordSize(records, off)) {
      const kind = records[off]!;
      if (kind === KIND_OTHER) {
        skippedSpecial.push(joinPath(rel, recordName(records, off)));
        continue;
      }
      if (ignore === undefined) {
        count++;
        newest = Math.max(newest, records.readDoubleLE(off + 40));
        if (kind === KIND_DIR) {
          const name = recordName(records, off);
          walk(joinPath(rel, name), `${abs}/${name}`, undefined);
        }
        continue;
      }
      const name = recordName(records, off);
      const childRel = joinPath(rel, name);
      const m = ignore.match(childRel, info);
      if (m.excluded) {
        if (kind !== KIND_DIR || ignore.canSkipDir(childRel, m.info)) continue;
        const mark = dirs.length;
        // Nothing kept below means no directory below was kept either: drop what the walk added.
        if (walk(childRel, `${abs}/${name}`, m.info) === 0) {
          dirs.length = mark;
          continue;
        }
      } else if (kind === KIND_DIR) {
        walk(childRel, `${abs}/${name}`, m.info);
      }
      node.kept!.push(off);
      count++;
      newest = Math.max(newest, records.readDoubleLE(off + 40));
    }
    return count;
  };
  walk('', root, ignore?.match('.').info);
  return { rootRecord, dirs, digest: snapshotDigest(rootRecord, dirs), newestCtimeMs: newest, skippedSpecial };
}

/** The root's record, made from one lstat with the same fields the scanners write. */
function rootRecordOf(root: string): Buffer {
  const st = lstatSync(root);
  const rec = Buffer.alloc(RECORD_HEADER);
  rec[0] = KIND_DIR;
  rec.writeUInt32LE(st.mode, 4);
  rec.writeUInt32LE(st.uid, 8);
  rec.writeUInt32LE(st.gid, 12);
  rec.writeUInt32LE(st.nlink, 16);
  rec.writeDoubleLE(st.size, 24);
  rec.writeDoubleLE(st.mtimeMs, 32);
  rec.writeDoubleLE(st.ctimeMs, 40);
  rec.writeDoubleLE(st.ino, 48);
  rec.writeDoubleLE(st.dev, 56);
  return rec;
}

/** Hashes each directory's path and kept records; runs of adjacent kept records go in one update. */
function snapshotDigest(rootRecord: Buffer, dirs: WalkedDir[]): string {
  const h = createHash('sha256');
  h.update(rootRecord);
  const count = Buffer.alloc(4);
  for (const d of dirs) {
    h.update(d.rel);
    count.writeUInt32LE(d.kept?.length ?? 0xffffffff);
    h.update(count);
    if (d.kept === undefined) {
      h.update(d.records);
      continue;
    }
    let start = -1;
    let end = -1;
    for (const off of d.kept) {
      if (off !== end) {
        if (start >= 0) h.update(d.records.subarray(start, end));
        start = off;
      }
      end = off + recordSize(d.records, off);
    }
    if (start >= 0) h.update(d.records.subarray(start, end));
  }
  return h.digest('hex');
}

/** Makes the entry objects of a snapshot: every kept entry in walk order, and each directory's kept entries. */
export function indexSnapshot(snap: ContextSnapshot): ContextIndex {
  const all: ContextFile[] = [toFile('', snap.rootRecord, 0)];
  const children = new Map<string, ContextFile[]>();
  const byRel = new Map(snap.dirs.map((d) => [d.rel, d]));
  const visit = (d: WalkedDir): void => {
    const list: ContextFile[] = [];
    children.set(d.rel, list);
    const add = (off: number): void => {
      const f = toFile(joinPath(d.rel, recordName(d.records, off)), d.records, off);
      all.push(f);
      list.push(f);
      if (f.type === 'dir') visit(byRel.get(f.path)!);
    };
    if (d.kept !== undefined) {
      for (const off of d.kept) add(off);
      return;
    }
    for (let off = 0; off < d.records.length; off += recordSize(d.records, off)) {
      if (d.records[off] !== KIND_OTHER) add(off);
    }
  };
  visit(snap.dirs[0]!);
  return { all, children };
}

const KIND_TYPES: Record<number, ContextFile['type']> = { [KIND_FILE]: 'file', [KIND_DIR]: 'dir', [KIND_SYMLINK]: 'symlink' };

function toFile(path: string, b: Buffer, off: number): ContextFile {
  const type = KIND_TYPES[b[off]!]!;
  return {
    path,
    type,
    mode: b.readUInt32LE(off + 4) & 0o7777,
    uid: b.readUInt32LE(off + 8),
    gid: b.readUInt32LE(off + 12),
    size: type === 'file' ? b.readDoubleLE(off + 24) : 0,
    mtimeMs: b.readDoubleLE(off + 32),
    linkTarget: type === 'symlink' ? recordLink(b, off) : undefined,
    digest: undefined,
    ctimeMs: b.readDoubleLE(off + 40),
    ino: b.readDoubleLE(off + 48),
    dev: b.readDoubleLE(off + 56),
    nlink: b.readUInt32LE(off + 16),
  };
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
    const c = compareCodePoints(list[mid]!.path, path);
    if (c === 0) return list[mid];
    if (c < 0) lo = mid + 1;
    else hi = mid - 1;
  }
  return undefined;
}
