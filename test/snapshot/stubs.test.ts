/**
 * Mount-point stubs made by the executor are left out of the layer while untouched, and kept
 * when the step really changed them; their parent directories follow what is kept.
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { StubMatcher, captureStubs } from '../../src/snapshot/stubs.js';
import { diffToBuffer, isRoot, mountOverlay, readTar, scratchDir } from './fixture.js';
import type { Overlay } from './fixture.js';

const EMPTY_TAR = Buffer.alloc(1024);
const STUB_DIRS = ['proc', 'dev', 'dev/shm', 'sys'];
const STUB_FILES = ['etc/resolv.conf', 'etc/hosts', 'etc/hostname'];

describe('mount-point stubs', { skip: !isRoot && 'needs root (overlay mounts)' }, () => {
  let work: string;
  let lower: string;
  let n = 0;
  before(() => {
    work = scratchDir('strata-stubs');
    lower = join(work, 'L');
    mkdirSync(join(lower, 'etc'), { recursive: true });
    writeFileSync(join(lower, 'etc/passwd'), 'root:x:0:0::/root:/bin/sh\n');
    utimesSync(join(lower, 'etc'), 1577836800, 1577836800);
  });
  after(() => rmSync(work, { recursive: true, force: true }));

  /** Mounts a fresh overlay and makes the stubs the executor would, through the merged view. */
  function withStubs(): Overlay {
    const ov = mountOverlay(lower, join(work, `o${n++}`));
    for (const d of STUB_DIRS) mkdirSync(join(ov.merged, d));
    for (const f of STUB_FILES) writeFileSync(join(ov.merged, f), '');
    return ov;
  }

  it('an untouched set of stubs gives an empty layer; without the records it would not', async () => {
    const ov = withStubs();
    const stubs = captureStubs(ov.upper);
    ov.unmount();
    assert.deepEqual(stubs.map((s) => s.path).sort(), ['dev', 'dev/shm', 'etc', 'etc/hostname', 'etc/hosts', 'etc/resolv.conf', 'proc', 'sys']);
    const { tar, result } = await diffToBuffer(ov.upper, { stubs });
    assert.deepEqual(result, { diffId: result.diffId, size: 1024, entries: 0, markers: 0, empty: true });
    assert.deepEqual(tar, EMPTY_TAR);
    const raw = await diffToBuffer(ov.upper);
    assert.equal(raw.result.empty, false, 'the upper dir is not empty: the records are what hides the stubs');
  });

  it('keeps what the step changed at stub paths, with the parents it needs', async () => {
    const ov = withStubs();
    const stubs = captureStubs(ov.upper);
    await new Promise((r) => setTimeout(r, 20)); // the executor spawns the step: at least a clock tick passes
    try {
      writeFileSync(join(ov.merged, 'etc/hosts'), '127.0.0.1 app\n'); // content in a stub file
      chmodSync(join(ov.merged, 'dev/shm'), 0o1777); // metadata of a stub dir
      utimesSync(join(ov.merged, 'etc/hostname'), 1600000000, 1600000000); // still empty, but touched
      mkdirSync(join(ov.merged, 'app'));
      writeFileSync(join(ov.merged, 'app/x'), 'x');
      rmSync(join(ov.merged, 'sys'), { recursive: true }); // a stub replaced by a file of the same name
      writeFileSync(join(ov.merged, 'sys'), 'not a dir');
    } finally {
      ov.unmount();
    }
    const { tar, result } = await diffToBuffer(ov.upper, { stubs });
    const entries = await readTar(tar);
    assert.deepEqual(entries.map((e) => e.name), ['app/', 'app/x', 'dev/', 'dev/shm/', 'etc/', 'etc/hostname', 'etc/hosts', 'sys']);
    assert.equal(result.entries, entries.length);
    const by = new Map(entries.map((e) => [e.name, e]));
    assert.equal(by.get('etc/hosts')!.data.toString(), '127.0.0.1 app\n');
    assert.equal(by.get('dev/shm/')!.mode, 0o1777);
    // A held-back parent is written as it is in the upper dir: the copy-up's mode, and the mtime the
    // stubs' creation gave it (the step wrote inside etc/ without changing the directory itself).
    assert.equal(by.get('etc/')!.mode, 0o755);
    assert.ok(by.get('etc/')!.mtime > 1577836800);
  });
});

describe('StubMatcher', () => {
  it('matches on inode and ctime, and only empty files or directories', () => {
    const m = new StubMatcher([{ path: '/etc/hosts/', ino: 7, ctimeMs: 5.5 }]);
    const st = (o: { ino?: number; ctimeMs?: number; size?: number; dir?: boolean; link?: boolean }) =>
      ({ ino: o.ino ?? 7, ctimeMs: o.ctimeMs ?? 5.5, size: o.size ?? 0, isDirectory: () => !!o.dir, isFile: () => !o.dir && !o.link }) as never;
    assert.equal(m.unchanged('etc/hosts', st({})), true, 'paths are normalised');
    assert.equal(m.unchanged('etc/hosts', st({ dir: true, size: 4096 })), true);
    assert.equal(m.unchanged('etc/hosts', st({ ino: 8 })), false);
    assert.equal(m.unchanged('etc/hosts', st({ ctimeMs: 5.6 })), false);
    assert.equal(m.unchanged('etc/hosts', st({ size: 1 })), false, 'written within the same clock tick');
    assert.equal(m.unchanged('etc/hosts', st({ link: true })), false);
    assert.equal(m.unchanged('etc/other', st({})), false);
  });
});
