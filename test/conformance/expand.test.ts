/**
 * Runs BuildKit's word-expansion corpus (README §2–§4) against src/dockerfile/expand.ts:
 * shell/envVarTest, shell/wordsTest, derived/process-word.json and derived/lex-modes.json.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { corpusDir, CORPUS_ABSENT, readCorpusJson, Tally } from '../helpers/corpus.js';
import { expand, expandWord, expandWords, LEX_MODES, type LexOptions } from '../../src/dockerfile/expand.js';
import { ExpansionError } from '../../src/errors.js';

const dir = corpusDir();

/** Runs `fn`; returns its value, or the string 'error' when it throws an ExpansionError. */
function orError<T>(fn: () => T): T | 'error' {
  try {
    return fn();
  } catch (e) {
    if (e instanceof ExpansionError) return 'error';
    throw e;
  }
}

const sorted = (s: Set<string>) => [...s].sort();

test('conformance: shell/envVarTest (single-word mode)', (t) => {
  if (!dir) return t.skip(CORPUS_ABSENT);
  const env = new Map([['PWD', '/home'], ['SHELL', 'bash'], ['KOREAN', '한국어'], ['NULL', '']]);
  const tally = new Tally('envVarTest');
  let windowsOnly = 0;
  const lines = readFileSync(join(dir, 'buildkit/shell/envVarTest'), 'utf8').split('\n');
  lines.forEach((line, i) => {
    if (line.startsWith('#') || line.trim() === '') return;
    const fields = line.split('|').map((f) => f.trim());
    assert.equal(fields.length, 3, `line ${i + 1} must have 3 fields`);
    const [platform, input, expected] = fields as [string, string, string];
    // W rows need Windows' case-insensitive variable names; a Linux builder skips them.
    if (platform === 'W') {
      windowsOnly++;
      return tally.skip();
    }
    tally.check(`line ${i + 1} ${JSON.stringify(input)}`, () => {
      const got = orError(() => expandWord(input, env).word);
      assert.equal(got, expected);
    });
  });
  tally.report();
  console.log(`envVarTest: ${windowsOnly} Windows-only (W) rows skipped`);
  assert.equal(tally.passed + tally.failures.length, 228, 'expected 226 A rows and 2 U rows');
  assert.equal(windowsOnly, 2);
  assert.equal(tally.failures.length, 0);
});

test('conformance: shell/wordsTest (word-splitting mode)', (t) => {
  if (!dir) return t.skip(CORPUS_ABSENT);
  const env = new Map<string, string>();
  const tally = new Tally('wordsTest');
  const lines = readFileSync(join(dir, 'buildkit/shell/wordsTest'), 'utf8').split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  lines.forEach((line, i) => {
    if (line.startsWith('#')) return;
    if (line.startsWith('ENV ')) {
      // Trailing spaces belong to the value; a later entry replaces an earlier one.
      const entry = line.slice(4).replace(/^ +/, '');
      const eq = entry.indexOf('=');
      env.set(entry.slice(0, eq), entry.slice(eq + 1));
      return;
    }
    const fields = line.split('|');
    assert.equal(fields.length, 2, `line ${i + 1} must contain exactly one |`);
    const input = fields[0]!.trim();
    const expected = fields[1]!.replace(/^ +/, '').split(',');
    tally.check(`line ${i + 1} ${JSON.stringify(input)}`, () => {
      const got = orError(() => expandWords(input, env).words);
      assert.deepEqual(got === 'error' ? ['error'] : got, expected);
    });
  });
  tally.report();
  assert.equal(tally.passed + tally.failures.length, 24);
  assert.equal(tally.failures.length, 0);
});

interface ProcessWordCase {
  input: string;
  env: Record<string, string>;
  result: string | null;
  error: boolean;
  errorText?: string;
  matched: string[] | null;
  unmatched: string[] | null;
}

test('conformance: derived/process-word.json (results, matched and unmatched names)', (t) => {
  if (!dir) return t.skip(CORPUS_ABSENT);
  const { cases } = readCorpusJson<{ cases: ProcessWordCase[] }>('buildkit/derived/process-word.json');
  const tally = new Tally('process-word');
  let sameText = 0;
  let errors = 0;
  cases.forEach((c, i) => {
    tally.check(`#${i} ${JSON.stringify(c.input)}`, () => {
      const env = new Map(Object.entries(c.env));
      if (c.error) {
        errors++;
        assert.throws(() => expandWord(c.input, env), (e: unknown) => {
          // The text is informative only; count how often ours reads exactly like upstream's.
          if (e instanceof ExpansionError && e.message === c.errorText) sameText++;
          return e instanceof ExpansionError;
        });
        return;
      }
      const r = expandWord(c.input, env);
      assert.equal(r.word, c.result);
      assert.deepEqual(sorted(r.matched), [...c.matched!].sort());
      assert.deepEqual(sorted(r.unmatched), [...c.unmatched!].sort());
    });
  });
  tally.report();
  console.log(`process-word: ${sameText} of ${errors} error messages identical to upstream (informative)`);
  assert.equal(tally.passed + tally.failures.length, 56);
  assert.equal(tally.failures.length, 0);
});

interface ModeResult {
  word: string | null;
  wordError?: string;
  words: string[] | null;
  wordsError?: string;
}

test('conformance: derived/lex-modes.json (five lexer settings, word and words)', (t) => {
  if (!dir) return t.skip(CORPUS_ABSENT);
  const data = readCorpusJson<{ cases: { input: string; modes: Record<string, ModeResult> }[]; env: Record<string, string> }>(
    'buildkit/derived/lex-modes.json',
  );
  const env = new Map(Object.entries(data.env));
  const modes: Record<string, LexOptions> = LEX_MODES;
  const tally = new Tally('lex-modes');
  const seen = new Set<string>();
  for (const [i, c] of data.cases.entries()) {
    for (const [mode, want] of Object.entries(c.modes)) {
      seen.add(mode);
      const opts = modes[mode];
      const label = `#${i} ${mode} ${JSON.stringify(c.input)}`;
      tally.check(`${label} word`, () => {
        assert.ok(opts, `unknown mode ${mode}`);
        const got = orError(() => expandWord(c.input, env, opts).word);
        assert.equal(got, want.word === null ? 'error' : want.word);
      });
      tally.check(`${label} words`, () => {
        const got = orError(() => expandWords(c.input, env, opts).words);
        assert.deepEqual(got, want.words === null ? 'error' : want.words);
      });
      if (want.wordError !== undefined) {
        tally.check(`${label} error is an ExpansionError`, () => {
          assert.throws(() => expand(c.input, env, opts), ExpansionError);
        });
      }
    }
  }
  tally.report();
  assert.deepEqual([...seen].sort(), Object.keys(LEX_MODES).sort(), 'all five modes are covered');
  assert.ok(tally.passed >= 170, `expected at least 17 inputs x 5 modes x 2 checks, ran ${tally.passed}`);
  assert.equal(tally.failures.length, 0);
});
