/**
 * The tar writer: read back by strata's own reader and by GNU tar, byte-stable output.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { test } from 'node:test';
import { readTarEntries } from '../../src/fs/tar-entries.js';
import { TarWriter, type TarWriteHeader } from '../../src/fs/tar-writer.js';

const CAP = Buffer.from('0100000200200000000000000000000000000000', 'hex');
const LONG = 'very/' + 'long-directory-name/'.repeat(8) + 'file-with-a-long-name.txt';
const UNICODE = 'données/ファイル.txt';

const ENTRIES: [TarWriteHeader, Buffer?][] = [
  [{ name: 'etc', type: 'dir', mode: 0o755, uid: 0, gid: 0, size: 0, mtime: 1700000000 }],
  [{ name: 'etc/hello', type: 'file', mode: 0o4755, uid: 1000, gid: 1000, size: 5, mtime: 1700000001, xattrs: { 'security.capability': CAP, 'user.note': Buffer.from('a=b\nc') } }, Buffer.from('hello')],
  [{ name: 'etc/link', type: 'hardlink', mode: 0o4755, uid: 1000, gid: 1000, size: 0, mtime: 1700000001, linkname: 'etc/hello' }],
  [{ name: 'etc/sym', type: 'symlink', mode: 0o777, uid: 0, gid: 0, size: 0, mtime: 1, linkname: '../' + 'x'.repeat(150) }],
  [{ name: LONG, type: 'file', mode: 0o644, uid: 3_000_000, gid: 5, size: 1000, mtime: 2 }, Buffer.alloc(1000, 7)],
  [{ name: UNICODE, type: 'file', mode: 0o600, uid: 0, gid: 0, size: 0, mtime: 3 }],
  [{ name: 'dev/null', type: 'char', mode: 0o666, uid: 0, gid: 0, size: 0, mtime: 4, devmajor: 1, devminor: 3 }],
  [{ name: 'run/fifo', type: 'fifo', mode: 0o644, uid: 0, gid: 0, size: 0, mtime: 5 }],
];

async function writeAll(): Promise<Buffer> {
  const out = new PassThrough();
  const chunks: Buffer[] = [];
  out.on('data', (c: Buffer) => chunks.push(c));
  const w = new TarWriter(out);
  for (const [h, data] of ENTRIES) await w.entry(h, data ? Readable.from([data]) : undefined);
  await w.finish();
  out.end();
  return Buffer.concat(chunks);
}

test('entries read back exactly with strata\'s reader', async () => {
  const tar = await writeAll();
  assert.equal(tar.length % 512, 0);
  const got: { name: string; type: string; mode: number; uid: number; gid: number; mtime: number; linkname: string; dev: number[]; xattrs: Record<string, Buffer>; data: Buffer }[] = [];
  for await (const e of readTarEntries(Readable.from([tar]), { label: 'test', maxEntrySize: 2 ** 40 })) {
    const chunks: Buffer[] = [];
    for await (const c of e.data) chunks.push(c);
    got.push({ name: e.name, type: e.type, mode: e.mode, uid: e.uid, gid: e.gid, mtime: e.mtime, linkname: e.linkname, dev: [e.devmajor, e.devminor], xattrs: Object.fromEntries(e.xattrs), data: Buffer.concat(chunks) });
  }
  assert.equal(got.length, ENTRIES.length);
  for (let i = 0; i < ENTRIES.length; i++) {
    const [h, data] = ENTRIES[i]!;
    const g = got[i]!;
    assert.equal(g.name.replace(/\/$/, ''), h.name, `entry ${i}`);
    assert.deepEqual([g.type, g.mode, g.uid, g.gid, g.mtime], [h.type, h.mode, h.uid, h.gid, h.mtime], h.name);
    assert.equal(g.linkname, h.linkname ?? '');
    if (h.type === 'char') assert.deepEqual(g.dev, [1, 3]);
    assert.deepEqual(g.xattrs, (h.xattrs as Record<string, Buffer>) ?? {});
    assert.deepEqual(g.data, data ?? Buffer.alloc(0));
  }
});

test('GNU tar lists the archive and extracts binary xattrs', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'strata-tarw-'));
  try {
    const file = join(dir, 'a.tar');
    writeFileSync(file, await writeAll());
    const listing = execFileSync('tar', ['-tvf', file], { encoding: 'utf8' });
    assert.match(listing, /-rwsr-xr-x 1000\/1000\s+5 .* etc\/hello/);
    assert.ok(listing.includes(LONG), listing);
    assert.ok(listing.includes(UNICODE), listing);
    assert.match(listing, /crw-rw-rw- 0\/0\s+1,3 .* dev\/null/);
    const out = join(dir, 'x');
    execFileSync('mkdir', [out]);
    execFileSync('tar', ['--xattrs', '--xattrs-include=*', '-xpf', file, '-C', out, 'etc']);
    const cap = execFileSync('getfattr', ['-n', 'security.capability', '-e', 'hex', join(out, 'etc/hello')], { encoding: 'utf8' });
    assert.match(cap, new RegExp(`security.capability=0x${CAP.toString('hex')}`));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('output is deterministic', async () => {
  const a = createHash('sha256').update(await writeAll()).digest('hex');
  const b = createHash('sha256').update(await writeAll()).digest('hex');
  assert.equal(a, b);
});

test('a data size mismatch is an error', async () => {
  const w = new TarWriter(new PassThrough());
  await assert.rejects(w.entry({ name: 'f', type: 'file', mode: 0o644, uid: 0, gid: 0, size: 10, mtime: 0 }, Readable.from([Buffer.alloc(3)])), /expected 10 bytes, got 3/);
});
