/**
 * Exec-form detection: `CMD ["a", "b"]`. The text is exec form only when it starts with `[` and
 * the whole of it is one valid JSON value; anything else is shell form. A valid array holding a
 * non-string is an error, not shell form (BuildKit's rule).
 */
import moo from 'moo';
import { jsonRules } from '../../grammar/dockerfile.js';
import { DockerfileSyntaxError } from '../errors.js';
import { isEscapedByte } from './source.js';
import { trimLeftSpace } from './words.js';

const jsonLexer = moo.compile(jsonRules);

/** The message BuildKit gives for `["a", 1]`. */
export const NOT_STRING_ARRAY = 'when using JSON array syntax, arrays must be comprised of strings only';

/** Deeper nesting than this is treated as invalid JSON (Go's decoder also stops at 10000). */
const MAX_DEPTH = 10000;

/**
 * Returns the strings of a JSON array, or undefined when `text` is not exec form.
 * Throws when it is a valid JSON array with a non-string element.
 */
export function parseExecForm(text: string): string[] | undefined {
  const src = trimLeftSpace(text);
  if (!src.startsWith('[')) return undefined;
  const tokens: moo.Token[] = [];
  jsonLexer.reset(src);
  for (let t = jsonLexer.next(); t; t = jsonLexer.next()) {
    if (t.type === 'invalid') return undefined;
    if (t.type !== 'space') tokens.push(t);
  }
  const top = validate(tokens);
  if (!top) return undefined;
  if (top.some((t) => t.type !== 'string')) throw new DockerfileSyntaxError(NOT_STRING_ARRAY);
  return top.map((t) => decodeJsonString(t.text));
}

/**
 * Checks that the tokens form exactly one JSON value whose outer level is an array, and returns
 * the first token of each top-level element (a string token for a string element).
 */
function validate(tokens: moo.Token[]): moo.Token[] | undefined {
  // Each frame: the closing token type, and whether the next thing is a key (objects only).
  const stack: { close: 'rbracket' | 'rbrace'; expect: 'value' | 'key' | 'colon' | 'comma-or-close' | 'value-or-close' | 'key-or-close' }[] = [];
  const elements: moo.Token[] = [];
  let i = 0;
  for (; i < tokens.length; i++) {
    const t = tokens[i]!;
    const frame = stack[stack.length - 1];
    if (!frame) {
      if (i > 0) return undefined; // trailing data after the value
      if (t.type !== 'lbracket') return undefined;
      stack.push({ close: 'rbracket', expect: 'value-or-close' });
      continue;
    }
    switch (frame.expect) {
      case 'colon':
        if (t.type !== 'colon') return undefined;
        frame.expect = 'value';
        continue;
      case 'comma-or-close':
        if (t.type === frame.close) { stack.pop(); continue; }
        if (t.type !== 'comma') return undefined;
        frame.expect = frame.close === 'rbrace' ? 'key' : 'value';
        continue;
      case 'key':
      case 'key-or-close':
        if (frame.expect === 'key-or-close' && t.type === 'rbrace') { stack.pop(); continue; }
        if (t.type !== 'string') return undefined;
        frame.expect = 'colon';
        continue;
      case 'value':
      case 'value-or-close':
        if (frame.expect === 'value-or-close' && t.type === 'rbracket') { stack.pop(); continue; }
        if (stack.length === 1) elements.push(t);
        if (t.type === 'lbracket' || t.type === 'lbrace') {
          if (stack.length >= MAX_DEPTH) return undefined;
          frame.expect = 'comma-or-close';
          stack.push(t.type === 'lbracket'
            ? { close: 'rbracket', expect: 'value-or-close' }
            : { close: 'rbrace', expect: 'key-or-close' });
          continue;
        }
        if (t.type !== 'string' && t.type !== 'number' && t.type !== 'literal') return undefined;
        frame.expect = 'comma-or-close';
        continue;
    }
  }
  // A closed container leaves its parent expecting a comma: that was set when it opened.
  return stack.length === 0 && tokens.length > 0 ? elements : undefined;
}

const SIMPLE_ESCAPES: Record<string, string> = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };

/** Decodes a JSON string token as Go does: lone surrogates and invalid bytes become U+FFFD. */
export function decodeJsonString(token: string): string {
  let out = '';
  const end = token.length - 1;
  for (let i = 1; i < end; i++) {
    const ch = token[i]!;
    if (ch !== '\\') {
      out += isEscapedByte(ch.charCodeAt(0)) ? '\ufffd' : ch;
      continue;
    }
    const e = token[++i]!;
    if (e !== 'u') { out += SIMPLE_ESCAPES[e]; continue; }
    const code = parseInt(token.slice(i + 1, i + 5), 16);
    i += 4;
    if (code >= 0xd800 && code <= 0xdbff && token[i + 1] === '\\' && token[i + 2] === 'u') {
      const low = parseInt(token.slice(i + 3, i + 7), 16);
      if (low >= 0xdc00 && low <= 0xdfff) {
        out += String.fromCharCode(code, low);
        i += 6;
        continue;
      }
    }
    out += code >= 0xd800 && code <= 0xdfff ? '\ufffd' : String.fromCharCode(code);
  }
  return out;
}
