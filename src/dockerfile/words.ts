/**
 * Splitting an instruction's joined text: keyword, builder flags, and the per-keyword argument
 * rules (whitespace lists, BuildKit's "parse words" for ENV/LABEL/ARG, name=value pairs).
 * No variable expansion happens here; quotes are kept except in flags.
 */
import { ARG_SEPARATOR } from '../../grammar/dockerfile.js';

/** Go's unicode.IsSpace. */
export function isSpace(ch: string): boolean {
  const c = ch.charCodeAt(0);
  if (c <= 0x20) return c === 0x20 || (c >= 0x09 && c <= 0x0d);
  if (c < 0x85) return false;
  return (
    c === 0x85 || c === 0xa0 || c === 0x1680 || (c >= 0x2000 && c <= 0x200a) ||
    c === 0x2028 || c === 0x2029 || c === 0x202f || c === 0x205f || c === 0x3000
  );
}

/** Trims Go-style Unicode whitespace from both ends. */
export function trimSpace(s: string): string {
  let a = 0;
  let b = s.length;
  while (a < b && isSpace(s[a]!)) a++;
  while (b > a && isSpace(s[b - 1]!)) b--;
  return a === 0 && b === s.length ? s : s.slice(a, b);
}

/** Trims Go-style Unicode whitespace from the start. */
export function trimLeftSpace(s: string): string {
  let a = 0;
  while (a < s.length && isSpace(s[a]!)) a++;
  return a === 0 ? s : s.slice(a);
}

/** Splits the joined line into its keyword and the text after it. */
export function splitKeyword(line: string): { keyword: string; rest: string } {
  const trimmed = trimSpace(line);
  const m = ARG_SEPARATOR.exec(trimmed);
  if (!m) return { keyword: trimmed, rest: '' };
  return { keyword: trimmed.slice(0, m.index), rest: trimmed.slice(m.index + m[0].length) };
}

/**
 * Reads builder flags (`--name=value` words) off the front of `text`. Quotes are removed, the
 * escape token keeps the next character (even inside single quotes), and a bare `--` ends the
 * flags. Returns the flags and the remaining text, trimmed.
 */
export function extractFlags(text: string, escape: string): { flags: string[]; rest: string } {
  const flags: string[] = [];
  let pos = 0;
  const n = text.length;
  for (;;) {
    while (pos < n && isSpace(text[pos]!)) pos++;
    if (pos >= n) return { flags, rest: '' };
    if (text[pos] !== '-' || text[pos + 1] !== '-') return { flags, rest: trimSpace(text.slice(pos)) };
    let word = '';
    let quoted = false;
    let quote = '';
    for (; pos < n; pos++) {
      const ch = text[pos]!;
      if (quote) {
        if (ch === quote) { quote = ''; continue; }
      } else {
        if (isSpace(ch)) break;
        if (ch === "'" || ch === '"') { quote = ch; quoted = true; continue; }
      }
      if (ch === escape) {
        if (pos + 1 === n) { quote = ''; continue; }
        pos++;
        word += text[pos];
        continue;
      }
      word += ch;
    }
    if (word === '--') return { flags, rest: trimSpace(text.slice(pos)) };
    if (quoted || word.length > 0) flags.push(word);
  }
}

/**
 * BuildKit's "parse words": whitespace-separated words with quotes kept. Outside single quotes
 * the escape token is kept together with the character after it; a word that held quotes is kept
 * even when empty.
 */
export function parseWords(text: string, escape: string): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let quote = '';
  let blankOk = false;
  const n = text.length;
  for (let pos = 0; pos < n; pos++) {
    const ch = text[pos]!;
    if (!inWord) {
      if (isSpace(ch)) continue;
      inWord = true;
    }
    if (quote) {
      if (ch === quote) quote = '';
      else if (ch === escape && quote !== "'") {
        if (pos + 1 === n) { quote = ''; continue; }
        word += ch;
        pos++;
        word += text[pos];
        continue;
      }
      word += ch;
      continue;
    }
    if (isSpace(ch)) {
      if (blankOk || word.length > 0) words.push(word);
      word = '';
      blankOk = false;
      inWord = false;
      continue;
    }
    if (ch === "'" || ch === '"') {
      quote = ch;
      blankOk = true;
    } else if (ch === escape) {
      if (pos + 1 === n) continue;
      word += ch;
      pos++;
      word += text[pos];
      continue;
    }
    word += ch;
  }
  if (inWord && (blankOk || word.length > 0)) words.push(word);
  return words;
}

/** Splits on runs of ASCII whitespace, as FROM, EXPOSE and shell-form COPY/ADD/VOLUME do. */
export function splitWhitespace(text: string): string[] {
  const t = trimSpace(text);
  return t === '' ? [] : t.split(ARG_SEPARATOR);
}

/**
 * HEALTHCHECK's first word (`CMD`, `NONE`, ...) and the text after it. Returns undefined for
 * empty text.
 */
export function splitFirstWord(text: string): { first: string; rest: string } | undefined {
  let sep = 0;
  while (sep < text.length && !isSpace(text[sep]!)) sep++;
  if (sep === 0) return undefined;
  let next = sep;
  while (next < text.length && isSpace(text[next]!)) next++;
  return { first: text.slice(0, sep), rest: text.slice(next) };
}
