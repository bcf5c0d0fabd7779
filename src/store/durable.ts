/**
 * Durable file primitives: write to a temp file, fsync it, rename it over the final name, fsync
 * the directory. After a crash the final name holds either the old or the new content, never a
 * mix, and a resolved promise means the new content survives power loss.
 */
import { open, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { NoSpaceError } from '../errors.js';
import { tempName } from './temp.js';

/** True for "the disk is full" errors (ENOSPC, or EDQUOT when a quota is what ran out). */
export function isNoSpace(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOSPC' || code === 'EDQUOT';
}

/** NoSpaceError for `what` ("writing blob sha256:…"), keeping the raw error as its cause. */
export function noSpaceError(what: string, cause: unknown): NoSpaceError {
  return new NoSpaceError(`no space left on device while ${what}; nothing was changed`, {
    cause,
    hint: 'free some disk space (for example with `strata gc`) and try again',
  });
}

/** fsyncs a directory so that renames and unlinks inside it are durable. */
export async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Removes a path, ignoring "not there". Never throws for a missing entry. */
export async function removeQuiet(path: string): Promise<void> {
  await rm(path, { recursive: true, force: true }).catch(() => undefined);
}

/**
 * Atomically replaces `finalPath` with `data`: temp file under `tmpDir` (same filesystem), fsync,
 * rename, fsync of the final directory. On ENOSPC raises NoSpaceError naming `what`, and the old
 * content of `finalPath` is untouched.
 */
export async function writeFileAtomic(tmpDir: string, finalPath: string, data: string | Uint8Array, what: string, mode = 0o644): Promise<void> {
  const tmp = join(tmpDir, tempName('write'));
  try {
    const fh = await open(tmp, 'wx', mode);
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, finalPath);
  } catch (e) {
    await removeQuiet(tmp);
    if (isNoSpace(e)) throw noSpaceError(what, e);
    throw e;
  }
  await fsyncDir(join(finalPath, '..'));
}
