/**
 * The tar reader: raw PAX records, names as tar-stream applies them, number checks.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ArchiveFormatError } from '../../src/errors.js';
import { parsePaxRecords, readTarEntries } from '../../src/fs/tar-entries.js';
import type { TarEntry } from '../../src/fs/tar-entries.js';
import { dir, file, gnuLongName, pax, paxGlobal, paxRecords, raw, streamOf, symlink, tar } from './hostile-tars.js';

async function entries(buf: Buffer): Promise<Array<Omit<TarEntry, 'data'> & { body: string }>> {
  const out = [];
  for await (const e of readTarEntries(streamOf(buf, 700), { label: 'layer t', maxEntrySize: 1 << 20 })) {
    const chunks: Buffer[] = [];
    for await (const c of e.data) chunks.push(c);
    const { data: _data, ...rest } = e;
    out.push({ ...rest, body: Buffer.concat(chunks).toString() });
  }
  return out;
}

describe('parsePaxRecords', () => {
  it('keeps binary values and multi-digit lengths', () => {
    const bin = Buffer.from([0xff, 0x0a, 0x3d, 0x00]);
    const long = 'x'.repeat(200);
    const m = parsePaxRecords(paxRecords([['SCHILY.xattr.user.b', bin], ['path', long], ['mtime', '1.5']]));
    assert.deepEqual(m.get('SCHILY.xattr.user.b'), bin);
    assert.equal(m.get('path')!.toString(), long);
    assert.equal(m.get('mtime')!.toString(), '1.5');
  });

  it('stops at malformed records', () => {
    assert.equal(parsePaxRecords(Buffer.from('5 a=b\n99 c=d\n')).size, 0);
    assert.equal(parsePaxRecords(Buffer.from('6 a=b\nzz')).size, 1);
  });
});

describe('readTarEntries', () => {
  it('yields normalised entries with long names applied and data streamed', async () => {
    const got = await entries(tar(
      dir('d/', { mode: 0o40755 }),
      gnuLongName(`d/${'n'.repeat(150)}`), file('short', 'long-named'),
      pax({ path: 'd/pax-name', mtime: '12.5', 'SCHILY.xattr.user.k': 'v' }), file('ustar-name', 'hello', { mode: 0o100644 }),
      symlink('l', '../x'),
      raw({ name: 'c', typeflag: '7' }, 'contiguous'),
    ));
    assert.deepEqual(got.map((e) => [e.name, e.type, e.body]), [
      ['d/', 'dir', ''], [`d/${'n'.repeat(150)}`, 'file', 'long-named'], ['d/pax-name', 'file', 'hello'], ['l', 'symlink', ''], ['c', 'file', 'contiguous'],
    ]);
    assert.equal(got[0]!.mode, 0o755, 'file-type bits are masked off');
    assert.equal(got[2]!.mtime, 12.5);
    assert.deepEqual(got[2]!.xattrs.get('user.k'), Buffer.from('v'));
    assert.equal(got[3]!.linkname, '../x');
  });

  it('merges global PAX xattrs into per-entry records', async () => {
    const got = await entries(tar(paxGlobal({ 'SCHILY.xattr.user.g': 'global' }), pax({ 'SCHILY.xattr.user.e': 'own' }), file('f', 'x')));
    assert.deepEqual([...got[0]!.xattrs.keys()].sort(), ['user.e', 'user.g']);
  });

  it('refuses bad ids and truncated archives', async () => {
    await assert.rejects(entries(tar(pax({ uid: '-1' }), file('f'))), /entry "f": invalid uid -1/);
    await assert.rejects(entries(tar(pax({ uid: '4294967295' }), file('f'))), /invalid uid/);
    const whole = tar(file('f', 'x'.repeat(2000)));
    await assert.rejects(entries(whole.subarray(0, 1024)), (e: unknown) => e instanceof ArchiveFormatError && /malformed tar in entry "f"/.test(e.message));
    await assert.rejects(entries(Buffer.from('not a tar at all'.repeat(40))), (e: unknown) => e instanceof ArchiveFormatError && /at the start/.test(e.message));
  });
});
