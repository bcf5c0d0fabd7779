/**
 * Shell-style patterns for `${VAR#pat}`, `${VAR%pat}` and `${VAR/pat/repl}`: `*` is any run of
 * characters, `?` one character, `\*` `\?` `\\` are literals, and (as in BuildKit, which turns
 * the pattern into a Go regexp) neither wildcard matches a newline.
 *
 * BuildKit picks matches the way a backtracking regexp engine would. With every `*` equally
 * greedy (or equally lazy) that choice is simply the longest (or shortest) match at the leftmost
 * start, so we never backtrack: each star-free piece is placed by one forward or backward scan.
 * Since wildcards stop at newlines, a literal newline in the pattern pins the lines around it
 * and only the pattern's last line has a choice of end. Searching is KMP on each piece's longest
 * literal run, so the cost is linear in the value, times the piece length only for pieces
 * with `?` in them; never exponential.
 */
import { ExpansionError } from '../errors.js';
import { charOf, codePoints, EOF, isDigit, isLetter } from './expand-chars.js';

const ANY = -1;
const STAR = -2;
const NEWLINE = 10;

/**
 * A star-free run of the pattern (code points, ANY for `?`). `piece` is its longest run of
 * literals, which is searched for with Knuth–Morris–Pratt before the rest is compared.
 */
interface Segment {
  cps: Int32Array;
  pieceStart: number;
  pieceLen: number;
  /** No `?` in it: finding the piece is finding the segment. */
  exact: boolean;
  /** KMP failure tables of the piece read forwards and backwards, built on first use. */
  fwd?: Int32Array;
  back?: Int32Array;
}
/** The pattern between two literal newlines, split at its stars (runs of stars count as one). */
type Part = Segment[];
/** A compiled pattern: its parts, in order, separated by literal newlines. */
type Glob = Part[];

function segment(cps: Int32Array): Segment {
  let best = 0;
  let bestLen = 0;
  let exact = true;
  for (let i = 0, run = 0; i < cps.length; i++) {
    if (cps[i] === ANY) {
      run = 0;
      exact = false;
    } else if (++run > bestLen) {
      bestLen = run;
      best = i - run + 1;
    }
  }
  return { cps, pieceStart: best, pieceLen: bestLen, exact };
}

/** Tokenises a pattern (STAR, ANY or a code point each); throws BuildKit's error for a bad escape. */
function tokenize(pattern: string): { toks: Int32Array; fixed: number } {
  const { cps } = codePoints(pattern);
  const toks = new Int32Array(cps.length);
  let n = 0;
  let fixed = 0;
  // The pattern is read with a fresh Go text scanner, which drops a leading byte-order mark.
  for (let i = cps.length > 0 && cps[0] === 0xfeff ? 1 : 0; i < cps.length; i++) {
    let c = cps[i]!;
    if (c === 0x2a) c = STAR;
    else if (c === 0x3f) c = ANY;
    else if (c === 0x5c) {
      const next = i + 1 < cps.length ? cps[i + 1]! : EOF;
      // `\}` and `\/` were escaped only to get through ${...}; the character itself is literal.
      if (next === 0x7d || next === 0x2f) continue;
      if (next !== 0x2a && next !== 0x3f && next !== 0x5c) {
        const what = next === EOF ? "invalid escape '\\' at end of pattern" : `invalid escape '\\${charOf(next)}'`;
        throw new ExpansionError(`invalid pattern (${pattern}) in substitution: ${what}`, {
          hint: 'in a pattern only \\*, \\? and \\\\ are escapes',
        });
      }
      c = next;
      i++;
    }
    toks[n++] = c;
    if (c !== STAR) fixed++;
  }
  return { toks: toks.subarray(0, n), fixed };
}

/** Groups tokens into parts (split at literal newlines) and segments (split at stars). */
function build(toks: Int32Array): Glob {
  const glob: Glob = [];
  let part: Part = [];
  let start = 0;
  for (let i = 0; i <= toks.length; i++) {
    const t = i < toks.length ? toks[i] : NEWLINE;
    if (t !== STAR && t !== NEWLINE) continue;
    // An empty segment between two stars comes from `**`, which matches what `*` does.
    if (t === NEWLINE || part.length === 0 || i > start) part.push(segment(toks.subarray(start, i)));
    if (t === NEWLINE) {
      glob.push(part);
      part = [];
    }
    start = i + 1;
  }
  return glob;
}

/** KMP failure table of `len` code points read from `cps` at `start`, forwards or backwards. */
function failureTable(cps: Int32Array, start: number, len: number, backwards: boolean): Int32Array {
  const at = backwards ? (k: number) => cps[start + len - 1 - k]! : (k: number) => cps[start + k]!;
  const f = new Int32Array(len);
  for (let i = 1, k = 0; i < len; i++) {
    while (k > 0 && at(i) !== at(k)) k = f[k - 1]!;
    if (at(i) === at(k)) k++;
    f[i] = k;
  }
  return f;
}

/** Reverses a pattern but keeps each `\x` pair in order (a lone trailing `\` moves to the front). */
function reversePattern(pattern: string): string {
  const units: string[] = [];
  const cps = Array.from(pattern);
  for (let i = 0; i < cps.length; i++) {
    if (cps[i] === '\\' && i + 1 < cps.length) units.push(cps[i] + cps[++i]!);
    else units.push(cps[i]!);
  }
  return units.reverse().join('');
}

/** Finds where a compiled pattern matches inside one value (code points). */
class Matcher {
  private readonly n: number;
  private readonly newlines: Int32Array;

  constructor(private readonly t: Int32Array) {
    this.n = t.length;
    let count = 0;
    for (let i = 0; i < t.length; i++) if (t[i] === NEWLINE) count++;
    this.newlines = new Int32Array(count);
    for (let i = 0, k = 0; i < t.length; i++) if (t[i] === NEWLINE) this.newlines[k++] = i;
  }

  /** How many newlines come before `p`. */
  private newlinesBefore(p: number): number {
    const nl = this.newlines;
    let lo = 0;
    let hi = nl.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (nl[mid]! < p) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Index of the first newline at or after `p`, or the length: the end of p's line. */
  lineEnd(p: number): number {
    const k = this.newlinesBefore(p);
    return k < this.newlines.length ? this.newlines[k]! : this.n;
  }

  /** Start of the line holding `p`. */
  lineStart(p: number): number {
    const k = this.newlinesBefore(p);
    return k === 0 ? 0 : this.newlines[k - 1]! + 1;
  }

  // Segments never hold a newline and callers keep every placement inside one line, so a `?`
  // here can match whatever character it sits on.
  private at(seg: Segment, q: number): boolean {
    const c = seg.cps;
    for (let k = 0; k < c.length; k++) if (c[k] !== ANY && c[k] !== this.t[q + k]) return false;
    return true;
  }

  /** Earliest q in [from, last] where `seg` occurs, or -1. */
  private next(seg: Segment, from: number, last: number): number {
    const { cps, pieceStart: ps, pieceLen: pl } = seg;
    if (pl === 0) return from <= last ? from : -1;
    const f = (seg.fwd ??= failureTable(cps, ps, pl, false));
    const t = this.t;
    for (let i = from + ps, k = 0, end = last + ps + pl; i < end; i++) {
      const c = t[i];
      while (k > 0 && cps[ps + k] !== c) k = f[k - 1]!;
      if (cps[ps + k] === c && ++k === pl) {
        const q = i + 1 - pl - ps;
        if (seg.exact || this.at(seg, q)) return q;
        k = f[k - 1]!;
      }
    }
    return -1;
  }

  /** Latest q in [low, last] where `seg` occurs, or -1. */
  private prev(seg: Segment, last: number, low: number): number {
    const { cps, pieceStart: ps, pieceLen: pl } = seg;
    if (pl === 0) return last >= low ? last : -1;
    const f = (seg.back ??= failureTable(cps, ps, pl, true));
    const t = this.t;
    const top = ps + pl - 1;
    for (let i = last + top, k = 0, end = low + ps; i >= end; i--) {
      const c = t[i];
      while (k > 0 && cps[top - k] !== c) k = f[k - 1]!;
      if (cps[top - k] === c && ++k === pl) {
        const q = i - ps;
        if (seg.exact || this.at(seg, q)) return q;
        k = f[k - 1]!;
      }
    }
    return -1;
  }

  /** Places part[1..upto] as late as possible with part[upto] ending by `hi` and nothing before `low`. */
  private latest(part: Part, upto: number, hi: number, low: number): { first: number; end: number } | null {
    let lim = hi;
    let end = -1;
    for (let i = upto; i >= 1; i--) {
      const q = this.prev(part[i]!, lim - part[i]!.cps.length, low);
      if (q < 0) return null;
      if (i === upto) end = q + part[i]!.cps.length;
      lim = q;
    }
    return { first: lim, end };
  }

  /** Longest or shortest end of a match of `part` starting at `a` within the line ending at `hi`. */
  prefixEnd(part: Part, a: number, hi: number, longest: boolean): number {
    const head = part[0]!;
    let p = a + head.cps.length;
    if (p > hi || !this.at(head, a)) return -1;
    const j = part.length - 1;
    if (j === 0) return p;
    if (longest) {
      const chain = this.latest(part, j, hi, p);
      return chain === null ? -1 : chain.end;
    }
    for (let i = 1; i <= j; i++) {
      const len = part[i]!.cps.length;
      const q = this.next(part[i]!, p, hi - len);
      if (q < 0) return -1;
      p = q + len;
    }
    return p;
  }

  /** Whether `part` matches exactly [a, b) (one line). */
  fullMatch(part: Part, a: number, b: number): boolean {
    const head = part[0]!;
    const j = part.length - 1;
    if (j === 0) return b - a === head.cps.length && this.at(head, a);
    const tail = part[j]!;
    let p = a + head.cps.length;
    const z = b - tail.cps.length;
    if (p > z || !this.at(head, a) || !this.at(tail, z)) return false;
    for (let i = 1; i < j; i++) {
      const len = part[i]!.cps.length;
      const q = this.next(part[i]!, p, z - len);
      if (q < 0) return false;
      p = q + len;
    }
    return true;
  }

  /** Matches in the lines after the first part's line; returns the longest end or -1. */
  private tail(glob: Glob, a: number): number {
    const r = glob.length - 1;
    for (let i = 1; i < r; i++) {
      const b = this.lineEnd(a);
      if (b >= this.n || !this.fullMatch(glob[i]!, a, b)) return -1;
      a = b + 1;
    }
    return this.prefixEnd(glob[r]!, a, this.lineEnd(a), true);
  }

  /** End of the match anchored at 0 (longest or shortest), or -1. */
  anchored(glob: Glob, longest: boolean): number {
    let a = 0;
    for (let i = 0; i < glob.length - 1; i++) {
      const b = this.lineEnd(a);
      if (b >= this.n || !this.fullMatch(glob[i]!, a, b)) return -1;
      a = b + 1;
    }
    return this.prefixEnd(glob[glob.length - 1]!, a, this.lineEnd(a), longest);
  }

  private readonly lineInfo = new Map<number, number>();

  /**
   * Latest start allowed for the first segment of `head` in the line [ls, le): with no newline
   * in the pattern the rest of `head` must fit after it; otherwise `head` must end at le.
   * Cached per line, since a replace-all asks again for every match.
   */
  private headLimit(head: Part, ls: number, le: number, toLineEnd: boolean): number {
    const cached = this.lineInfo.get(ls);
    if (cached !== undefined) return cached;
    const j = head.length - 1;
    let limit: number;
    if (toLineEnd) {
      const last = head[j]!;
      const z = le - last.cps.length;
      if (z < ls || !this.at(last, z)) limit = -1;
      else if (j === 1) limit = z;
      else limit = this.latest(head, j - 1, z, ls)?.first ?? -1;
    } else limit = this.latest(head, j, le, ls)?.first ?? -1;
    this.lineInfo.set(ls, limit);
    return limit;
  }

  /** The leftmost match starting at or after `from`, longest at that start: [start, end] or null. */
  leftmost(glob: Glob, from: number): [number, number] | null {
    const head = glob[0]!;
    const first = head[0]!;
    const len0 = first.cps.length;
    const multiLine = glob.length > 1;
    for (let ls = this.lineStart(from); ; ) {
      const le = this.lineEnd(ls);
      if (multiLine && le >= this.n) return null;
      const lo = Math.max(from, ls);
      let s = -1;
      if (head.length === 1) {
        if (!multiLine) s = this.next(first, lo, le - len0);
        else if (le - len0 >= lo && this.at(first, le - len0)) s = le - len0;
      } else {
        const limit = this.headLimit(head, ls, le, multiLine);
        if (limit >= 0) s = this.next(first, lo, limit - len0);
      }
      if (s >= 0) {
        const e = multiLine ? this.tail(glob, le + 1) : this.prefixEnd(head, s, le, true);
        if (e >= 0) return [s, e];
      }
      if (le >= this.n) return null;
      ls = le + 1;
    }
  }
}

/** Maps a code point index of `value` back to a string index. */
function stringIndex(offsets: Int32Array | null, i: number): number {
  return offsets === null ? i : offsets[i]!;
}

/** `${VAR#pat}` / `${VAR##pat}` (fromEnd false) and `${VAR%pat}` / `${VAR%%pat}` (fromEnd true). */
export function trimPattern(value: string, pattern: string, fromEnd: boolean, longest: boolean): string {
  // A suffix is found as a prefix of the reversed value, with the pattern reversed too.
  const { toks, fixed } = tokenize(fromEnd ? reversePattern(pattern) : pattern);
  const { cps, offsets } = codePoints(value);
  if (fixed > cps.length) return value; // the pattern needs more characters than there are
  if (fromEnd) cps.reverse();
  const e = new Matcher(cps).anchored(build(toks), longest);
  if (e < 0) return value;
  return fromEnd ? value.slice(0, stringIndex(offsets, cps.length - e)) : value.slice(stringIndex(offsets, e));
}

/**
 * Splits a replace-all replacement into text and whole-match references. BuildKit hands it to
 * Go's Regexp.ReplaceAllString, so `$$` is `$`, `$0`/`${0}` is the matched text, any other
 * `$name`/`${name}` is empty, and a `$` not followed by a name stays as written.
 */
function parseTemplate(t: string): (string | null)[] {
  const out: (string | null)[] = [];
  let lit = '';
  let i = 0;
  for (;;) {
    const d = t.indexOf('$', i);
    if (d < 0) break;
    lit += t.slice(i, d);
    i = d + 1;
    if (t.charCodeAt(i) === 0x24) {
      lit += '$';
      i++;
      continue;
    }
    const brace = t.charCodeAt(i) === 0x7b;
    let k = brace ? i + 1 : i;
    const nameStart = k;
    while (k < t.length) {
      const cp = t.codePointAt(k)!;
      if (!isLetter(cp) && !isDigit(cp) && cp !== 0x5f) break;
      k += cp > 0xffff ? 2 : 1;
    }
    if (k === nameStart || (brace && t.charCodeAt(k) !== 0x7d)) {
      lit += '$';
      continue;
    }
    if (t.slice(nameStart, k) === '0') {
      out.push(lit, null);
      lit = '';
    }
    i = brace ? k + 1 : k;
  }
  out.push(lit + t.slice(i));
  return out;
}

/** `${VAR/pat/repl}` (all false) and `${VAR//pat/repl}` (all true). */
export function replacePattern(value: string, pattern: string, replacement: string, all: boolean): string {
  const { toks, fixed } = tokenize(pattern);
  const { cps, offsets } = codePoints(value);
  if (fixed > cps.length) return value;
  const glob = build(toks);
  const m = new Matcher(cps);
  const n = cps.length;
  const idx = (i: number) => stringIndex(offsets, i);
  if (!all) {
    const hit = m.leftmost(glob, 0);
    return hit === null ? value : value.slice(0, idx(hit[0])) + replacement + value.slice(idx(hit[1]));
  }
  const template = parseTemplate(replacement);
  const parts: string[] = [];
  let lastEnd = 0;
  // The loop follows Go's replace-all: an empty match right after a match is not replaced, and
  // the search always moves on by at least one character.
  for (let searchPos = 0; searchPos <= n; ) {
    const hit = m.leftmost(glob, searchPos);
    if (hit === null) break;
    const [s, e] = hit;
    parts.push(value.slice(idx(lastEnd), idx(s)));
    if (e > lastEnd || s === 0) {
      const matched = value.slice(idx(s), idx(e));
      for (const piece of template) parts.push(piece ?? matched);
    }
    lastEnd = e;
    searchPos = Math.max(e, searchPos + 1);
  }
  parts.push(value.slice(idx(lastEnd)));
  return parts.join('');
}
