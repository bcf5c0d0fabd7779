/**
 * Writing a command's output file atomically: a temp file beside the target, fsynced and
 * renamed over it only once complete, so the target never holds a partial result, and the temp
 * file is removed on failure. Used by `save -o` and `export -o`.
 */
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { NotFoundError, StrataError } from '../errors.js';
import { fsyncDir, isNoSpace, noSpaceError } from '../store/durable.js';

/** Runs `write` on a temp file beside `path`, then makes it `path`. `code` names the failure kind. */
export function writeOutputFile<T>(path: string, code: string, write: (out: Writable) => Promise<T>): Promise<T> {
  return writeOutputPath(path, code, async (tmp) => {
    const out = createWriteStream(tmp, { flags: 'wx', mode: 0o644 });
    try {
      await once(out, 'open');
      const result = await write(out);
      out.end();
      await finished(out);
      return result;
    } catch (e) {
      out.destroy();
      throw e;
    }
  });
}

/**
 * Runs `write` with the path of a temp file beside `path` (which `write` creates), then fsyncs it
 * and makes it `path`; on failure the temp file is removed. `code` names the failure kind.
 */
export async function writeOutputPath<T>(path: string, code: string, write: (tmp: string) => Promise<T>): Promise<T> {
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    const result = await write(tmp);
    const fh = await open(tmp, 'r+');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
    await fsyncDir(dirname(path));
    return result;
  } catch (e) {
    await unlink(tmp).catch(() => undefined);
    if (isNoSpace(e)) throw noSpaceError(`writing ${path}`, e);
    const errno = (e as NodeJS.ErrnoException).code;
    if (errno === 'ENOENT' && !(e instanceof StrataError)) throw new NotFoundError(`cannot write ${path}: its directory does not exist`, { cause: e });
    if (typeof errno === 'string' && !(e instanceof StrataError)) {
      throw new StrataError(code, `cannot write ${path}: ${(e as Error).message}`, { cause: e, hint: 'check the path and its permissions' });
    }
    throw e;
  }
}
