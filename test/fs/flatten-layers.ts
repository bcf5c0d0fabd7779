/**
 * Layer tars for the flatten tests, written with TarWriter: small header builders and a writer
 * that puts a list of entries into a tar file.
 */
import { writeFileSync } from 'node:fs';
import { PassThrough, Readable } from 'node:stream';
import { TarWriter } from '../../src/fs/tar-writer.js';
import type { TarWriteHeader } from '../../src/fs/tar-writer.js';
import { opaqueMarkerPath, whiteoutPath } from '../../src/fs/whiteout.js';

/** One entry to write: its header and, for files, its data. */
export type Item = [TarWriteHeader, Buffer?];

/** Default mtime of the builders. */
export const T = 1_600_000_000;

type Meta = Partial<Omit<TarWriteHeader, 'name' | 'type' | 'size'>>;
const base = (name: string, type: TarWriteHeader['type'], m: Meta): TarWriteHeader => ({ name, type, mode: 0o644, uid: 0, gid: 0, size: 0, mtime: T, ...m });

/** A directory (0755 unless given). */
export const D = (name: string, m: Meta = {}): Item => [base(name, 'dir', { mode: 0o755, ...m })];
/** A regular file. */
export const F = (name: string, content: string | Buffer, m: Meta = {}): Item => {
  const data = typeof content === 'string' ? Buffer.from(content) : content;
  return [{ ...base(name, 'file', m), size: data.length }, data];
};
/** A symlink. */
export const L = (name: string, target: string, m: Meta = {}): Item => [base(name, 'symlink', { mode: 0o777, linkname: target, ...m })];
/** A hardlink to `target` (a path of the same layer). */
export const H = (name: string, target: string): Item => [base(name, 'hardlink', { linkname: target })];
/** A character or block device, or a fifo. */
export const N = (name: string, type: 'char' | 'block' | 'fifo', major = 0, minor = 0, m: Meta = {}): Item => [base(name, type, { devmajor: major, devminor: minor, ...m })];
/** The whiteout of `path`. */
export const WH = (path: string): Item => F(whiteoutPath(path), '');
/** The opaque marker of directory `dir`. */
export const OPQ = (dir: string): Item => F(opaqueMarkerPath(dir), '');

/** The tar of `items`, in memory. */
export async function tarOf(items: Item[]): Promise<Buffer> {
  const out = new PassThrough();
  const chunks: Buffer[] = [];
  out.on('data', (c: Buffer) => chunks.push(c));
  const w = new TarWriter(out);
  for (const [h, data] of items) await w.entry(h, data ? Readable.from([data]) : undefined);
  await w.finish();
  out.end();
  return Buffer.concat(chunks);
}

/** Writes the tar of `items` to `path`. */
export async function writeLayer(path: string, items: Item[]): Promise<void> {
  writeFileSync(path, await tarOf(items));
}
