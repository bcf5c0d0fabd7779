/**
 * Parser directives (`# syntax=`, `# escape=`, `# check=`): read only from the very top of a
 * Dockerfile, before anything else, because `escape` changes how every later line is lexed.
 */
import { DIRECTIVE, type EscapeToken } from '../../grammar/dockerfile.js';
import { DockerfileSyntaxError } from '../errors.js';
import type { Directive } from './ast.js';
import { stripBom } from './source.js';

/** Directive names strata (like BuildKit) understands. */
export const KNOWN_DIRECTIVES = new Set(['syntax', 'escape', 'check']);

const LEADING_SPACE = /^[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+/;

/** The result of scanning the top of a file for directives. */
export interface DirectiveScan {
  directives: Directive[];
  escapeToken: EscapeToken;
}

/**
 * Reads the directive block at the top of `text` (BOM already removed). Scanning stops for good
 * at the first line that is not a known directive. Throws on a repeated directive or a bad escape.
 */
export function scanDirectives(text: string, file: string): DirectiveScan {
  const directives: Directive[] = [];
  let escapeToken: EscapeToken = '\\';
  for (const d of directiveLines(text, ['#'])) {
    const location = { file, line: d.line, column: 1 };
    if (directives.some((x) => x.name === d.name)) {
      throw new DockerfileSyntaxError(`only one ${d.name} parser directive can be used`, {
        location,
        hint: `remove the repeated "# ${d.name}=" line`,
      });
    }
    if (d.name === 'escape') {
      if (d.value !== '`' && d.value !== '\\') {
        throw new DockerfileSyntaxError(`invalid escape token '${d.value}' does not match \` or \\`, { location });
      }
      escapeToken = d.value;
    }
    directives.push(d);
  }
  return { directives, escapeToken };
}

/** Directive lines at the top of the text, for the given comment prefixes, in order. */
function* directiveLines(text: string, prefixes: readonly string[], firstLine = 1): Generator<Directive> {
  let pos = 0;
  let line = firstLine;
  while (pos < text.length) {
    let nl = text.indexOf('\n', pos);
    if (nl < 0) nl = text.length;
    const raw = text.slice(pos, nl).replace(/\r+$/, '').replace(LEADING_SPACE, '');
    const prefix = prefixes.find((p) => raw.startsWith(p));
    if (prefix === undefined) return;
    const m = DIRECTIVE.exec('#' + raw.slice(prefix.length));
    if (!m) return;
    const name = m[1]!.toLowerCase();
    if (!KNOWN_DIRECTIVES.has(name)) return;
    yield { name, value: m[2]!, line };
    pos = nl + 1;
    line++;
  }
}

/** What `detectSyntax` / `findDirective` return. */
export interface FoundDirective {
  /** The first space-separated word of the value (the frontend reference for `syntax`). */
  value: string;
  /** The whole value. */
  cmdline: string;
  /** 1-based line; 0 for the whole-file JSON form. */
  line: number;
}

/**
 * Finds one directive the way the frontend does before parsing: after an optional `#!` line,
 * in `#` comments (and, for `syntax`, `//` comments or a whole-file JSON object).
 */
export function findDirective(key: string, input: string): FoundDirective | undefined {
  let text = stripBom(input);
  let firstLine = 1;
  if (text.startsWith('#!')) {
    const nl = text.indexOf('\n');
    text = nl < 0 ? '' : text.slice(nl + 1);
    firstLine = 2;
  }
  if (key === 'syntax') {
    const fromJson = jsonDirective(text, key);
    if (fromJson !== undefined) return { value: fromJson, cmdline: fromJson, line: 0 };
  }
  const prefixes = key === 'syntax' ? ['#', '//'] : ['#'];
  for (const d of directiveLines(text, prefixes, firstLine)) {
    if (d.name === key) return { value: d.value.split(' ')[0]!, cmdline: d.value, line: d.line };
  }
  return undefined;
}

/** `DetectSyntax`: the `# syntax=` frontend reference, if any. */
export function detectSyntax(text: string): FoundDirective | undefined {
  return findDirective('syntax', text);
}

function jsonDirective(text: string, key: string): string | undefined {
  if (!text.trimStart().startsWith('{')) return undefined;
  try {
    const obj: unknown = JSON.parse(text);
    if (obj && typeof obj === 'object' && !Array.isArray(obj)) {
      const v = (obj as Record<string, unknown>)[key];
      if (typeof v === 'string') return v;
    }
  } catch {
    // Not JSON: the comment forms apply.
  }
  return undefined;
}
