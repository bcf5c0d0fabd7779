import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { IgnorePatternError } from '../../src/errors.js';
import { compileDockerignore, readDockerignore, readDockerignoreEntries } from '../../src/dockerfile/dockerignore.js';

test('comments only in column 0, blank lines skipped, whitespace trimmed', () => {
  assert.deepEqual(readDockerignore('# comment\n  # not a comment\n\n   \n\tnode_modules  \n'), ['# not a comment', 'node_modules']);
});

test('paths are cleaned and made relative to the context root', () => {
  assert.deepEqual(readDockerignore('/a/b/\n./c\nd//e/./f\ng/../h\n/\n../up\n//x'), ['a/b', 'c', 'd/e/f', 'h', '/', '../up', 'x']);
});

test('exceptions keep their "!" and are cleaned after it', () => {
  assert.deepEqual(readDockerignore('!keep\n! /abs/./x\n!\n!   \n'), ['!keep', '!abs/x', '!', '!']);
});

test('a UTF-8 BOM is dropped from the first line only', () => {
  assert.deepEqual(readDockerignore('\uFEFFa\n\uFEFFb'), ['a', '\uFEFFb']);
  // With the BOM gone, a '#' right after it starts a comment.
  assert.deepEqual(readDockerignore('\uFEFF# c\nx'), ['x']);
  const bytes = new Uint8Array([0xef, 0xbb, 0xbf, 0x61, 0x0a, 0x62]);
  assert.deepEqual(readDockerignore(bytes), ['a', 'b']);
});

test('CRLF line endings, and Go whitespace rules (NEL trimmed, U+FEFF inside kept)', () => {
  assert.deepEqual(readDockerignore('a\r\nb\r\n'), ['a', 'b']);
  assert.deepEqual(readDockerignore('\u0085x\u00a0\ny\uFEFF'), ['x', 'y\uFEFF']);
});

test('line numbers are kept for error reporting', () => {
  assert.deepEqual(readDockerignoreEntries('# c\n\na\n  \n!b\n'), [
    { pattern: 'a', line: 3 },
    { pattern: '!b', line: 5 },
  ]);
});

test('compileDockerignore reports a bad pattern with file and line', () => {
  assert.throws(
    () => compileDockerignore('ok\n# comment\nsrc/[abc\n', 'app/.dockerignore'),
    (e: unknown) => {
      assert.ok(e instanceof IgnorePatternError);
      assert.deepEqual(e.location, { file: 'app/.dockerignore', line: 3 });
      assert.match(e.message, /"src\/\[abc"/);
      return true;
    },
  );
  assert.throws(() => compileDockerignore('a\n!\n'), (e: unknown) => e instanceof IgnorePatternError && e.location?.line === 2);
});

test('reading a .dockerignore from disk and matching with it', () => {
  const dir = mkdtempSync(join(tmpdir(), 'strata-dockerignore-'));
  try {
    const file = join(dir, '.dockerignore');
    writeFileSync(file, '\uFEFF# build output\n/dist\n*.log\n!important.log\n**/.cache\n');
    const pm = compileDockerignore(readFileSync(file), file);
    assert.equal(pm.matches('dist/app.js'), true);
    assert.equal(pm.matches('src/dist/app.js'), false);
    assert.equal(pm.matches('debug.log'), true);
    assert.equal(pm.matches('important.log'), false);
    assert.equal(pm.matches('a/b/.cache/x'), true);
    assert.equal(pm.matches('src/main.ts'), false);
    assert.equal(pm.hasExclusions, true);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
