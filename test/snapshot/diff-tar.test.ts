/**
 * writeDiffTar on plain directories laid out like an upper dir: order, whiteouts, hardlinks,
 * clamping, refusals, streaming, and the output stream's contract (ending, errors, abort).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createWriteStream, linkSync, mkdirSync, readFileSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { makeOverlayWhiteout } from '../../src/fs/special-files.js';
import { TarWriter } from '../../src/fs/tar-writer.js';
import type { TarWriteHeader } from '../../src/fs/tar-writer.js';
import { setXattrSync } from '../../src/fs/xattr.js';
import { SnapshotError, writeDiffTar } from '../../src/snapshot/diff-tar.js';
import { sortNames } from '../../src/snapshot/upper-read.js';
import { diffToBuffer, isRoot, readTar, scratchDir } from './fixture.js';

const EMPTY_TAR_DIGEST = `sha256:${createHash('sha256').update(Buffer.alloc(1024)).digest('hex')}`;

describe('writeDiffTar', () => {
  let work: string;
  let n = 0;
  before(() => {
    work = scratchDir('strata-difftar');
  });
  after(() => rmSync(work, { recursive: true, force: true }));
  const fresh = (): string => {
    const d = join(work, `d${n++}`);
    mkdirSync(d);
    return d;
  };

  it('an empty directory gives an empty result and a valid empty tar', async () => {
    const { tar, result } = await diffToBuffer(fresh());
    assert.deepEqual(tar, Buffer.alloc(1024));
    assert.deepEqual(result, { diffId: EMPTY_TAR_DIGEST, size: 1024, entries: 0, markers: 0, empty: true });
  });

  it('orders entries depth first, whiteouts before siblings, names by UTF-8 bytes', { skip: !isRoot && 'whiteouts need mknod' }, async () => {
    const d = fresh();
    for (const name of ['b', 'B', 'a-dir', '\uE000', '😀', 'é', 'a.txt']) writeFileSync(join(d, name), name);
    mkdirSync(join(d, 'a'));
    writeFileSync(join(d, 'a/z'), 'z');
    mkdirSync(join(d, 'a/sub'));
    writeFileSync(join(d, 'a/sub/x'), 'x');
    await makeOverlayWhiteout(join(d, 'zz-gone'));
    await makeOverlayWhiteout(join(d, 'a/0-gone'));
    linkSync(join(d, 'zz-gone'), join(d, 'also-gone')); // whiteouts sharing an inode stay whiteouts
    mkdirSync(join(d, 'opaque'));
    setXattrSync(join(d, 'opaque'), 'trusted.overlay.opaque', 'y');
    writeFileSync(join(d, 'opaque/in'), 'in');
    await makeOverlayWhiteout(join(d, 'opaque/gone'));
    const { tar, result } = await diffToBuffer(d);
    const names = (await readTar(tar)).map((e) => e.name);
    assert.deepEqual(names, [
      '.wh.also-gone', '.wh.zz-gone', 'B', 'a/', 'a/.wh.0-gone', 'a/sub/', 'a/sub/x', 'a/z', 'a-dir', 'a.txt', 'b', 'opaque/',
      'opaque/.wh..wh..opq', 'opaque/.wh.gone', 'opaque/in', 'é', '\uE000', '😀',
    ]);
    assert.equal(result.entries, names.length);
    const entries = await readTar(tar);
    for (const e of entries.filter((x) => x.name.includes('.wh.'))) {
      assert.deepEqual([e.type, e.mode, e.uid, e.gid, e.size, e.linkname], ['file', 0, 0, 0, 0, ''], e.name);
    }
    assert.deepEqual(entries.find((e) => e.name === 'opaque/')!.xattrs, {}, 'the opaque xattr itself is not written');
  });

  it('sorts names as UTF-8 bytes even where UTF-16 order differs', () => {
    assert.deepEqual(sortNames(['😀', '\uE000', 'a', '\uFFFF']), ['a', '\uE000', '\uFFFF', '😀']);
  });

  it('writes the first link of a hardlinked file as the file and the rest as links to it', async () => {
    const d = fresh();
    mkdirSync(join(d, 'a'));
    mkdirSync(join(d, 'b'));
    writeFileSync(join(d, 'b/x'), 'shared');
    linkSync(join(d, 'b/x'), join(d, 'a/y'));
    linkSync(join(d, 'b/x'), join(d, 'c'));
    const entries = await readTar((await diffToBuffer(d)).tar);
    const brief = entries.map((e) => [e.name, e.type, e.linkname, e.data.toString()]);
    assert.deepEqual(brief, [
      ['a/', 'dir', '', ''], ['a/y', 'file', '', 'shared'], ['b/', 'dir', '', ''], ['b/x', 'hardlink', 'a/y', ''], ['c', 'hardlink', 'a/y', ''],
    ]);
  });

  it('keeps modes, owners, symlinks, xattrs; clamps mtimes newer than SOURCE_DATE_EPOCH', async () => {
    const d = fresh();
    writeFileSync(join(d, 'new'), 'n');
    writeFileSync(join(d, 'old'), 'o');
    utimesSync(join(d, 'old'), 1000, 1000);
    utimesSync(join(d, 'new'), 2_000_000_000.75, 2_000_000_000.75);
    symlinkSync('../some where/ünïcode', join(d, 'sym'));
    setXattrSync(join(d, 'old'), 'user.k', Buffer.from([0, 0xff, 10]));
    const clamped = await readTar((await diffToBuffer(d, { clampMtime: 1_500_000_000 })).tar);
    assert.deepEqual(clamped.map((e) => [e.name, e.mtime]).filter(([nm]) => nm !== 'sym'), [['new', 1_500_000_000], ['old', 1000]]);
    const plain = await readTar((await diffToBuffer(d)).tar);
    assert.equal(plain.find((e) => e.name === 'new')!.mtime, 2_000_000_000, 'whole seconds');
    assert.equal(plain.find((e) => e.name === 'sym')!.linkname, '../some where/ünïcode');
    assert.deepEqual(plain.find((e) => e.name === 'old')!.xattrs, { 'user.k': Buffer.from([0, 0xff, 10]) });
  });

  it('streams large files and reads files at the size boundaries exactly', async () => {
    const d = fresh();
    const sizes = [(1 << 20) - 1, 1 << 20, (1 << 20) + 1, (5 << 20) + 7];
    const bodies = sizes.map((s, i) => Buffer.alloc(s, i + 1).fill(0xab, s - 3));
    bodies.forEach((b, i) => writeFileSync(join(d, `f${i}`), b));
    const entries = await readTar((await diffToBuffer(d)).tar);
    assert.deepEqual(entries.map((e) => e.data.length), sizes);
    entries.forEach((e, i) => assert.ok(e.data.equals(bodies[i]!), e.name));
  });

  it('writes to a file: the file holds exactly the bytes that were hashed', async () => {
    const d = fresh();
    for (let i = 0; i < 300; i++) writeFileSync(join(d, `f${i}`), Buffer.alloc(i * 97, i));
    writeFileSync(join(d, 'big'), Buffer.alloc(3 << 20, 1));
    const file = join(work, 'out.tar');
    const r = await writeDiffTar(d, createWriteStream(file));
    const bytes = readFileSync(file);
    assert.equal(bytes.length, r.size);
    assert.equal(r.diffId, `sha256:${createHash('sha256').update(bytes).digest('hex')}`);
    assert.equal(r.entries, 301);
  });

  it('refuses names a layer cannot hold, sockets, and redirect/metacopy entries', { skip: !isRoot && 'trusted xattrs need root' }, async () => {
    const wh = fresh();
    writeFileSync(join(wh, '.wh.sneaky'), 'x');
    await assert.rejects(diffToBuffer(wh), (e: unknown) => e instanceof SnapshotError && /\.wh\.sneaky/.test(e.message));

    const redirect = fresh();
    mkdirSync(join(redirect, 'moved'));
    setXattrSync(join(redirect, 'moved'), 'trusted.overlay.redirect', '/old');
    await assert.rejects(diffToBuffer(redirect), (e: unknown) => e instanceof SnapshotError && /redirect_dir=off/.test(e.hint ?? ''));

    const meta = fresh();
    writeFileSync(join(meta, 'f'), '');
    setXattrSync(join(meta, 'f'), 'trusted.overlay.metacopy', '');
    await assert.rejects(diffToBuffer(meta), (e: unknown) => e instanceof SnapshotError && /metacopy=off/.test(e.hint ?? ''));

    const origin = fresh();
    writeFileSync(join(origin, 'f'), 'f');
    setXattrSync(join(origin, 'f'), 'trusted.overlay.origin', Buffer.from([1, 2, 3]));
    const [e] = await readTar((await diffToBuffer(origin)).tar);
    assert.deepEqual(e!.xattrs, {}, 'other overlay xattrs are dropped');

    const sock = fresh();
    const server = createServer();
    await new Promise<void>((r) => server.listen(join(sock, 's.sock'), r));
    try {
      await assert.rejects(diffToBuffer(sock), (err: unknown) => err instanceof SnapshotError && /socket/.test(err.message));
    } finally {
      server.close();
    }
  });

  it('rejects with the signal reason when aborted, and destroys the output', async () => {
    const d = fresh();
    for (let i = 0; i < 50; i++) writeFileSync(join(d, `f${i}`), 'x');
    const ac = new AbortController();
    const reason = new Error('stop');
    ac.abort(reason);
    const out = new PassThrough();
    await assert.rejects(writeDiffTar(d, out, { signal: ac.signal }), (e) => e === reason);
    assert.equal(out.destroyed, true);

    // Aborted while waiting for a slow output.
    const slow = new Writable({ highWaterMark: 1, write: (_c, _e, cb) => setTimeout(cb, 50) });
    writeFileSync(join(d, 'big'), Buffer.alloc(20 << 20, 1));
    const ac2 = new AbortController();
    setTimeout(() => ac2.abort(reason), 30);
    await assert.rejects(writeDiffTar(d, slow, { signal: ac2.signal }), (e) => e === reason);
  });

  it('fails with a SnapshotError, never hangs, when the output fails', async () => {
    const d = fresh();
    writeFileSync(join(d, 'big'), Buffer.alloc(12 << 20, 1));
    for (let i = 0; i < 100; i++) writeFileSync(join(d, `f${i}`), Buffer.alloc(30_000, i));
    let calls = 0;
    const failing = new Writable({
      write: (_c, _e, cb) => (++calls === 2 ? cb(new Error('disk on fire')) : setImmediate(cb)),
    });
    failing.on('error', () => {});
    await assert.rejects(writeDiffTar(d, failing), (e: unknown) => e instanceof SnapshotError && /disk on fire/.test(e.message));
    const closing = new PassThrough();
    closing.resume();
    setTimeout(() => closing.destroy(), 1);
    await assert.rejects(writeDiffTar(d, closing), (e: unknown) => e instanceof SnapshotError && /closed|destroyed/.test(e.message));
  });

  it('leaves the output open with end: false', async () => {
    const d = fresh();
    writeFileSync(join(d, 'f'), 'f');
    const out = new PassThrough();
    const chunks: Buffer[] = [];
    out.on('data', (c: Buffer) => chunks.push(c));
    const r = await writeDiffTar(d, out, { end: false });
    assert.equal(out.writableEnded, false);
    assert.equal(Buffer.concat(chunks).length, r.size);
  });
});

describe('TarWriter.writeEntry', () => {
  it('gives the same bytes as entry()', async () => {
    const headers: Array<[TarWriteHeader, Buffer?]> = [
      [{ name: 'd', type: 'dir', mode: 0o755, uid: 0, gid: 0, size: 0, mtime: 1 }],
      [{ name: 'd/f', type: 'file', mode: 0o4755, uid: 5_000_000, gid: 1, size: 3, mtime: 2, xattrs: { 'user.a': Buffer.from([0]) } }, Buffer.from('abc')],
      [{ name: 'x/'.repeat(80) + 'long', type: 'symlink', mode: 0o777, uid: 0, gid: 0, size: 0, mtime: 3, linkname: 'ü'.repeat(60) }],
      [{ name: 'd/h', type: 'hardlink', mode: 0o644, uid: 0, gid: 0, size: 0, mtime: 4, linkname: 'd/f' }],
    ];
    const collect = async (write: (w: TarWriter) => Promise<void>): Promise<Buffer> => {
      const out = new PassThrough();
      const chunks: Buffer[] = [];
      out.on('data', (c: Buffer) => chunks.push(c));
      const w = new TarWriter(out);
      await write(w);
      await w.finish();
      assert.equal(w.bytes, Buffer.concat(chunks).length);
      return Buffer.concat(chunks);
    };
    const viaEntry = await collect(async (w) => {
      for (const [h, data] of headers) await w.entry(h, data);
    });
    const viaWriteEntry = await collect(async (w) => {
      for (const [h, data] of headers) w.writeEntry(h, data);
    });
    assert.ok(viaEntry.equals(viaWriteEntry));
    assert.throws(() => new TarWriter(new PassThrough()).writeEntry({ name: 'f', type: 'file', mode: 0, uid: 0, gid: 0, size: 2, mtime: 0 }, Buffer.from('a')), /expected 2 bytes/);
  });
});
