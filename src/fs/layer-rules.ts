/**
 * The rules a layer entry must pass, in one place for every consumer: the disk writer behind
 * applyLayer, the in-memory model behind validateLayer, and flatten. A rule that depends on what
 * is already in the tree (a parent that is a symlink or a file, a hardlink target that is missing
 * or a directory) asks a TreeView, which the disk writer answers with lstat and the model with a
 * map, so both see the same questions in the same order and raise the same errors.
 *
 * LayerRules also keeps the cache of paths verified to be real directories, and a removal log
 * that tells whether something recorded at a path is still there: a removal stamps the path, and
 * anything recorded before a later stamp on itself or an ancestor is gone. That makes removing a
 * whole subtree O(1) for every cache keyed by path (no prefix scans, which a hostile layer could
 * make quadratic), and caches never delete keys.
 */
import { badEntry, unsafeEntry } from './apply-errors.js';
import type { EntryType } from './tar-entries.js';
import { ancestorsOf, cleanTarPath, joinRel, parentOf, quoteName } from './tar-path.js';
import { OPAQUE_MARKER, WHITEOUT_META_PREFIX, WHITEOUT_PREFIX, classifyBasename } from './whiteout.js';

/** How whiteouts are applied: as overlayfs whiteouts into an empty dir, or as deletions from existing content. */
export type ApplyMode = 'overlay' | 'merge';

/** What a tree holds at a path, as far as the rules care; 'whiteout' is an overlay whiteout (char device 0:0). */
export type PathKind = 'dir' | 'symlink' | 'whiteout' | 'other';

/** The header fields the rules look at (a TarEntry or a tar index entry). */
export interface EntryHead {
  name: string;
  linkname: string;
  type: EntryType;
}

/** The questions the rules ask of the tree an entry lands in, and the one change they make. */
export interface TreeView {
  /** What is at `rel` now (a final symlink is not followed); undefined when nothing is. */
  lookup(rel: string, name: string): PathKind | undefined;
  /** Creates the missing directory `rel` (mode 0755); its parent is a verified directory. */
  makeDir(rel: string, name: string): void;
  /** merge mode: `rel` is a directory leading to something this layer writes. */
  touch?(rel: string): void;
}

/** Settings of one LayerRules. */
export interface RuleOptions {
  mode: ApplyMode;
  /** Devices are skipped (with a warning) when false. */
  isRoot: boolean;
  label: string;
  /** Records a warning; with a key, only the first warning of that key. */
  warn(key: string | undefined, message: string): void;
}

/** The node types created with mknod. */
export type NodeType = 'char' | 'block' | 'fifo';

/**
 * What to do with an entry that passed the rules. Parents of `rel` are verified directories
 * (made where missing) except for 'whiteout' in merge mode, where they exist, and 'skip'.
 */
export type Step =
  | { op: 'dir' | 'file' | 'symlink'; rel: string }
  | { op: 'node'; rel: string; kind: NodeType }
  /** `target` exists, is no directory (nor a whiteout in overlay mode) and is not `rel`. */
  | { op: 'hardlink'; rel: string; target: string }
  /** A hardlink to itself: nothing changes, but the layer counts as having written `rel`. */
  | { op: 'keep'; rel: string }
  /** A whiteout of `rel` (the path it hides). */
  | { op: 'whiteout'; rel: string }
  /** An opaque marker of directory `rel`, which is now a verified directory. */
  | { op: 'opaque'; rel: string }
  | { op: 'skip' };

/** True for xattrs that steer overlayfs; a layer must not carry them, so they are dropped. */
export function isOverlayXattr(key: string): boolean {
  return key.startsWith('trusted.overlay.') || key.startsWith('user.overlay.');
}

/** Warning key and text for a dropped overlayfs xattr (one warning per attribute name). */
export function overlayXattrWarning(label: string, name: string, key: string): [string, string] {
  return [`ovl:${key}`, `${label}: entry ${quoteName(name)}: overlayfs xattr ${key} dropped (a layer must not carry overlay metadata)`];
}

/** Checks entries against the rules, one by one, in tar order. */
export class LayerRules {
  /** Verified directories and the removal stamp current when they were verified. */
  private readonly dirs = new Map<string, number>([['', 0]]);
  private readonly removedAt = new Map<string, number>();
  private gen = 0;

  constructor(private readonly view: TreeView, private readonly o: RuleOptions) {}

  /** Validates `e` against the rules and the tree, making missing parents; returns what to do. */
  check(e: EntryHead): Step {
    const { label } = this.o;
    const cleaned = cleanTarPath(e.name);
    if (!cleaned.ok) throw unsafeEntry(label, e.name, cleaned.reason);
    const rel = cleaned.path;
    if (rel.includes(WHITEOUT_PREFIX)) {
      const parts = rel.split('/');
      const base = parts.pop()!;
      for (const p of parts) {
        if (!p.startsWith(WHITEOUT_PREFIX)) continue;
        if (p.startsWith(WHITEOUT_META_PREFIX) && p !== OPAQUE_MARKER) return this.skipMeta(e);
        throw unsafeEntry(label, e.name, `whiteout name ${quoteName(p)} used as a directory`);
      }
      const cls = classifyBasename(base);
      if (cls.kind !== 'plain' && e.type === 'dir' && cls.kind !== 'meta') {
        throw unsafeEntry(label, e.name, `${cls.kind === 'opaque' ? 'opaque marker' : 'whiteout'} must not be a directory`);
      }
      switch (cls.kind) {
        case 'opaque': {
          const dirRel = parentOf(rel);
          this.parents(joinRel(dirRel, OPAQUE_MARKER), e.name, true); // makes dirRel a verified directory
          return { op: 'opaque', rel: dirRel };
        }
        case 'whiteout': return this.whiteout(e, joinRel(parentOf(rel), cls.target));
        case 'meta': return this.skipMeta(e);
        case 'invalid': throw unsafeEntry(label, e.name, cls.reason);
        case 'plain': break;
      }
    }
    if (rel === '' && e.type !== 'dir') throw unsafeEntry(label, e.name, 'only a directory entry may name the target root');
    switch (e.type) {
      case 'dir':
        if (rel !== '') this.parents(rel, e.name, true);
        return { op: 'dir', rel };
      case 'file':
        this.parents(rel, e.name, true);
        return { op: 'file', rel };
      case 'symlink':
        // The link text is data, kept verbatim; only writes *through* symlinks are refused.
        if (e.linkname === '') throw badEntry(label, e.name, 'symlink has an empty target');
        if (e.linkname.includes('\0')) throw unsafeEntry(label, e.name, 'symlink target contains a NUL byte');
        this.parents(rel, e.name, true);
        return { op: 'symlink', rel };
      case 'hardlink': return this.hardlink(e, rel);
      case 'char':
      case 'block':
      case 'fifo':
        if (e.type !== 'fifo' && !this.o.isRoot) {
          this.o.warn(undefined, `${label}: entry ${quoteName(e.name)}: ${e.type === 'char' ? 'character' : 'block'} device skipped (creating devices needs root)`);
          return { op: 'skip' };
        }
        this.parents(rel, e.name, true);
        return { op: 'node', rel, kind: e.type };
    }
  }

  /** The current removal stamp: record it with anything kept per path, and ask `survives` later. */
  stamp(): number {
    return this.gen;
  }

  /** True when nothing at `rel` or above was removed after `stamp` was taken. */
  survives(rel: string, stamp: number): boolean {
    if (this.gen === stamp || this.removedAt.size === 0) return true;
    for (let p = rel; ; p = parentOf(p)) {
      const at = this.removedAt.get(p);
      if (at !== undefined && at > stamp) return false;
      if (p === '') return true;
    }
  }

  /** The tree removed `rel` and everything under it. */
  removed(rel: string): void {
    // Caches keep their entry for rel; the stamp makes it stale. (Deleting and re-adding one key
    // over and over is slow in V8 Maps: deleted slots pile up in the key's hash chain.)
    this.removedAt.set(rel, ++this.gen);
  }

  /** The tree has a real directory at `rel` (just made, or verified by the caller). */
  dirExists(rel: string): void {
    this.dirs.set(rel, this.gen);
  }

  private knownDir(rel: string): boolean {
    const s = this.dirs.get(rel);
    return s !== undefined && this.survives(rel, s);
  }

  /**
   * Checks that every parent of `rel` is a real directory, making missing ones when `create`.
   * Returns false when one is missing and not made. `what` prefixes messages.
   */
  private parents(rel: string, name: string, create: boolean, what = ''): boolean {
    if (this.knownDir(parentOf(rel))) return true;
    for (const p of ancestorsOf(rel)) {
      if (this.knownDir(p)) continue;
      const kind = this.view.lookup(p, name);
      if (kind === undefined) {
        if (!create) return false;
        this.view.makeDir(p, name);
      } else if (kind === 'symlink') {
        throw unsafeEntry(this.o.label, name, `${what}parent ${quoteName(p)} is a symlink; writing through a symlink is refused`);
      } else if (kind !== 'dir') {
        throw badEntry(this.o.label, name, `${what}parent ${quoteName(p)} is not a directory`);
      }
      this.dirExists(p);
      this.view.touch?.(p);
    }
    return true;
  }

  private hardlink(e: EntryHead, rel: string): Step {
    const { label } = this.o;
    const what = `hardlink target ${quoteName(e.linkname)}: `;
    const cleaned = cleanTarPath(e.linkname);
    if (!cleaned.ok) throw unsafeEntry(label, e.name, what + cleaned.reason);
    const target = cleaned.path;
    if (target === '') throw unsafeEntry(label, e.name, `${what}is the target root`);
    this.parents(rel, e.name, true);
    const missing = () => badEntry(label, e.name, `${what}does not exist in the target`);
    if (!this.parents(target, e.name, false, what)) throw missing();
    const kind = this.view.lookup(target, e.name);
    if (kind === undefined) throw missing();
    if (kind === 'dir') throw unsafeEntry(label, e.name, `${what}is a directory`);
    // In an overlay lower dir a char device 0:0 is a whiteout: the path does not exist.
    if (this.o.mode === 'overlay' && kind === 'whiteout') throw missing();
    if (target === rel) return { op: 'keep', rel };
    if (target.startsWith(`${rel}/`)) throw badEntry(label, e.name, `${what}lies inside the path it would replace`);
    return { op: 'hardlink', rel, target };
  }

  private whiteout(e: EntryHead, target: string): Step {
    if (this.o.mode === 'merge') return this.parents(target, e.name, false) ? { op: 'whiteout', rel: target } : { op: 'skip' };
    this.parents(target, e.name, true);
    return { op: 'whiteout', rel: target };
  }

  private skipMeta(e: EntryHead): Step {
    this.o.warn('aufs-meta', `${this.o.label}: entry ${quoteName(e.name)}: AUFS metadata skipped`);
    return { op: 'skip' };
  }
}
