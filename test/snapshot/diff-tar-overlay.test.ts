/**
 * The proof of the diff: changes made through a real overlayfs mount, turned into a tar from the
 * upper dir alone, applied onto a copy of the lower dir, give back exactly the merged view the
 * kernel showed (types, modes, owners, mtimes, contents, link targets, devices, xattrs, hardlink
 * groups). Also checks the tar's own shape and that the output is deterministic.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import {
  appendFileSync, chmodSync, chownSync, linkSync, lstatSync, lutimesSync, mkdirSync, readdirSync, renameSync, rmSync, symlinkSync,
  unlinkSync, utimesSync, writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { applyLayer } from '../../src/fs/apply-layer.js';
import { mknod, isOverlayWhiteout } from '../../src/fs/special-files.js';
import { OVERLAY_OPAQUE_XATTR, readXattrsSync, setXattrSync } from '../../src/fs/xattr.js';
import { OPAQUE_MARKER, WHITEOUT_PREFIX } from '../../src/fs/whiteout.js';
import { describeTree, diffToBuffer, isRoot, mountOverlay, readTar, run, scratchDir, streamOf } from './fixture.js';
import type { ReadEntry, TreeView } from './fixture.js';

const CAP = Buffer.from('0100000200200000000000000000000000000000', 'hex'); // cap_net_bind_service+ep
const LOWER_TIME = 1577836800; // 2020-01-01
const LONG = 'n'.repeat(120);

/** A lower dir with files, dirs, hardlinks, a symlink, a capability and old mtimes everywhere. */
function makeLower(dir: string): void {
  const f = (rel: string, data: string | Buffer, mode = 0o644) => {
    mkdirSync(join(dir, rel, '..'), { recursive: true });
    writeFileSync(join(dir, rel), data);
    chmodSync(join(dir, rel), mode);
  };
  f('etc/passwd', 'root:x:0:0:root:/root:/bin/sh\n');
  f('etc/keep.conf', 'keep\n');
  f('etc/hardA', 'shared\n');
  linkSync(join(dir, 'etc/hardA'), join(dir, 'etc/hardB'));
  f('hl/x', 'three\n');
  linkSync(join(dir, 'hl/x'), join(dir, 'hl/y'));
  linkSync(join(dir, 'hl/x'), join(dir, 'hl/z'));
  f('bin/tool', '#!/bin/sh\n', 0o755);
  setXattrSync(join(dir, 'bin/tool'), 'security.capability', CAP);
  f('data/small.txt', 'small\n');
  f('data/big.bin', Buffer.alloc(3 << 20, 7));
  f('data/olddir/inner.txt', 'moved with its dir\n');
  f('gone.txt', 'bye\n');
  f('gone-dir/sub/a', 'a');
  f('gone-dir/b', 'b');
  f('redo/a', 'a');
  f('redo/sub/c', 'c');
  f('perm.txt', 'p');
  f('own.txt', 'o');
  f('rename-me.txt', 'r');
  f('file-to-dir', 'f');
  f('dir-to-file/x', 'x');
  f('var/lib/deep/x', 'x');
  f('var/lib/deep/y', 'y');
  f('srv/.keep', '');
  symlinkSync('etc/passwd', join(dir, 'link-old'));
  symlinkSync('gone.txt', join(dir, 'sym-gone'));
  for (const w of ['a1', 'a2', 'a3']) f(`many/${w}`, w);
  setTimes(dir);
}

function setTimes(dir: string): void {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (lstatSync(p).isDirectory()) setTimes(p);
    lutimesSync(p, LOWER_TIME, LOWER_TIME);
  }
  lutimesSync(dir, LOWER_TIME, LOWER_TIME);
}

/** What a build step does, through the merged view. */
async function makeChanges(m: string): Promise<void> {
  writeFileSync(join(m, 'new.txt'), 'new\n');
  setXattrSync(join(m, 'new.txt'), 'user.note', Buffer.from('a=b\nc'));
  setXattrSync(join(m, 'new.txt'), 'trusted.strata-test', Buffer.from([0, 1, 2, 255]));
  mkdirSync(join(m, 'newdir/nested'), { recursive: true });
  writeFileSync(join(m, 'newdir/nested/deep.txt'), 'deep\n');
  writeFileSync(join(m, `newdir/${LONG}`), 'long name\n');
  mkdirSync(join(m, 'données'));
  writeFileSync(join(m, 'données/ファイル.txt'), 'unicode\n');
  writeFileSync(join(m, 'newdir/big.bin'), Buffer.alloc((2 << 20) + 123, 9));
  appendFileSync(join(m, 'etc/passwd'), 'app:x:1000:1000::/home/app:/bin/sh\n');
  unlinkSync(join(m, 'gone.txt'));
  rmSync(join(m, 'gone-dir'), { recursive: true });
  rmSync(join(m, 'redo'), { recursive: true });
  mkdirSync(join(m, 'redo/sub'), { recursive: true });
  writeFileSync(join(m, 'redo/fresh'), 'fresh\n');
  writeFileSync(join(m, 'redo/sub/c2'), 'c2\n');
  chmodSync(join(m, 'perm.txt'), 0o4755);
  chmodSync(join(m, 'srv'), 0o1777);
  chmodSync(join(m, 'etc/keep.conf'), 0o2640);
  chownSync(join(m, 'own.txt'), 1234, 5678);
  writeFileSync(join(m, 'new-cap'), 'cap\n');
  chmodSync(join(m, 'new-cap'), 0o755);
  setXattrSync(join(m, 'new-cap'), 'security.capability', CAP);
  setXattrSync(join(m, 'data'), 'user.dir-note', Buffer.from('on a copied-up dir'));
  writeFileSync(join(m, 'h1'), 'linked\n');
  linkSync(join(m, 'h1'), join(m, 'h2'));
  linkSync(join(m, 'h1'), join(m, 'newdir/h3'));
  appendFileSync(join(m, 'etc/hardA'), 'changed\n'); // copy-up breaks the lower link, as in docker/buildah
  linkSync(join(m, 'etc/keep.conf'), join(m, 'keep-link'));
  run('mkfifo', ['-m', '0640', join(m, 'fifo')]);
  await mknod(join(m, 'dev-null'), 'char', 1, 3, 0o666);
  symlinkSync('etc/passwd', join(m, 'sym'));
  symlinkSync('/nowhere/at/all', join(m, 'dangling'));
  unlinkSync(join(m, 'link-old'));
  writeFileSync(join(m, 'link-old'), 'now a file\n');
  unlinkSync(join(m, 'sym-gone'));
  renameSync(join(m, 'rename-me.txt'), join(m, 'renamed.txt'));
  run('mv', [join(m, 'data/olddir'), join(m, 'data/movedir')]); // rename(2) of a lower dir: EXDEV, mv copies
  unlinkSync(join(m, 'var/lib/deep/x'));
  unlinkSync(join(m, 'file-to-dir'));
  mkdirSync(join(m, 'file-to-dir'));
  writeFileSync(join(m, 'file-to-dir/inside'), 'i');
  rmSync(join(m, 'dir-to-file'), { recursive: true });
  writeFileSync(join(m, 'dir-to-file'), 'now a file');
  for (const w of ['a1', 'a2', 'a3']) unlinkSync(join(m, `many/${w}`));
  utimesSync(join(m, 'new.txt'), 1600000000, 1600000000);
  utimesSync(join(m, 'h1'), 900000000, 900000000); // older than the clamp used below
}

/** Checks order, names and whiteout shapes of a diff tar. */
function checkShape(entries: ReadEntry[]): void {
  const seen = new Set<string>();
  const kids = new Map<string, { cls: number; name: string }[]>();
  for (const e of entries) {
    assert.ok(!e.name.startsWith('/') && !e.name.startsWith('./'), `relative name: ${e.name}`);
    assert.equal(e.name.endsWith('/'), e.type === 'dir', `dirs and only dirs end in /: ${e.name}`);
    const path = e.name.replace(/\/$/, '');
    assert.ok(!seen.has(path), `duplicate ${path}`);
    const i = path.lastIndexOf('/');
    const parent = i < 0 ? '' : path.slice(0, i);
    const base = path.slice(i + 1);
    if (parent !== '') assert.ok(seen.has(parent), `${path} comes after its directory`);
    seen.add(path);
    const cls = base === OPAQUE_MARKER ? 0 : base.startsWith(WHITEOUT_PREFIX) ? 1 : 2;
    kids.set(parent, [...(kids.get(parent) ?? []), { cls, name: base }]);
    for (const k of Object.keys(e.xattrs)) assert.ok(!k.startsWith('trusted.overlay.'), `${path}: ${k} leaked`);
    if (cls < 2) {
      assert.deepEqual([e.type, e.mode, e.uid, e.gid, e.size], ['file', 0, 0, 0, 0], `whiteout shape of ${path}`);
    }
    if (e.type === 'hardlink') {
      assert.ok(seen.has(e.linkname), `${path} links to earlier entry ${e.linkname}`);
      const target = entries.find((t) => t.name === e.linkname)!;
      assert.equal(target.type, 'file');
    }
  }
  for (const [dir, list] of kids) {
    for (let j = 1; j < list.length; j++) {
      const a = list[j - 1]!;
      const b = list[j]!;
      const ordered = a.cls < b.cls || (a.cls === b.cls && Buffer.compare(Buffer.from(a.name), Buffer.from(b.name)) < 0);
      assert.ok(ordered, `in ${dir || '/'}: ${a.name} before ${b.name}`);
    }
  }
}

describe('writeDiffTar on a real overlayfs upper dir', { skip: !isRoot && 'needs root (mount, chown, devices, trusted xattrs)' }, () => {
  let work: string;
  let lower: string;
  before(() => {
    work = scratchDir('strata-diff');
    lower = join(work, 'L');
    mkdirSync(lower);
    makeLower(lower);
  });
  after(() => rmSync(work, { recursive: true, force: true }));

  /** Mounts, makes the changes, captures the merged view, unmounts; returns the upper dir and the view. */
  async function step(name: string): Promise<{ upper: string; merged: TreeView }> {
    const ov = mountOverlay(lower, join(work, name));
    try {
      await makeChanges(ov.merged);
      return { upper: ov.upper, merged: describeTree(ov.merged) };
    } finally {
      ov.unmount();
    }
  }

  it('applying the diff onto the lower dir reproduces the merged view', async (t) => {
    const { upper, merged } = await step('one');
    // The kernel really produced what the rules are about.
    assert.equal(readXattrsSync(join(upper, 'redo'))[OVERLAY_OPAQUE_XATTR]?.toString(), 'y');
    const wh = lstatSync(join(upper, 'gone.txt'));
    assert.ok(isOverlayWhiteout(wh));
    t.diagnostic(`whiteout nlink in upper: ${wh.nlink}`);

    const { tar, result } = await diffToBuffer(upper);
    assert.equal(result.size, tar.length);
    assert.equal(result.diffId, `sha256:${createHash('sha256').update(tar).digest('hex')}`);
    assert.equal(result.empty, false);
    const entries = await readTar(tar);
    assert.equal(result.entries, entries.length);
    checkShape(entries);
    const names = entries.map((e) => e.name);
    for (const n of ['.wh.gone.txt', '.wh.gone-dir', 'redo/', `redo/${OPAQUE_MARKER}`, '.wh.rename-me.txt', 'renamed.txt', 'many/.wh.a1', 'var/lib/deep/.wh.x', 'data/movedir/inner.txt', 'data/.wh.olddir', `file-to-dir/${OPAQUE_MARKER}`]) {
      assert.ok(names.includes(n), `tar has ${n}: ${names.join(' ')}`);
    }
    assert.ok(!names.includes('hl/') && !names.includes('bin/'), 'untouched lower dirs are not in the layer');
    assert.equal(names.indexOf(`redo/${OPAQUE_MARKER}`), names.indexOf('redo/') + 1, 'opaque marker right after its dir');
    const byName = new Map(entries.map((e) => [e.name, e]));
    assert.deepEqual([byName.get('h2')?.type, byName.get('h2')?.linkname], ['hardlink', 'h1']);
    assert.deepEqual([byName.get('newdir/h3')?.type, byName.get('newdir/h3')?.linkname], ['hardlink', 'h1']);
    assert.deepEqual([byName.get('keep-link')?.type, byName.get('keep-link')?.linkname], ['hardlink', 'etc/keep.conf']);
    assert.deepEqual(byName.get('new-cap')?.xattrs['security.capability'], CAP);
    assert.deepEqual([byName.get('dev-null')?.type, byName.get('dev-null')?.devmajor, byName.get('dev-null')?.devminor], ['char', 1, 3]);
    assert.equal(byName.get('perm.txt')?.mode, 0o4755);
    assert.deepEqual([byName.get('own.txt')?.uid, byName.get('own.txt')?.gid], [1234, 5678]);
    assert.equal(byName.get('dangling')?.linkname, '/nowhere/at/all');

    const result2 = join(work, 'R');
    run('cp', ['-a', lower, result2]);
    await applyLayer(streamOf(tar), result2, { mode: 'merge' });
    const applied = describeTree(result2);
    assert.deepEqual(applied.lines, merged.lines);
    assert.deepEqual(applied.links, merged.links);
    assert.ok(merged.links.some((g) => g.includes('h1') && g.includes('h2') && g.includes('newdir/h3')), 'new hardlink group survives');
    assert.ok(merged.links.some((g) => g.join() === 'hl/x,hl/y,hl/z'), 'untouched lower group survives');

    // GNU tar reads it too.
    const tarFile = join(work, 'one.tar');
    writeFileSync(tarFile, tar);
    assert.match(run('tar', ['-tvf', tarFile]), /-rwsr-xr-x 0\/0 .* perm\.txt/);

    // Same upper dir, same bytes.
    const again = await diffToBuffer(upper);
    assert.equal(again.result.diffId, result.diffId);
  });

  it('two builds of the same step give the same diffId with SOURCE_DATE_EPOCH', async () => {
    const clamp = 1000000000;
    const a = await step('two-a');
    await new Promise((r) => setTimeout(r, 1100)); // a different second: only the clamp makes them equal
    const b = await step('two-b');
    const ra = await diffToBuffer(a.upper, { clampMtime: clamp });
    const rb = await diffToBuffer(b.upper, { clampMtime: clamp });
    assert.equal(ra.result.diffId, rb.result.diffId);
    const entries = await readTar(ra.tar);
    assert.ok(entries.every((e) => e.mtime <= clamp));
    assert.equal(entries.find((e) => e.name === 'h1')?.mtime, 900000000, 'older mtimes are kept');
    const unclamped = await diffToBuffer(a.upper);
    assert.notEqual(unclamped.result.diffId, ra.result.diffId);
  });
});
