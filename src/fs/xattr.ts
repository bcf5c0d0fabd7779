/**
 * Extended attributes through @napi-rs/xattr. Its functions act on a symlink itself (like
 * lgetxattr/lsetxattr), which is what layer code needs: nothing here follows a final symlink.
 * The binding reports failures as `GenericFailure` with the errno only in the message text, so
 * errors are re-raised as ordinary errno errors (`code: 'ENOTSUP'`) for callers to branch on.
 */
import { createRequire } from 'node:module';
import { constants } from 'node:os';

type Binding = typeof import('@napi-rs/xattr');
let binding: Binding | undefined;

/**
 * The native binding, loaded on first use: finding and loading it (its loader probes the libc
 * by reading /usr/bin/ldd) costs every command ~10 ms at start-up, and most never touch xattrs.
 */
function xattrBinding(): Binding {
  binding ??= createRequire(import.meta.url)('@napi-rs/xattr') as Binding;
  return binding;
}
const listAttributesSync = (path: string) => xattrBinding().listAttributesSync(path);
const getAttributeSync = (path: string, name: string) => xattrBinding().getAttributeSync(path, name);
const setAttributeSync = (path: string, name: string, value: Buffer | string) => xattrBinding().setAttributeSync(path, name, value);
const removeAttributeSync = (path: string, name: string) => xattrBinding().removeAttributeSync(path, name);

/** All xattrs of one path, name → raw value. */
export type XattrRecord = Record<string, Buffer>;

/** xattr name of an overlayfs opaque directory (value `y`). */
export const OVERLAY_OPAQUE_XATTR = 'trusted.overlay.opaque';

const errnoNames = new Map<number, string>();
for (const [name, num] of Object.entries(constants.errno)) {
  if (!errnoNames.has(num)) errnoNames.set(num, name);
}
// EOPNOTSUPP and ENOTSUP share a number on Linux; callers test for the short one.
errnoNames.set(constants.errno.ENOTSUP, 'ENOTSUP');

/** Turns an error from the binding into an errno error with `code`, `syscall` and `path`. */
export function toErrnoError(err: unknown, syscall: string, path: string): NodeJS.ErrnoException {
  const msg = err instanceof Error ? err.message : String(err);
  const m = /\(os error (\d+)\)/.exec(msg);
  const code = m ? errnoNames.get(Number(m[1])) : undefined;
  const e = new Error(`${syscall} ${path}: ${msg.replace(/\s*\(os error \d+\)/, '')}`) as NodeJS.ErrnoException;
  if (code !== undefined) {
    e.code = code;
    e.errno = -Number(m![1]);
  }
  e.syscall = syscall;
  e.path = path;
  return e;
}

/** True when an errno error says the filesystem does not support (this namespace of) xattrs. */
export function isXattrUnsupported(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return code === 'ENOTSUP' || code === 'EOPNOTSUPP';
}

/** Reads every xattr of `path` without following a final symlink; `{}` where xattrs are unsupported. */
export function readXattrsSync(path: string): XattrRecord {
  let names: string[];
  try {
    names = listAttributesSync(path);
  } catch (err) {
    const e = toErrnoError(err, 'llistxattr', path);
    if (isXattrUnsupported(e)) return {};
    throw e;
  }
  const out: XattrRecord = {};
  for (const name of names.sort()) {
    // The binding answers null for an attribute that vanished between list and get.
    const value = getAttributeSync(path, name);
    if (value !== null) out[name] = Buffer.from(value);
  }
  return out;
}

/** Async form of readXattrsSync (the binding's work is short; this keeps call sites uniform). */
export async function readXattrs(path: string): Promise<XattrRecord> {
  return readXattrsSync(path);
}

/** Sets one xattr on `path` itself (no symlink following); throws an errno error on failure. */
export function setXattrSync(path: string, name: string, value: Buffer | string): void {
  try {
    setAttributeSync(path, name, value);
  } catch (err) {
    throw toErrnoError(err, 'lsetxattr', path);
  }
}

/** Removes one xattr from `path` itself; throws an errno error on failure. */
export function removeXattrSync(path: string, name: string): void {
  try {
    removeAttributeSync(path, name);
  } catch (err) {
    throw toErrnoError(err, 'lremovexattr', path);
  }
}

/**
 * Writes every xattr of `attrs` onto `path`. Attributes the filesystem does not support are
 * skipped and their names returned, so callers can warn; any other failure throws.
 */
export function writeXattrsSync(path: string, attrs: XattrRecord | Map<string, Buffer>): string[] {
  const unsupported: string[] = [];
  const entries = attrs instanceof Map ? attrs.entries() : Object.entries(attrs);
  for (const [name, value] of entries) {
    try {
      setXattrSync(path, name, value);
    } catch (err) {
      if (!isXattrUnsupported(err)) throw err;
      unsupported.push(name);
    }
  }
  return unsupported;
}

/** Async form of writeXattrsSync. */
export async function writeXattrs(path: string, attrs: XattrRecord | Map<string, Buffer>): Promise<string[]> {
  return writeXattrsSync(path, attrs);
}
