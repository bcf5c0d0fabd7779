/**
 * Compiles one Docker ignore pattern (already cleaned, without its `!`) into a matcher.
 *
 * Semantics follow Docker's pattern matcher: `*` and `?` stay inside one path element, `[...]` is a
 * character class (`^` negates, `\` escapes), `\x` is a literal `x`, a `**` followed by more pattern
 * means "nothing, or anything ending in `/`" and a trailing `**` means "anything". Syntax is
 * checked with the rules of Go's `filepath.Match`. Upstream's shortcut kinds are kept because they
 * are observable: a pattern that is `**` followed only by plain characters matches any path
 * *ending* in those characters (`**file` matches `myfile`).
 *
 * Instead of a backtracking regex (which goes polynomial on `**\/**\/**\/a`), general patterns run
 * as an NFA over the path's code points: O(path length x pattern length), no backtracking.
 */
import { IgnorePatternError } from '../errors.js';

const SLASH = 47;

const enum Tok {
  Lit,
  One, // `?`: one character except '/'
  Class, // `[...]`
  Star, // `*`: a run of characters except '/'
  DStarMid, // `**` with more pattern after it: empty, or anything ending in '/'
  DStarEnd, // trailing `**` after other wildcards: anything
}

/** How a compiled pattern is tested; the first three are cheap string comparisons. */
export type PatternKind = 'exact' | 'prefix' | 'suffix' | 'nfa';

interface CharClass {
  negated: boolean;
  ranges: number[]; // lo0, hi0, lo1, hi1, ...
}

/** A syntax error without location; PatternMatcher re-throws it with the pattern's file and line. */
function syntaxError(pattern: string, reason: string, hint: string): IgnorePatternError {
  return new IgnorePatternError(`invalid ignore pattern ${JSON.stringify(pattern)}: ${reason}`, { hint });
}

const BRACKET_HINT = 'write a literal "[" as "\\[", or close the character class with "]"';

/** One compiled pattern. `test*` take a cleaned slash path relative to the context root. */
export class CompiledPattern {
  readonly kind: PatternKind;
  /** The literal text for exact/prefix/suffix kinds. */
  private readonly literal: string;
  private readonly types: Uint8Array;
  private readonly lits: Int32Array;
  private readonly classes: (CharClass | undefined)[];
  private readonly litPrefix: string; // literal tokens the pattern starts with (cheap pre-check)
  private readonly litSuffix: string; // literal tokens it ends with
  // NFA scratch: state i < m = "before token i", m = accept, m+1+i = inside the `.*` of a DStarMid.
  private readonly marks: Uint32Array;
  private readonly curList: Int32Array;
  private readonly nextList: Int32Array;
  private stamp = 0;

  constructor(readonly pattern: string) {
    const p = parse(pattern);
    this.kind = p.kind;
    this.literal = p.literal;
    const m = p.types.length;
    this.types = Uint8Array.from(p.types);
    this.lits = Int32Array.from(p.lits);
    this.classes = p.classes;
    let a = 0;
    while (a < m && p.types[a] === Tok.Lit) a++;
    this.litPrefix = String.fromCodePoint(...p.lits.slice(0, a));
    let b = m;
    while (b > a && p.types[b - 1] === Tok.Lit) b--;
    this.litSuffix = String.fromCodePoint(...p.lits.slice(b));
    this.marks = new Uint32Array(2 * m + 1);
    this.curList = new Int32Array(2 * m + 1);
    this.nextList = new Int32Array(2 * m + 1);
  }

  /** Does the pattern match exactly this path? */
  test(path: string): boolean {
    switch (this.kind) {
      case 'exact':
        return path === this.literal;
      case 'prefix':
        return path.startsWith(this.literal);
      case 'suffix':
        return this.testSuffix(path);
      default:
        if (!path.startsWith(this.litPrefix) || !path.endsWith(this.litSuffix)) return false;
        return this.run(path, false, false);
    }
  }

  /**
   * Does the pattern match this relative path or one of its parent directories (every prefix that
   * ends just before a '/')? One pass over the path; parents are not re-matched from scratch.
   */
  testWithParents(path: string): boolean {
    switch (this.kind) {
      case 'exact': {
        const l = this.literal;
        return path.startsWith(l) && (path.length === l.length || path.charCodeAt(l.length) === SLASH);
      }
      case 'prefix':
        // Any parent that starts with the literal makes the whole path start with it, and vice versa.
        return path.startsWith(this.literal);
      case 'suffix':
        for (let i = path.indexOf('/'); i !== -1; i = path.indexOf('/', i + 1)) {
          if (this.testSuffix(path.slice(0, i))) return true;
        }
        return this.testSuffix(path);
      default: {
        if (!path.startsWith(this.litPrefix)) return false;
        // Some candidate (the path or a parent) must end with the literal tail.
        const ls = this.litSuffix;
        if (ls !== '' && !path.endsWith(ls) && !path.includes(ls + '/')) return false;
        return this.run(path, true, false);
      }
    }
  }

  /** Could the pattern match some path that starts with `prefix`? False only when provably not. */
  canMatchUnder(prefix: string): boolean {
    switch (this.kind) {
      case 'exact':
        return this.literal.startsWith(prefix);
      case 'prefix':
        return this.literal.startsWith(prefix) || prefix.startsWith(this.literal);
      case 'suffix':
        return true; // `**name` can match below any directory
      default:
        return this.run(prefix, false, true);
    }
  }

  private testSuffix(path: string): boolean {
    const s = this.literal;
    if (path.endsWith(s)) return true;
    // `**/foo` also matches `foo` itself.
    return s.charCodeAt(0) === SLASH && path.length === s.length - 1 && s.endsWith(path);
  }

  /**
   * Runs the NFA over `s`. `boundaries`: also accept when a prefix ending before a '/' matches.
   * `alive`: report whether any state survives the whole input (the input is only a prefix).
   */
  private run(s: string, boundaries: boolean, alive: boolean): boolean {
    const types = this.types;
    const m = types.length;
    const marks = this.marks;
    let cur = this.curList;
    let nxt = this.nextList;
    if (this.stamp > 0xfffffff0) {
      marks.fill(0);
      this.stamp = 0;
    }
    let stamp = ++this.stamp;
    let nLen = 0;
    // Adds a state and everything reachable from it without input (wildcards that may be empty).
    const add = (st: number): void => {
      for (;;) {
        if (marks[st] === stamp) return;
        marks[st] = stamp;
        nxt[nLen++] = st;
        if (st >= m) return;
        const t = types[st]!;
        if (t !== Tok.Star && t !== Tok.DStarMid && t !== Tok.DStarEnd) return;
        st++;
      }
    };
    add(0);
    let cLen = nLen;
    let tmp = cur;
    cur = nxt;
    nxt = tmp;
    for (let k = 0; k < s.length; ) {
      let c = s.charCodeAt(k++);
      if (c >= 0xd800 && c <= 0xdbff && k < s.length) {
        const d = s.charCodeAt(k);
        if (d >= 0xdc00 && d <= 0xdfff) {
          c = ((c - 0xd800) << 10) + (d - 0xdc00) + 0x10000;
          k++;
        }
      }
      if (boundaries && c === SLASH && marks[m] === stamp) return true;
      stamp = ++this.stamp;
      nLen = 0;
      for (let j = 0; j < cLen; j++) {
        const st = cur[j]!;
        if (st > m) {
          const i = st - m - 1;
          add(st);
          if (c === SLASH) add(i + 1);
          continue;
        }
        if (st === m) continue;
        switch (types[st]) {
          case Tok.Lit:
            if (c === this.lits[st]) add(st + 1);
            break;
          case Tok.One:
            if (c !== SLASH) add(st + 1);
            break;
          case Tok.Class:
            if (classHas(this.classes[st]!, c)) add(st + 1);
            break;
          case Tok.Star:
            if (c !== SLASH) add(st);
            break;
          case Tok.DStarEnd:
            add(st);
            break;
          case Tok.DStarMid:
            add(m + 1 + st);
            if (c === SLASH) add(st + 1);
            break;
        }
      }
      if (nLen === 0) return false;
      cLen = nLen;
      tmp = cur;
      cur = nxt;
      nxt = tmp;
    }
    return alive ? cLen > 0 : marks[m] === stamp;
  }
}

function classHas(cc: CharClass, c: number): boolean {
  const r = cc.ranges;
  let hit = false;
  for (let i = 0; i < r.length; i += 2) {
    if (c >= r[i]! && c <= r[i + 1]!) {
      hit = true;
      break;
    }
  }
  return hit !== cc.negated;
}

interface Parsed {
  kind: PatternKind;
  literal: string;
  types: Tok[];
  lits: number[];
  classes: (CharClass | undefined)[];
}

/** Tokenizes and syntax-checks a pattern; see the module comment for the rules. */
function parse(pattern: string): Parsed {
  const cps = Array.from(pattern, (ch) => ch.codePointAt(0)!);
  const n = cps.length;
  const types: Tok[] = [];
  const lits: number[] = [];
  const classes: (CharClass | undefined)[] = [];
  const push = (t: Tok, lit = -1, cc?: CharClass): void => {
    types.push(t);
    lits.push(lit);
    classes.push(cc);
  };
  let kind: PatternKind = 'exact';
  let pos = 0;
  for (let iter = 0; pos < n; iter++) {
    const ch = cps[pos++]!;
    if (ch === 0x2a /* * */) {
      if (cps[pos] === 0x2a) {
        pos++;
        if (cps[pos] === SLASH) pos++; // `**/` behaves as `**`
        if (pos >= n) {
          if (kind === 'exact') kind = 'prefix';
          else {
            push(Tok.DStarEnd);
            kind = 'nfa';
          }
        } else {
          push(Tok.DStarMid);
          kind = 'nfa';
        }
        // A leading `**` followed only by plain characters is tested as a suffix (upstream quirk).
        if (iter === 0) kind = 'suffix';
      } else {
        push(Tok.Star);
        kind = 'nfa';
      }
    } else if (ch === 0x3f /* ? */) {
      push(Tok.One);
      kind = 'nfa';
    } else if (ch === 0x5c /* \ */) {
      if (pos >= n) throw syntaxError(pattern, 'trailing "\\" escapes nothing', 'remove the final "\\" or write "\\\\" for a literal backslash');
      push(Tok.Lit, cps[pos++]!);
      kind = 'nfa';
    } else if (ch === 0x5b /* [ */) {
      const r = parseClass(pattern, cps, pos);
      pos = r.end;
      push(Tok.Class, -1, r.cc);
      kind = 'nfa';
    } else {
      push(Tok.Lit, ch);
      if (ch === 0x5d /* ] */) kind = 'nfa'; // upstream routes a stray ']' through its regexp path
    }
  }
  let literal = '';
  if (kind === 'exact') literal = pattern;
  else if (kind === 'prefix') literal = String.fromCodePoint(...lits.filter((l) => l >= 0));
  else if (kind === 'suffix') literal = pattern.slice(2);
  return { kind, literal, types, lits, classes };
}

/** Parses `[...]` starting just after the '['; the grammar and its errors are filepath.Match's. */
function parseClass(pattern: string, cps: number[], start: number): { cc: CharClass; end: number } {
  let pos = start;
  const negated = cps[pos] === 0x5e; /* ^ */
  if (negated) pos++;
  const ranges: number[] = [];
  const readChar = (): number => {
    const c = cps[pos];
    if (c === undefined) throw syntaxError(pattern, 'unterminated character class', BRACKET_HINT);
    if (c === 0x2d /* - */) throw syntaxError(pattern, 'unescaped "-" in character class', 'write a literal "-" as "\\-" inside "[...]"');
    if (c === 0x5d /* ] */) throw syntaxError(pattern, 'empty character class or unescaped "]"', 'write a literal "]" as "\\]" inside "[...]"');
    pos++;
    let r = c;
    if (c === 0x5c) {
      if (pos >= cps.length) throw syntaxError(pattern, 'unterminated character class', BRACKET_HINT);
      r = cps[pos++]!;
    }
    // filepath.Match requires more pattern after every class member (at least the closing ']').
    if (pos >= cps.length) throw syntaxError(pattern, 'unterminated character class', BRACKET_HINT);
    return r;
  };
  for (;;) {
    if (cps[pos] === 0x5d && ranges.length > 0) return { cc: { negated, ranges }, end: pos + 1 };
    const lo = readChar();
    let hi = lo;
    if (cps[pos] === 0x2d) {
      pos++;
      hi = readChar();
      if (hi < lo) {
        throw syntaxError(pattern, `character range ${String.fromCodePoint(lo)}-${String.fromCodePoint(hi)} is reversed`, 'write ranges from low to high, e.g. "[a-z]"');
      }
    }
    ranges.push(lo, hi);
  }
}
