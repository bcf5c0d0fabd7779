/**
 * Character classes and small string helpers for Dockerfile word expansion. The classes follow
 * Go's `unicode` package (IsSpace, IsLetter, IsDigit), because BuildKit's lexer uses those and
 * JavaScript's `\s` differs (it includes U+FEFF and lacks U+0085).
 */

/** End of input, as returned by the scanners. */
export const EOF = -1;

const LETTER = /^\p{L}$/u;
const DIGIT = /^\p{Nd}$/u;

/** Unicode White_Space, which is exactly what Go's unicode.IsSpace accepts. */
export function isSpace(cp: number): boolean {
  if (cp < 0x80) return cp === 0x20 || (cp >= 0x09 && cp <= 0x0d);
  return (
    cp === 0x85 || cp === 0xa0 || cp === 0x1680 || (cp >= 0x2000 && cp <= 0x200a) ||
    cp === 0x2028 || cp === 0x2029 || cp === 0x202f || cp === 0x205f || cp === 0x3000
  );
}

/** A decimal digit of any script (Unicode category Nd). */
export function isDigit(cp: number): boolean {
  if (cp < 0x80) return cp >= 0x30 && cp <= 0x39;
  return DIGIT.test(String.fromCodePoint(cp));
}

/** A letter of any script (Unicode category L). */
export function isLetter(cp: number): boolean {
  if (cp < 0x80) return (cp >= 0x41 && cp <= 0x5a) || (cp >= 0x61 && cp <= 0x7a);
  return LETTER.test(String.fromCodePoint(cp));
}

/** The text of one code point; EOF renders as U+FFFD, as Go's string(rune(-1)) does. */
export function charOf(cp: number): string {
  return cp < 0 ? '\ufffd' : String.fromCodePoint(cp);
}

/** Code units taken by the code point at `i` (2 for a surrogate pair, else 1). */
export function widthAt(s: string, i: number): number {
  const c = s.charCodeAt(i);
  if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
    const d = s.charCodeAt(i + 1);
    if (d >= 0xdc00 && d <= 0xdfff) return 2;
  }
  return 1;
}

/** The code points of `s` (lone surrogates stay single units) and where each one starts. */
export function codePoints(s: string): { cps: Int32Array; offsets: Int32Array | null } {
  const cps = new Int32Array(s.length);
  let n = 0;
  let pairs = false;
  for (let i = 0; i < s.length; ) {
    const w = widthAt(s, i);
    if (w === 2) pairs = true;
    cps[n++] = w === 2 ? s.codePointAt(i)! : s.charCodeAt(i);
    i += w;
  }
  if (!pairs) return { cps, offsets: null };
  // Only strings with surrogate pairs need a map from code point index to string index.
  const offsets = new Int32Array(n + 1);
  for (let i = 0, k = 0; k < n; k++) {
    offsets[k] = i;
    i += cps[k]! > 0xffff ? 2 : 1;
  }
  offsets[n] = s.length;
  return { cps: cps.subarray(0, n), offsets };
}

const SHORT_ESCAPES: Record<number, string> = { 7: '\\a', 8: '\\b', 9: '\\t', 10: '\\n', 11: '\\v', 12: '\\f', 13: '\\r' };
const QUOTE_LIMIT = 200;
// What Go's strconv.IsPrint accepts besides ASCII: letters, marks, numbers, punctuation, symbols.
const PRINTABLE = /^[\p{L}\p{M}\p{N}\p{P}\p{S}]$/u;

/** Double-quotes `s` for an error message, roughly as Go's %q does; long text is shortened. */
export function quoteForMessage(s: string): string {
  const body = s.length > QUOTE_LIMIT ? s.slice(0, QUOTE_LIMIT) : s;
  let out = '"';
  for (let i = 0; i < body.length; ) {
    const w = widthAt(body, i);
    const cp = w === 2 ? body.codePointAt(i)! : body.charCodeAt(i);
    i += w;
    if (cp === 0x22 || cp === 0x5c) out += '\\' + String.fromCharCode(cp);
    else if (SHORT_ESCAPES[cp] !== undefined) out += SHORT_ESCAPES[cp];
    else if (cp < 0x20 || cp === 0x7f) out += '\\x' + cp.toString(16).padStart(2, '0');
    else if (cp < 0x80 || PRINTABLE.test(String.fromCodePoint(cp))) out += String.fromCodePoint(cp);
    else out += cp > 0xffff ? '\\U' + cp.toString(16).padStart(8, '0') : '\\u' + cp.toString(16).padStart(4, '0');
  }
  return out + '"' + (s.length > QUOTE_LIMIT ? `... (${s.length} characters)` : '');
}
