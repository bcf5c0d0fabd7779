/**
 * Reading command inputs: a file path or `-` for stdin.
 */
import { readFile } from 'node:fs/promises';
import { NotFoundError } from '../errors.js';

/** Reads a whole file, or stdin for `-`. Missing files give a NotFoundError naming the path. */
export async function readInput(path: string): Promise<Buffer> {
  if (path === '-') {
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  }
  try {
    return await readFile(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new NotFoundError(`${path}: no such file`, { hint: 'pass the Dockerfile with -f PATH, or -f - to read stdin' });
    if (code === 'EISDIR') throw new NotFoundError(`${path}: is a directory`, { hint: `pass the file inside it, e.g. -f ${path}/Dockerfile` });
    throw e;
  }
}
