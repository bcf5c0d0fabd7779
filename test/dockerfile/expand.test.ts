/** Unit tests for Dockerfile word expansion (no corpus needed). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { expand, expandWord, expandWords, LEX_MODES, MAX_NESTING, type LexOptions } from '../../src/dockerfile/expand.js';
import { ExpansionError } from '../../src/errors.js';

const env = new Map([
  ['PWD', '/home'],
  ['EMPTY', ''],
  ['SP', ' a  b '],
  ['FILE', 'archive.tar.gz'],
  ['PATHS', '/usr/local/bin:/usr/bin:/bin'],
  ['ML', 'one\ntwo\nthree'],
  ['STARS', 'a*b*c'],
  ['EMOJI', '😀x😀'],
]);
const word = (s: string, opts?: LexOptions, e: ReadonlyMap<string, string> = env) => expandWord(s, e, opts).word;
const words = (s: string, opts?: LexOptions, e: ReadonlyMap<string, string> = env) => expandWords(s, e, opts).words;

/** Asserts an ExpansionError whose message matches `re`; returns it. */
function throwsExpansion(fn: () => unknown, re: RegExp): ExpansionError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof ExpansionError, `expected an ExpansionError, got ${String(caught)}`);
  assert.equal(caught.code, 'DOCKERFILE_EXPANSION');
  assert.match(caught.message, re);
  return caught;
}

test('plain variables, braces and the default/alternate modifiers', () => {
  assert.equal(word('$PWD/x ${PWD}y $NOPE. $'), '/home/x /homey . $');
  assert.equal(word('${NOPE-a} ${EMPTY-b} ${NOPE:-c} ${EMPTY:-d} ${PWD:-e}'), 'a  c d /home');
  assert.equal(word('${NOPE+a} ${EMPTY+b} ${EMPTY:+c} ${PWD:+d}'), ' b  d');
  assert.equal(word('$1x ${10} $@@ $$'), 'x  @ ');
});

test('modifier words nest further expansions', () => {
  assert.equal(word('he${XXX:-${PWD:-yyy}}xx'), 'he/homexx');
  assert.equal(word('${A:-${B:-${C:-${PWD}!}}}'), '/home!');
  assert.equal(word('${PWD:+[${EMPTY:-${FILE%%.*}}]}'), '[archive]');
  const variant = (v?: string) => {
    const e = new Map([['ARCH', 'arm']]);
    if (v !== undefined) e.set('VARIANT', v);
    return word('app-${ARCH}${VARIANT:+-${VARIANT}}.tgz', undefined, e);
  };
  assert.equal(variant('v7'), 'app-arm-v7.tgz');
  assert.equal(variant(''), 'app-arm.tgz');
  assert.equal(variant(), 'app-arm.tgz');
  assert.equal(word('${NOPE:-"quoted }"}'), 'quoted }');
  assert.equal(word('${aaa:-bbb {foo}'), 'bbb {foo');
  assert.equal(word('${NOPE:-a\\}b}'), 'a}b');
});

test('backslash escapes, outside and inside quotes', () => {
  assert.equal(word('a\\ b\\$PWD\\\\'), 'a b$PWD\\');
  assert.equal(word('"a\\"b \\$PWD \\\\ \\t"'), 'a"b $PWD \\ \\t');
  assert.equal(word("'a\\b $PWD'"), 'a\\b $PWD');
  assert.equal(word('trailing\\'), 'trailing');
  assert.deepEqual(words('a\\ b "c d" \'e f\' g'), ['a b', 'c d', 'e f', 'g']);
});

test('backtick escape token (# escape=`)', () => {
  const bt: LexOptions = { escapeToken: '`' };
  assert.equal(word('C:\\dir\\$PWD', bt), 'C:\\dir\\/home');
  assert.equal(word('a`$PWD b``c', bt), 'a$PWD b`c');
  assert.equal(word('"q`"x`$y`\\"', bt), 'q"x$y`\\');
  assert.deepEqual(words('a` b c', bt), ['a b', 'c']);
  // With the backtick token, a backslash in a pattern is still the pattern's own escape.
  assert.equal(word('${STARS//\\*/+}', bt), 'a+b+c');
});

test('raw quotes, raw escapes and skip-unset', () => {
  assert.equal(word('"$PWD" \'$PWD\' \\$PWD', LEX_MODES.rawQuotesSkipUnset), '"/home" \'$PWD\' $PWD');
  assert.equal(word('"$PWD" \'$PWD\' \\$PWD', LEX_MODES.heredocLineScan), '"/home" \'$PWD\' \\$PWD');
  const r = expandWord('$NOPE ${NOPE} ${NOPE:-d} ${NOPE//a/b} ${NOPE:=x} ${PWD}', env, { skipUnset: true });
  // Upstream writes a skipped ${X//a/b} back with one slash, and does not reject := when skipping.
  assert.equal(r.word, '$NOPE ${NOPE} ${NOPE:-d} ${NOPE/a/b} ${NOPE:=x} /home');
  assert.deepEqual([...r.unmatched], ['NOPE']);
  assert.deepEqual([...r.matched], ['PWD']);
  throwsExpansion(() => word('${PWD:=x}', { skipUnset: true }), /unsupported modifier \(:=\)/);
});

test('heredoc content mode: quotes are ordinary, escapes still apply', () => {
  const o = LEX_MODES.heredocContent;
  assert.equal(word(`it's "$PWD" '$PWD' \\n`, o), `it's "/home" '/home' n`);
  assert.deepEqual(words('"$SP"', o), ['"', 'a', 'b', '"']);
});

test('word splitting', () => {
  assert.deepEqual(words('hello${SP}bye'), ['hello', 'a', 'b', 'bye']);
  assert.deepEqual(words('x"$SP"y'), ['x a  b y']);
  assert.deepEqual(words('a "" b \'\''), ['a', 'b']);
  assert.deepEqual(words('${NOPE:-"a b"}'), ['a', 'b']);
  assert.deepEqual(words('<<  EOF cat <x'), ['<<  EOF', 'cat', '<x']);
  assert.deepEqual(words('a\u00a0b\u3000c\ufeffd'), ['a', 'b', 'c\ufeffd']);
  // BuildKit quirk, kept on purpose: a ${X<modifier>…} drops the word in progress before it.
  assert.deepEqual(words('a${NOPE:-b}c d'), ['bc', 'd']);
  assert.equal(word('a${NOPE:-b}c d'), 'abc d');
});

test('prefix and suffix trimming with * ? and escapes', () => {
  assert.equal(word('${FILE#*.} ${FILE##*.} ${FILE%.*} ${FILE%%.*}'), 'tar.gz gz archive.tar archive');
  assert.equal(word('${PATHS#*:} | ${PATHS%:*}'), '/usr/bin:/bin | /usr/local/bin:/usr/bin');
  assert.equal(word('${FILE#?r} ${FILE%??} ${FILE#nomatch}'), 'chive.tar.gz archive.tar. archive.tar.gz');
  assert.equal(word('${STARS#*\\*} ${STARS%\\**} ${STARS%%\\**}'), 'b*c a*b a');
  assert.equal(word('${FILE#} ${FILE##} ${FILE%*} ${FILE#*}'), 'archive.tar.gz archive.tar.gz archive.tar.gz archive.tar.gz');
  assert.equal(word('${EMOJI#?} ${EMOJI%?} ${EMOJI##*x}'), 'x😀 😀x 😀');
  assert.equal(word('${NOPE#*} ${NOPE%%x}'), ' ');
});

test('wildcards never match a newline (Go regexp semantics)', () => {
  assert.equal(word('${ML##*}'), '\ntwo\nthree');
  assert.equal(word('${ML%%*}'), 'one\ntwo\n');
  assert.equal(word('${ML#*o}'), 'ne\ntwo\nthree');
  assert.equal(word('${ML#*three}'), 'one\ntwo\nthree');
  assert.equal(word('${ML#one\n*\n}'), 'three');
  assert.equal(word('${ML//?/.}'), '...\n...\n.....');
  assert.equal(word('${ML//*/-}'), '-\n-\n-');
  assert.equal(word('${ML/o*\nt/X}'), 'Xwo\nthree');
});

test('replacement: first vs all, empty patterns, $ in replace-all', () => {
  assert.equal(word('${PATHS/:/ } / ${PATHS//:/ }'), '/usr/local/bin /usr/bin:/bin / /usr/local/bin /usr/bin /bin');
  assert.equal(word('${PATHS//\\//_}'), '_usr_local_bin:_usr_bin:_bin');
  assert.equal(word('${STARS//\\*/\\/}'), 'a\\/b\\/c');
  assert.equal(word('${FILE/$EMPTY/>} ${STARS//$EMPTY/-}'), '>archive.tar.gz -a-*-b-*-c-');
  assert.equal(word('${FILE//a*/}'), '');
  // Go's ReplaceAllString expands $0 (the match) and $$; the single replacement is literal.
  const e = new Map([['V', 'ab'], ['R', '[$0$$${0}$1]']]);
  assert.equal(word('${V//?/$R}', undefined, e), '[a$a][b$b]');
  assert.equal(word('${V/?/$R}', undefined, e), '[$0$$${0}$1]b');
});

test(':? and ? report unset and empty variables', () => {
  assert.equal(word('${PWD:?} ${EMPTY?}'), '/home ');
  const e = throwsExpansion(() => word('${X:?}'), /X: is not allowed to be unset$/);
  assert.match(e.message, /^failed to process "\$\{X:\?\}": /);
  assert.ok(e.hint);
  throwsExpansion(() => word('${EMPTY:?}'), /EMPTY: is not allowed to be empty$/);
  throwsExpansion(() => word('${X?}'), /X: is not allowed to be unset$/);
  throwsExpansion(() => word('${EMPTY:?set it in $PWD}'), /EMPTY: set it in \/home$/);
  throwsExpansion(() => word('${X?need X}'), /X: need X$/);
});

test('syntax errors are ExpansionErrors', () => {
  throwsExpansion(() => word("it's"), /matching single-quote/);
  throwsExpansion(() => word('"abc\\"'), /matching double-quote/);
  throwsExpansion(() => word('${}'), /bad substitution/);
  throwsExpansion(() => word('${:-x}'), /bad substitution/);
  throwsExpansion(() => word('${{a}'), /bad substitution/);
  throwsExpansion(() => word('${a'), /missing '}'/);
  throwsExpansion(() => word('${a:-b'), /missing '}'/);
  throwsExpansion(() => word("${a:-'b}"), /missing '}'/);
  throwsExpansion(() => word('${a//b'), /missing '\/'/);
  throwsExpansion(() => word('${a/b/c'), /missing '}'/);
  for (const [input, mod] of [['${a:=b}', ':='], ['${a=b}', '='], ['${a:#b}', ':#'], ['${a:%%b}', ':%'], ['${#a}', 'a'], ['${a:1:2}', ':1'], ['${a^^}', '^'], ['${.}', '.']]) {
    const err = throwsExpansion(() => word(input!), new RegExp(`unsupported modifier \\(${mod!.replace(/[.^]/g, '\\$&')}\\) in substitution`));
    assert.match(err.hint ?? '', /\$\{VAR:-w\}/);
  }
  throwsExpansion(() => word('${PWD#\\a}'), /invalid pattern \(\\a\) in substitution: invalid escape '\\a'/);
  throwsExpansion(() => word('${NOPE//\\x/}'), /invalid escape/);
});

test('env may be a function; matched and unmatched record every lookup', () => {
  const seen: string[] = [];
  const lookup = (name: string) => {
    seen.push(name);
    return name === 'A' ? 'a' : undefined;
  };
  const r = expandWord('$A ${B:-$A} ${C#x} "${D}"', lookup);
  assert.equal(r.word, 'a a  ');
  assert.deepEqual([...r.matched].sort(), ['A']);
  assert.deepEqual([...r.unmatched].sort(), ['B', 'C', 'D']);
  assert.ok(seen.includes('D'));
  const both = expand('x $A', lookup);
  assert.deepEqual([both.word, both.words], ['x a', ['x', 'a']]);
});

test('odd input never throws anything but ExpansionError', () => {
  assert.equal(word('\ufeff\ufeffa'), '\ufeffa'); // a leading byte-order mark is skipped, once
  assert.equal(word('a\u0000$PWD'), 'a\u0000/home');
  assert.equal(word('\ud800$PWD\udc00 \udc00\ud800'), '\ud800/home\udc00 \udc00\ud800');
  assert.equal(word('${EMOJI/\ud83d/x}'), '😀x😀');
  let seed = 12345;
  const rnd = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
  const atoms = ['$', '{', '}', ':', '-', '+', '?', '#', '%', '/', '*', '\\', '`', "'", '"', '<', ' ', '\n', 'a', 'PWD', 'ML', '\ud800', '\u0000', '😀', '=', '0', '@'];
  const modes = Object.values(LEX_MODES) as LexOptions[];
  for (let i = 0; i < 3000; i++) {
    let s = '';
    for (let k = Math.floor(rnd() * 24); k > 0; k--) s += atoms[Math.floor(rnd() * atoms.length)];
    try {
      expand(s, env, modes[i % modes.length]);
    } catch (e) {
      assert.ok(e instanceof ExpansionError, `${JSON.stringify(s)} threw ${String(e)}`);
    }
  }
});

test('nesting is limited instead of overflowing the stack', () => {
  const nest = (n: number) => '${X:-"'.repeat(n) + 'v' + '"}'.repeat(n);
  assert.equal(word(nest(MAX_NESTING)), 'v');
  throwsExpansion(() => word(nest(MAX_NESTING + 1)), /nested more than/);
  throwsExpansion(() => word('${X:-'.repeat(200000)), /nested more than|missing/);
});

test('1 MB inputs and values expand in linear time', () => {
  const MB = 1 << 20;
  const big = new Map([
    ['A', 'x y'],
    ['BIG', 'ab'.repeat(MB / 2)],
    ['LINES', 'ab\n'.repeat(Math.floor(MB / 3))],
    ['AS', 'a'.repeat(MB)],
  ]);
  const timed = (label: string, fn: () => unknown) => {
    const start = performance.now();
    fn();
    const ms = performance.now() - start;
    // A linear pass takes well under a second; anything quadratic would take hours.
    assert.ok(ms < 3000, `${label} took ${ms.toFixed(0)} ms`);
  };
  timed('plain text', () => assert.equal(expandWords('abc def '.repeat(MB / 8), big).words.length, MB / 4));
  timed('variables', () => assert.equal(expandWords('$A '.repeat(MB / 4), big).words.length, MB / 2));
  timed('modifiers', () => expandWord('${NOPE:-x}'.repeat(MB / 10), big));
  timed('quotes', () => expandWords('"a $A" \'c d\' '.repeat(MB / 14), big));
  timed('unterminated quote', () => throwsExpansion(() => expandWord('"' + 'a'.repeat(MB), big), /double-quote/));
  timed('1 MB pattern, short value', () => assert.equal(expandWord('${A#' + '*a'.repeat(MB / 2) + '}', big).word, 'x y'));
  timed('replace-all over 1 MB', () => assert.equal(expandWord('${BIG//a/}', big).word.length, MB / 2));
  timed('replace-all of every character', () => assert.equal(expandWord('${BIG//?/}', big).word, ''));
  timed('replace-all on many lines', () => assert.equal(expandWord('${LINES//a*/}', big).word, '\n'.repeat(Math.floor(MB / 3))));
  timed('longest suffix', () => assert.equal(expandWord('${BIG%%b*}', big).word, 'a'));
  timed('star-heavy pattern that fails late', () => {
    // `*a*a…*b` against `aaa…` is exponential for a backtracking matcher.
    assert.equal(expandWord('${AS#' + '*a'.repeat(5000) + '*b}', big).word.length, MB);
    assert.equal(expandWord('${AS//' + '*a'.repeat(5000) + '*b/}', big).word.length, MB);
  });
});
