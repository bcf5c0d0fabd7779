/**
 * moby/patternmatcher's cases (patternmatcher/derived/dockerignore.json): `.dockerignore` reading
 * (readAll) and exclusion decisions (matches). A case whose upstream result carries an error must
 * fail to compile here.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { IgnorePatternError } from '../../src/errors.js';
import { readDockerignore } from '../../src/dockerfile/dockerignore.js';
import { PatternMatcher } from '../../src/fs/pattern-matcher.js';
import { CORPUS_ABSENT, Tally, corpusDir, readCorpusJson } from '../helpers/corpus.js';

interface ReadAllCase { content: string; patterns: string[]; source: string }
interface MatchCase { patterns: string[]; path: string; excluded: boolean; error?: string; source: string; windowsOnly?: boolean }
interface Corpus { readAll: ReadAllCase[]; matches: MatchCase[] }

const FILE = 'patternmatcher/derived/dockerignore.json';

/** Cases upstream runs only on Windows, where '\' is the path separator (none at the pinned commit). */
function windowsOnly(c: MatchCase): boolean {
  return c.windowsOnly === true || /windows/i.test(c.source);
}

test('dockerignore corpus: readAll', (t) => {
  if (!corpusDir()) return t.skip(CORPUS_ABSENT);
  const { readAll } = readCorpusJson<Corpus>(FILE);
  assert.ok(readAll.length > 0, 'corpus has no readAll cases');
  const tally = new Tally('dockerignore readAll');
  readAll.forEach((c, i) => {
    tally.check(`readAll[${i}] (${c.source})`, () => assert.deepEqual(readDockerignore(c.content), c.patterns));
  });
  tally.report();
  assert.deepEqual(tally.failures, []);
  assert.equal(tally.passed, readAll.length);
});

test('dockerignore corpus: matches', (t) => {
  if (!corpusDir()) return t.skip(CORPUS_ABSENT);
  const { matches } = readCorpusJson<Corpus>(FILE);
  assert.ok(matches.length > 0, 'corpus has no matches cases');
  const tally = new Tally('dockerignore matches');
  matches.forEach((c, i) => {
    if (windowsOnly(c)) return tally.skip();
    const label = `matches[${i}] ${JSON.stringify(c.patterns)} ${JSON.stringify(c.path)} (${c.source})`;
    tally.check(label, () => {
      if (c.error) {
        // Upstream reports "not excluded" plus an error; strata refuses the pattern outright.
        assert.equal(c.excluded, false);
        assert.throws(() => new PatternMatcher(c.patterns).matches(c.path), IgnorePatternError);
        return;
      }
      assert.equal(new PatternMatcher(c.patterns).matches(c.path), c.excluded);
    });
  });
  tally.report();
  assert.deepEqual(tally.failures, []);
  assert.equal(tally.passed + tally.skipped, matches.length);
});

test('dockerignore corpus: the per-directory fast path agrees with matches', (t) => {
  if (!corpusDir()) return t.skip(CORPUS_ABSENT);
  const { matches } = readCorpusJson<Corpus>(FILE);
  const tally = new Tally('dockerignore matches (parent info)');
  for (const c of matches) {
    if (c.error || windowsOnly(c) || c.path.startsWith('/') || c.path === '.') continue;
    tally.check(JSON.stringify([c.patterns, c.path]), () => {
      const pm = new PatternMatcher(c.patterns);
      // Walk down the path as a walker would, handing each directory's info to the next level.
      const parts = c.path.split('/').filter((s) => s !== '');
      let info;
      let excluded = false;
      for (let k = 1; k <= parts.length; k++) {
        const r = pm.match(parts.slice(0, k).join('/'), info);
        info = r.info;
        excluded = r.excluded;
      }
      assert.equal(excluded, c.excluded);
    });
  }
  tally.report();
  assert.deepEqual(tally.failures, []);
  assert.ok(tally.passed > 50);
});
