/**
 * Filesystem failures while applying a layer come back as typed errors naming the entry:
 * ENOSPC → NoSpaceError, other errnos → LayerApplyError with the code.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { NoSpaceError, NotFoundError } from '../../src/errors.js';
import { LayerApplyError, applyLayer } from '../../src/fs/apply-layer.js';
import { fsFailure } from '../../src/fs/apply-errors.js';
import { dir, file, streamOf, tar } from './hostile-tars.js';

const isRoot = process.geteuid?.() === 0;

describe('applyLayer: filesystem errors', { skip: !isRoot && 'needs root (mount)' }, () => {
  let work: string;
  const mounts: string[] = [];
  before(() => {
    work = mkdtempSync(join(tmpdir(), 'strata-fserr-'));
  });
  after(() => {
    for (const m of mounts.reverse()) spawnSync('umount', [m]);
    rmSync(work, { recursive: true, force: true });
  });

  function tmpfs(name: string, options: string): string {
    const at = join(work, name);
    mkdirSync(at);
    const r = spawnSync('mount', ['-t', 'tmpfs', '-o', options, 'tmpfs', at], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    mounts.push(at);
    return at;
  }

  it('turns ENOSPC into NoSpaceError naming the entry', async () => {
    const small = tmpfs('small', 'size=256k');
    const layer = tar(dir('data/'), file('data/ok', 'fits'), file('data/big', Buffer.alloc(1 << 20, 1)));
    await assert.rejects(applyLayer(streamOf(layer, 65536), small, { mode: 'overlay', label: 'layer sha256:abc' }), (e: unknown) => {
      assert.ok(e instanceof NoSpaceError, String(e));
      assert.equal(e.message, 'layer sha256:abc: entry "data/big": no space left on device while trying to write file');
      assert.ok(e.hint);
      return true;
    });
  });

  it('wraps EROFS with the errno and the entry', async () => {
    const ro = tmpfs('ro', 'size=64k,ro');
    await assert.rejects(applyLayer(streamOf(tar(file('etc/hosts', 'x'))), ro, { mode: 'merge' }), (e: unknown) => {
      assert.ok(e instanceof LayerApplyError, String(e));
      assert.equal(e.errno, 'EROFS');
      assert.match(e.message, /^layer: entry "etc\/hosts": cannot create directory "etc": read-only file system \(EROFS\)$/);
      return true;
    });
  });
});

describe('applyLayer: target and error helpers', () => {
  it('refuses a missing target with NotFoundError', async () => {
    await assert.rejects(applyLayer(streamOf(tar()), '/nonexistent/strata-target', { mode: 'merge' }), NotFoundError);
  });

  it('fsFailure maps errno errors and keeps StrataErrors', () => {
    const eacces = Object.assign(new Error("EACCES: permission denied, open '/x/y'"), { code: 'EACCES', syscall: 'open' });
    const wrapped = fsFailure(eacces, 'layer L', 'y', 'create file');
    assert.ok(wrapped instanceof LayerApplyError);
    assert.equal(wrapped.message, 'layer L: entry "y": cannot create file: permission denied (EACCES)');
    assert.ok(wrapped.hint);
    const quota = fsFailure(Object.assign(new Error('EDQUOT'), { code: 'EDQUOT' }), 'layer L', 'y', 'write file');
    assert.ok(quota instanceof NoSpaceError);
    const already = new NotFoundError('x');
    assert.equal(fsFailure(already, 'l', 'n', 'a'), already);
  });
});
