/**
 * Finding heredocs (`<<EOF`, `<<-'EOF'`, `3<<EOF`) on a RUN, COPY or ADD line, and preparing
 * their bodies for use. Bodies themselves are read by the parser.
 */
import { DockerfileSyntaxError, ExpansionError } from '../errors.js';
import type { Heredoc } from './ast.js';
import { expandWords, type LexOptions } from './expand.js';

/** Instructions whose lines may carry heredocs. */
export const HEREDOC_INSTRUCTIONS = new Set(['run', 'copy', 'add']);

const HEREDOC_WORD = /^(\d*)<<(-?)[\t\n\f\r ]*([^<]*)$/;
const NO_ENV = new Map<string, string>();
const LINE_SCAN: LexOptions = { rawQuotes: true, rawEscapes: true, skipUnset: true };

/**
 * Classifies one word: a heredoc, or undefined when it is not one. Throws when the name has an
 * unterminated quote.
 */
export function parseHeredocWord(word: string): Heredoc | undefined {
  const m = HEREDOC_WORD.exec(word);
  if (!m) return undefined;
  const rest = m[3]!;
  if (rest === '') return undefined;
  let plain: string[];
  let raw: string[];
  try {
    plain = expandWords(rest, NO_ENV, { skipUnset: true }).words;
    if (plain.length !== 1) return undefined;
    raw = expandWords(rest, NO_ENV, { skipUnset: true, rawQuotes: true }).words;
  } catch (e) {
    if (e instanceof ExpansionError) {
      throw new DockerfileSyntaxError(`invalid heredoc name ${JSON.stringify(rest)}: ${e.message}`, {
        hint: 'close the quote around the heredoc name',
      });
    }
    throw e;
  }
  const name = plain[0]!;
  // Quotes removed from the name mean the body must not be expanded.
  const expand = countQuotes(name) === countQuotes(raw[0] ?? '');
  const fd = m[1] === '' ? 0 : Number(m[1]);
  return { name, fileDescriptor: Number.isSafeInteger(fd) ? fd : 0, expand, chomp: m[2] === '-', content: '' };
}

function countQuotes(s: string): number {
  let n = 0;
  for (const ch of s) if (ch === '"' || ch === "'") n++;
  return n;
}

/** The heredocs named on a joined instruction line, in order (none when the line cannot be lexed). */
export function heredocsFromLine(line: string): Heredoc[] {
  if (!line.includes('<<')) return [];
  let words: string[];
  try {
    words = expandWords(line, NO_ENV, LINE_SCAN).words;
  } catch (e) {
    if (e instanceof ExpansionError) return [];
    throw e;
  }
  const out: Heredoc[] = [];
  for (const w of words) {
    const h = parseHeredocWord(w);
    if (h) out.push(h);
  }
  return out;
}

/** A heredoc body as used: with `<<-`, leading tabs are removed from every line. */
export function heredocBody(h: Heredoc): string {
  // Split on \n only: a JavaScript multiline `^` would also match after \r and U+2028.
  return h.chomp ? h.content.split('\n').map((l) => l.replace(/^\t+/, '')).join('\n') : h.content;
}
