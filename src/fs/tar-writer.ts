/**
 * A streaming tar writer (USTAR with PAX extensions) for the layer tars strata produces: exact
 * modes, owners and mtimes, binary xattrs as `SCHILY.xattr.*` records (tar-stream would mangle
 * them as UTF-8), and deterministic output — the same entries always give the same bytes.
 */
import { once } from 'node:events';
import type { Readable, Writable } from 'node:stream';
import type { EntryType } from './tar-entries.js';

/** One entry to write. */
export interface TarWriteHeader {
  /** Slash-separated relative path; directories get their trailing slash added here. */
  name: string;
  type: EntryType;
  /** Permission bits including setuid/setgid/sticky. */
  mode: number;
  uid: number;
  gid: number;
  /** Data size for regular files; 0 for everything else. */
  size: number;
  /** Modification time, whole seconds since the epoch. */
  mtime: number;
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  xattrs?: ReadonlyMap<string, Buffer> | Readonly<Record<string, Buffer>>;
  /**
   * The exact mtime as a PAX decimal (`1700000000.25`, `-5`), for times whole seconds cannot
   * hold; written as a PAX `mtime` record next to the clamped whole seconds of `mtime`.
   */
  paxMtime?: string;
}

/** Options of a TarWriter. */
export interface TarWriterOptions {
  /** Aborting rejects a write that waits for the output to drain. */
  signal?: AbortSignal;
}

const BLOCK = 512;
const ZERO = Buffer.alloc(BLOCK * 2);
const TYPEFLAG: Record<EntryType, string> = { file: '0', hardlink: '1', symlink: '2', char: '3', block: '4', dir: '5', fifo: '6' };
const MAX_OCTAL_7 = 0o7777777;
const MAX_OCTAL_11 = 0o77777777777;

/** Writes tar entries to a stream, honouring backpressure. Call `finish()` once at the end. */
export class TarWriter {
  /** Bytes written so far. */
  bytes = 0;

  constructor(private readonly out: Writable, private readonly opts: TarWriterOptions = {}) {}

  /** Writes one entry; `data` (regular files only) must supply exactly `size` bytes. */
  async entry(h: TarWriteHeader, data?: Readable | Buffer | AsyncIterable<Buffer>): Promise<void> {
    const { name, size, blocks } = headerBlocks(h);
    for (const b of blocks) await this.write(b);
    if (size === 0) return;
    if (!data) throw new Error(`tar writer: ${name}: ${size} bytes announced but no data given`);
    let written = 0;
    if (Buffer.isBuffer(data)) {
      written = data.length;
      await this.write(data);
    } else {
      for await (const chunk of data as AsyncIterable<Buffer>) {
        written += chunk.length;
        if (written > size) throw new Error(`tar writer: ${name}: the file grew while it was being archived`);
        await this.write(chunk);
      }
    }
    if (written !== size) throw new Error(`tar writer: ${name}: expected ${size} bytes, got ${written} (the file changed while it was being archived)`);
    const rest = size % BLOCK;
    if (rest !== 0) await this.write(ZERO.subarray(0, BLOCK - rest));
  }

  /** Writes the end-of-archive marker (two zero blocks). Does not end the stream. */
  async finish(): Promise<void> {
    await this.write(ZERO);
  }

  /**
   * Writes one entry whose data (regular files only) is already in memory, without waiting: the
   * fast path for many small files (no promise per entry). Returns false when the stream asked
   * for 'drain' before more is written. Gives the same bytes as `entry()`.
   */
  writeEntry(h: TarWriteHeader, data?: Buffer): boolean {
    const { name, size, blocks } = headerBlocks(h);
    if (size > 0 && data?.length !== size) throw new Error(`tar writer: ${name}: expected ${size} bytes, got ${data?.length ?? 0}`);
    let ok = true;
    for (const b of blocks) ok = this.put(b) && ok;
    if (size === 0) return ok;
    ok = this.put(data!) && ok;
    const rest = size % BLOCK;
    if (rest !== 0) ok = this.put(ZERO.subarray(0, BLOCK - rest)) && ok;
    return ok;
  }

  /** The bytes before an entry's data: its PAX header, when one is needed, and its USTAR header. */
  static headerBytes(h: TarWriteHeader): Buffer {
    return Buffer.concat(headerBlocks(h).blocks);
  }

  /** The zero bytes that pad `size` bytes of data to a whole block. */
  static paddingBytes(size: number): Buffer {
    const rest = size % BLOCK;
    return rest === 0 ? Buffer.alloc(0) : ZERO.subarray(0, BLOCK - rest);
  }

  /** The end-of-archive marker `finish()` writes. */
  static readonly TRAILER: Buffer = ZERO;



  private put(b: Buffer): boolean {
    this.bytes += b.length;
    return this.out.write(b);
  }

  private async write(b: Buffer): Promise<void> {
    this.bytes += b.length;
    if (!this.out.write(b)) await once(this.out, 'drain', this.opts.signal ? { signal: this.opts.signal } : {});
  }
}

function isAscii(s: string): boolean {
  return /^[\x00-\x7f]*$/.test(s);
}

function asciiPrefix(s: string, max: number): string {
  return s.replace(/[^\x20-\x7e]/g, '_').slice(0, max);
}

/** Fits a name into USTAR's name (100) + prefix (155) fields, splitting at a slash; undefined when it cannot. */
function splitName(name: string): { name: string; prefix: string } | undefined {
  if (!isAscii(name)) return undefined;
  if (name.length <= 100) return { name, prefix: '' };
  if (name.length > 256) return undefined;
  for (let i = name.length - 101; i < name.length; i++) {
    if (i > 0 && name[i] === '/' && i <= 155 && name.length - i - 1 <= 100 && name.length - i - 1 > 0) {
      return { prefix: name.slice(0, i), name: name.slice(i + 1) };
    }
  }
  return undefined;
}

/** PAX records `<len> <key>=<value>\n`, where len counts the whole record. */
function encodePax(records: Map<string, Buffer>): Buffer {
  const parts: Buffer[] = [];
  for (const [key, value] of records) {
    const rest = Buffer.byteLength(key) + value.length + 3; // ' ', '=', '\n'
    let len = rest + String(rest).length;
    if (String(len).length !== String(rest).length) len = rest + String(len).length;
    parts.push(Buffer.from(`${len} ${key}=`), value, Buffer.from('\n'));
  }
  return Buffer.concat(parts);
}

/** The PAX extended header (when one is needed) and the USTAR header of an entry. */
function headerBlocks(h: TarWriteHeader): { name: string; size: number; blocks: Buffer[] } {
  const name = h.type === 'dir' && !h.name.endsWith('/') ? h.name + '/' : h.name;
  const size = h.type === 'file' ? h.size : 0;
  const blocks: Buffer[] = [];
  const pax = new Map<string, Buffer>();
  const split = splitName(name);
  if (!split) pax.set('path', Buffer.from(name, 'utf8'));
  const linkname = h.linkname ?? '';
  if (Buffer.byteLength(linkname) > 100 || !isAscii(linkname)) pax.set('linkpath', Buffer.from(linkname, 'utf8'));
  if (h.uid > MAX_OCTAL_7) pax.set('uid', Buffer.from(String(h.uid)));
  if (h.gid > MAX_OCTAL_7) pax.set('gid', Buffer.from(String(h.gid)));
  if (size > MAX_OCTAL_11) pax.set('size', Buffer.from(String(size)));
  if (h.paxMtime !== undefined) {
    if (!/^-?\d+(\.\d+)?$/.test(h.paxMtime)) throw new Error(`tar writer: ${name}: malformed PAX mtime ${JSON.stringify(h.paxMtime)}`);
    pax.set('mtime', Buffer.from(h.paxMtime));
  }
  if (h.xattrs) {
    const entries = h.xattrs instanceof Map ? [...h.xattrs] : Object.entries(h.xattrs);
    for (const [k, v] of entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) pax.set('SCHILY.xattr.' + k, v);
  }
  if (pax.size > 0) {
    const body = encodePax(pax);
    const base = name.replace(/\/$/, '').split('/').pop() ?? '';
    blocks.push(header({ name: `PaxHeaders.0/${asciiPrefix(base, 80)}`, typeflag: 'x', mode: 0o644, uid: 0, gid: 0, size: body.length, mtime: h.mtime }));
    blocks.push(padded(body));
  }
  blocks.push(
    header({
      name: split ? split.name : asciiPrefix(name, 100),
      prefix: split?.prefix ?? '',
      typeflag: TYPEFLAG[h.type],
      mode: h.mode & 0o7777,
      uid: Math.min(h.uid, MAX_OCTAL_7),
      gid: Math.min(h.gid, MAX_OCTAL_7),
      size: Math.min(size, MAX_OCTAL_11),
      mtime: Math.max(0, Math.min(Math.floor(h.mtime), MAX_OCTAL_11)),
      linkname: Buffer.byteLength(linkname) > 100 || !isAscii(linkname) ? '' : linkname,
      devmajor: h.devmajor ?? 0,
      devminor: h.devminor ?? 0,
    }),
  );
  return { name, size, blocks };
}
function padded(b: Buffer): Buffer {
  const rest = b.length % BLOCK;
  return rest === 0 ? b : Buffer.concat([b, Buffer.alloc(BLOCK - rest)]);
}

interface RawHeader {
  name: string;
  prefix?: string;
  typeflag: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  linkname?: string;
  devmajor?: number;
  devminor?: number;
}

function octal(n: number, width: number): string {
  return n.toString(8).padStart(width - 1, '0') + '\0';
}

function header(h: RawHeader): Buffer {
  const b = Buffer.alloc(BLOCK);
  b.write(h.name, 0, 100, 'utf8');
  b.write(octal(h.mode, 8), 100, 8, 'ascii');
  b.write(octal(h.uid, 8), 108, 8, 'ascii');
  b.write(octal(h.gid, 8), 116, 8, 'ascii');
  b.write(octal(h.size, 12), 124, 12, 'ascii');
  b.write(octal(h.mtime, 12), 136, 12, 'ascii');
  b.write('        ', 148, 8, 'ascii');
  b.write(h.typeflag, 156, 1, 'ascii');
  b.write(h.linkname ?? '', 157, 100, 'utf8');
  b.write('ustar\x0000', 257, 8, 'ascii');
  b.write(octal(h.devmajor ?? 0, 8), 329, 8, 'ascii');
  b.write(octal(h.devminor ?? 0, 8), 337, 8, 'ascii');
  b.write(h.prefix ?? '', 345, 155, 'utf8');
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += b[i]!;
  b.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8, 'ascii');
  return b;
}
