import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cleanPath, dirPath, trimGoSpace } from '../../src/fs/go-path.js';

test('cleanPath follows Go filepath.Clean', () => {
  const cases: [string, string][] = [
    ['', '.'], ['.', '.'], ['./', '.'], ['/', '/'], ['//', '/'], ['abc', 'abc'], ['abc/', 'abc'],
    ['a//b', 'a/b'], ['a/./b', 'a/b'], ['a/../b', 'b'], ['a/..', '.'], ['..', '..'], ['../..', '../..'],
    ['../a/..', '..'], ['a/../..', '..'], ['a/../../b', '../b'], ['/..', '/'], ['/../a', '/a'],
    ['/a/b/../../..', '/'], ['abc/def/../../..', '..'], ['./a/./b/.', 'a/b'], ['..a/.b', '..a/.b'],
    ['!./x', '!./x'], ['a/b/c', 'a/b/c'], ['/a/b', '/a/b'],
  ];
  for (const [input, want] of cases) assert.equal(cleanPath(input), want, JSON.stringify(input));
});

test('dirPath follows Go filepath.Dir', () => {
  const cases: [string, string][] = [['a', '.'], ['a/b', 'a'], ['a/b/', 'a/b'], ['/x', '/'], ['/', '/'], ['a//b', 'a'], ['', '.']];
  for (const [input, want] of cases) assert.equal(dirPath(input), want, JSON.stringify(input));
});

test('trimGoSpace trims what Go trims', () => {
  assert.equal(trimGoSpace(' \t\n\v\f\r\u0085\u00a0\u2000\u3000x y\u2028 '), 'x y');
  assert.equal(trimGoSpace('\uFEFFx'), '\uFEFFx');
  assert.equal(trimGoSpace('plain'), 'plain');
  assert.equal(trimGoSpace('   '), '');
});
