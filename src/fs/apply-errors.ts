/**
 * Errors raised while applying a layer tar. Every message starts with the layer label and the
 * entry (`layer sha256:ab…: entry "etc/x": …`) so a user can find the culprit in the archive.
 */
import { ArchiveFormatError, NoSpaceError, StrataError, UnsafeArchiveError } from '../errors.js';
import { quoteName } from './tar-path.js';

/** A filesystem operation failed while applying a layer (EACCES, EROFS, EIO…); `errno` keeps the code. */
export class LayerApplyError extends StrataError {
  readonly errno?: string;
  constructor(message: string, opts: { hint?: string; cause?: unknown; errno?: string } = {}) {
    super('LAYER_APPLY', message, opts);
    if (opts.errno !== undefined) this.errno = opts.errno;
  }
}

/** `layer X: entry "name"` — the start of every per-entry message. */
export function entryWhere(label: string, name: string): string {
  return `${label}: entry ${quoteName(name)}`;
}

/** An entry breaks a safety rule (escape, write through a symlink, misplaced whiteout). */
export function unsafeEntry(label: string, name: string, rule: string): UnsafeArchiveError {
  return new UnsafeArchiveError(`${entryWhere(label, name)}: ${rule}`, {
    hint: 'the layer tar is malformed or hostile; nothing was written outside the target directory',
  });
}

/** An entry is malformed or unsupported (bad numbers, unknown type, data where none belongs). */
export function badEntry(label: string, name: string, problem: string): ArchiveFormatError {
  return new ArchiveFormatError(`${entryWhere(label, name)}: ${problem}`);
}

const HINTS: Record<string, string> = {
  EACCES: 'check the permissions of the target directory (or run as root)',
  EPERM: 'changing owners, devices and trusted/security xattrs needs root',
  EROFS: 'the target directory is on a read-only filesystem',
  ENAMETOOLONG: 'a name in the layer is longer than this filesystem allows',
  EMLINK: 'the filesystem refused another hardlink to this file',
  ENOENT: 'is the `mknod` binary (coreutils) installed?',
};

/** Wraps a filesystem error into a typed error naming the entry; StrataErrors pass through. */
export function fsFailure(err: unknown, label: string, name: string, action: string): StrataError {
  if (err instanceof StrataError) return err;
  const e = err as NodeJS.ErrnoException;
  const code = typeof e?.code === 'string' ? e.code : undefined;
  const where = entryWhere(label, name);
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return new NoSpaceError(`${where}: no space left on device while trying to ${action}`, {
      cause: err,
      hint: 'free disk space and retry; the partly extracted directory can be removed',
    });
  }
  const hint = code === 'ENOENT' && e.syscall !== 'spawn mknod' ? undefined : code ? HINTS[code] : undefined;
  return new LayerApplyError(`${where}: cannot ${action}: ${describe(err)}`, {
    cause: err,
    errno: code,
    ...(hint ? { hint } : {}),
  });
}

function describe(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  if (typeof e?.code !== 'string') return err instanceof Error ? err.message : String(err);
  // Node's text is `EACCES: permission denied, open '/abs/path'`; the entry name already says where.
  const text = String(e.message ?? '').replace(/^[A-Z0-9]+: /, '').split(', ')[0];
  return `${text} (${e.code})`;
}
