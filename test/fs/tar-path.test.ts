/**
 * Tar name cleaning: normal forms, refusals, and a randomised check that a cleaned path never
 * climbs out of the root.
 */
import assert from 'node:assert/strict';
import { posix } from 'node:path';
import { describe, it } from 'node:test';
import { ancestorsOf, baseOf, cleanTarPath, joinRel, parentOf, quoteName } from '../../src/fs/tar-path.js';

const ok = (name: string) => {
  const r = cleanTarPath(name);
  assert.ok(r.ok, `${name}: ${!r.ok && r.reason}`);
  return r.path;
};
const reason = (name: string) => {
  const r = cleanTarPath(name);
  assert.ok(!r.ok, `${name} should be refused`);
  return r.reason;
};

describe('cleanTarPath', () => {
  it('normalises', () => {
    assert.equal(ok('usr/bin/env'), 'usr/bin/env');
    assert.equal(ok('./a'), 'a');
    assert.equal(ok('a//b'), 'a/b');
    assert.equal(ok('a/'), 'a');
    assert.equal(ok('./'), '');
    assert.equal(ok('.'), '');
    assert.equal(ok('a/./b/../c'), 'a/c');
    assert.equal(ok('a/..'), '');
    assert.equal(ok('...'), '...');
    assert.equal(ok('..a/b..'), '..a/b..');
    assert.equal(ok('.hidden/.x'), '.hidden/.x');
  });

  it('refuses escapes, absolute names, NUL and empty names', () => {
    assert.equal(reason('../etc/passwd'), 'path escapes the target');
    assert.equal(reason('a/../../b'), 'path escapes the target');
    assert.equal(reason('./..'), 'path escapes the target');
    assert.equal(reason('/etc/passwd'), 'absolute path escapes the target');
    assert.equal(reason('//x'), 'absolute path escapes the target');
    assert.equal(reason('a\0b'), 'name contains a NUL byte');
    assert.equal(reason(''), 'empty name');
  });

  it('never yields a path outside the root (random names)', () => {
    const parts = ['a', 'b', '.', '..', '', '.wh.x', '...'];
    let seed = 7;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) % parts.length);
    for (let i = 0; i < 5000; i++) {
      const name = Array.from({ length: 1 + (i % 6) }, () => parts[rnd()]).join('/');
      const r = cleanTarPath(name);
      const resolved = posix.resolve('/root', name);
      if (r.ok) {
        assert.equal(posix.join('/root', r.path), resolved === '/root' ? '/root' : resolved, name);
        assert.ok(!r.path.split('/').some((c) => c === '..' || c === '.' ) && !r.path.includes('//') && !r.path.endsWith('/'), name);
      } else {
        // Lexical resolution of a refused name really would leave the root (or the name is empty).
        assert.ok(name === '' || !(resolved === '/root' || resolved.startsWith('/root/')) || r.reason.includes('absolute'), name);
      }
    }
  });
});

describe('relative path helpers', () => {
  it('split and join', () => {
    assert.equal(parentOf('a/b/c'), 'a/b');
    assert.equal(parentOf('a'), '');
    assert.equal(baseOf('a/b/c'), 'c');
    assert.equal(joinRel('', 'x'), 'x');
    assert.equal(joinRel('a', 'x'), 'a/x');
    assert.deepEqual(ancestorsOf('a/b/c'), ['a', 'a/b']);
    assert.deepEqual(ancestorsOf('a'), []);
    assert.equal(quoteName('a\nb\0'), '"a\\nb\\u0000"');
  });
});
