/**
 * The directory scanners behind the context walk: the context-scan addon and its portable
 * fallback must write the same records, with the values a later fs.lstat gives (the copy checks
 * files against them), sorted by name bytewise.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { lstatSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { KIND_DIR, KIND_FILE, KIND_OTHER, KIND_SYMLINK, nativeScanner, recordLink, recordName, recordSize, scanDirPortable, type DirScanner } from '../../src/build/dir-scan.js';
import { makeTemp, rmTemp } from './helpers.js';

interface Rec {
  name: string;
  kind: number;
  mode: number;
  uid: number;
  gid: number;
  nlink: number;
  size: number;
  mtimeMs: number;
  ctimeMs: number;
  ino: number;
  dev: number;
  link: string;
}

function records(buf: Buffer): Rec[] {
  const out: Rec[] = [];
  for (let off = 0; off < buf.length; off += recordSize(buf, off)) {
    assert.equal(off % 8, 0, 'records start 8-aligned');
    out.push({
      name: recordName(buf, off),
      kind: buf[off]!,
      mode: buf.readUInt32LE(off + 4),
      uid: buf.readUInt32LE(off + 8),
      gid: buf.readUInt32LE(off + 12),
      nlink: buf.readUInt32LE(off + 16),
      size: buf.readDoubleLE(off + 24),
      mtimeMs: buf.readDoubleLE(off + 32),
      ctimeMs: buf.readDoubleLE(off + 40),
      ino: buf.readDoubleLE(off + 48),
      dev: buf.readDoubleLE(off + 56),
      link: recordLink(buf, off),
    });
  }
  return out;
}

const native = nativeScanner();
// CI compiles the addon (STRATA_REQUIRE_NATIVE): there, a missing addon is a failure, not a skip.
const scanners: Array<[string, DirScanner | undefined]> = [['portable', scanDirPortable], ['addon', native]];

describe('directory scanners', () => {
  let tmp: string;
  beforeEach(() => {
    tmp = makeTemp('dir-scan-');
  });
  afterEach(() => rmTemp(tmp));

  it('the addon is built where native helpers are required', () => {
    if (process.env.STRATA_REQUIRE_NATIVE) assert.ok(native, 'dist/native/context-scan.node did not load');
  });

  for (const [label, scan] of scanners) {
    it(`${label}: names sorted bytewise, kinds, link targets and lstat's values`, { skip: scan ? false : 'the context-scan addon was not compiled' }, () => {
      const dir = join(tmp, 'd');
      mkdirSync(dir);
      // U+E000 sorts before U+1F600 by bytes (EE… < F0…) but after it by UTF-16 units.
      const names = ['b.txt', 'a', 'Z', 'é', '\u{e000}', '\u{1f600}', 'sub', 'link', 'fifo'];
      for (const n of ['b.txt', 'a', 'Z', 'é', '\u{e000}', '\u{1f600}']) writeFileSync(join(dir, n), n.repeat(3));
      mkdirSync(join(dir, 'sub'), { mode: 0o750 });
      symlinkSync('../somewhere/ü', join(dir, 'link'));
      execFileSync('mkfifo', [join(dir, 'fifo')]);
      const got = records(scan!(dir));
      const sorted = [...names].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
      assert.deepEqual(got.map((r) => r.name), sorted);
      for (const r of got) {
        const st = lstatSync(join(dir, r.name));
        const kind = st.isFile() ? KIND_FILE : st.isDirectory() ? KIND_DIR : st.isSymbolicLink() ? KIND_SYMLINK : KIND_OTHER;
        assert.deepEqual(r, {
          name: r.name, kind, mode: st.mode, uid: st.uid, gid: st.gid, nlink: st.nlink, size: st.size,
          mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs, ino: st.ino, dev: st.dev, link: r.name === 'link' ? '../somewhere/ü' : '',
        }, r.name);
      }
    });
  }

  it('both write the same bytes', { skip: native ? false : 'the context-scan addon was not compiled' }, () => {
    const dir = join(tmp, 'same');
    mkdirSync(dir);
    for (let i = 0; i < 300; i++) writeFileSync(join(dir, `f${i}`), 'x'.repeat(i));
    mkdirSync(join(dir, 'd'));
    symlinkSync('f1', join(dir, 'l'));
    assert.ok(native!(dir).equals(scanDirPortable(dir)));
    mkdirSync(join(tmp, 'empty'));
    assert.equal(native!(join(tmp, 'empty')).length, 0);
  });

  for (const [label, scan] of scanners) {
    it(`${label}: a missing directory or a file is an error with its code`, { skip: scan ? false : 'the context-scan addon was not compiled' }, () => {
      writeFileSync(join(tmp, 'file'), 'x');
      assert.throws(() => scan!(join(tmp, 'missing')), (e: NodeJS.ErrnoException) => e.code === 'ENOENT');
      assert.throws(() => scan!(join(tmp, 'file')), (e: NodeJS.ErrnoException) => e.code === 'ENOTDIR');
    });
  }
});
