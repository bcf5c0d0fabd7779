/**
 * mknod through coreutils, overlay whiteout detection and device number decoding.
 */
import assert from 'node:assert/strict';
import { lstatSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { devMajor, devMinor, isOverlayWhiteout, makeOverlayWhiteout, mknod } from '../../src/fs/special-files.js';

const isRoot = process.geteuid?.() === 0;

describe('special files', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'strata-special-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('makes fifos with exact modes', async () => {
    const p = join(dir, 'fifo');
    await mknod(p, 'fifo', 0, 0, 0o4620);
    const st = lstatSync(p);
    assert.ok(st.isFIFO());
    assert.equal(st.mode & 0o7777, 0o4620);
  });

  it('makes devices and overlay whiteouts', { skip: !isRoot && 'needs root' }, async () => {
    await mknod(join(dir, 'sda1'), 'block', 8, 1, 0o660);
    const b = lstatSync(join(dir, 'sda1'));
    assert.ok(b.isBlockDevice());
    assert.equal(devMajor(b.rdev), 8);
    assert.equal(devMinor(b.rdev), 1);
    await mknod(join(dir, 'big'), 'char', 300, 70000);
    const big = lstatSync(join(dir, 'big'));
    assert.equal(devMajor(big.rdev), 300);
    assert.equal(devMinor(big.rdev), 70000);
    await makeOverlayWhiteout(join(dir, 'wh'));
    assert.ok(isOverlayWhiteout(lstatSync(join(dir, 'wh'))));
    assert.ok(!isOverlayWhiteout(b));
  });

  it('fails with errno codes and never overwrites', async () => {
    const p = join(dir, 'exists');
    writeFileSync(p, 'keep');
    await assert.rejects(mknod(p, 'fifo'), { code: 'EEXIST' });
    await assert.rejects(mknod(join(dir, 'no/such/dir'), 'fifo'), { code: 'ENOENT', syscall: 'mknod' });
    assert.ok(!isOverlayWhiteout(lstatSync(p)));
    await assert.rejects(mknod(p, 'char', -1, 0), RangeError);
  });
});
