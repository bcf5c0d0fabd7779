import assert from 'node:assert/strict';
import { chownSync, lstatSync, mkdirSync, readFileSync, readlinkSync, statSync, utimesSync, writeFileSync, linkSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { BuildContext } from '../../src/build/context.js';
import { copyInto } from '../../src/build/copy.js';
import type { CopyRequest } from '../../src/build/copy.js';
import { DirSource } from '../../src/build/file-source.js';
import { selectSources } from '../../src/build/select.js';
import type { SelectOptions } from '../../src/build/select.js';
import { BuildError } from '../../src/errors.js';
import { makeTemp, makeTree, paths, rmTemp, snapshot } from './helpers.js';

const T2001 = new Date('2001-02-03T04:05:06Z').getTime() / 1000;

describe('copyInto (COPY semantics)', () => {
  let tmp: string;
  let ctxDir: string;
  let root: string;
  beforeEach(() => {
    tmp = makeTemp('copy-');
    ctxDir = join(tmp, 'ctx');
    root = join(tmp, 'root');
    mkdirSync(root);
    makeTree(ctxDir, {
      'a.txt': 'A',
      'b.txt': 'B',
      'dir/x.c': 'X',
      'dir/sub/y.c': 'Y',
      'exec.sh': { content: '#!/bin/sh\n', mode: 0o755 },
    });
  });
  afterEach(() => rmTemp(tmp));

  async function copy(sources: string[], dest: string, extra: Omit<CopyRequest, 'selection' | 'dest'> & { select?: SelectOptions } = {}) {
    const ctx = await BuildContext.open(ctxDir);
    const { select, ...rest } = extra;
    return copyInto(root, { selection: await ctx.select(sources, select), dest, ...rest });
  }
  const at = (p: string) => join(root, p);
  const rejectsWith = (code: string) => (e: unknown) => e instanceof BuildError && e.code === code;

  describe('destination rules', () => {
    it('a destination ending in / is a directory, created with its parents', async () => {
      const r = await copy(['a.txt'], '/abs/dir/');
      assert.equal(readFileSync(at('abs/dir/a.txt'), 'utf8'), 'A');
      assert.deepEqual(r, { files: 1, dirs: 0, bytes: 1, warnings: [] });
    });

    it('a single file to a missing path without a slash becomes that path', async () => {
      await copy(['a.txt'], '/abs/renamed');
      assert.equal(readFileSync(at('abs/renamed'), 'utf8'), 'A');
      assert.ok(lstatSync(at('abs')).isDirectory());
    });

    it('a single file to an existing directory without a slash lands inside it', async () => {
      mkdirSync(at('existing'));
      await copy(['a.txt'], '/existing');
      assert.equal(readFileSync(at('existing/a.txt'), 'utf8'), 'A');
    });

    it('a single file over an existing file replaces it', async () => {
      writeFileSync(at('f'), 'old');
      await copy(['a.txt'], '/f');
      assert.equal(readFileSync(at('f'), 'utf8'), 'A');
    });

    it('several sources (or several wildcard matches) make the destination a directory', async () => {
      await copy(['a.txt', 'b.txt'], '/multi');
      assert.deepEqual(paths(at('multi')), ['a.txt', 'b.txt']);
      await copy(['*.txt'], '/glob');
      assert.deepEqual(paths(at('glob')), ['a.txt', 'b.txt']);
      await copy(['a*.txt'], '/single');
      assert.equal(readFileSync(at('single'), 'utf8'), 'A', 'one match and no slash: a file');
    });

    it('a directory source copies its contents, merged into an existing directory', async () => {
      makeTree(root, { 'd/keep': 'k', 'd/sub/old': 'o' });
      await copy(['dir'], '/d');
      assert.deepEqual(paths(at('d')), ['keep', 'sub', 'sub/old', 'sub/y.c', 'x.c']);
      await copy(['dir/'], '/e');
      assert.deepEqual(paths(at('e')), ['sub', 'sub/y.c', 'x.c']);
      await copy(['.'], '/all/');
      assert.deepEqual(paths(at('all')), ['a.txt', 'b.txt', 'dir', 'dir/sub', 'dir/sub/y.c', 'dir/x.c', 'exec.sh']);
    });

    it('a relative destination is relative to WORKDIR', async () => {
      await copy(['a.txt'], 'rel/', { workdir: '/app' });
      await copy(['b.txt'], '.', { workdir: '/app' });
      await copy(['exec.sh'], 'run', { workdir: 'app/bin' });
      assert.deepEqual(paths(at('app')), ['b.txt', 'bin', 'bin/run', 'rel', 'rel/a.txt']);
    });

    it('refuses a file over a directory and a directory over a file', async () => {
      mkdirSync(at('d/a.txt'), { recursive: true });
      await assert.rejects(copy(['a.txt'], '/d/'), rejectsWith('COPY_TARGET_IS_DIR'));
      writeFileSync(at('file'), 'f');
      await assert.rejects(copy(['dir'], '/file'), rejectsWith('COPY_NOT_A_DIRECTORY'));
      await assert.rejects(copy(['a.txt'], '/file/'), rejectsWith('COPY_NOT_A_DIRECTORY'));
    });
  });

  describe('ownership and modes', () => {
    it('gives copied entries 0:0 (never the context owner) and keeps modes and mtimes', async () => {
      chownSync(join(ctxDir, 'a.txt'), 1234, 4321);
      chownSync(join(ctxDir, 'dir'), 1234, 4321);
      chmodSync(join(ctxDir, 'a.txt'), 0o640);
      chmodSync(join(ctxDir, 'dir/sub'), 0o750);
      utimesSync(join(ctxDir, 'a.txt'), T2001, T2001);
      utimesSync(join(ctxDir, 'dir/sub'), T2001, T2001);
      utimesSync(ctxDir, T2001 + 1, T2001 + 1);
      await copy(['.'], '/out/');
      const s = snapshot(at('out'));
      assert.deepEqual(s['a.txt'], { type: 'file', mode: '640', owner: '0:0', content: 'A' });
      assert.equal(s['exec.sh']!.mode, '755');
      assert.deepEqual({ mode: s['dir/sub']!.mode, owner: s['dir']!.owner }, { mode: '750', owner: '0:0' });
      assert.equal(lstatSync(at('out/a.txt')).mtimeMs, T2001 * 1000);
      assert.equal(lstatSync(at('out/dir/sub')).mtimeMs, T2001 * 1000, 'directory mtimes survive their children being written');
      assert.equal(lstatSync(at('out')).mtimeMs, (T2001 + 1) * 1000, 'the destination takes the source directory\'s mtime (BuildKit)');
      assert.equal(snapshot(root)['out']!.mode, '755', '...but keeps its own mode');
    });

    it('creates missing parents 0755 owned by root, or by the --chown user', async () => {
      await copy(['a.txt'], '/p/q/');
      assert.deepEqual([snapshot(root)['p'], snapshot(root)['p/q']].map((n) => `${n!.mode} ${n!.owner}`), ['755 0:0', '755 0:0']);
      await copy(['a.txt'], '/u/v/w', { chown: { uid: 1000, gid: 1001 } });
      const s = snapshot(root);
      assert.deepEqual(['u', 'u/v', 'u/v/w'].map((p) => `${s[p]!.mode} ${s[p]!.owner}`), ['755 1000:1001', '755 1000:1001', '644 1000:1001']);
    });

    it('--chown applies to every copied entry, directories and symlinks included', async () => {
      makeTree(ctxDir, { 'dir/link': { link: 'x.c' } });
      await copy(['dir'], '/o', { chown: { uid: 7, gid: 8 } });
      const s = snapshot(at('o'));
      for (const p of ['x.c', 'sub', 'sub/y.c', 'link']) assert.equal(s[p]!.owner, '7:8', p);
      assert.equal(snapshot(root)['o']!.owner, '7:8', 'the created destination directory too');
    });

    it('--chmod applies to copied files and directories; octal values also to created parents', async () => {
      await copy(['dir'], '/m/n', { chmod: '0700' });
      const s = snapshot(root);
      assert.deepEqual(['m', 'm/n', 'm/n/sub', 'm/n/sub/y.c', 'm/n/x.c'].map((p) => s[p]!.mode), ['700', '700', '700', '700', '700']);
      await copy(['dir', 'exec.sh'], '/sym/', { chmod: 'u+x,g=u' });
      const t = snapshot(at('sym'));
      assert.deepEqual({ file: t['x.c']!.mode, dir: t['sub']!.mode, exec: t['exec.sh']!.mode }, { file: '774', dir: '775', exec: '775' });
      assert.equal(snapshot(root)['sym']!.mode, '755', 'symbolic --chmod leaves created parents at 0755');
    });

    it('keeps setuid/setgid bits through the ownership change', async () => {
      chmodSync(join(ctxDir, 'exec.sh'), 0o6755);
      await copy(['exec.sh'], '/bin/su', { chown: { uid: 5, gid: 5 } });
      assert.equal((lstatSync(at('bin/su')).mode & 0o7777).toString(8), '6755');
    });

    it('keeps owners when copying from another tree (a stage)', async () => {
      const stage = join(tmp, 'stage');
      makeTree(stage, { 'usr/lib/libx.so': 'lib', 'lib': { link: 'usr/lib' } });
      chownSync(join(stage, 'usr/lib/libx.so'), 99, 98);
      const sel = selectSources(new DirSource(stage), ['/lib/libx.so']);
      await copyInto(root, { selection: sel, dest: '/opt/' });
      assert.equal(snapshot(root)['opt/libx.so']!.owner, '99:98');
    });
  });

  describe('links', () => {
    it('copies symlinks as symlinks with their targets verbatim', async () => {
      makeTree(ctxDir, { 'dir/rel': { link: '../a.txt' }, 'dir/abs': { link: '/etc/shadow' }, 'dir/dangling': { link: 'nowhere' } });
      await copy(['dir'], '/l/');
      assert.equal(readlinkSync(at('l/rel')), '../a.txt');
      assert.equal(readlinkSync(at('l/abs')), '/etc/shadow');
      assert.equal(readlinkSync(at('l/dangling')), 'nowhere');
    });

    it('keeps hardlinks between files of one source', async () => {
      linkSync(join(ctxDir, 'dir/x.c'), join(ctxDir, 'dir/sub/x-link.c'));
      const r = await copy(['dir'], '/h/');
      assert.equal(statSync(at('h/x.c')).ino, statSync(at('h/sub/x-link.c')).ino);
      assert.equal(r.bytes, 2, 'a hardlink copies no data');
    });

    it('replaces an existing symlink inside the destination instead of writing through it', async () => {
      const outside = join(tmp, 'victim');
      writeFileSync(outside, 'victim');
      makeTree(root, { 'app/a.txt': { link: outside }, 'app/b.txt': { link: '/b-target' } });
      await copy(['a.txt', 'b.txt'], '/app/');
      assert.equal(readFileSync(outside, 'utf8'), 'victim');
      assert.ok(lstatSync(at('app/a.txt')).isFile());
      assert.equal(readFileSync(at('app/b.txt'), 'utf8'), 'B');
      assert.equal(lstatSync(at('b-target'), { throwIfNoEntry: false }), undefined);
    });
  });

  describe('destinations through image symlinks stay inside the root', () => {
    it('follows an image symlink on the way (/usr/local/bin -> /opt/bin)', async () => {
      makeTree(root, { 'opt/bin/': '', 'usr/local/bin': { link: '/opt/bin' } });
      await copy(['exec.sh'], '/usr/local/bin/x');
      assert.equal(readFileSync(at('opt/bin/x'), 'utf8'), '#!/bin/sh\n');
      assert.ok(lstatSync(at('usr/local/bin')).isSymbolicLink());
    });

    it('clamps symlinks that climb above the root (/data -> /../../../../etc)', async () => {
      const hostDir = join(tmp, 'host-etc');
      mkdirSync(hostDir);
      makeTree(root, { 'data': { link: '/../../../../' + hostDir.slice(1) }, 'rel': { link: '../../../../../..' + hostDir } });
      await copy(['a.txt'], '/data/');
      await copy(['b.txt'], '/rel/sub/');
      assert.deepEqual(paths(hostDir), []);
      assert.equal(readFileSync(at(hostDir.slice(1) + '/a.txt'), 'utf8'), 'A');
      assert.equal(readFileSync(at(hostDir.slice(1) + '/sub/b.txt'), 'utf8'), 'B');
    });

    it('follows a destination that names a symlink, inside the root', async () => {
      makeTree(root, { 'real/f.txt': 'old', 'link': { link: '/real/f.txt' }, 'esc': { link: '/../../../../tmp-escape-test' } });
      await copy(['a.txt'], '/link');
      assert.equal(readFileSync(at('real/f.txt'), 'utf8'), 'A');
      assert.ok(lstatSync(at('link')).isSymbolicLink());
      await copy(['b.txt'], '/esc');
      assert.equal(readFileSync(at('tmp-escape-test'), 'utf8'), 'B');
      assert.equal(lstatSync('/tmp-escape-test', { throwIfNoEntry: false }), undefined);
    });

    it('refuses to merge a directory into an image symlink below the destination', async () => {
      makeTree(root, { 'd/sub': { link: '/elsewhere' }, 'elsewhere/': '' });
      await assert.rejects(copy(['dir'], '/d'), rejectsWith('COPY_NOT_A_DIRECTORY'));
      assert.deepEqual(paths(at('elsewhere')), []);
    });
  });

  describe('selection options', () => {
    it('--parents keeps the source paths under the destination', async () => {
      await copy(['dir/sub/y.c', 'a.txt'], '/par', { select: { parents: true } });
      assert.deepEqual(paths(at('par')), ['a.txt', 'dir', 'dir/sub', 'dir/sub/y.c']);
    });

    it('--exclude leaves matching entries out', async () => {
      await copy(['.'], '/ex/', { select: { exclude: ['*.txt', 'dir/sub'] } });
      assert.deepEqual(paths(at('ex')), ['dir', 'dir/x.c', 'exec.sh']);
    });
  });

  it('fails when a source file changed after it was selected', async () => {
    const ctx = await BuildContext.open(ctxDir);
    const sel = await ctx.select(['a.txt']);
    writeFileSync(join(ctxDir, 'a.txt'), 'changed!');
    await assert.rejects(copyInto(root, { selection: sel, dest: '/x' }), rejectsWith('CONTEXT_CHANGED'));
    assert.equal(lstatSync(at('x'), { throwIfNoEntry: false }), undefined, 'the partial copy is removed');
  });
});
