/**
 * Reads an untrusted tar stream with tar-stream and yields normalised, number-checked entries.
 *
 * tar-stream applies GNU long names (`L`/`K`) and PAX `path`/`linkpath`/`size` to `header`
 * itself, so `header.name` and `header.linkname` are the names actually used: those are what the
 * extractor validates. Two gaps are closed here by hooking the one Extract instance we create
 * (never the shared module): PAX records are decoded to UTF-8 strings, which mangles binary
 * `SCHILY.xattr.*` values such as `security.capability`, so the raw record bytes are kept too;
 * and tar-stream reads on past the end-of-archive zero blocks, where Go and GNU tar stop, so a
 * header after a zero block is refused rather than silently extracted.
 */
import tarStream from 'tar-stream';
import type { Extract } from 'tar-stream';
import { ArchiveFormatError, StrataError } from '../errors.js';
import { LayerApplyError, badEntry } from './apply-errors.js';
import { quoteName } from './tar-path.js';

/** Entry types the extractor handles. */
export type EntryType = 'file' | 'dir' | 'symlink' | 'hardlink' | 'char' | 'block' | 'fifo';

/** One tar entry, names raw (not yet cleaned), numbers validated. */
export interface TarEntry {
  name: string;
  linkname: string;
  type: EntryType;
  /** Permission bits incl. setuid/setgid/sticky (file-type bits masked off). */
  mode: number;
  uid: number;
  gid: number;
  /** Seconds since the epoch, fractional when a PAX record gave sub-second precision. */
  mtime: number;
  atime: number;
  size: number;
  devmajor: number;
  devminor: number;
  /** xattrs from `SCHILY.xattr.*` (or `LIBARCHIVE.xattr.*`) PAX records, raw bytes. */
  xattrs: Map<string, Buffer>;
  /** File data (regular files only). Unconsumed data is skipped when the next entry is read. */
  data: AsyncIterable<Buffer>;
}

/** Options of readTarEntries. */
export interface ReadTarOptions {
  label: string;
  signal?: AbortSignal;
  /** Largest accepted entry size in bytes. */
  maxEntrySize: number;
}

const RAW_PAX = Symbol('strata.rawPax');
const HEADER_ONLY: ReadonlySet<EntryType> = new Set(['symlink', 'hardlink', 'char', 'block', 'fifo']);
const TYPES: Record<string, EntryType> = {
  file: 'file',
  'contiguous-file': 'file',
  directory: 'dir',
  symlink: 'symlink',
  link: 'hardlink',
  'character-device': 'char',
  'block-device': 'block',
  fifo: 'fifo',
};
const MAX_ID = 0xfffffffe; // (uid_t)-1 means "no change" to chown

/** A header as tar-stream decodes it (long names and PAX path/linkpath/size already applied). */
export interface TarStreamHeader {
  name: string;
  linkname: string | null;
  type: string | null;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: Date;
  devmajor: number;
  devminor: number;
  pax: (Record<string, string> & { [RAW_PAX]?: Map<string, Buffer> }) | null;
}

/** Parses PAX extended-header records (`LEN key=value\n`) keeping values as raw bytes. */
export function parsePaxRecords(buf: Buffer): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  let pos = 0;
  while (pos < buf.length) {
    const sp = buf.indexOf(0x20, pos);
    if (sp < 0) break;
    const digits = buf.toString('latin1', pos, sp);
    const len = Number(digits);
    if (!/^\d+$/.test(digits) || len <= sp - pos + 1 || pos + len > buf.length || buf[pos + len - 1] !== 0x0a) break;
    const rec = buf.subarray(sp + 1, pos + len - 1); // drop the trailing newline
    const eq = rec.indexOf(0x3d);
    if (eq < 0) break;
    out.set(rec.toString('utf8', 0, eq), Buffer.from(rec.subarray(eq + 1)));
    pos += len;
  }
  return out;
}

interface ExtractInternals {
  _header: { type: string | null } | null;
  _pax: TarStreamHeader['pax'];
  _paxGlobal: TarStreamHeader['pax'];
  _decodeLongHeader(buf: Buffer): void;
  _consumeHeader(): boolean;
}

/** Hooks one Extract instance: keeps raw PAX bytes and notes headers that follow a zero block. */
function instrument(ex: Extract): { afterEof: () => boolean } {
  const inner = ex as unknown as ExtractInternals;
  const decodeLong = inner._decodeLongHeader;
  const consumeHeader = inner._consumeHeader;
  if (typeof decodeLong !== 'function' || typeof consumeHeader !== 'function') {
    throw new Error('tar-stream internals changed: cannot read raw PAX records');
  }
  inner._decodeLongHeader = function (this: ExtractInternals, buf: Buffer) {
    decodeLong.call(this, buf);
    const type = this._header?.type;
    if (type === 'pax-header' && this._pax) {
      this._pax[RAW_PAX] = new Map([...(this._paxGlobal?.[RAW_PAX] ?? []), ...parsePaxRecords(buf)]);
    } else if (type === 'pax-global-header' && this._paxGlobal) {
      this._paxGlobal[RAW_PAX] = parsePaxRecords(buf);
    }
  };
  let zeroBlock = false;
  let headerAfterZero = false;
  inner._consumeHeader = function (this: ExtractInternals) {
    const r = consumeHeader.call(this);
    if (this._header === null) zeroBlock = true;
    else if (zeroBlock) headerAfterZero = true;
    return r;
  };
  return { afterEof: () => headerAfterZero };
}

/** Yields the entries of an uncompressed tar stream; parse failures become ArchiveFormatError. */
export async function* readTarEntries(input: NodeJS.ReadableStream, opts: ReadTarOptions): AsyncGenerator<TarEntry> {
  const { label, signal } = opts;
  signal?.throwIfAborted();
  const ex = tarStream.extract();
  const probe = instrument(ex);
  let inputError: unknown;
  let last: string | undefined;
  // An entry's data stream fails with a generic "Stream was destroyed" when the archive does;
  // the archive's own error says why (input failure, "Unexpected end of data").
  let archiveError: unknown;
  ex.on('error', (err: unknown) => {
    archiveError ??= err;
  });
  /** Turns a stream failure into a typed error; `inData` when it struck while reading `last`'s data. */
  const classify = (err: unknown, inData = false): unknown => {
    if (signal?.aborted) return signal.reason;
    if (inData && archiveError !== undefined) err = archiveError;
    if (err instanceof StrataError) return err;
    if (inputError !== undefined && err === inputError) {
      return new LayerApplyError(`${label}: reading the layer stream failed: ${(err as Error)?.message ?? err}`, { cause: err });
    }
    return malformedTar(label, last, inData, err);
  };
  const onInputError = (err: unknown) => {
    inputError = err;
    ex.destroy(err as Error);
  };
  const onAbort = () => ex.destroy(signal!.reason);
  input.on('error', onInputError);
  signal?.addEventListener('abort', onAbort, { once: true });
  input.pipe(ex as unknown as NodeJS.WritableStream);
  let finished = false;
  try {
    const it = ex[Symbol.asyncIterator]();
    for (;;) {
      let r: IteratorResult<{ header: unknown } & AsyncIterable<Buffer>>;
      try {
        r = (await it.next()) as typeof r;
      } catch (err) {
        throw classify(err);
      }
      if (r.done) break;
      const stream = r.value;
      const header = stream.header as unknown as TarStreamHeader;
      if (probe.afterEof()) throw entryAfterEof(label, header.name);
      const entry = normaliseHeader(header, header.pax?.[RAW_PAX], opts) as TarEntry; // no copy: hot path
      entry.data = guarded(stream, classify);
      last = entry.name;
      yield entry;
      try {
        for await (const _ of stream); // skip whatever the consumer left unread
      } catch (err) {
        throw classify(err, true);
      }
    }
    finished = true;
  } finally {
    signal?.removeEventListener('abort', onAbort);
    input.removeListener('error', onInputError);
    if (!finished) {
      ex.destroy();
      const destroy = (input as { destroy?: () => void }).destroy;
      if (typeof destroy === 'function') destroy.call(input);
    }
  }
}

async function* guarded(stream: AsyncIterable<Buffer>, classify: (e: unknown, inData: boolean) => unknown): AsyncGenerator<Buffer> {
  try {
    for await (const chunk of stream) yield chunk;
  } catch (err) {
    throw classify(err, true);
  }
}

/** The error for a tar that cannot be parsed: where (`at the start`, `in`/`after entry "x"`) and why. */
export function malformedTar(label: string, last: string | undefined, inData: boolean, err: unknown): ArchiveFormatError {
  const where = last === undefined ? 'at the start' : `${inData ? 'in' : 'after'} entry ${quoteName(last)}`;
  return new ArchiveFormatError(`${label}: malformed tar ${where}: ${(err as Error)?.message ?? err}`, { cause: err });
}

/** The error for an entry found after the end-of-archive zero blocks (Go and GNU tar stop there). */
export function entryAfterEof(label: string, name: string): ArchiveFormatError {
  return badEntry(label, name, 'entry follows the end-of-archive marker');
}

/** A normalised entry without its data. */
export type TarHead = Omit<TarEntry, 'data'>;

/**
 * Checks the numbers and type of one decoded header and normalises it. `rawPax` holds the PAX
 * records as raw bytes (per-entry merged over global), the source of binary xattr values.
 */
export function normaliseHeader(h: TarStreamHeader, rawPax: Map<string, Buffer> | undefined, opts: ReadTarOptions): TarHead {
  const { label } = opts;
  const name = h.name;
  const type = h.type === null ? undefined : TYPES[h.type];
  if (type === undefined) throw badEntry(label, name, 'unsupported entry type (only files, dirs, links, devices and fifos)');
  const pax = h.pax ?? {};
  const raw = rawPax ?? new Map<string, Buffer>();
  if (Object.keys(pax).some((k) => k.startsWith('GNU.sparse.'))) throw badEntry(label, name, 'GNU sparse files are not supported');

  let size = type === 'dir' ? 0 : h.size; // tar-stream (like Go) skips no data for directories
  if (!(size >= 0) || !Number.isInteger(size)) throw badEntry(label, name, `invalid size ${String(h.size)}`);
  if (!Number.isSafeInteger(size) || size > opts.maxEntrySize) throw badEntry(label, name, `size ${size} exceeds the limit of ${opts.maxEntrySize} bytes`);
  if (HEADER_ONLY.has(type) && size > 0) throw badEntry(label, name, `a ${type} entry must not carry data (${size} bytes)`);
  if (!Number.isInteger(h.mode)) throw badEntry(label, name, 'invalid mode');

  const id = (paxValue: string | undefined, field: number, what: string): number => {
    const v = paxValue !== undefined ? (/^\d+$/.test(paxValue) ? Number(paxValue) : NaN) : field;
    if (!Number.isSafeInteger(v) || v < 0 || v > MAX_ID) throw badEntry(label, name, `invalid ${what} ${String(paxValue ?? field)}`);
    return v;
  };
  const mtime = paxTime(pax.mtime) ?? saneTime(h.mtime.getTime() / 1000);
  let devmajor = 0;
  let devminor = 0;
  if (type === 'char' || type === 'block') {
    devmajor = h.devmajor;
    devminor = h.devminor;
    for (const n of [devmajor, devminor]) {
      if (!Number.isSafeInteger(n) || n < 0 || n > 0xffffffff) throw badEntry(label, name, `invalid device number ${n}`);
    }
  }
  return {
    name,
    linkname: h.linkname ?? '',
    type,
    mode: h.mode & 0o7777,
    uid: id(pax.uid, h.uid, 'uid'),
    gid: id(pax.gid, h.gid, 'gid'),
    mtime,
    atime: paxTime(pax.atime) ?? mtime,
    size,
    devmajor,
    devminor,
    xattrs: xattrsOf(raw, label, name),
  };
}

/** Seconds as given, or 0 when absurd (beyond ±2^40 s, which utimes cannot take). */
function saneTime(t: number): number {
  return Number.isFinite(t) && Math.abs(t) < 2 ** 40 ? t : 0;
}

/** Seconds from a PAX time record (`1700000000.25`), undefined when absent or malformed. */
export function paxTime(v: string | undefined): number | undefined {
  if (v === undefined || !/^-?\d+(\.\d+)?$/.test(v)) return undefined;
  return saneTime(Number(v));
}

function xattrsOf(raw: Map<string, Buffer>, label: string, name: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  for (const [key, value] of raw) {
    if (key.startsWith('LIBARCHIVE.xattr.')) {
      // libarchive: URL-encoded name, base64 value. SCHILY records win when both are present.
      let attr: string;
      try {
        attr = decodeURIComponent(key.slice('LIBARCHIVE.xattr.'.length));
      } catch {
        throw badEntry(label, name, `malformed xattr record ${quoteName(key)}`);
      }
      if (!raw.has(`SCHILY.xattr.${attr}`)) out.set(attr, Buffer.from(value.toString('latin1'), 'base64'));
    } else if (key.startsWith('SCHILY.xattr.')) {
      out.set(key.slice('SCHILY.xattr.'.length), value);
    }
  }
  for (const attr of out.keys()) {
    if (attr === '' || attr.includes('\0')) throw badEntry(label, name, `invalid xattr name ${quoteName(attr)}`);
  }
  return out;
}
