import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InvalidReferenceError } from '../../src/errors.js';
import {
  familiarReference, formatReference, idPrefixHex, isDigestOrIdPrefix, isFullImageId, normalizeReference, parseReference,
  repositoryName,
} from '../../src/image/reference.js';

const D = 'sha256:' + 'ab'.repeat(32);

test('normalizes names the way Docker does', () => {
  const cases: [string, string][] = [
    ['busybox', 'docker.io/library/busybox:latest'],
    ['busybox:1.36', 'docker.io/library/busybox:1.36'],
    ['library/busybox', 'docker.io/library/busybox:latest'],
    ['docker.io/busybox', 'docker.io/library/busybox:latest'],
    ['index.docker.io/busybox', 'docker.io/library/busybox:latest'],
    ['docker.io/library/busybox:latest', 'docker.io/library/busybox:latest'],
    ['x/y', 'docker.io/x/y:latest'],
    ['x/y/z:v1', 'docker.io/x/y/z:v1'],
    ['localhost/x', 'localhost/x:latest'],
    ['localhost:5000/a/b:tag', 'localhost:5000/a/b:tag'],
    ['localhost:5000/a', 'localhost:5000/a:latest'],
    ['registry.example.com/team/app:1.0-rc_1', 'registry.example.com/team/app:1.0-rc_1'],
    ['example.com:443/app', 'example.com:443/app:latest'],
    ['[::1]:5000/app', '[::1]:5000/app:latest'],
    ['Foo/bar', 'Foo/bar:latest'], // an uppercase first component can only be a host
    ['localhost', 'docker.io/library/localhost:latest'],
    ['localhost:5000', 'docker.io/library/localhost:5000'], // no "/": the ":" starts a tag
    ['x/a.b-c__d---e', 'docker.io/x/a.b-c__d---e:latest'],
    ['my-registry.io/f', 'my-registry.io/f:latest'],
    ['x/a__b.c-d', 'docker.io/x/a__b.c-d:latest'],
    [`busybox@${D}`, `docker.io/library/busybox@${D}`],
    [`busybox:1.36@${D}`, `docker.io/library/busybox:1.36@${D}`],
    [`localhost:5000/a/b:tag@${D}`, `localhost:5000/a/b:tag@${D}`],
    ['busybox@sha512:' + 'c'.repeat(128), 'docker.io/library/busybox@sha512:' + 'c'.repeat(128)],
    ['busybox:' + 'T'.repeat(128), 'docker.io/library/busybox:' + 'T'.repeat(128)],
    ['busybox:_x', 'docker.io/library/busybox:_x'],
  ];
  for (const [input, want] of cases) assert.equal(normalizeReference(input), want, input);
});

test('parse gives the parts; defaultTag can be turned off', () => {
  assert.deepEqual(parseReference('localhost:5000/a/b:tag'), { domain: 'localhost:5000', path: 'a/b', tag: 'tag' });
  assert.deepEqual(parseReference(`busybox@${D}`), { domain: 'docker.io', path: 'library/busybox', digest: D });
  assert.deepEqual(parseReference('busybox', { defaultTag: false }), { domain: 'docker.io', path: 'library/busybox' });
  assert.equal(repositoryName(parseReference('busybox:1')), 'docker.io/library/busybox');
  assert.equal(formatReference({ domain: 'docker.io', path: 'x/y' }), 'docker.io/x/y');
});

test('familiar rendering shortens Docker Hub names only', () => {
  const cases: [string, string][] = [
    ['busybox', 'busybox:latest'],
    ['docker.io/library/busybox:1.36', 'busybox:1.36'],
    ['x/y', 'x/y:latest'],
    ['docker.io/library/a/b', 'library/a/b:latest'],
    ['localhost:5000/a/b:tag', 'localhost:5000/a/b:tag'],
    ['localhost/x', 'localhost/x:latest'],
    [`busybox@${D}`, `busybox@${D}`],
    [`x/y:t@${D}`, `x/y:t@${D}`],
  ];
  for (const [input, want] of cases) {
    assert.equal(familiarReference(input), want, input);
    assert.equal(normalizeReference(familiarReference(input)), normalizeReference(input), `round trip ${input}`);
  }
});

test('rejects malformed references with InvalidReferenceError and a hint', () => {
  const bad: [string, RegExp][] = [
    ['', /empty/],
    ['Busybox', /must be lowercase/],
    ['x/Busybox:1', /must be lowercase/],
    ['localhost:5000/A/b', /must be lowercase/],
    ['busybox:', /invalid tag/],
    ['busybox:.x', /invalid tag/],
    ['busybox:-x', /invalid tag/],
    ['busybox:a/b', /must be lowercase|invalid/],
    ['busybox:' + 'a'.repeat(129), /invalid tag/],
    ['busybox:a+b', /invalid tag/],
    ['busybox@sha256:abc', /invalid sha256 digest/],
    ['busybox@sha256:' + 'A'.repeat(64), /invalid sha256 digest/],
    ['busybox@md5:' + 'a'.repeat(32), /unsupported digest algorithm/],
    ['busybox@', /invalid digest/],
    [`busybox@${D}@${D}`, /invalid digest/],
    ['a'.repeat(64), /image ID/],
    ['x//y', /path component/],
    ['x/y_', /path component/],
    ['x/-y', /path component/],
    ['x/y..z', /path component/],
    ['x/y___z', /path component/],
    ['-bad.com/x', /registry domain/],
    ['bad_host.com/x', /registry domain/],
    ['a.b-c__d/f', /registry domain/],
    ['host.com:port/x', /registry domain|invalid tag/],
    [':tag', /empty/],
    [`@${D}`, /empty/],
    ['docker.io/' + 'a'.repeat(250), /longer than 255/],
    ['with space', /path component/],
  ];
  for (const [input, msg] of bad) {
    assert.throws(() => parseReference(input), (e: unknown) => {
      assert.ok(e instanceof InvalidReferenceError, `${input}: ${String(e)}`);
      assert.match(e.message, msg, input);
      assert.ok(e.hint && e.hint.length > 0, `${input} has a hint`);
      return true;
    });
  }
  assert.throws(() => parseReference('Busybox'), (e: InvalidReferenceError) => e.hint === 'try "busybox"');
});

test('ID and digest prefix helpers', () => {
  assert.equal(isDigestOrIdPrefix('3f57d9401f8d'), true);
  assert.equal(isDigestOrIdPrefix('sha256:3f57'), true);
  assert.equal(isDigestOrIdPrefix('a'.repeat(64)), true);
  assert.equal(isDigestOrIdPrefix('a'.repeat(65)), false);
  assert.equal(isDigestOrIdPrefix('busybox'), false);
  assert.equal(isDigestOrIdPrefix('3F57'), false);
  assert.equal(isDigestOrIdPrefix('sha256:'), false);
  assert.equal(idPrefixHex('sha256:3f57'), '3f57');
  assert.equal(idPrefixHex('xyz'), undefined);
  assert.equal(isFullImageId(D), true);
  assert.equal(isFullImageId('ab'.repeat(32)), true);
  assert.equal(isFullImageId('ab'.repeat(31)), false);
});
