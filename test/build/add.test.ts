import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { lstatSync, mkdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { addInto, isTarArchive } from '../../src/build/add.js';
import type { AddRequest } from '../../src/build/add.js';
import { BuildContext } from '../../src/build/context.js';
import { UnsafeArchiveError } from '../../src/errors.js';
import { dir, file, hardlink, symlink, tar } from '../fs/hostile-tars.js';
import { makeTemp, paths, rmTemp, snapshot } from './helpers.js';

function compress(tool: string, data: Buffer): Buffer {
  const r = spawnSync(tool, ['-c'], { input: data, maxBuffer: 1 << 26 });
  assert.equal(r.status, 0, String(r.stderr));
  return r.stdout;
}

describe('ADD of local sources', () => {
  let tmp: string;
  let ctxDir: string;
  let root: string;
  beforeEach(() => {
    tmp = makeTemp('add-');
    ctxDir = join(tmp, 'ctx');
    root = join(tmp, 'root');
    mkdirSync(ctxDir);
    mkdirSync(root);
  });
  afterEach(() => rmTemp(tmp));

  const sample = () => tar(
    dir('app/', { uid: 0, gid: 0 }),
    file('app/hello.txt', 'hello', { mode: 0o640, uid: 1000, gid: 1000, mtime: 1_000_000_000 }),
    symlink('app/link', 'hello.txt'),
    hardlink('app/hard.txt', 'app/hello.txt'),
  );

  async function add(sources: string[], dest: string, extra: Omit<AddRequest, 'selection' | 'dest'> = {}) {
    const ctx = await BuildContext.open(ctxDir);
    return addInto(root, { selection: await ctx.select(sources), dest, ...extra });
  }

  it('recognises tar archives by content: plain, gzip, bzip2, xz and zstd', async () => {
    const t = sample();
    const files: Record<string, Buffer> = {
      'plain.bin': t,
      'g.bin': compress('gzip', t),
      'b.bin': compress('bzip2', t),
      'x.bin': compress('xz', t),
      'z.bin': compress('zstd', t),
      'text.tar.gz': Buffer.from('not an archive at all, despite the name'),
      'gzip-of-text.gz': compress('gzip', Buffer.from('plain text, compressed')),
      'empty.tar': Buffer.alloc(0),
      'zeros.tar': Buffer.alloc(1024),
      'corrupt.tgz': Buffer.concat([compress('gzip', t).subarray(0, 12), Buffer.alloc(100, 0x55)]),
    };
    for (const [name, data] of Object.entries(files)) writeFileSync(join(ctxDir, name), data);
    const got = Object.fromEntries(await Promise.all(Object.keys(files).map(async (n) => [n, await isTarArchive(join(ctxDir, n))] as const)));
    assert.deepEqual(got, {
      'plain.bin': true, 'g.bin': true, 'b.bin': true, 'x.bin': true, 'z.bin': true,
      'text.tar.gz': false, 'gzip-of-text.gz': false, 'empty.tar': false, 'zeros.tar': false, 'corrupt.tgz': false,
    });
  });

  for (const tool of ['none', 'gzip', 'bzip2', 'xz', 'zstd']) {
    it(`unpacks a ${tool === 'none' ? 'plain' : tool} tar into the destination directory`, async () => {
      writeFileSync(join(ctxDir, 'archive'), tool === 'none' ? sample() : compress(tool, sample()));
      const r = await add(['archive'], '/opt/x');
      assert.deepEqual(r.unpacked, ['archive']);
      const s = snapshot(join(root, 'opt/x'));
      assert.deepEqual(s['app/hello.txt'], { type: 'file', mode: '640', owner: '1000:1000', content: 'hello' });
      assert.equal(s['app/link']!.target, 'hello.txt');
      assert.equal(lstatSync(join(root, 'opt/x/app/hard.txt')).ino, lstatSync(join(root, 'opt/x/app/hello.txt')).ino);
      assert.equal(lstatSync(join(root, 'opt/x/app/hello.txt')).mtimeMs, 1_000_000_000_000);
    });
  }

  it('merges with what is there, applies --chown but not --chmod', async () => {
    writeFileSync(join(ctxDir, 'a.tar'), sample());
    mkdirSync(join(root, 'dst/app'), { recursive: true });
    writeFileSync(join(root, 'dst/keep'), 'k');
    writeFileSync(join(root, 'dst/app/hello.txt'), 'old');
    await add(['a.tar'], '/dst/', { chown: { uid: 5, gid: 6 }, chmod: '0700' });
    const s = snapshot(join(root, 'dst'));
    assert.equal(s['keep']!.content, 'k');
    assert.deepEqual(s['app/hello.txt'], { type: 'file', mode: '640', owner: '5:6', content: 'hello' });
    assert.equal(s['app']!.owner, '5:6');
  });

  it('extracts .wh. names as plain files (an ADDed tar has no whiteouts)', async () => {
    writeFileSync(join(ctxDir, 'wh.tar'), tar(
      file('.wh.victim', 'not a whiteout'),
      dir('d/'),
      file('d/.wh..wh..opq', 'not opaque either'),
      dir('.wh.dir/'),
      file('.wh.dir/inner', 'i'),
      hardlink('d/link-to-wh', '.wh.victim'),
    ));
    writeFileSync(join(root, 'victim'), 'still here');
    mkdirSync(join(root, 'd'));
    writeFileSync(join(root, 'd/old'), 'still here too');
    await add(['wh.tar'], '/');
    const s = snapshot(root);
    assert.equal(s['victim']!.content, 'still here');
    assert.equal(s['d/old']!.content, 'still here too');
    assert.equal(s['.wh.victim']!.content, 'not a whiteout');
    assert.equal(s['d/.wh..wh..opq']!.content, 'not opaque either');
    assert.equal(s['.wh.dir/inner']!.content, 'i');
    assert.equal(lstatSync(join(root, 'd/link-to-wh')).ino, lstatSync(join(root, '.wh.victim')).ino);
    assert.ok(!paths(root).some((p) => p.includes('.strata-add-')), 'no escaped name is left behind');
  });

  it('strips leading slashes and refuses entries that escape', async () => {
    writeFileSync(join(ctxDir, 'abs.tar'), tar(file('/etc/abs-entry', 'abs')));
    await add(['abs.tar'], '/inside/');
    assert.equal(readFileSync(join(root, 'inside/etc/abs-entry'), 'utf8'), 'abs');
    const outside = join(tmp, 'outside');
    mkdirSync(outside);
    writeFileSync(join(ctxDir, 'evil.tar'), tar(symlink('out', outside), file('out/pwned', 'x')));
    await assert.rejects(add(['evil.tar'], '/e/'), UnsafeArchiveError);
    writeFileSync(join(ctxDir, 'dotdot.tar'), tar(file('../../dotdot', 'x')));
    await assert.rejects(add(['dotdot.tar'], '/e/'), UnsafeArchiveError);
    assert.deepEqual(paths(outside), []);
    assert.equal(lstatSync(join(tmp, 'dotdot'), { throwIfNoEntry: false }), undefined);
  });

  it('copies non-archives, and archives too with --unpack=false', async () => {
    writeFileSync(join(ctxDir, 'a.tar'), sample());
    writeFileSync(join(ctxDir, 'readme'), 'r');
    const r = await add(['a.tar', 'readme'], '/mix');
    assert.deepEqual(r.unpacked, ['a.tar']);
    assert.deepEqual(paths(join(root, 'mix')), ['app', 'app/hard.txt', 'app/hello.txt', 'app/link', 'readme']);
    await add(['a.tar'], '/kept.tar', { unpack: false });
    assert.deepEqual(readFileSync(join(root, 'kept.tar')), sample());
    assert.equal(readlinkSync(join(root, 'mix/app/link')), 'hello.txt');
  });
});
