/**
 * xattr helpers: binary values round-trip, symlinks are not followed, unsupported filesystems
 * are tolerated, errors carry errno codes.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isXattrUnsupported, readXattrsSync, removeXattrSync, setXattrSync, toErrnoError, writeXattrsSync } from '../../src/fs/xattr.js';

const isRoot = process.geteuid?.() === 0;

describe('xattr helpers', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'strata-xattr-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('round-trips binary values and lists them sorted', () => {
    const f = join(dir, 'f');
    writeFileSync(f, 'x');
    const value = Buffer.from([0, 0x80, 0xff, 0x0a]);
    assert.deepEqual(writeXattrsSync(f, { 'user.b': value, 'user.a': Buffer.from('text') }), []);
    const got = readXattrsSync(f);
    assert.deepEqual(Object.keys(got), ['user.a', 'user.b']);
    assert.deepEqual(got['user.b'], value);
    removeXattrSync(f, 'user.a');
    assert.deepEqual(Object.keys(readXattrsSync(f)), ['user.b']);
  });

  it('acts on a symlink itself, never on its target', { skip: !isRoot && 'trusted.* needs root' }, () => {
    const f = join(dir, 'target');
    const l = join(dir, 'link');
    writeFileSync(f, 'x');
    symlinkSync(f, l);
    setXattrSync(f, 'trusted.on-file', 'f');
    assert.deepEqual(readXattrsSync(l), {});
    setXattrSync(l, 'trusted.on-link', 'l');
    assert.deepEqual(Object.keys(readXattrsSync(f)), ['trusted.on-file']);
    assert.deepEqual(Object.keys(readXattrsSync(l)), ['trusted.on-link']);
  });

  it('reports unsupported filesystems instead of failing', () => {
    assert.deepEqual(writeXattrsSync('/proc/self/status', { 'user.x': Buffer.from('1') }), ['user.x']);
    assert.deepEqual(readXattrsSync('/proc/self/status'), {});
  });

  it('raises errno errors', () => {
    assert.throws(() => setXattrSync(join(dir, 'missing'), 'user.x', 'v'), { code: 'ENOENT', syscall: 'lsetxattr' });
    assert.throws(() => readXattrsSync(join(dir, 'missing')), { code: 'ENOENT' });
    const e = toErrnoError(new Error('Operation not supported (os error 95)'), 'lsetxattr', '/p');
    assert.equal(e.code, 'ENOTSUP');
    assert.ok(isXattrUnsupported(e));
    assert.equal(toErrnoError(new Error('weird'), 'x', '/p').code, undefined);
  });
});
