/**
 * Indexes an uncompressed tar FILE without streaming it: headers are read with positional reads
 * and file data is seeked past, so a 1 GB layer of large files costs a few thousand small reads.
 * Runs of small entries are read a window (32 KiB) at a time; after larger data only the next
 * header block is read.
 *
 * Parsing is the stream reader's (tar-entries.ts): blocks are decoded by tar-stream's own header
 * decoder, long names and PAX records are applied in the order tar-stream applies them, and the
 * result goes through the same normaliseHeader. So the index refuses exactly the malformed
 * headers the reader refuses, with the same messages; it also refuses names that cleanTarPath
 * refuses (absolute, escaping, NUL), the first rule applyLayer applies, with applyLayer's error.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { LayerApplyError, unsafeEntry } from './apply-errors.js';
import { entryAfterEof, malformedTar, normaliseHeader, parsePaxRecords, paxTime } from './tar-entries.js';
import type { ReadTarOptions, TarHead, TarStreamHeader } from './tar-entries.js';
import { cleanTarPath } from './tar-path.js';

/** One entry of a tar file: the normalised header and where its data starts. */
export interface IndexEntry extends TarHead {
  /** `name` cleaned (tar-path.ts): relative, no `.`, `..` or empty components; `''` is the root. */
  path: string;
  /** Byte offset of the entry's data in the file (meaningful for regular files). */
  dataOffset: number;
  /** The PAX `mtime` text when it holds more than whole non-negative seconds (kept verbatim). */
  paxMtime?: string;
}

interface HeaderCodec {
  decode(buf: Buffer, filenameEncoding: string, allowUnknownFormat: boolean): (Omit<TarStreamHeader, 'pax'> & { pax: null }) | null;
  decodePax(buf: Buffer): Record<string, string>;
  decodeLongPath(buf: Buffer, encoding: string): string;
}

/**
 * tar-stream's block decoder, the one the stream reader uses. It is not an exported entry point,
 * so it is loaded by file path (beside the package's main file) and its shape checked.
 */
const codec: HeaderCodec = (() => {
  const require = createRequire(import.meta.url);
  const c = require(join(dirname(require.resolve('tar-stream')), 'headers.js')) as Partial<HeaderCodec>;
  if (typeof c.decode !== 'function' || typeof c.decodePax !== 'function' || typeof c.decodeLongPath !== 'function') {
    throw new Error('tar-stream internals changed: cannot decode tar headers for the index');
  }
  return c as HeaderCodec;
})();

const BLOCK = 512;
const MAX_OCTAL_11 = 0o77777777777;
const WINDOW = 32 * 1024;
/** Data up to this size is read past rather than seeked over (the next header is likely in the window). */
const DENSE = 2048;
/** tar-stream's limit for a GNU long name or PAX header body. */
const MAX_LONG_HEADER = 4 * 1024 * 1024;
const LONG_TYPES = new Set(['gnu-long-path', 'gnu-long-link-path', 'pax-global-header', 'pax-header']);

/**
 * Positional reads for headers. Where entries are dense (small files, directories, links) one
 * read fills a window holding several headers; after a larger file only the header block is
 * read. The window buffer is reused, so callers copy what they keep (decoding does).
 */
class HeaderReader {
  private readonly win = Buffer.allocUnsafe(WINDOW);
  private start = 0;
  private end = 0;

  constructor(private readonly fd: number, readonly size: number, private readonly label: string) {}

  /** `len` bytes at `pos` (fewer at the end of the file); `ahead` reads a whole window. Valid until the next call. */
  read(pos: number, len: number, ahead: boolean): Buffer {
    if (pos >= this.start && pos + len <= this.end) return this.win.subarray(pos - this.start, pos - this.start + len);
    if (len > WINDOW) {
      const buf = Buffer.allocUnsafe(len); // a long header body
      return buf.subarray(0, this.fill(buf, pos, len));
    }
    const got = this.fill(this.win, pos, Math.min(ahead ? WINDOW : len, this.size - pos));
    this.start = pos;
    this.end = pos + got;
    return this.win.subarray(0, Math.min(len, got));
  }

  private fill(buf: Buffer, pos: number, want: number): number {
    let got = 0;
    try {
      while (got < want) {
        const n = readSync(this.fd, buf, got, want - got, pos + got);
        if (n === 0) break;
        got += n;
      }
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new LayerApplyError(`${this.label}: reading the layer file failed: ${(err as Error).message}`, { cause: err, ...(code ? { errno: code } : {}) });
    }
    return got;
  }
}

/**
 * Yields the entries of the tar open at `fd`, in order. Throws ArchiveFormatError for what the
 * stream reader refuses (after yielding the entry whose data is cut short, as the reader does),
 * LayerApplyError when the file cannot be read.
 */
export function* tarIndexEntries(fd: number, opts: ReadTarOptions): Generator<IndexEntry> {
  const { label } = opts;
  const size = fstatSync(fd).size;
  const r = new HeaderReader(fd, size, label);
  let dense = true;
  let pos = 0;
  let last: string | undefined;
  let zeroBlock = false;
  let headerAfterZero = false;
  let longPath: string | null = null;
  let longLink: string | null = null;
  let pax: Record<string, string> | null = null;
  let paxRaw: Map<string, Buffer> | undefined;
  let paxGlobal: Record<string, string> | null = null;
  let paxGlobalRaw: Map<string, Buffer> | undefined;
  const malformed = (message: string, inData = false) => malformedTar(label, last, inData, new Error(message));
  for (;;) {
    opts.signal?.throwIfAborted();
    if (pos >= size) return;
    if (size - pos < BLOCK) throw malformed('Unexpected end of data');
    const block = r.read(pos, BLOCK, dense);
    let h: ReturnType<HeaderCodec['decode']>;
    try {
      h = codec.decode(block, 'utf-8', false);
    } catch (err) {
      throw malformedTar(label, last, false, err);
    }
    pos += BLOCK;
    if (h === null) {
      zeroBlock = true;
      continue;
    }
    if (zeroBlock) headerAfterZero = true;
    if (h.type !== null && LONG_TYPES.has(h.type)) {
      if (h.size > MAX_LONG_HEADER) throw malformed('Header exceeds max size');
      // tar-stream reads no body for an empty one but stays in long-header state, which later
      // swallows the padding of a file as a "body" and loses its place: refuse it outright.
      if (!(h.size > 0)) throw malformed('Invalid header');
      if (pos + h.size > size) throw malformed('Unexpected end of data');
      const body = Buffer.from(r.read(pos, h.size, true));
      pos += padded(h.size);
      if (pos > size) throw malformed('Unexpected end of data');
      switch (h.type) {
        case 'gnu-long-path': longPath = codec.decodeLongPath(body, 'utf-8'); break;
        case 'gnu-long-link-path': longLink = codec.decodeLongPath(body, 'utf-8'); break;
        case 'pax-global-header':
          paxGlobal = codec.decodePax(body);
          paxGlobalRaw = parsePaxRecords(body);
          break;
        case 'pax-header':
          pax = paxGlobal === null ? codec.decodePax(body) : Object.assign({}, paxGlobal, codec.decodePax(body));
          paxRaw = new Map([...(paxGlobalRaw ?? []), ...parsePaxRecords(body)]);
          break;
      }
      continue;
    }
    // The order tar-stream applies long names in: GNU first, then PAX over them.
    const header: TarStreamHeader = h; // decode's own object (pax: null), updated in place
    if (longPath !== null) header.name = longPath;
    if (longLink !== null) header.linkname = longLink;
    longPath = longLink = null;
    let raw: Map<string, Buffer> | undefined;
    if (pax !== null) {
      if (pax.path) header.name = pax.path;
      if (pax.linkpath) header.linkname = pax.linkpath;
      if (pax.size) header.size = parseInt(pax.size, 10);
      header.pax = pax;
      raw = paxRaw;
      pax = null;
      paxRaw = undefined;
    }
    if (!(header.size >= 0)) throw malformed('Invalid header');
    if (headerAfterZero) throw entryAfterEof(label, header.name);
    const head = normaliseHeader(header, raw, opts);
    // The first rule applyLayer applies to a name; refusing here keeps any user of the index safe.
    const cleaned = cleanTarPath(head.name);
    if (!cleaned.ok) throw unsafeEntry(label, head.name, cleaned.reason);
    const entry = head as IndexEntry; // extended in place: no copy per entry
    entry.path = cleaned.path;
    entry.dataOffset = pos;
    if (!(Number.isInteger(head.mtime) && head.mtime >= 0 && head.mtime <= MAX_OCTAL_11)) {
      // Whole seconds in octal cannot hold it: keep the PAX text (or an exact decimal) for writers.
      const text = header.pax?.mtime;
      entry.paxMtime = text !== undefined && paxTime(text) === head.mtime ? text : decimal(head.mtime);
    }
    last = header.name;
    // tar-stream skips no data after a directory header, whatever its size field says.
    const dataSize = header.type === 'directory' ? 0 : header.size;
    dense = dataSize <= DENSE;
    pos += dataSize;
    const cut = pos > size ? 'data' : pos + padded(dataSize) - dataSize > size ? 'padding' : undefined;
    pos += padded(dataSize) - dataSize;
    yield entry;
    // The reader hands out an entry before it finds its data cut short.
    if (cut !== undefined) throw malformed('Unexpected end of data', cut === 'data');
  }
}

/** Indexes the whole tar file at `path`. */
export function indexTarFile(path: string, opts: ReadTarOptions): IndexEntry[] {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new LayerApplyError(`${opts.label}: cannot open ${JSON.stringify(path)}: ${(err as Error).message}`, { cause: err, ...(code ? { errno: code } : {}) });
  }
  try {
    return [...tarIndexEntries(fd, opts)];
  } finally {
    closeSync(fd);
  }
}

function decimal(n: number): string {
  const s = String(n);
  return /e/i.test(s) ? n.toFixed(9) : s;
}

function padded(n: number): number {
  return Math.ceil(n / BLOCK) * BLOCK;
}
