/**
 * Metadata of applied entries that is not set on the spot: xattrs from the tar (with the policy
 * for overlay and unsupported attributes) and directory owner/mode/xattrs/times, which are set
 * at the end, deepest first, so writing children neither changes a directory's mtime afterwards
 * nor trips over a read-only mode.
 */
import { closeSync, constants, fchmodSync, fchownSync, futimesSync, openSync } from 'node:fs';
import { fsFailure } from './apply-errors.js';
import { isOverlayXattr, overlayXattrWarning } from './layer-rules.js';
import { quoteName } from './tar-path.js';
import { OVERLAY_OPAQUE_XATTR, isXattrUnsupported, setXattrSync } from './xattr.js';

/** Metadata of a directory entry, applied by finishDirectories. */
export interface DirMeta {
  name: string;
  mode: number;
  uid: number;
  gid: number;
  atime: number;
  mtime: number;
  xattrs: Map<string, Buffer>;
}

/** What the metadata helpers need to know about the run. */
export interface MetadataContext {
  label: string;
  isRoot: boolean;
  sameOwner: boolean;
  /** Records a warning once per key. */
  warn(key: string, message: string): void;
}

const O_DIR = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW;

/** Permission bits to apply: special bits only with sameOwner, like tar without --same-owner. */
export function effectiveMode(ctx: MetadataContext, mode: number): number {
  return ctx.sameOwner ? mode : mode & 0o777;
}

/**
 * Sets an entry's xattrs on `abs` itself. overlayfs attributes from a tar are dropped (a layer
 * must not steer the overlay); attributes the filesystem refuses (ENOTSUP; EPERM when not root
 * or on a symlink, where user.* is not allowed) are dropped with one warning per name.
 */
export function applyXattrs(ctx: MetadataContext, abs: string, name: string, attrs: Map<string, Buffer>, isSymlink: boolean): void {
  for (const [key, value] of attrs) {
    if (isOverlayXattr(key)) {
      ctx.warn(...overlayXattrWarning(ctx.label, name, key));
      continue;
    }
    try {
      setXattrSync(abs, key, value);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (isXattrUnsupported(err) || (code === 'EPERM' && (!ctx.isRoot || isSymlink))) {
        ctx.warn(`xattr:${code}:${key}`, `${ctx.label}: entry ${quoteName(name)}: xattr ${key} dropped (${code}; first of possibly several)`);
        continue;
      }
      throw fsFailure(err, ctx.label, name, `set xattr ${key}`);
    }
  }
}

/**
 * Marks `opaque` directories (trusted.overlay.opaque=y), then applies every DirMeta deepest
 * first through an O_NOFOLLOW|O_DIRECTORY descriptor: chown, chmod (after chown), xattrs, times.
 * `abs` maps a relative path to its absolute one.
 */
export function finishDirectories(ctx: MetadataContext, abs: (rel: string) => string, dirs: Map<string, DirMeta>, opaque: Iterable<string>): void {
  for (const rel of opaque) {
    try {
      setXattrSync(abs(rel), OVERLAY_OPAQUE_XATTR, 'y');
    } catch (err) {
      throw fsFailure(err, ctx.label, rel, 'mark the directory opaque');
    }
  }
  const order = [...dirs].map(([rel, m]) => ({ rel, m, depth: rel === '' ? 0 : rel.split('/').length }));
  order.sort((a, b) => b.depth - a.depth);
  for (const { rel, m } of order) {
    try {
      const fd = openSync(abs(rel), O_DIR);
      try {
        if (ctx.sameOwner) fchownSync(fd, m.uid, m.gid);
        fchmodSync(fd, effectiveMode(ctx, m.mode));
        applyXattrs(ctx, abs(rel), m.name, m.xattrs, false);
        futimesSync(fd, m.atime, m.mtime);
      } finally {
        closeSync(fd);
      }
    } catch (err) {
      throw fsFailure(err, ctx.label, m.name, 'set directory metadata');
    }
  }
}
