import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GoGlob, hasWildcards } from '../../src/build/go-match.js';
import { BuildError } from '../../src/errors.js';

// Expectations follow Go's path/filepath.Match documentation and tests.
const cases: Array<[string, string, boolean]> = [
  ['abc', 'abc', true],
  ['*', 'abc', true],
  ['*c', 'abc', true],
  ['a*', 'a', true],
  ['a*', 'abc', true],
  ['a*/b', 'abc/b', true],
  ['a*b*c*d*e*', 'axbxcxdxe', true],
  ['a*b?c*x', 'abxbbxdbxebxczzx', true],
  ['a*b?c*x', 'abxbbxdbxebxczzy', false],
  ['ab[c]', 'abc', true],
  ['ab[b-d]', 'abc', true],
  ['ab[e-g]', 'abc', false],
  ['ab[^c]', 'abc', false],
  ['ab[^b-d]', 'abc', false],
  ['ab[^e-g]', 'abc', true],
  ['a\\*b', 'a*b', true],
  ['a\\*b', 'ab', false],
  ['a?b', 'a☺b', true],
  ['a[^a]b', 'a☺b', true],
  ['a???b', 'a☺b', false],
  ['[a-ζ]*', 'α', true],
  ['*[a-ζ]', 'A', false],
  ['a?b', 'a/b', false],
  ['a*b', 'a/b', false],
  ['[\\]a]', ']', true],
  ['[\\-]', '-', true],
  ['[x\\-]', 'z', false],
  ['[\\-x]', 'x', true],
  ['arr[[]0].txt', 'arr[0].txt', true],
  ['*.txt', '.hidden.txt', true],
];

describe('GoGlob (filepath.Match for one element)', () => {
  for (const [pattern, name, want] of cases) {
    it(`${pattern} ${want ? 'matches' : 'does not match'} ${name}`, () => {
      assert.equal(new GoGlob(pattern).test(name), want);
    });
  }

  for (const bad of ['[]a]', '[-]', '[x-]', '[a-b-c]', '[', '[^', '[^bc', 'a[', 'a\\', '[\\', '[z-a]']) {
    it(`rejects the malformed pattern ${bad}`, () => {
      assert.throws(() => new GoGlob(bad), (e: unknown) => e instanceof BuildError && e.code === 'COPY_BAD_PATTERN');
    });
  }

  it('finds unescaped wildcards only', () => {
    assert.equal(hasWildcards('abc'), false);
    assert.equal(hasWildcards('a\\*c'), false);
    assert.equal(hasWildcards('a*c'), true);
    assert.equal(hasWildcards('a[b]'), true);
    assert.equal(hasWildcards('a?'), true);
  });
});
