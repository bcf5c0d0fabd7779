/**
 * Layers unpacked in 'overlay' mode really work as overlayfs lower dirs (the kernel honours our
 * whiteouts and opaque markers), and stacking them with the kernel gives the same tree as applying
 * the same layers one after another in 'merge' mode.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { applyLayer } from '../../src/fs/apply-layer.js';
import { isOverlayWhiteout } from '../../src/fs/special-files.js';
import { OVERLAY_OPAQUE_XATTR, readXattrsSync } from '../../src/fs/xattr.js';
import { dir, file, hardlink, streamOf, symlink, tar } from './hostile-tars.js';

const isRoot = process.geteuid?.() === 0;

function mountOverlay(lowers: string[], at: string): void {
  mkdirSync(at, { recursive: true });
  const r = spawnSync('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${lowers.join(':')}`, at], { encoding: 'utf8' });
  assert.equal(r.status, 0, `mount failed: ${r.stderr}`);
}

function unmount(at: string): void {
  spawnSync('umount', [at]);
}

/** type, mode, owner, content and link text of every path (no times: pruning changes directory mtimes). */
function shape(root: string): string[] {
  const out: string[] = [];
  const walk = (abs: string, rel: string) => {
    const st = lstatSync(abs);
    const kind = st.isDirectory() ? 'd' : st.isFile() ? 'f' : st.isSymbolicLink() ? 'l' : st.isCharacterDevice() ? 'c' : 'o';
    const body = st.isFile() ? readFileSync(abs, 'utf8') : st.isSymbolicLink() ? readlinkSync(abs) : '';
    out.push(`${rel} ${kind} ${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid} ${body}`);
    if (st.isDirectory()) for (const n of readdirSync(abs).sort()) walk(join(abs, n), rel === '' ? n : `${rel}/${n}`);
  };
  walk(root, '');
  return out;
}

describe('overlay-mode layers as overlayfs lower dirs', { skip: !isRoot && 'needs root (mknod, trusted xattrs, mount)' }, () => {
  let work: string;
  before(() => {
    work = mkdtempSync(join(tmpdir(), 'strata-overlay-'));
  });
  after(() => rmSync(work, { recursive: true, force: true }));

  const base = tar(
    file('keep', 'keep'), file('gone', 'gone'), dir('d/'), file('d/old', 'old'), file('d/also-old', 'old'),
    dir('e/'), file('e/x', 'x'), dir('e/sub/'), file('e/sub/y', 'y'), symlink('lnk', 'keep'),
  );
  const top = tar(
    file('.wh.gone'), dir('d/'), file('d/.wh..wh..opq'), file('d/new', 'new'), file('.wh.e'), file('.wh.lnk'), file('added', 'added'),
  );

  it('whiteouts hide lower files and opaque dirs hide lower content', async () => {
    const b1 = join(work, 'k1');
    const b2 = join(work, 'k2');
    const mnt = join(work, 'kmnt');
    mkdirSync(b1);
    mkdirSync(b2);
    await applyLayer(streamOf(base), b1, { mode: 'overlay' });
    await applyLayer(streamOf(top), b2, { mode: 'overlay' });
    assert.ok(isOverlayWhiteout(lstatSync(join(b2, 'gone'))));
    assert.ok(isOverlayWhiteout(lstatSync(join(b2, 'e'))));
    assert.equal(readXattrsSync(join(b2, 'd'))[OVERLAY_OPAQUE_XATTR]?.toString(), 'y');
    assert.ok(!existsSync(join(b2, '.wh.gone')) && !existsSync(join(b2, 'd/.wh..wh..opq')), 'no whiteout files are left as files');
    mountOverlay([b2, b1], mnt);
    try {
      assert.deepEqual(readdirSync(mnt).sort(), ['added', 'd', 'keep']);
      assert.deepEqual(readdirSync(join(mnt, 'd')), ['new']);
      assert.equal(readFileSync(join(mnt, 'keep'), 'utf8'), 'keep');
      assert.equal(existsSync(join(mnt, 'gone')), false);
    } finally {
      unmount(mnt);
    }
  });

  it('kernel stacking of overlay-mode layers equals merge-mode application', async () => {
    const layers = [
      base,
      top,
      tar(
        // A whiteout and a directory of the same layer, in both orders: the lower dir is gone,
        // the layer's own dir stays (opaque).
        file('.wh.d'), dir('d/'), file('d/fresh', 'fresh'),
        dir('keepdir/'), file('keepdir/mine', 'mine'), file('.wh.keepdir'),
        // Children written before the opaque marker survive it.
        dir('p/'), file('p/first', '1'), file('p/.wh..wh..opq'), file('p/second', '2'),
        // A whiteout never removes a file this same layer wrote.
        file('same', 'same'), file('.wh.same'),
        // Whiteout of something no lower layer has.
        file('.wh.nothing'),
        file('linked', 'linked'), hardlink('linked-too', 'linked'),
      ),
    ];
    const lowerBase = tar(dir('keepdir/'), file('keepdir/lower', 'lower'), dir('p/'), file('p/lower', 'lower'));
    const all = [lowerBase, ...layers];
    const merged = join(work, 'merged');
    mkdirSync(merged);
    for (const l of all) await applyLayer(streamOf(l), merged, { mode: 'merge' });
    const dirs: string[] = [];
    for (const [i, l] of all.entries()) {
      const d = join(work, `l${i}`);
      mkdirSync(d);
      await applyLayer(streamOf(l), d, { mode: 'overlay' });
      dirs.unshift(d); // the top layer comes first in lowerdir
    }
    const mnt = join(work, 'mnt');
    mountOverlay(dirs, mnt);
    let kernel: string[];
    try {
      kernel = shape(mnt);
    } finally {
      unmount(mnt);
    }
    const ours = shape(merged);
    assert.deepEqual(ours, kernel);
    assert.ok(ours.includes('d/fresh f 644 0:0 fresh') && !ours.some((l) => l.startsWith('d/new')));
    assert.ok(ours.includes('keepdir/mine f 644 0:0 mine') && !ours.some((l) => l.startsWith('keepdir/lower')));
    assert.ok(ours.includes('p/first f 644 0:0 1') && ours.includes('p/second f 644 0:0 2') && !ours.some((l) => l.startsWith('p/lower')));
    assert.ok(ours.includes('same f 644 0:0 same'));
  });
});
