/**
 * Reading entries of an overlay upper dir for the diff: directory listings in tar order, xattrs
 * without overlayfs' own, small files in one read. Every failure becomes a SnapshotError naming
 * the entry. All synchronous: each call is a syscall or two, cheaper than a thread-pool trip.
 */
import { closeSync, constants, lstatSync, openSync, readSync, readdirSync, readlinkSync } from 'node:fs';
import type { Stats } from 'node:fs';
import { OVERLAY_OPAQUE_XATTR, readXattrsSync } from '../fs/xattr.js';
import type { XattrRecord } from '../fs/xattr.js';
import { SnapshotError } from './snapshot-error.js';

/** One entry of a directory being diffed. */
export interface UpperEntry {
  name: string;
  /** Relative to the upper dir, no leading slash. */
  rel: string;
  abs: string;
  st: Stats;
}

/** Open flags for file data: never follow a symlink swapped in. */
export const READ_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW;

const OVERLAY_XATTR_PREFIX = 'trusted.overlay.';
/** Overlay features that leave an upper entry's content in the lower dirs, and the mount option that turns each off. */
const LOWER_DEPENDENT_XATTRS: Record<string, string> = {
  'trusted.overlay.redirect': 'redirect_dir=off',
  'trusted.overlay.metacopy': 'metacopy=off',
};

/** Reads an upper dir on behalf of one diff; `root` names it in messages. */
export class UpperReader {
  constructor(readonly root: string) {}

  /** The children of a directory, lstat'ed, sorted by the UTF-8 bytes of their names. */
  list(abs: string, rel: string): UpperEntry[] {
    let names: string[];
    try {
      // Plain names: every child is lstat'ed anyway, so dirent types would save nothing.
      names = readdirSync(abs);
    } catch (err) {
      throw this.failure(err, rel, 'list');
    }
    const out: UpperEntry[] = [];
    for (const name of sortNames(names)) {
      const childRel = rel === '' ? name : `${rel}/${name}`;
      const childAbs = `${abs}/${name}`;
      out.push({ name, rel: childRel, abs: childAbs, st: this.lstat(childAbs, childRel) });
    }
    return out;
  }

  lstat(abs: string, rel: string): Stats {
    try {
      return lstatSync(abs);
    } catch (err) {
      const utf8 = (err as NodeJS.ErrnoException).code === 'ENOENT' && rel.includes('\uFFFD') ? ' (is the name valid UTF-8?)' : '';
      throw this.failure(err, rel, `inspect${utf8}`);
    }
  }

  /**
   * The entry's xattrs without `trusted.overlay.*` (undefined when none are left), and whether it
   * is an opaque directory. Refuses entries whose content overlayfs keeps in a lower dir.
   */
  xattrs(e: UpperEntry): { xattrs: XattrRecord | undefined; opaque: boolean } {
    let all: XattrRecord;
    try {
      all = readXattrsSync(e.abs);
    } catch (err) {
      throw this.failure(err, e.rel, 'read the xattrs of');
    }
    let xattrs: XattrRecord | undefined;
    let opaque = false;
    for (const name of Object.keys(all)) {
      if (!name.startsWith(OVERLAY_XATTR_PREFIX)) {
        (xattrs ??= {})[name] = all[name]!;
        continue;
      }
      const fix = LOWER_DEPENDENT_XATTRS[name];
      if (fix !== undefined) {
        throw new SnapshotError(`diff ${this.root}: ${JSON.stringify(e.rel || '/')} has ${name}: part of it lives in a lower dir`, {
          hint: `mount the overlay with ${fix}`,
        });
      }
      // 'y' only: newer kernels also write 'x' (a lower dir holding xattr whiteouts), which hides nothing.
      if (name === OVERLAY_OPAQUE_XATTR && e.st.isDirectory()) opaque = all[name]!.length === 1 && all[name]![0] === 0x79;
    }
    return { xattrs, opaque };
  }

  /**
   * A regular file's data in one buffer. The upper dir must not change during the diff (the
   * step's processes are gone), so a file that shrank is an error and growth is not looked for.
   */
  readSmall(e: UpperEntry): Buffer {
    const size = e.st.size;
    const buf = Buffer.allocUnsafe(size);
    let fd = -1;
    try {
      fd = openSync(e.abs, READ_FLAGS);
      for (let off = 0; off < size; ) {
        const n = readSync(fd, buf, off, size - off, off);
        if (n === 0) throw new Error(`the file shrank from ${size} to ${off} bytes while it was being archived`);
        off += n;
      }
    } catch (err) {
      throw this.failure(err, e.rel, 'read');
    } finally {
      if (fd >= 0) closeSync(fd);
    }
    return buf;
  }

  readlink(e: UpperEntry): string {
    try {
      return readlinkSync(e.abs);
    } catch (err) {
      throw this.failure(err, e.rel, 'read the symlink');
    }
  }

  /** Wraps a filesystem error into a SnapshotError naming the entry (SnapshotErrors pass through). */
  failure(err: unknown, rel: string, action: string): SnapshotError {
    if (err instanceof SnapshotError) return err;
    const where = rel === '' ? this.root : JSON.stringify(rel);
    return new SnapshotError(`diff ${this.root}: cannot ${action} ${where}: ${(err as Error).message}`, { cause: err });
  }
}

const SURROGATE = /[\uD800-\uDFFF]/;

/** Sorts names by their UTF-8 bytes. UTF-16 order (JS `<`) differs from it only around surrogate pairs. */
export function sortNames(names: string[]): string[] {
  if (!names.some((n) => SURROGATE.test(n))) return names.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const keys = new Map(names.map((n) => [n, Buffer.from(n, 'utf8')]));
  return names.sort((a, b) => Buffer.compare(keys.get(a)!, keys.get(b)!));
}
