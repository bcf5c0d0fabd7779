/**
 * Writes validated tar entries into one target directory, never outside it.
 *
 * Every rule (names, whiteout placement, parents that are symlinks or files, hardlink targets)
 * is checked by LayerRules (layer-rules.ts), which asks this writer what is on disk through
 * lstat; the in-memory model behind validateLayer answers the same questions, so the two cannot
 * drift. This module only carries out the step the rules return.
 *
 * Safety rests on two habits. Every parent component of a path is checked with lstat to be a
 * real directory (symlinks refused) before anything is created under it; the verified set is
 * cached and invalidated whenever an entry removes or replaces a path. The final component is
 * never followed: files are created with O_CREAT|O_EXCL|O_NOFOLLOW (an existing path is removed
 * first, never written into), metadata goes through the new fd, lchown or lutimes, and directory
 * metadata is applied at the end through an O_NOFOLLOW|O_DIRECTORY fd. Both assume nobody else
 * changes the target while a layer is applied (the cache and the checks are not atomic).
 *
 * Metadata syscalls are synchronous on purpose: each is a few microseconds, while a promise round
 * trip through the thread pool per syscall would triple the cost of a 20,000-file layer.
 */
import {
  chmodSync, closeSync, constants, fchmodSync, fchownSync, futimesSync, lchownSync, linkSync, lstatSync, lutimesSync,
  mkdirSync, openSync, readdirSync, rmSync, symlinkSync, unlinkSync, writeSync,
} from 'node:fs';
import type { Stats } from 'node:fs';
import { fsFailure } from './apply-errors.js';
import { applyXattrs, effectiveMode, finishDirectories } from './entry-metadata.js';
import type { DirMeta, MetadataContext } from './entry-metadata.js';
import { LayerRules } from './layer-rules.js';
import type { ApplyMode, NodeType, PathKind } from './layer-rules.js';
import { isOverlayWhiteout, makeOverlayWhiteout, mknod } from './special-files.js';
import type { TarEntry } from './tar-entries.js';
import { joinRel, parentOf, quoteName } from './tar-path.js';

export type { ApplyMode } from './layer-rules.js';

/** Settings of one TreeWriter. */
export interface TreeWriterOptions {
  mode: ApplyMode;
  sameOwner: boolean;
  isRoot: boolean;
  label: string;
  signal?: AbortSignal;
}

const O_NEW_FILE = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

/** What lstat says, in the terms of the rules. */
function pathKind(st: Stats): PathKind {
  if (st.isDirectory()) return 'dir';
  if (st.isSymbolicLink()) return 'symlink';
  return isOverlayWhiteout(st) ? 'whiteout' : 'other';
}

/** Applies entries one by one (`apply`), then directory metadata and opaque markers (`finish`). */
export class TreeWriter {
  /** Non-fatal problems (skipped devices, unsupported xattrs), one line each. */
  readonly warnings: string[] = [];
  /** File data bytes written. */
  bytes = 0;
  private readonly rules: LayerRules;
  /** Directory metadata to apply at the end, with the removal stamp current when it was recorded. */
  private readonly dirMeta = new Map<string, { m: DirMeta; stamp: number }>();
  /** overlay mode: directories to mark opaque at the end (with their stamps). */
  private readonly opaque = new Map<string, number>();
  /** merge mode: paths this layer wrote and their ancestors, which whiteouts must not delete. */
  private readonly touched = new Set<string>();
  /** overlay mode: a whiteout of this layer that later ones are hardlinked to (one mknod per layer). */
  private whiteoutSource: string | undefined;
  private readonly meta: MetadataContext;

  constructor(private readonly root: string, private readonly o: TreeWriterOptions) {
    const warned = new Set<string>();
    this.meta = {
      label: o.label,
      isRoot: o.isRoot,
      sameOwner: o.sameOwner,
      warn: (key, message) => {
        if (warned.has(key)) return;
        warned.add(key);
        this.warnings.push(message);
      },
    };
    this.rules = new LayerRules(
      {
        lookup: (rel, name) => {
          const st = this.lstat(rel, name);
          return st === undefined ? undefined : pathKind(st);
        },
        makeDir: (rel, name) => {
          try {
            mkdirSync(this.abs(rel), 0o755);
            chmodSync(this.abs(rel), 0o755); // umask-proof; we just made it, so it is no symlink
          } catch (err) {
            throw fsFailure(err, this.o.label, name, `create directory ${quoteName(rel)}`);
          }
        },
        touch: (rel) => this.touch(rel),
      },
      {
        mode: o.mode,
        isRoot: o.isRoot,
        label: o.label,
        warn: (key, message) => (key === undefined ? this.warnings.push(message) : this.meta.warn(key, message)),
      },
    );
  }

  /** Applies one entry. */
  async apply(e: TarEntry): Promise<void> {
    const step = this.rules.check(e);
    switch (step.op) {
      case 'dir': return this.dir(e, step.rel);
      case 'file': return this.file(e, step.rel);
      case 'symlink': return this.symlink(e, step.rel);
      case 'hardlink': return this.hardlink(e, step.rel, step.target);
      case 'keep': return this.touch(step.rel);
      case 'node': return this.node(e, step.rel, step.kind);
      case 'whiteout': return this.whiteout(e, step.rel);
      case 'opaque': return this.opaqueMarker(e, step.rel);
      case 'skip': return;
    }
  }

  /** Marks opaque directories and sets directory owners, modes, xattrs and times, deepest first. */
  finish(): void {
    const dirs = new Map<string, DirMeta>();
    for (const [rel, { m, stamp }] of this.dirMeta) if (this.rules.survives(rel, stamp)) dirs.set(rel, m);
    const opaque = [...this.opaque].filter(([rel, stamp]) => this.rules.survives(rel, stamp)).map(([rel]) => rel);
    finishDirectories(this.meta, (rel) => this.abs(rel), dirs, opaque);
  }

  private abs(rel: string): string {
    return rel === '' ? this.root : `${this.root}/${rel}`;
  }

  private modeOf(mode: number): number {
    return effectiveMode(this.meta, mode);
  }

  private xattrs(rel: string, name: string, attrs: Map<string, Buffer>, isSymlink: boolean): void {
    if (attrs.size > 0) applyXattrs(this.meta, this.abs(rel), name, attrs, isSymlink);
  }

  private touch(rel: string): void {
    if (this.o.mode !== 'merge') return;
    for (let p = rel; p !== '' && !this.touched.has(p); p = parentOf(p)) this.touched.add(p);
  }

  private lstat(rel: string, name: string): Stats | undefined {
    try {
      return lstatSync(this.abs(rel), { throwIfNoEntry: false });
    } catch (err) {
      throw fsFailure(err, this.o.label, name, `inspect ${quoteName(rel)}`);
    }
  }

  /** Removes whatever is at `rel` (a directory with its whole tree; symlinks themselves, never their targets). */
  private remove(rel: string, st: Stats, name: string): void {
    try {
      if (st.isDirectory()) rmSync(this.abs(rel), { recursive: true, force: true });
      else unlinkSync(this.abs(rel));
    } catch (err) {
      throw fsFailure(err, this.o.label, name, `replace ${quoteName(rel)}`);
    }
    // Forgets cached directories, pending metadata and opaque marks at and under rel.
    this.rules.removed(rel);
  }

  /** Runs `make`; when the path exists, removes it (tar semantics: the later entry wins) and retries once. */
  private create(rel: string, name: string, action: string, make: () => void): void {
    try {
      make();
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw fsFailure(err, this.o.label, name, action);
    }
    const st = this.lstat(rel, name);
    if (st) this.remove(rel, st, name);
    try {
      make();
    } catch (err) {
      throw fsFailure(err, this.o.label, name, action);
    }
  }

  private dir(e: TarEntry, rel: string): void {
    if (rel !== '') {
      const abs = this.abs(rel);
      try {
        mkdirSync(abs, 0o700); // final mode at the end, so a read-only dir can still be filled
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw fsFailure(err, this.o.label, e.name, 'create directory');
        const st = this.lstat(rel, e.name)!;
        if (!st.isDirectory()) {
          this.remove(rel, st, e.name);
          this.create(rel, e.name, 'create directory', () => mkdirSync(abs, 0o700));
          // A directory replacing an overlay whiteout of this same layer hides the lower one.
          if (this.o.mode === 'overlay' && isOverlayWhiteout(st)) this.opaque.set(rel, this.rules.stamp());
        }
      }
      this.rules.dirExists(rel);
    }
    const { name, mode, uid, gid, atime, mtime, xattrs } = e;
    this.dirMeta.set(rel, { m: { name, mode, uid, gid, atime, mtime, xattrs }, stamp: this.rules.stamp() });
    this.touch(rel);
  }

  private async file(e: TarEntry, rel: string): Promise<void> {
    const abs = this.abs(rel);
    let fd = -1;
    this.create(rel, e.name, 'create file', () => {
      fd = openSync(abs, O_NEW_FILE, 0o600);
    });
    let written = 0;
    try {
      for await (const chunk of e.data) {
        this.o.signal?.throwIfAborted();
        for (let off = 0; off < chunk.length; ) off += writeSync(fd, chunk, off, chunk.length - off);
        written += chunk.length;
      }
      if (this.o.sameOwner) fchownSync(fd, e.uid, e.gid);
      fchmodSync(fd, this.modeOf(e.mode)); // after chown, which clears setuid/setgid
      futimesSync(fd, e.atime, e.mtime);
    } catch (err) {
      throw fsFailure(err, this.o.label, e.name, 'write file');
    } finally {
      closeSync(fd);
    }
    this.bytes += written;
    this.xattrs(rel, e.name, e.xattrs, false);
    this.touch(rel);
  }

  private symlink(e: TarEntry, rel: string): void {
    const abs = this.abs(rel);
    this.create(rel, e.name, 'create symlink', () => symlinkSync(e.linkname, abs));
    try {
      if (this.o.sameOwner) lchownSync(abs, e.uid, e.gid);
      lutimesSync(abs, e.atime, e.mtime);
    } catch (err) {
      throw fsFailure(err, this.o.label, e.name, 'set symlink metadata');
    }
    this.xattrs(rel, e.name, e.xattrs, true);
    this.touch(rel);
  }

  private hardlink(e: TarEntry, rel: string, target: string): void {
    this.create(rel, e.name, 'create hardlink', () => linkSync(this.abs(target), this.abs(rel)));
    this.touch(rel);
  }

  private async node(e: TarEntry, rel: string, kind: NodeType): Promise<void> {
    const abs = this.abs(rel);
    const st = this.lstat(rel, e.name);
    if (st) this.remove(rel, st, e.name);
    const mode = this.modeOf(e.mode);
    try {
      await mknod(abs, kind, e.devmajor, e.devminor, mode & 0o777);
      if (this.o.sameOwner) lchownSync(abs, e.uid, e.gid);
      // chown clears setuid/setgid on device nodes and fifos too; the node is ours, no symlink.
      if (mode & 0o7000) chmodSync(abs, mode);
      lutimesSync(abs, e.atime, e.mtime);
    } catch (err) {
      throw fsFailure(err, this.o.label, e.name, `create ${e.type === 'fifo' ? 'fifo' : 'device node'}`);
    }
    this.xattrs(rel, e.name, e.xattrs, false);
    this.touch(rel);
  }

  private async whiteout(e: TarEntry, target: string): Promise<void> {
    if (this.o.mode === 'merge') return this.prune(target, e.name);
    const st = this.lstat(target, e.name);
    if (st) {
      // Written earlier by this same layer: a whiteout only hides lower layers, so a directory
      // of ours becomes opaque and anything else already hides the lower path.
      if (st.isDirectory()) {
        this.rules.dirExists(target);
        this.opaque.set(target, this.rules.stamp());
      }
      return;
    }
    await this.makeWhiteout(target, e.name);
  }

  /**
   * Creates an overlay whiteout. The kernel itself shares one whiteout inode among many names, so
   * after the first mknod of a layer the rest are hardlinks to it: no process spawn per whiteout.
   */
  private async makeWhiteout(target: string, name: string): Promise<void> {
    const abs = this.abs(target);
    const source = this.whiteoutSource;
    if (source !== undefined) {
      const st = this.lstat(source, name); // a later entry may have replaced it
      if (st && isOverlayWhiteout(st)) {
        try {
          linkSync(this.abs(source), abs);
          return;
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'EMLINK') throw fsFailure(err, this.o.label, name, 'create overlay whiteout');
        }
      }
    }
    try {
      await makeOverlayWhiteout(abs);
    } catch (err) {
      throw fsFailure(err, this.o.label, name, 'create overlay whiteout');
    }
    this.whiteoutSource = target;
  }

  private opaqueMarker(e: TarEntry, dirRel: string): void {
    if (this.o.mode === 'overlay') {
      this.opaque.set(dirRel, this.rules.stamp());
      return;
    }
    for (const child of this.readdir(dirRel, e.name)) this.prune(joinRel(dirRel, child), e.name);
  }

  /** merge mode: deletes `rel` except what this layer wrote (kept, with the directories leading to it). */
  private prune(rel: string, name: string): void {
    const st = this.lstat(rel, name);
    if (st === undefined) return;
    if (!this.touched.has(rel)) return this.remove(rel, st, name);
    if (!st.isDirectory()) return;
    this.rules.dirExists(rel);
    for (const child of this.readdir(rel, name)) this.prune(joinRel(rel, child), name);
  }

  private readdir(rel: string, name: string): string[] {
    try {
      return readdirSync(this.abs(rel));
    } catch (err) {
      throw fsFailure(err, this.o.label, name, `list ${quoteName(rel)}`);
    }
  }
}
