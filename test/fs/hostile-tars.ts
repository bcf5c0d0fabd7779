/**
 * Builds tar archives byte by byte, including forms no well-behaved writer produces: GNU long
 * names and PAX paths that override a harmless ustar name, binary PAX values, base-256 sizes,
 * data on symlinks, entries after the end-of-archive marker. Also a sandbox whose "outside"
 * can be snapshotted to prove an extraction never touched it.
 */
import { createHash } from 'node:crypto';
import { chmodSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';

/** Fields of one raw 512-byte header; everything optional has a harmless default. */
export interface RawHeader {
  name: string | Buffer;
  typeflag?: string; // '0' file, '1' hardlink, '2' symlink, '3' char, '4' block, '5' dir, '6' fifo, 'x', 'g', 'L', 'K', ...
  mode?: number;
  uid?: number;
  gid?: number;
  size?: number;
  /** Raw 12-byte size field (e.g. base-256), overriding `size` in the header only. */
  sizeField?: Buffer;
  mtime?: number;
  linkname?: string | Buffer;
  devmajor?: number;
  devminor?: number;
  prefix?: string;
  format?: 'ustar' | 'gnu';
}

function put(buf: Buffer, value: string | Buffer, offset: number, length: number): void {
  const b = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
  if (b.length > length) throw new RangeError(`field too long at ${offset}: ${b.length} > ${length}`);
  b.copy(buf, offset);
}

function octal(n: number, length: number): string {
  return n.toString(8).padStart(length - 1, '0') + '\0';
}

/** One 512-byte header block with a correct checksum. */
export function header(h: RawHeader): Buffer {
  const buf = Buffer.alloc(512);
  put(buf, h.name, 0, 100);
  put(buf, octal(h.mode ?? 0o644, 8), 100, 8);
  put(buf, octal(h.uid ?? 0, 8), 108, 8);
  put(buf, octal(h.gid ?? 0, 8), 116, 8);
  if (h.sizeField) put(buf, h.sizeField, 124, 12);
  else put(buf, octal(h.size ?? 0, 12), 124, 12);
  put(buf, octal(h.mtime ?? 1_700_000_000, 12), 136, 12);
  put(buf, h.typeflag ?? '0', 156, 1);
  if (h.linkname !== undefined) put(buf, h.linkname, 157, 100);
  if ((h.format ?? 'ustar') === 'ustar') {
    put(buf, 'ustar\x0000', 257, 8);
  } else {
    put(buf, 'ustar  \x00', 257, 8);
  }
  put(buf, 'root', 265, 32);
  put(buf, 'root', 297, 32);
  put(buf, octal(h.devmajor ?? 0, 8), 329, 8);
  put(buf, octal(h.devminor ?? 0, 8), 337, 8);
  if (h.prefix) put(buf, h.prefix, 345, 155);
  buf.fill(0x20, 148, 156);
  let sum = 0;
  for (const byte of buf) sum += byte;
  put(buf, sum.toString(8).padStart(6, '0') + '\0 ', 148, 8);
  return buf;
}

function pad(data: Buffer): Buffer {
  const rest = data.length % 512;
  return rest === 0 ? data : Buffer.concat([data, Buffer.alloc(512 - rest)]);
}

/** A header plus its data, padded to whole blocks. `size` defaults to the data length. */
export function raw(h: RawHeader, data: string | Buffer = Buffer.alloc(0)): Buffer {
  const body = typeof data === 'string' ? Buffer.from(data) : data;
  return Buffer.concat([header({ size: body.length, ...h }), pad(body)]);
}

/** PAX extended header records (`LEN key=value\n`), values kept byte-exact. */
export function paxRecords(records: Array<[string, string | Buffer]> | Record<string, string | Buffer>): Buffer {
  const list = Array.isArray(records) ? records : Object.entries(records);
  return Buffer.concat(
    list.map(([k, v]) => {
      const body = Buffer.concat([Buffer.from(` ${k}=`), typeof v === 'string' ? Buffer.from(v) : v, Buffer.from('\n')]);
      let len = body.length + 1;
      while (String(len).length + body.length !== len) len = String(len).length + body.length;
      return Buffer.concat([Buffer.from(String(len)), body]);
    }),
  );
}

/** A PAX 'x' header (applies to the next entry). */
export function pax(records: Array<[string, string | Buffer]> | Record<string, string | Buffer>): Buffer {
  return raw({ name: 'PaxHeaders/x', typeflag: 'x' }, paxRecords(records));
}

/** A PAX global 'g' header. */
export function paxGlobal(records: Record<string, string | Buffer>): Buffer {
  return raw({ name: 'GlobalHead', typeflag: 'g' }, paxRecords(records));
}

/** A GNU 'L' long-name record (applies to the next entry). */
export function gnuLongName(name: string | Buffer): Buffer {
  const b = Buffer.concat([typeof name === 'string' ? Buffer.from(name) : name, Buffer.from([0])]);
  return raw({ name: '././@LongLink', typeflag: 'L', format: 'gnu' }, b);
}

/** A GNU 'K' long-linkname record. */
export function gnuLongLink(name: string): Buffer {
  return raw({ name: '././@LongLink', typeflag: 'K', format: 'gnu' }, Buffer.from(name + '\0'));
}

/** Common header options for the shorthands below. */
export type Meta = Partial<Pick<RawHeader, 'mode' | 'uid' | 'gid' | 'mtime'>>;

/** A regular file. */
export const file = (name: string, data: string | Buffer = '', m: Meta = {}): Buffer => raw({ name, typeflag: '0', ...m }, data);
/** A directory. */
export const dir = (name: string, m: Meta = {}): Buffer => raw({ name, typeflag: '5', mode: 0o755, ...m });
/** A symlink. */
export const symlink = (name: string, target: string, m: Meta = {}): Buffer => raw({ name, typeflag: '2', linkname: target, mode: 0o777, ...m });
/** A hardlink. */
export const hardlink = (name: string, target: string): Buffer => raw({ name, typeflag: '1', linkname: target });
/** A character ('3') or block ('4') device. */
export const device = (name: string, kind: 'c' | 'b', major: number, minor: number, m: Meta = {}): Buffer =>
  raw({ name, typeflag: kind === 'c' ? '3' : '4', devmajor: major, devminor: minor, mode: 0o666, ...m });
/** A fifo. */
export const fifo = (name: string, m: Meta = {}): Buffer => raw({ name, typeflag: '6', ...m });

/** A whole archive: the parts then two zero blocks. */
export function tar(...parts: Buffer[]): Buffer {
  return Buffer.concat([...parts, Buffer.alloc(1024)]);
}

/** A readable stream of `buf` in small chunks (so entries straddle chunk boundaries). */
export function streamOf(buf: Buffer, chunk = 1500): Readable {
  const chunks: Buffer[] = [];
  for (let i = 0; i < buf.length; i += chunk) chunks.push(buf.subarray(i, i + chunk));
  return Readable.from(chunks, { objectMode: false });
}

/** A scratch tree: `<root>/outside/victim` and friends, and an empty `<root>/x/target`. */
export interface Sandbox {
  root: string;
  target: string;
  outside: string;
  victim: string;
  cleanup(): void;
}

/** Makes a sandbox; `../../outside/victim` from the target is the victim file. */
export function makeSandbox(): Sandbox {
  const root = mkdtempSync(join(tmpdir(), 'strata-hostile-'));
  chmodSync(root, 0o755);
  const outside = join(root, 'outside');
  mkdirSync(join(outside, 'dir'), { recursive: true });
  writeFileSync(join(outside, 'victim'), 'original victim\n');
  writeFileSync(join(outside, 'dir', 'inner'), 'inner\n');
  const target = join(root, 'x', 'target');
  mkdirSync(target, { recursive: true });
  return { root, target, outside, victim: join(outside, 'victim'), cleanup: () => rmSync(root, { recursive: true, force: true }) };
}

/** Lists everything under `dir` (type, mode, owner, size, mtime, content hash, link text), sorted. */
export function snapshotTree(dir: string, skip?: string): string[] {
  const out: string[] = [];
  const walk = (abs: string, rel: string) => {
    const st = lstatSync(abs);
    let extra = '';
    if (st.isSymbolicLink()) extra = `-> ${readlinkSync(abs)}`;
    else if (st.isFile()) extra = createHash('sha256').update(readFileSync(abs)).digest('hex').slice(0, 16);
    out.push(`${rel} ${st.mode.toString(8)} ${st.uid}:${st.gid} ${st.size} ${st.mtimeMs} ${st.nlink} ${extra}`);
    if (st.isDirectory()) for (const n of readdirSync(abs).sort()) if (join(abs, n) !== skip) walk(join(abs, n), `${rel}/${n}`);
  };
  walk(dir, '.');
  return out;
}

/** Snapshot of the sandbox minus the target (its parent's mtime would show anything created beside it). */
export function snapshotOutside(sb: Sandbox): string[] {
  return snapshotTree(sb.root, sb.target);
}

/** One named layer tar of a catalogue. */
export interface LayerCase {
  title: string;
  tar: Buffer;
}

/**
 * Every hostile layer this suite knows, each refused by applyLayer in 'overlay' mode into an
 * empty directory (names escaping, writes through symlinks, misplaced whiteouts, bad hardlinks,
 * malformed headers). validateLayer and the tar index must refuse each one the same way.
 * `sb` supplies absolute paths that point outside a target.
 */
export function hostileLayers(sb: Pick<Sandbox, 'outside' | 'victim'>): LayerCase[] {
  const base256 = Buffer.alloc(12);
  base256[0] = 0x80;
  base256.writeUInt32BE(0x10000000, 4); // 2^60
  const badSum = file('b', 'x');
  badSum[148] = 0x37;
  const cases: Array<[string, Buffer]> = [
    ['../ escape', tar(file('ok', 'x'), file('../../outside/victim', 'pwned'))],
    ['.. in the middle', tar(file('a/../../../outside/victim', 'pwned'))],
    ['absolute ustar name', tar(raw({ name: sb.victim.slice(-99), typeflag: '0' }, 'pwned'))],
    ['absolute PAX path', tar(pax({ path: sb.victim }), file('harmless', 'pwned'))],
    ['GNU long name escape', tar(gnuLongName('../../outside/victim'), file('harmless', 'pwned'))],
    ['PAX path escape', tar(pax({ path: '../../outside/victim' }), file('harmless', 'pwned'))],
    ['PAX path over GNU long name', tar(gnuLongName('fine/long'), pax({ path: '../../outside/victim' }), file('harmless', 'pwned'))],
    ['NUL in PAX path', tar(pax([['path', Buffer.from('ok\0../../outside/victim')]]), file('harmless', 'x'))],
    ['empty name', tar(raw({ name: Buffer.alloc(0), typeflag: '0' }))],
    ['non-directory naming the root', tar(symlink('.', 'x'))],
    ['base-256 size of 2^60', tar(raw({ name: 'huge', sizeField: base256 }))],
    ['PAX size 1e23', tar(pax({ size: '99999999999999999999999' }), file('huge2', 'x'))],
    ['data on a symlink', tar(raw({ name: 's', typeflag: '2', linkname: 'x' }, 'hidden data'))],
    ['unknown type', tar(raw({ name: 'sp', typeflag: 'S' }, 'x'))],
    ['GNU sparse', tar(pax({ 'GNU.sparse.major': '1' }), file('sp2', 'x'))],
    ['entry after the end marker', Buffer.concat([tar(file('a', 'x')), file('../../outside/victim', 'pwned'), Buffer.alloc(1024)])],
    ['PAX header after the end marker', Buffer.concat([tar(file('a', 'x')), pax({ path: 'p' }), file('q', 'x'), Buffer.alloc(1024)])],
    ['corrupt checksum', tar(file('a', 'x'), badSum)],
    ['not a tar', Buffer.from('not a tar at all'.repeat(40))],
    ['truncated data', tar(file('f', 'x'.repeat(2000))).subarray(0, 1024)],
    ['truncated padding', tar(file('a', 'x'), file('f', 'x')).subarray(0, 2048 + 100)],
    ['truncated header', tar(file('a', 'x')).subarray(0, 1024 + 300)],
    ['oversized PAX header', tar(raw({ name: 'PaxHeaders/x', typeflag: 'x', size: 5 << 20 }), file('f'))],
    ['negative uid', tar(pax({ uid: '-1' }), file('f'))],
    ['uid 2^32-1', tar(pax({ uid: '4294967295' }), file('f'))],
    ['empty xattr name', tar(pax({ 'SCHILY.xattr.': 'v' }), file('f'))],
    ['malformed libarchive xattr', tar(pax({ 'LIBARCHIVE.xattr.%zz': 'dg==' }), file('f'))],
    ['write through a symlink of the same tar', tar(symlink('lnk', '../../outside'), file('lnk/victim', 'pwned'))],
    ['directory through an absolute symlink', tar(symlink('abs', sb.outside), dir('abs/newdir/'))],
    ['nested symlink to /', tar(dir('d/'), symlink('d/l', '/'), file('d/l/tmp/x', 'pwned'))],
    ['directory replaced by a symlink', tar(dir('d/'), file('d/a', '1'), symlink('d', sb.outside), file('d/victim', 'pwned'))],
    ['ancestor replaced by a symlink', tar(dir('a/'), dir('a/b/'), file('a/b/f', '1'), symlink('a', '../../outside'), file('a/b/victim', 'pwned'))],
    ['hardlink to a symlink used as a parent', tar(symlink('s', '../../outside'), hardlink('h', 's'), file('h/victim', 'pwned'))],
    ['hardlink placed through a symlink', tar(symlink('l', sb.outside), file('ok'), hardlink('l/h', 'ok'))],
    ['hardlink escape', tar(hardlink('h', '../../outside/victim'))],
    ['PAX linkpath escape', tar(file('ok', 'x'), pax({ linkpath: '../../outside/victim' }), hardlink('h', 'ok'))],
    ['GNU long link absolute', tar(file('ok', 'x'), gnuLongLink('/etc/passwd'), hardlink('h2', 'ok'))],
    ['hardlink through a symlink', tar(symlink('lnk', sb.outside), hardlink('h', 'lnk/victim'))],
    ['hardlink to a directory', tar(dir('d/'), hardlink('h', 'd'))],
    ['hardlink to nothing', tar(hardlink('h', 'missing'))],
    ['hardlink to the root', tar(hardlink('h', './'))],
    ['hardlink to a whiteout', tar(file('.wh.g'), hardlink('h', 'g'))],
    ['hardlink to a char device 0:0', tar(device('z', 'c', 0, 0), hardlink('h', 'z'))],
    ['hardlink inside the path it replaces', tar(dir('d/'), file('d/f', 'x'), hardlink('d', 'd/f'))],
    ['hardlink target under a file', tar(file('f', 'x'), hardlink('h', 'f/x'))],
    ['empty symlink target', tar(raw({ name: 's', typeflag: '2' }))],
    ['NUL in a symlink target', tar(pax([['linkpath', Buffer.from('a\0b')]]), symlink('s', 'x'))],
    ['whiteout of ..', tar(dir('a/'), file('a/.wh...'))],
    ['whiteout of .', tar(file('.wh..'))],
    ['whiteout of nothing', tar(file('.wh.'))],
    ['opaque marker as a directory', tar(dir('a/.wh..wh..opq/'))],
    ['file under an opaque marker', tar(file('a/.wh..wh..opq/x', 'y'))],
    ['whiteout as a directory', tar(dir('.wh.x/'))],
    ['file under a whiteout name', tar(file('.wh.x/y', 'z'))],
    ['whiteout under a symlink', tar(symlink('lnk', sb.outside), file('lnk/.wh.victim'))],
    ['opaque marker under a symlink', tar(symlink('lnk', '../../outside'), file('lnk/.wh..wh..opq'))],
    ['whiteout under a file', tar(file('p', 'x'), file('p/.wh.x'))],
    ['opaque marker under a file', tar(file('p', 'x'), file('p/.wh..wh..opq'))],
    ['file under a file', tar(file('f', 'x'), file('f/x', 'y'))],
    ['file under a whiteout of the same layer', tar(file('.wh.w'), file('w/x', 'y'))],
    ['file under a device', tar(device('c', 'c', 1, 3), file('c/x', 'y'))],
    ['file under a char device 0:0', tar(device('w', 'c', 0, 0), file('w/x', 'y'))],
    ['file under a directory replaced by a file', tar(dir('x/'), file('x', 'f'), file('x/y', 'z'))],
  ];
  return cases.map(([title, t]) => ({ title, tar: t }));
}

/** Valid layers with every feature the rules treat specially; applyLayer ('overlay') accepts each. */
export function validLayers(): LayerCase[] {
  const cases: Array<[string, Buffer]> = [
    ['plain tree', tar(dir('./'), dir('usr/'), dir('usr/bin/'), file('usr/bin/a', 'aaa', { mode: 0o4755 }), symlink('usr/bin/b', 'a'), hardlink('usr/bin/c', 'usr/bin/a'), fifo('p'))],
    ['names normalised', tar(dir('./d/'), file('./d//f', 'one'), file('d/sub/../g', 'two'), dir('e//'), dir('./'))],
    ['long names', tar(gnuLongName(`d/${'n'.repeat(150)}`), file('short', 'long-named'), pax({ path: `p/${'q'.repeat(200)}` }), file('x', 'y'))],
    ['whiteouts and opaque markers', tar(file('.wh.gone'), dir('d/'), file('d/.wh..wh..opq'), file('d/new', 'new'), file('.wh.e'), file('.wh.lnk'))],
    ['whiteout of its own file and dir', tar(file('same', 's'), file('.wh.same'), dir('keep/'), file('keep/x', 'x'), file('.wh.keep'))],
    ['directory over its own whiteout', tar(file('.wh.d'), dir('d/'), file('d/fresh', 'f'))],
    ['children before the opaque marker', tar(dir('p/'), file('p/first', '1'), file('p/.wh..wh..opq'), file('p/second', '2'))],
    ['implicit parents of whiteouts', tar(file('a/b/.wh.c'), file('x/.wh..wh..opq'))],
    ['duplicates: later wins', tar(dir('x/'), file('x/a', 'a'), file('x', 'now a file'), dir('x/'), file('x/b', 'b'), file('y', 'f'), dir('y/'), file('z', '1'), file('z', '2'))],
    ['hardlinks: to a symlink, to itself, replaced target', tar(symlink('s', '/etc'), hardlink('h', 's'), file('a', 'a'), hardlink('a', 'a'), hardlink('b', 'a'), file('a', 'new'))],
    ['hardlink replacing a directory', tar(file('f', 'x'), dir('d/'), file('d/y', 'y'), hardlink('d', 'f'))],
    ['devices', tar(dir('dev/'), device('dev/null', 'c', 1, 3), device('dev/loop0', 'b', 7, 0), device('dev/zero0', 'c', 0, 0), fifo('dev/fifo'))],
    ['AUFS metadata', tar(file('.wh..wh.plnk/123', 'x'), file('.wh..wh.aufs'), dir('.wh..wh.orph/'))],
    ['overlay xattrs dropped', tar(pax({ 'SCHILY.xattr.trusted.overlay.opaque': 'y' }), dir('d/'), pax({ 'SCHILY.xattr.trusted.overlay.redirect': '/etc' }), file('f', 'x'))],
    ['a dir replacing a symlink', tar(symlink('l', '/'), dir('l/'), file('l/x', 'inside'))],
    ['empty archive', tar()],
  ];
  return cases.map(([title, t]) => ({ title, tar: t }));
}
