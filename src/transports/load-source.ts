/**
 * Where `load` reads entries from: a tar stream (possibly gzip/zstd/bzip2/xz-compressed as a
 * whole, as `docker save | gzip` makes) or an OCI layout directory. Both yield the same
 * SourceEntry records, so one stager handles both.
 */
import { createReadStream } from 'node:fs';
import { lstat, readdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { openDecompressed } from '../compress/index.js';
import { readTarEntries } from '../fs/tar-entries.js';
import type { SourceEntry } from './load-stage.js';

/** No per-entry limit beyond what the disk holds: layers can be many gigabytes. */
const MAX_ENTRY_SIZE = Number.MAX_SAFE_INTEGER;
const MAX_DEPTH = 16;

/** Entries of a tar stream, decompressed first when its magic bytes say so. */
export async function* tarEntries(input: Readable, label: string): AsyncGenerator<SourceEntry> {
  const { stream } = await openDecompressed(input);
  for await (const e of readTarEntries(stream, { label, maxEntrySize: MAX_ENTRY_SIZE })) {
    const type = e.type === 'file' || e.type === 'dir' || e.type === 'symlink' || e.type === 'hardlink' ? e.type : 'other';
    yield { name: e.name, type, linkname: e.linkname, size: e.size, data: e.data };
  }
}

/**
 * Entries of a directory tree (an OCI layout on disk), in sorted order. Symlinks are reported as
 * symlinks, never followed here; devices, sockets and fifos are not part of a layout and are skipped.
 */
export async function* directoryEntries(root: string): AsyncGenerator<SourceEntry> {
  yield* walk(root, '', 0);
}

async function* walk(root: string, rel: string, depth: number): AsyncGenerator<SourceEntry> {
  const names = (await readdir(join(root, rel))).sort();
  for (const base of names) {
    const name = rel === '' ? base : `${rel}/${base}`;
    const path = join(root, name);
    const st = await lstat(path);
    if (st.isDirectory()) {
      if (depth < MAX_DEPTH) yield* walk(root, name, depth + 1);
    } else if (st.isSymbolicLink()) {
      yield { name, type: 'symlink', linkname: await readlink(path), size: 0, data: empty() };
    } else if (st.isFile()) {
      yield { name, type: 'file', linkname: '', size: st.size, data: createReadStream(path) };
    }
  }
}

async function* empty(): AsyncGenerator<Buffer> {}
