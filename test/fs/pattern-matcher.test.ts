import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { IgnorePatternError } from '../../src/errors.js';
import { cleanPath } from '../../src/fs/go-path.js';
import { PatternMatcher } from '../../src/fs/pattern-matcher.js';
import type { MatchInfo } from '../../src/fs/pattern-matcher.js';

/** Small seeded PRNG so the randomized checks are reproducible. */
function rng(seed: number): (n: number) => number {
  let a = seed >>> 0;
  return (n) => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * n);
  };
}

const ex = (patterns: string[], path: string): boolean => new PatternMatcher(patterns).matches(path);

describe('PatternMatcher basics', () => {
  test('last matching pattern wins, exceptions re-include', () => {
    assert.equal(ex(['*.md', '!README.md'], 'README.md'), false);
    assert.equal(ex(['*.md', '!README.md'], 'CHANGES.md'), true);
    assert.equal(ex(['*.md', '!README.md', 'README*'], 'README.md'), true);
    assert.equal(ex(['!README.md', '*.md'], 'README.md'), true);
    assert.equal(ex([], 'anything'), false);
  });

  test('a pattern matching a parent directory matches everything below it', () => {
    assert.equal(ex(['docs'], 'docs/a/b.md'), true);
    assert.equal(ex(['docs'], 'docsx/a'), false);
    assert.equal(ex(['d*'], 'docs/a/b.md'), true);
    assert.equal(ex(['docs', '!docs/keep'], 'docs/keep/x'), false);
    assert.equal(ex(['docs', '!docs/keep'], 'docs/other'), true);
  });

  test('* and ? stay inside one path element', () => {
    assert.equal(ex(['*.go'], 'a/b.go'), false);
    assert.equal(ex(['*/b.go'], 'a/b.go'), true);
    assert.equal(ex(['a?b'], 'a/b'), false);
    assert.equal(ex(['a?b'], 'axb'), true);
  });

  test('** matches zero or more directories', () => {
    assert.equal(ex(['**/x'], 'x'), true);
    assert.equal(ex(['**/x'], 'a/b/x'), true);
    assert.equal(ex(['**/x'], 'a/b/x/y'), true); // via the parent rule
    assert.equal(ex(['a/**/b'], 'a/b'), true);
    assert.equal(ex(['a/**/b'], 'a/x/y/b'), true);
    assert.equal(ex(['a/**/b'], 'a/xb'), false);
    assert.equal(ex(['dir/**'], 'dir'), false);
    assert.equal(ex(['dir/**'], 'dir/f'), true);
    assert.equal(ex(['**'], 'a/b/c'), true);
    assert.equal(ex(['**/*.txt'], 'a/b/c.txt'), true);
    assert.equal(ex(['**/*.txt'], 'a/b/c.txt2'), false);
  });

  test('a leading ** followed by plain characters is a suffix test (upstream behaviour)', () => {
    assert.equal(ex(['**file'], 'myfile'), true);
    assert.equal(ex(['**/file'], 'myfile'), false);
    assert.equal(ex(['**/file'], 'file'), true);
  });

  test('character classes, escapes and regexp metacharacters', () => {
    assert.equal(ex(['a[b-d]e'], 'ace'), true);
    assert.equal(ex(['a[^b-d]e'], 'ace'), false);
    assert.equal(ex(['a[^b-d]e'], 'aze'), true);
    assert.equal(ex(['[\\]x]'], ']'), true);
    assert.equal(ex(['[*]'], '*'), true); // '*' is an ordinary member inside a class
    assert.equal(ex(['[*]'], 'x'), false);
    assert.equal(ex(['a\\*b'], 'a*b'), true);
    assert.equal(ex(['a\\*b'], 'axb'), false);
    assert.equal(ex(['a\\d*'], 'ad1'), true); // '\d' is a literal 'd', not a digit class
    assert.equal(ex(['a\\d*'], 'a1'), false);
    assert.equal(ex(['a^b*'], 'a^bc'), true);
    assert.equal(ex(['x.(y)|+{z}$*'], 'x.(y)|+{z}$w'), true);
    assert.equal(ex(['x.y*'], 'xzy'), false);
  });

  test('code points, not UTF-16 units, are matched', () => {
    assert.equal(ex(['a?b'], 'a😀b'), true);
    assert.equal(ex(['[😀-😂]'], '😁'), true);
    assert.equal(ex(['[^a]'], '😀'), true);
  });

  test('paths are cleaned; "." is never excluded', () => {
    assert.equal(ex(['a/b'], './a//b/'), true);
    assert.equal(ex(['a/b'], 'a/c/../b'), true);
    assert.equal(ex(['*'], '.'), false);
    assert.equal(ex(['**'], ''), false);
    assert.equal(ex(['./a'], 'a'), true); // patterns are cleaned too
  });

  test('hasExclusions and the cleaned pattern list', () => {
    const pm = new PatternMatcher(['  a/ ', '', '!./b//c', '**/']);
    // As upstream, the '!' is part of the text being cleaned, so "!." is an ordinary element.
    assert.deepEqual(pm.patterns, ['a', '!./b/c', '**']);
    assert.equal(pm.hasExclusions, true);
    assert.equal(new PatternMatcher(['a']).hasExclusions, false);
  });
});

describe('PatternMatcher errors', () => {
  const bad: [string, RegExp][] = [
    ['[', /unterminated/],
    ['a[b', /unterminated/],
    ['[^', /unterminated/],
    ['[]a]', /\]/],
    ['[-]', /-/],
    ['[x-]', /\]/],
    ['[a-b-c]', /-/],
    ['[z-a]', /reversed/],
    ['\\', /trailing/],
    ['!', /"!" must be followed/],
    ['! ', /"!" must be followed/],
  ];
  for (const [pattern, reason] of bad) {
    test(`rejects ${JSON.stringify(pattern)}`, () => {
      assert.throws(
        () => new PatternMatcher(['ok', pattern]),
        (e: unknown) => {
          assert.ok(e instanceof IgnorePatternError);
          assert.equal(e.code, 'IGNORE_PATTERN');
          assert.match(e.message, reason);
          assert.ok(e.message.includes(JSON.stringify(pattern.trim())), e.message);
          assert.ok(e.hint && e.hint.length > 0);
          return true;
        },
      );
    });
  }

  test('the error points at the source file and line', () => {
    assert.throws(
      () => new PatternMatcher(['a', 'b[', 'c'], { file: 'ctx/.dockerignore', lines: [1, 4, 5] }),
      (e: unknown) => {
        assert.ok(e instanceof IgnorePatternError);
        assert.deepEqual(e.location, { file: 'ctx/.dockerignore', line: 4 });
        assert.equal(e.describe(), 'ctx/.dockerignore:4: ' + e.message);
        return true;
      },
    );
  });

  test('valid classes are accepted', () => {
    for (const p of ['[\\]a]', '[\\-]', '[x\\-]', '[\\-x]', '[^^]', '[[]', 'a]b', '[a-z0-9_]*']) {
      assert.doesNotThrow(() => new PatternMatcher([p]), p);
    }
  });
});

/** An independent model of the upstream rules: a regex per pattern, the path and every parent tried. */
function referenceMatches(patterns: string[], path: string): boolean {
  const file = cleanPath(path);
  if (file === '.') return false;
  const candidates = [file];
  for (let i = file.indexOf('/'); i > 0; i = file.indexOf('/', i + 1)) candidates.push(file.slice(0, i));
  let result = false;
  for (const raw of patterns) {
    let p = cleanPath(raw);
    const exclusion = p.startsWith('!');
    if (exclusion) p = p.slice(1);
    let test: (s: string) => boolean;
    if (/^\*\*[^*?[\]\\]*$/.test(p)) {
      const suffix = p.slice(2);
      test = (s) => s.endsWith(suffix) || (suffix.startsWith('/') && s === suffix.slice(1));
    } else {
      let re = '';
      for (let i = 0; i < p.length; ) {
        if (p.startsWith('**', i)) {
          i += 2;
          if (p[i] === '/') i++;
          re += i >= p.length ? '.*' : '(?:.*/)?';
        } else if (p[i] === '*') (re += '[^/]*'), i++;
        else if (p[i] === '?') (re += '[^/]'), i++;
        else if (p[i] === '[') {
          const end = p.indexOf(']', i + 2);
          re += p.slice(i, end + 1);
          i = end + 1;
        } else (re += p[i]!.replace(/[.+()|{}$^\\/]/g, '\\$&')), i++;
      }
      const rx = new RegExp('^' + re + '$', 's');
      test = (s) => rx.test(s);
    }
    if (candidates.some(test)) result = !exclusion;
  }
  return result;
}

const ATOMS = ['a', 'b', 'ab', '/', '/', '*', '?', '**', '**/', '[ab]', '[^a]', '.'];
const SEGS = ['a', 'b', 'ab', 'ba', 'aa', 'bab', '.a'];

function randomPattern(r: (n: number) => number): string {
  let p = '';
  const n = 1 + r(5);
  for (let i = 0; i < n; i++) p += ATOMS[r(ATOMS.length)];
  return p;
}

/** A pattern, an exception one time in `oneIn`; never the lone "!" that cleaning can produce. */
function randomEntry(r: (n: number) => number, oneIn: number): string {
  for (;;) {
    const p = (r(oneIn) === 0 ? '!' : '') + randomPattern(r);
    if (cleanPath(p) !== '!') return p;
  }
}

function randomPath(r: (n: number) => number, maxSegs: number): string {
  const n = 1 + r(maxSegs);
  return Array.from({ length: n }, () => SEGS[r(SEGS.length)]).join('/');
}

describe('PatternMatcher against a reference model', () => {
  test('random patterns and paths agree with the regex model', () => {
    const r = rng(42);
    let excludedSeen = 0;
    for (let round = 0; round < 3000; round++) {
      const patterns = Array.from({ length: 1 + r(3) }, () => randomEntry(r, 4));
      const pm = new PatternMatcher(patterns);
      for (let k = 0; k < 8; k++) {
        const path = randomPath(r, 4);
        const want = referenceMatches(patterns, path);
        if (want) excludedSeen++;
        assert.equal(pm.matches(path), want, `${JSON.stringify(patterns)} ${path}`);
      }
    }
    assert.ok(excludedSeen > 2000, `too few positive cases (${excludedSeen})`);
  });

  test('match() with parent info gives the same answer as matches()', () => {
    const r = rng(7);
    for (let round = 0; round < 500; round++) {
      const patterns = Array.from({ length: 1 + r(4) }, () => randomEntry(r, 3));
      const pm = new PatternMatcher(patterns);
      const walk = (dir: string, info: MatchInfo | undefined, depth: number): void => {
        for (const seg of SEGS.slice(0, 4)) {
          const path = dir === '' ? seg : dir + '/' + seg;
          const res = pm.match(path, info);
          assert.equal(res.excluded, pm.matches(path), `${JSON.stringify(patterns)} ${path}`);
          assert.deepEqual(res.info, pm.match(path).info);
          if (depth < 3) walk(path, res.info, depth + 1);
        }
      };
      walk('', undefined, 1);
    }
  });

  test('match() rejects info from a different matcher', () => {
    const info = new PatternMatcher(['a']).match('a').info;
    assert.throws(() => new PatternMatcher(['a', 'b']).match('a/x', info), RangeError);
  });
});

describe('canSkipDir', () => {
  test('is sound: every path below a skippable directory is excluded', () => {
    const r = rng(99);
    let skipped = 0;
    let kept = 0;
    for (let round = 0; round < 3000; round++) {
      const patterns = Array.from({ length: 1 + r(4) }, () => randomEntry(r, 2));
      const pm = new PatternMatcher(patterns);
      const dir = randomPath(r, 2);
      if (!pm.canSkipDir(dir)) {
        if (pm.matches(dir)) kept++;
        continue;
      }
      skipped++;
      assert.equal(pm.matches(dir), true);
      for (const a of SEGS) {
        assert.equal(pm.matches(`${dir}/${a}`), true, `${JSON.stringify(patterns)} ${dir}/${a}`);
        for (const b of SEGS) {
          assert.equal(pm.matches(`${dir}/${a}/${b}`), true, `${JSON.stringify(patterns)} ${dir}/${a}/${b}`);
        }
      }
    }
    assert.ok(skipped > 300 && kept > 30, `skipped ${skipped}, excluded but kept ${kept}`);
  });

  test('typical cases', () => {
    assert.equal(new PatternMatcher(['node_modules']).canSkipDir('node_modules'), true);
    assert.equal(new PatternMatcher(['node_modules']).canSkipDir('src'), false);
    assert.equal(new PatternMatcher(['node_modules', '!node_modules/keep']).canSkipDir('node_modules'), false);
    assert.equal(new PatternMatcher(['node_modules', '!node_modules/keep']).canSkipDir('node_modules/other'), true);
    assert.equal(new PatternMatcher(['build', '!**/*.keep']).canSkipDir('build'), false);
    assert.equal(new PatternMatcher(['build', '!src/*.keep']).canSkipDir('build'), true);
    assert.equal(new PatternMatcher(['build', '!b*/x']).canSkipDir('build'), false);
    // An exception *before* the exclusion cannot re-include anything.
    assert.equal(new PatternMatcher(['!build/keep', 'build']).canSkipDir('build'), true);
    // Excluded by a parent pattern.
    assert.equal(new PatternMatcher(['a']).canSkipDir('a/b/c'), true);
    // Re-included directories are not skipped.
    assert.equal(new PatternMatcher(['a', '!a/b']).canSkipDir('a/b'), false);
    assert.equal(new PatternMatcher(['**']).canSkipDir('.'), false);
  });

  test('accepts the directory info from match()', () => {
    const pm = new PatternMatcher(['tmp', '!tmp/keep']);
    const { info } = pm.match('tmp/other');
    assert.equal(pm.canSkipDir('tmp/other', info), true);
    assert.equal(pm.canSkipDir('tmp', pm.match('tmp').info), false);
  });
});

describe('PatternMatcher performance', () => {
  test('no catastrophic backtracking on stacked ** and *', () => {
    const pm = new PatternMatcher(['**/**/**/**/**/**/**/**/a', 'a*a*a*a*a*a*a*a*a*b', 'x/**/**/**/**/y*y*y*y*z']);
    const long = 'aaaaaaaaaa/'.repeat(60) + 'a'.repeat(200) + 'c';
    const start = performance.now();
    for (let i = 0; i < 200; i++) assert.equal(pm.matches(long), false);
    assert.ok(performance.now() - start < 2000, 'matching took too long');
  });

  test('20,000 paths against a realistic ignore file', () => {
    const pm = new PatternMatcher(['node_modules', '.git', '**/*.pyc', '*.log', 'build/**', '!build/keep', '**/__pycache__', 'docs/*.md']);
    const paths = Array.from({ length: 20000 }, (_, i) => `src/pkg${i % 50}/sub${i % 7}/deeper/file${i}.${['ts', 'pyc', 'log'][i % 3]}`);
    const start = performance.now();
    let n = 0;
    for (const p of paths) if (pm.matches(p)) n++;
    assert.equal(n, Math.ceil(20000 / 3));
    assert.ok(performance.now() - start < 3000, 'matching took too long');
  });
});
