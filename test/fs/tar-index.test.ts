/**
 * The tar index against the stream reader: on every layer of the catalogue (hostile and valid)
 * and on archives written by GNU tar and by TarWriter, the same entries come out (names, types,
 * numbers, xattrs), the same errors at the same points, and the data offsets point at the data.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, ftruncateSync, mkdirSync, mkdtempSync, openSync, readSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { indexTarFile, tarIndexEntries } from '../../src/fs/tar-index.js';
import type { IndexEntry } from '../../src/fs/tar-index.js';
import { unsafeEntry } from '../../src/fs/apply-errors.js';
import { readTarEntries } from '../../src/fs/tar-entries.js';
import { cleanTarPath } from '../../src/fs/tar-path.js';
import { TarWriter } from '../../src/fs/tar-writer.js';
import { file, hostileLayers, makeSandbox, pax, raw, streamOf, tar, validLayers } from './hostile-tars.js';

const LABEL = 'layer i';
const OPTS = { label: LABEL, maxEntrySize: 2 ** 40 };

interface Seen {
  entries: Array<Record<string, unknown>>;
  error?: string;
}

function comparable(e: Omit<IndexEntry, 'dataOffset' | 'paxMtime' | 'path'>, data: Buffer | undefined): Record<string, unknown> {
  return {
    name: e.name, linkname: e.linkname, type: e.type, mode: e.mode, uid: e.uid, gid: e.gid, mtime: e.mtime, atime: e.atime,
    size: e.size, dev: [e.devmajor, e.devminor], xattrs: Object.fromEntries([...e.xattrs].map(([k, v]) => [k, v.toString('hex')])),
    data: data?.toString('hex'),
  };
}

async function viaReader(buf: Buffer): Promise<Seen> {
  const seen: Seen = { entries: [] };
  try {
    for await (const e of readTarEntries(streamOf(buf), OPTS)) {
      // The index also refuses names applyLayer's first rule refuses.
      const cleaned = cleanTarPath(e.name);
      if (!cleaned.ok) throw unsafeEntry(LABEL, e.name, cleaned.reason);
      const seenEntry = comparable(e, undefined);
      seen.entries.push(seenEntry); // handed out before its data, which may turn out cut short
      const chunks: Buffer[] = [];
      for await (const c of e.data) chunks.push(c);
      if (e.type === 'file') seenEntry.data = Buffer.concat(chunks).toString('hex');
    }
  } catch (err) {
    seen.error = `${(err as Error).constructor.name}: ${(err as Error).message}`;
  }
  return seen;
}

function viaIndex(path: string, buf: Buffer): Seen {
  const seen: Seen = { entries: [] };
  const fd = openSync(path, 'r');
  try {
    for (const e of tarIndexEntries(fd, OPTS)) {
      const whole = e.type === 'file' && e.dataOffset + e.size <= buf.length;
      seen.entries.push(comparable(e, whole ? buf.subarray(e.dataOffset, e.dataOffset + e.size) : undefined));
    }
  } catch (err) {
    seen.error = `${(err as Error).constructor.name}: ${(err as Error).message}`;
  } finally {
    closeSync(fd);
  }
  return seen;
}

describe('tar index', () => {
  let work: string;
  before(() => {
    mkdirSync('.cache/tmp', { recursive: true });
    work = mkdtempSync(join('.cache/tmp', 'strata-index-'));
  });
  after(() => rmSync(work, { recursive: true, force: true }));

  let n = 0;
  async function same(buf: Buffer, title: string): Promise<Seen> {
    const path = join(work, `t${n++}.tar`);
    writeFileSync(path, buf);
    const want = await viaReader(buf);
    const got = viaIndex(path, buf);
    assert.deepEqual(got, want, title);
    return got;
  }

  const sbPaths = makeSandbox();
  sbPaths.cleanup();
  it('matches the reader on every layer of the catalogue', async () => {
    let errors = 0;
    for (const { title, tar: buf } of [...hostileLayers(sbPaths), ...validLayers()]) {
      if ((await same(buf, title)).error) errors++;
    }
    assert.ok(errors >= 15, `only ${errors} malformed archives in the catalogue`);
  });

  it('matches the reader on GNU tar output with xattrs, long names and devices', async () => {
    const src = join(work, 'src');
    mkdirSync(join(src, 'd/' + 'long-directory-name/'.repeat(8)), { recursive: true });
    writeFileSync(join(src, 'd/' + 'long-directory-name/'.repeat(8) + 'f'), 'x'.repeat(70_000));
    writeFileSync(join(src, 'données'), 'é');
    spawnSync('setfattr', ['-n', 'user.k', '-v', '0xff00fe', join(src, 'données')]);
    spawnSync('mknod', [join(src, 'null'), 'c', '1', '3']);
    const r = spawnSync('tar', ['--format=posix', '--xattrs', '--xattrs-include=*', '-C', src, '-cf', '-', '.'], { maxBuffer: 64 << 20 });
    assert.equal(r.status, 0, String(r.stderr));
    const got = await same(r.stdout, 'GNU tar');
    assert.equal(got.error, undefined);
    assert.ok(got.entries.length >= 12);
    const gnu = spawnSync('tar', ['--format=gnu', '-C', src, '-cf', '-', '.'], { maxBuffer: 64 << 20 });
    assert.equal((await same(gnu.stdout, 'GNU format')).error, undefined);
  });

  it('matches the reader on TarWriter output and global PAX headers', async () => {
    const out = new PassThrough();
    const chunks: Buffer[] = [];
    out.on('data', (c: Buffer) => chunks.push(c));
    const w = new TarWriter(out);
    await w.entry({ name: 'a/' + 'b'.repeat(300), type: 'file', mode: 0o600, uid: 3_000_000, gid: 1, size: 3, mtime: 5, paxMtime: '5.5', xattrs: { 'security.capability': Buffer.from([1, 0, 0, 2, 0x80]) } }, Readable.from([Buffer.from('abc')]));
    await w.entry({ name: 'ln', type: 'symlink', mode: 0o777, uid: 0, gid: 0, size: 0, mtime: 0, linkname: 'ü'.repeat(80) });
    await w.finish();
    const got = await same(Buffer.concat(chunks), 'TarWriter');
    assert.equal(got.entries[0]!.mtime, 5.5);
    await same(tar(raw({ name: 'g', typeflag: 'g' }, Buffer.from('27 SCHILY.xattr.user.g=gg\n')), pax({ 'SCHILY.xattr.user.e': 'e' }), file('f', 'x'), file('plain', 'y')), 'global PAX');
  });

  it('gives cleaned paths beside the raw names', () => {
    const path = join(work, 'names.tar');
    writeFileSync(path, tar(raw({ name: './', typeflag: '5' }), raw({ name: './d//', typeflag: '5' }), file('./d//f', 'x'), file('d/sub/../g', 'y')));
    assert.deepEqual(indexTarFile(path, OPTS).map((e) => [e.name, e.path]), [['./', ''], ['./d//', 'd'], ['./d//f', 'd/f'], ['d/sub/../g', 'd/g']]);
  });

  it('keeps exact PAX mtimes for writers', () => {
    const path = join(work, 'mtime.tar');
    writeFileSync(path, tar(pax({ mtime: '1700000000.123456789' }), file('frac', 'x'), pax({ mtime: '-5' }), file('neg', 'y'), file('whole', 'z', { mtime: 7 })));
    const idx = indexTarFile(path, OPTS);
    assert.deepEqual(idx.map((e) => e.paxMtime), ['1700000000.123456789', '-5', undefined]);
  });

  it('seeks past data instead of reading it', () => {
    // A 4 GiB file whose data is a hole: reading it would take seconds, the index takes none.
    const path = join(work, 'sparse.tar');
    const size = 4 * 2 ** 30;
    const fd = openSync(path, 'w');
    writeSync(fd, raw({ name: 'huge', typeflag: '0', sizeField: Buffer.from(size.toString(8).padStart(11, '0') + '\0') }).subarray(0, 512), 0, 512, 0);
    const next = file('after', 'tail');
    writeSync(fd, next, 0, next.length, 512 + size);
    ftruncateSync(fd, 512 + size + next.length + 1024);
    closeSync(fd);
    const t0 = performance.now();
    const idx = indexTarFile(path, OPTS);
    const ms = performance.now() - t0;
    assert.deepEqual(idx.map((e) => [e.name, e.size, e.dataOffset]), [['huge', size, 512], ['after', 4, 512 + size + 512]]);
    const buf = Buffer.alloc(4);
    const rfd = openSync(path, 'r');
    readSync(rfd, buf, 0, 4, idx[1]!.dataOffset);
    closeSync(rfd);
    assert.equal(buf.toString(), 'tail');
    assert.ok(ms < 200, `${ms.toFixed(0)} ms`);
  });

  it('refuses an empty long header, which the stream reader would misread', () => {
    const path = join(work, 'emptypax.tar');
    writeFileSync(path, tar(raw({ name: 'PaxHeaders/x', typeflag: 'x' }), file('f', 'x')));
    assert.throws(() => indexTarFile(path, OPTS), /layer i: malformed tar at the start: Invalid header/);
  });
});
