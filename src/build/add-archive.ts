/**
 * ADD's local tar archives: recognised by content like Docker (decompress gzip, bzip2, xz or zstd
 * if the magic says so, then the first block must be a tar header with a valid checksum; a file
 * that fails any step is just a file), and unpacked into a directory with `tar -x` semantics:
 * merged with what is there, later entries replacing earlier ones.
 *
 * Unpacking reuses strata's safe extractor (readTarEntries + TreeWriter: names cleaned, nothing
 * written through a symlink, hardlinks kept inside). Unlike a layer, an ADDed tar has no
 * whiteouts: Docker extracts a `.wh.foo` member as a file called `.wh.foo`. The extractor would
 * read such names as deletions, so they are renamed on the way in (every path element starting
 * with `.wh.` gets a private prefix) and renamed back once the archive is written.
 */
import { closeSync, constants, createReadStream, lstatSync, openSync, readSync, renameSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import { openDecompressed } from '../compress/index.js';
import { CompressedDataError } from '../compress/index.js';
import { readTarEntries } from '../fs/tar-entries.js';
import { cleanTarPath } from '../fs/tar-path.js';
import { TreeWriter } from '../fs/tree-writer.js';

const BLOCK = 512;
const WH = '.wh.';
// Archives are read where they are: never through a symlink swapped in after selection.
const NOFOLLOW = constants.O_RDONLY | constants.O_NOFOLLOW;

/** A read stream of a file that is refused when the path is a symlink. */
function readNoFollow(path: string): Readable {
  return createReadStream('', { fd: openSync(path, NOFOLLOW), autoClose: true });
}

/** True when `buf` (at least 512 bytes) starts with a tar header whose checksum is right (Go's tar reader accepts it). */
export function isTarHeader(buf: Uint8Array): boolean {
  if (buf.length < BLOCK) return false;
  let zero = true;
  for (let i = 0; i < BLOCK; i++) {
    if (buf[i] !== 0) {
      zero = false;
      break;
    }
  }
  if (zero) return false;
  const field = Buffer.from(buf.subarray(148, 156)).toString('latin1').replace(/[\0 ]+$/, '').replace(/^ +/, '');
  if (!/^[0-7]+$/.test(field)) return false;
  const want = parseInt(field, 8);
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const b = i >= 148 && i < 156 ? 0x20 : buf[i]!;
    unsigned += b;
    signed += b >= 0x80 ? b - 0x100 : b;
  }
  return want === unsigned || want === signed;
}

/** Reads up to `n` bytes from the start of a stream, then destroys it. */
async function head(stream: Readable, n: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  let have = 0;
  try {
    for await (const chunk of stream) {
      const b = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
      parts.push(b);
      have += b.length;
      if (have >= n) break;
    }
  } finally {
    stream.destroy();
  }
  return Buffer.concat(parts).subarray(0, n);
}

/** Whether the regular file at `path` is a (possibly compressed) tar archive, judged by content. */
export async function isTarArchive(path: string): Promise<boolean> {
  const fd = openSync(path, NOFOLLOW);
  const first = Buffer.alloc(BLOCK);
  let n: number;
  try {
    n = readSync(fd, first, 0, BLOCK, 0);
  } finally {
    closeSync(fd);
  }
  if (n === 0) return false;
  if (n === BLOCK && isTarHeader(first)) return true;
  const { compression, stream } = await openDecompressed(readNoFollow(path));
  if (compression === 'none') {
    stream.destroy();
    return false;
  }
  try {
    return isTarHeader(await head(stream, BLOCK));
  } catch (e) {
    // Corrupt compressed data is not an archive; Docker copies such a file as it is.
    if (e instanceof CompressedDataError) return false;
    throw e;
  }
}

/** Options of unpackArchive. */
export interface UnpackOptions {
  /** Owner of every unpacked entry (`--chown`); the archive's owners otherwise. */
  chown?: { uid: number; gid: number };
  /** Prefix of error messages. */
  label?: string;
  signal?: AbortSignal;
}

/** What unpackArchive wrote. */
export interface UnpackResult {
  entries: number;
  bytes: number;
  warnings: string[];
}

/**
 * Unpacks the archive at `archivePath` into `targetDir` (an existing real directory, e.g. one
 * resolved inside a root filesystem); never writes outside it.
 */
export async function unpackArchive(archivePath: string, targetDir: string, opts: UnpackOptions = {}): Promise<UnpackResult> {
  const label = opts.label ?? `ADD ${archivePath}`;
  const { stream } = await openDecompressed(readNoFollow(archivePath));
  const isRoot = process.geteuid?.() === 0;
  const writer = new TreeWriter(targetDir, { mode: 'merge', sameOwner: isRoot, isRoot, label, ...(opts.signal ? { signal: opts.signal } : {}) });
  const tag = `.strata-add-${randomBytes(6).toString('hex')}-`;
  const escaped = new Set<string>();
  let entries = 0;
  try {
    for await (const e of readTarEntries(stream, { label, maxEntrySize: 2 ** 40, ...(opts.signal ? { signal: opts.signal } : {}) })) {
      entries++;
      // Docker strips leading slashes: `/etc/x` in an ADDed tar lands in <dest>/etc/x.
      e.name = escapeName(e.name.replace(/^\/+/, ''), tag, escaped);
      if (e.type === 'hardlink') e.linkname = escapeName(e.linkname.replace(/^\/+/, ''), tag, undefined);
      if (opts.chown) {
        e.uid = opts.chown.uid;
        e.gid = opts.chown.gid;
      }
      if (e.name === '' || e.name === '.' || e.name === './') continue;
      await writer.apply(e);
    }
    writer.finish();
  } finally {
    stream.destroy();
  }
  unescapeAll(targetDir, tag, escaped);
  return { entries, bytes: writer.bytes, warnings: writer.warnings };
}

/** Prefixes every `.wh.*` element of a tar name; records the escaped paths (each prefix ending in one). */
function escapeName(name: string, tag: string, record: Set<string> | undefined): string {
  if (!name.includes(WH)) return name;
  const cleaned = cleanTarPath(name);
  if (!cleaned.ok) return name; // the extractor refuses it with the reason
  const parts = cleaned.path.split('/');
  let changed = false;
  for (let i = 0; i < parts.length; i++) {
    if (!parts[i]!.startsWith(WH)) continue;
    parts[i] = tag + parts[i];
    changed = true;
    record?.add(parts.slice(0, i + 1).join('/'));
  }
  return changed ? parts.join('/') : name;
}

/** Renames escaped entries back, deepest first, never through a symlink. */
function unescapeAll(root: string, tag: string, escaped: Set<string>): void {
  const paths = [...escaped].sort((a, b) => b.split('/').length - a.split('/').length);
  for (const p of paths) {
    const parts = p.split('/');
    // Every parent must still be a real directory (a later entry may have replaced one).
    let ok = true;
    for (let i = 1; i < parts.length && ok; i++) {
      const st = lstatSync(`${root}/${parts.slice(0, i).join('/')}`, { throwIfNoEntry: false });
      ok = st?.isDirectory() === true;
    }
    if (!ok) continue;
    const from = `${root}/${p}`;
    if (lstatSync(from, { throwIfNoEntry: false }) === undefined) continue;
    const last = parts[parts.length - 1]!;
    const to = `${root}/${[...parts.slice(0, -1), last.slice(tag.length)].join('/')}`;
    const existing = lstatSync(to, { throwIfNoEntry: false });
    if (existing !== undefined) rmSync(to, { recursive: existing.isDirectory(), force: true });
    renameSync(from, to);
  }
}
