/**
 * Writes selected entries into a root filesystem. Every path it writes is either a directory it
 * resolved or verified with lstat (never a symlink) or an entry below one; the final component
 * is never followed: an existing file or symlink there is removed and the entry created with
 * O_EXCL (copyFile's COPYFILE_EXCL, mkdir, symlink, link), an existing directory is an error
 * for a non-directory and merged for a directory. Directory modes and times are applied last,
 * deepest first, so creating children neither needs write permission nor bumps their mtimes.
 * Metadata syscalls are synchronous: a promise per syscall would triple the cost of 20,000 files.
 */
import {
  chmodSync, constants, copyFileSync, lchownSync, linkSync, lstatSync, lutimesSync, mkdirSync, symlinkSync, unlinkSync,
} from 'node:fs';
import { BuildError } from '../errors.js';
import { devMajor, devMinor, mknod } from '../fs/special-files.js';
import { readXattrsSync, writeXattrsSync } from '../fs/xattr.js';
import { applyChmod } from './copy-mode.js';
import type { ChmodSpec } from './copy-mode.js';
import { inRoot } from './copy-dest.js';
import { hostPath, sameStat } from './file-source.js';
import type { FileSource, SourceEntry } from './file-source.js';

/** Settings of a TreeCopier. */
export interface CopierOptions {
  chmod?: ChmodSpec;
  chown?: { uid: number; gid: number };
  /** Copy extended attributes (default true); failures to set one become warnings. */
  xattrs: boolean;
  /** Check after copying that each source file still has the stat it was selected (and hashed) with. */
  verify: boolean;
  /** Files that may be left in place instead of copied again (see Reuse). */
  reuse?: Reuse;
}

/**
 * What a copy over the layer of an earlier build of the same step may leave in place: source
 * paths (regular files) whose content, mode and owner fingerprint is unchanged since that build,
 * where that layer's tar holds a file of the same size, mode, owner and mtime.
 */
export interface Reuse {
  paths: ReadonlySet<string>;
  /**
   * When the earlier build started (ms). A source file whose ctime is older has had its current
   * xattrs since then, so the earlier copy carries them; newer ones are compared.
   */
  settledBefore: number;
  /**
   * The earlier layer's regular files by destination path, read from its tar (no stat through
   * the overlay per file). Files of that tar were written with these metadata, so equal
   * metadata means equal tar entries.
   */
  layer: ReadonlyMap<string, LayerFile>;
  /** The clamp (seconds) the build applies to tar mtimes, which the layer's went through too. */
  clampMtime?: number;
}

/** A regular file (not a hard link) in a layer tar. */
export interface LayerFile {
  size: number;
  mode: number;
  uid: number;
  gid: number;
  /** Whole seconds, as in the tar. */
  mtime: number;
  xattrs: boolean;
}

interface DirMeta {
  abs: string;
  mode?: number;
  owner?: { uid: number; gid: number };
  mtimeMs?: number;
}

/** Copies entries from one source into one root; call newItem() before and finish() after each copied source. */
export class TreeCopier {
  files = 0;
  dirs = 0;
  bytes = 0;
  /** Files left in place (see CopierOptions.reuse). */
  reused = 0;
  readonly warnings: string[] = [];
  private readonly dirMeta: DirMeta[] = [];
  /** Destination paths this copy wrote (kept when reusing: those no longer hold the layer's file). */
  private readonly written = new Set<string>();
  /** `dev:ino` of multiply-linked source files → where this copy wrote them (BuildKit keeps hardlinks within one source). */
  private links = new Map<string, string>();

  constructor(private readonly root: string, private readonly src: FileSource, private readonly o: CopierOptions) {}

  /** Starts a new hardlink scope (one per copied source, as BuildKit does). */
  newItem(): void {
    this.links = new Map();
  }

  private owner(e: SourceEntry): { uid: number; gid: number } {
    if (this.o.chown) return this.o.chown;
    return this.src.keepOwners ? { uid: e.uid, gid: e.gid } : { uid: 0, gid: 0 };
  }

  private mode(e: SourceEntry): number {
    return this.o.chmod ? applyChmod(this.o.chmod, e.mode, e.type === 'dir') : e.mode;
  }

  /** Copies a directory entry to `rel`: created when missing, its metadata overwritten when present. */
  dir(e: SourceEntry, rel: string, implied = false): void {
    const abs = inRoot(this.root, rel);
    const st = lstatSync(abs, { throwIfNoEntry: false });
    if (st === undefined) {
      mkdirSync(abs, 0o700);
      this.dirMeta.push({ abs, mode: this.mode(e), owner: this.owner(e), mtimeMs: e.mtimeMs });
    } else if (st.isDirectory()) {
      // An existing directory takes the copied one's metadata; one only implied as a parent just its mode.
      this.dirMeta.push(implied ? { abs, mode: this.mode(e) } : { abs, mode: this.mode(e), owner: this.owner(e), mtimeMs: e.mtimeMs });
    } else {
      throw new BuildError(`cannot copy directory ${JSON.stringify(e.path || '.')} to /${rel}: it exists and is not a directory`, {
        hint: 'the image has a file or symlink there; remove it first (RUN rm) or copy to another path',
      }, 'COPY_NOT_A_DIRECTORY');
    }
    this.dirs++;
    this.xattrs(e, abs);
  }

  /** Sets only the modification time of an existing destination directory (BuildKit copies the source dir's). */
  touchDir(rel: string, mtimeMs: number): void {
    this.dirMeta.push({ abs: inRoot(this.root, rel), mtimeMs });
  }

  /** Copies a non-directory entry to `rel`, replacing a file or symlink there. */
  async entry(e: SourceEntry, rel: string): Promise<void> {
    const reuse = this.o.reuse;
    if (reuse && e.type === 'file' && reuse.paths.has(e.path) && !this.written.has(rel) && this.inLayer(e, reuse.layer.get(rel), reuse)) {
      this.reused++;
      this.files++;
      this.bytes += e.size;
      return;
    }
    if (reuse) this.written.add(rel);
    const abs = inRoot(this.root, rel);
    const st = lstatSync(abs, { throwIfNoEntry: false });
    if (st !== undefined) {
      if (st.isDirectory()) {
        throw new BuildError(`cannot replace directory /${rel} with ${e.type === 'symlink' ? 'a symlink' : 'a file'} (${JSON.stringify(e.path)})`, {
          hint: 'copy into the directory by ending the destination with "/", or remove the directory first',
        }, 'COPY_TARGET_IS_DIR');
      }
      unlinkSync(abs);
    }
    const own = this.owner(e);
    switch (e.type) {
      case 'file':
        this.file(e, abs, own);
        break;
      case 'symlink':
        symlinkSync(e.linkTarget ?? '', abs);
        lchownSync(abs, own.uid, own.gid);
        this.xattrs(e, abs);
        lutimesSync(abs, e.mtimeMs / 1000, e.mtimeMs / 1000);
        this.files++;
        break;
      case 'dir':
        throw new Error('TreeCopier.entry called for a directory');
      default:
        await mknod(abs, e.type, devMajor(e.rdev ?? 0), devMinor(e.rdev ?? 0), e.mode & 0o777);
        lchownSync(abs, own.uid, own.gid);
        chmodSync(abs, this.mode(e));
        lutimesSync(abs, e.mtimeMs / 1000, e.mtimeMs / 1000);
        this.files++;
    }
  }

  private file(e: SourceEntry, abs: string, own: { uid: number; gid: number }): void {
    const linkKey = (e.nlink ?? 1) > 1 && e.ino !== undefined ? `${e.dev}:${e.ino}` : undefined;
    const first = linkKey === undefined ? undefined : this.links.get(linkKey);
    if (first !== undefined) {
      linkSync(first, abs);
      this.files++;
      return;
    }
    const srcAbs = hostPath(this.src, e.path);
    copyFileSync(srcAbs, abs, constants.COPYFILE_EXCL);
    if (this.o.verify) this.verify(e, srcAbs, abs);
    // chown first: it clears setuid/setgid, which the chmod below restores.
    lchownSync(abs, own.uid, own.gid);
    const mode = this.mode(e);
    if (this.o.chmod !== undefined || mode & 0o7000) chmodSync(abs, mode);
    this.xattrs(e, abs);
    lutimesSync(abs, e.mtimeMs / 1000, e.mtimeMs / 1000);
    if (linkKey !== undefined) this.links.set(linkKey, abs);
    this.files++;
    this.bytes += e.size;
  }

  /** True when the layer's file at the destination (`f`) is the tar entry copying `e` would give. */
  private inLayer(e: SourceEntry, f: LayerFile | undefined, reuse: Reuse): boolean {
    if (f === undefined || f.xattrs || (e.nlink ?? 1) !== 1 || f.size !== e.size) return false;
    const own = this.owner(e);
    if (f.mode !== this.mode(e) || f.uid !== own.uid || f.gid !== own.gid) return false;
    const seconds = Math.floor(e.mtimeMs / 1000);
    if (f.mtime !== (reuse.clampMtime !== undefined && seconds > reuse.clampMtime ? reuse.clampMtime : seconds)) return false;
    if (!this.o.xattrs || (e.ctimeMs !== undefined && e.ctimeMs < reuse.settledBefore)) return true;
    return Object.keys(readXattrsSync(hostPath(this.src, e.path))).length === 0;
  }

  /** The source must still be the file that was selected and hashed; otherwise the layer would not match its cache key. */
  private verify(e: SourceEntry, srcAbs: string, abs: string): void {
    if (sameStat(e, lstatSync(srcAbs, { throwIfNoEntry: false }))) return;
    unlinkSync(abs);
    throw this.changed(e);
  }

  private changed(e: SourceEntry): BuildError {
    return new BuildError(`${this.src.label}: ${JSON.stringify(e.path)} changed while it was being copied`, {
      hint: 'run the build again once nothing is writing into the source',
    }, 'CONTEXT_CHANGED');
  }

  private xattrs(e: SourceEntry, abs: string): void {
    if (!this.o.xattrs) return;
    const attrs = readXattrsSync(hostPath(this.src, e.path));
    let any = false;
    for (const name of Object.keys(attrs)) {
      // overlayfs bookkeeping of the source tree must not leak into the image.
      if (name.startsWith('trusted.overlay.')) delete attrs[name];
      else any = true;
    }
    if (!any) return;
    try {
      const skipped = writeXattrsSync(abs, attrs);
      if (skipped.length > 0) this.warnings.push(`${e.path}: xattrs not supported here: ${skipped.join(', ')}`);
    } catch (err) {
      this.warnings.push(`${e.path}: could not copy xattrs: ${(err as Error).message}`);
    }
  }

  /** Applies directory owners, modes and times, deepest first. */
  finish(): void {
    for (let i = this.dirMeta.length - 1; i >= 0; i--) {
      const d = this.dirMeta[i]!;
      if (d.owner) lchownSync(d.abs, d.owner.uid, d.owner.gid);
      if (d.mode !== undefined) chmodSync(d.abs, d.mode);
      if (d.mtimeMs !== undefined) lutimesSync(d.abs, d.mtimeMs / 1000, d.mtimeMs / 1000);
    }
    this.dirMeta.length = 0;
  }
}
