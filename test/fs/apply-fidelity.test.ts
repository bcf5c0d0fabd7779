/**
 * Fidelity: a real tree with every file type, special modes, owners, mtimes and xattrs (a binary
 * security.capability among them) is archived by GNU tar, applied with applyLayer, and read back
 * with lstat and xattr reads.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  chmodSync, chownSync, lchownSync, linkSync, lstatSync, lutimesSync, mkdirSync, mkdtempSync, readFileSync, readdirSync,
  readlinkSync, rmSync, symlinkSync, utimesSync, writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { applyLayer } from '../../src/fs/apply-layer.js';
import { mknod } from '../../src/fs/special-files.js';
import { readXattrsSync, setXattrSync } from '../../src/fs/xattr.js';
import { dir, file, pax, streamOf, tar } from './hostile-tars.js';

const isRoot = process.geteuid?.() === 0;
// VFS_CAP_REVISION_2 with the effective flag, permitted = cap_setuid (bit 7) | cap_net_raw (bit 13):
// the 0x80 byte is not valid UTF-8 on its own, so a decoder that mangles PAX values breaks it.
const CAPABILITY = Buffer.from('0100000280200000000000000000000000000000', 'hex');

interface Seen {
  type: string;
  mode: string;
  owner: string;
  size: number;
  mtime: number;
  rdev: number;
  link?: string;
  sha?: string;
  xattrs: Record<string, string>;
}

function describeTree(root: string): Map<string, Seen> {
  const out = new Map<string, Seen>();
  const walk = (rel: string) => {
    const abs = rel === '.' ? root : join(root, rel);
    const st = lstatSync(abs);
    const type = st.isFile() ? 'file' : st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : st.isFIFO() ? 'fifo'
      : st.isCharacterDevice() ? 'char' : st.isBlockDevice() ? 'block' : 'other';
    const xattrs = Object.fromEntries(Object.entries(readXattrsSync(abs)).map(([k, v]) => [k, v.toString('hex')]));
    out.set(rel, {
      type,
      mode: (st.mode & 0o7777).toString(8),
      owner: `${st.uid}:${st.gid}`,
      size: st.isFile() ? st.size : 0,
      mtime: Math.floor(st.mtimeMs),
      rdev: st.rdev,
      ...(st.isSymbolicLink() ? { link: readlinkSync(abs) } : {}),
      ...(st.isFile() ? { sha: readFileSync(abs).toString('base64').slice(0, 40) } : {}),
      xattrs,
    });
    if (st.isDirectory()) for (const n of readdirSync(abs).sort()) walk(rel === '.' ? n : `${rel}/${n}`);
  };
  walk('.');
  return out;
}

describe('applyLayer fidelity (GNU tar round trip)', { skip: !isRoot && 'needs root' }, () => {
  let work: string;
  let src: string;
  let dst: string;
  let layer: Buffer;

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'strata-fidelity-'));
    src = join(work, 'src');
    dst = join(work, 'dst');
    mkdirSync(dst);
    mkdirSync(join(src, 'usr/bin'), { recursive: true });
    mkdirSync(join(src, 'tmp'));
    mkdirSync(join(src, 'srv/shared'), { recursive: true });
    mkdirSync(join(src, 'dev'));
    writeFileSync(join(src, 'usr/bin/su'), 'setuid binary\n');
    chownSync(join(src, 'usr/bin/su'), 0, 0);
    chmodSync(join(src, 'usr/bin/su'), 0o4755);
    writeFileSync(join(src, 'usr/bin/sg'), 'setgid binary\n');
    chownSync(join(src, 'usr/bin/sg'), 1000, 50);
    chmodSync(join(src, 'usr/bin/sg'), 0o2711); // chmod after chown: chown would clear it
    writeFileSync(join(src, 'usr/bin/ping'), Buffer.alloc(70_000, 7));
    setXattrSync(join(src, 'usr/bin/ping'), 'security.capability', CAPABILITY);
    setXattrSync(join(src, 'usr/bin/ping'), 'user.note', Buffer.from([0xff, 0x00, 0xfe]));
    linkSync(join(src, 'usr/bin/ping'), join(src, 'usr/bin/ping-hard'));
    chmodSync(join(src, 'tmp'), 0o1777);
    chownSync(join(src, 'srv/shared'), 1001, 1002);
    chmodSync(join(src, 'srv/shared'), 0o2770);
    setXattrSync(join(src, 'srv/shared'), 'trusted.strata', 'dir-xattr');
    writeFileSync(join(src, 'srv/shared/data'), 'owned\n');
    chownSync(join(src, 'srv/shared/data'), 1001, 1002);
    chmodSync(join(src, 'srv/shared/data'), 0o640);
    symlinkSync('../usr/bin', join(src, 'srv/bin'));
    lchownSync(join(src, 'srv/bin'), 1234, 4321);
    symlinkSync('/run', join(src, 'srv/run'));
    await mknod(join(src, 'dev/null'), 'char', 1, 3, 0o666);
    await mknod(join(src, 'dev/loop9'), 'block', 7, 9, 0o660);
    await mknod(join(src, 'srv/pipe'), 'fifo', 0, 0, 0o620);
    await mknod(join(src, 'dev/odd'), 'char', 1, 5, 0o660);
    chownSync(join(src, 'dev/odd'), 1000, 5);
    chmodSync(join(src, 'dev/odd'), 0o6660); // after chown, which clears both bits on devices too
    writeFileSync(join(src, 'empty'), '');
    chmodSync(join(src, 'empty'), 0o400);
    // mtimes last, leaves before their directories.
    const times: Array<[string, number]> = [
      ['usr/bin/su', 1_600_000_001], ['usr/bin/sg', 1_600_000_002], ['usr/bin/ping', 1_600_000_003], ['srv/shared/data', 1_600_000_004],
      ['dev/null', 1_600_000_005], ['dev/odd', 1_600_000_009], ['dev/loop9', 1_600_000_006], ['srv/pipe', 1_600_000_007], ['empty', 1_600_000_008],
      ['usr/bin', 1_500_000_001], ['usr', 1_500_000_002], ['tmp', 1_500_000_003], ['srv/shared', 1_500_000_004], ['srv', 1_500_000_005],
      ['dev', 1_500_000_006], ['.', 1_500_000_007],
    ];
    for (const [rel, t] of times) utimesSync(join(src, rel), t, t);
    lutimesSync(join(src, 'srv/bin'), 1_400_000_000, 1_400_000_000);
    lutimesSync(join(src, 'srv/run'), 1_400_000_001, 1_400_000_001);
    utimesSync(join(src, 'srv'), 1_500_000_005, 1_500_000_005);
    const r = spawnSync('tar', ['--format=posix', '--xattrs', '--xattrs-include=*', '--numeric-owner', '-C', src, '-cf', '-', '.'], { maxBuffer: 64 << 20 });
    assert.equal(r.status, 0, String(r.stderr));
    layer = r.stdout;
  });
  after(() => rmSync(work, { recursive: true, force: true }));

  it('reproduces every type, mode, owner, mtime, device number, link and xattr', async () => {
    const stats = await applyLayer(streamOf(layer, 4096), dst, { mode: 'overlay', label: 'layer fidelity' });
    assert.deepEqual(stats.warnings, []);
    assert.equal(stats.bytes, 14 + 14 + 70_000 + 6);
    const want = describeTree(src);
    const got = describeTree(dst);
    assert.deepEqual([...got.keys()], [...want.keys()]);
    for (const [rel, w] of want) assert.deepEqual(got.get(rel), w, rel);
    // Spot checks that the comparison is about the right things.
    assert.equal(got.get('usr/bin/su')!.mode, '4755');
    assert.equal(got.get('srv/shared')!.mode, '2770');
    assert.equal(got.get('tmp')!.mode, '1777');
    assert.equal(got.get('usr/bin/ping')!.xattrs['security.capability'], CAPABILITY.toString('hex'));
    assert.equal(got.get('srv/bin')!.owner, '1234:4321');
    assert.equal(got.get('dev/loop9')!.rdev, (7 << 8) | 9);
    assert.equal(got.get('dev/odd')!.mode, '6660');
    assert.equal(got.get('.')!.mtime, 1_500_000_007_000);
    assert.equal(lstatSync(join(dst, 'usr/bin/ping')).ino, lstatSync(join(dst, 'usr/bin/ping-hard')).ino);
  });

  it('takes sub-second mtimes, large uids and xattrs from PAX records', async () => {
    const out = mkdtempSync(join(work, 'pax-'));
    const binary = Buffer.from([0x80, 0xff, 0x00, 0xc3, 0x28]);
    await applyLayer(
      streamOf(tar(
        pax({ mtime: '1700000000.25', uid: '3000000000', gid: '2999999999', 'SCHILY.xattr.user.bin': binary, 'LIBARCHIVE.xattr.user.b64': binary.toString('base64') }),
        file('f', 'x', { uid: 1, gid: 1 }),
        dir('d/', { mtime: 1234 }),
        file('d/child', 'y'),
      )),
      out,
      { mode: 'merge' },
    );
    const st = lstatSync(join(out, 'f'));
    assert.equal(st.mtimeMs, 1_700_000_000_250);
    assert.equal(st.uid, 3_000_000_000);
    assert.equal(st.gid, 2_999_999_999);
    const x = readXattrsSync(join(out, 'f'));
    assert.deepEqual(x['user.bin'], binary);
    assert.deepEqual(x['user.b64'], binary);
    assert.equal(lstatSync(join(out, 'd')).mtimeMs, 1_234_000, 'directory mtime is set after its children');
  });

  it('gives every entry its own exact mode regardless of umask', async () => {
    const out = mkdtempSync(join(work, 'umask-'));
    const old = process.umask(0o077);
    try {
      await applyLayer(streamOf(tar(file('a/b/f', 'x', { mode: 0o666 }), dir('open/', { mode: 0o777 }))), out, { mode: 'overlay' });
    } finally {
      process.umask(old);
    }
    assert.equal(lstatSync(join(out, 'a/b/f')).mode & 0o777, 0o666);
    assert.equal(lstatSync(join(out, 'a')).mode & 0o777, 0o755, 'implicit parents are 0755');
    assert.equal(lstatSync(join(out, 'open')).mode & 0o777, 0o777);
  });
});
