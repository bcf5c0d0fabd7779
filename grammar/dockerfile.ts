/**
 * The Dockerfile lexer grammar: moo rules and nothing else.
 *
 * The lexer works on physical lines. It does not split words: BuildKit joins continuation lines
 * first and splits the joined text afterwards, so this grammar only finds where instructions,
 * comments, continuations and heredoc bodies begin and end. States:
 *
 *   line          start of a physical line outside an instruction (blank, comment, or text)
 *   instruction   inside an instruction's text, up to an unescaped end of line
 *   continuation  start of a line that continues an instruction (comment and blank lines are dropped)
 *   heredoc       raw heredoc body lines; the parser switches here and back
 *
 * A second, independent rule set tokenises JSON exec forms (`CMD ["a", "b"]`).
 *
 * Everything that depends on the escape token (`\` or `` ` ``, set by the `escape` directive) is
 * built by `dockerfileStates(escape)`.
 */
import type { Rules } from 'moo';

/** The two escape tokens the `escape` parser directive accepts. */
export type EscapeToken = '\\' | '`';

/**
 * Unicode whitespace as Go's unicode.IsSpace defines it, minus `\n` (lines end there). JavaScript's
 * `\s` differs (it adds U+FEFF and lacks U+0085), so the class is spelled out.
 */
export const INLINE_SPACE = '\\t\\v\\f\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';

/** A parser directive line: `# key = value` (leading whitespace already trimmed). */
export const DIRECTIVE = /^#[ \t]*([a-zA-Z][a-zA-Z0-9]*)[ \t]*=[ \t]*(.+?)[ \t]*$/;

/** Whitespace that separates the keyword, list arguments and FROM/EXPOSE words (ASCII only). */
export const ARG_SEPARATOR = /[\t\v\f\r ]+/;

function escapeForRegex(ch: string): string {
  return ch.replace(/[\\^$.*+?()[\]{}|]/g, '\\$&');
}

/** The rule states for one escape token. */
export function dockerfileStates(escape: EscapeToken): Record<string, Rules> {
  const e = escapeForRegex(escape);
  const ws = `[${INLINE_SPACE}]`;

  // Text inside an instruction. The escape token is its own token so that a continuation (an escape
  // not preceded by another escape, then only spaces/tabs to the end of the line) can be told apart.
  const instructionText: Rules = {
    continuation: { match: new RegExp(`(?<!${e})${e}[ \\t]*\\r*(?:\\n|$)`), lineBreaks: true, next: 'continuation' },
    eol: { match: /\r*\n/, lineBreaks: true, next: 'line' },
    trailingCr: /\r+$/,
    text: new RegExp(`[^\\n\\r${e}]+`),
    cr: /\r+/,
    escape: new RegExp(e),
  };

  // Like instructionText, but every rule leaves for `next` (moo has no zero-width transitions).
  const enter = (next: string): Rules => {
    const out: Rules = {};
    for (const [type, rule] of Object.entries(instructionText)) {
      const r = rule instanceof RegExp ? { match: rule } : (rule as object);
      out[type] = { next, ...r } as Rules[string];
    }
    return out;
  };

  return {
    line: {
      blank: { match: new RegExp(`${ws}*\\n|${ws}+$`), lineBreaks: true },
      comment: { match: new RegExp(`${ws}*#[^\\n]*(?:\\n|$)`), lineBreaks: true },
      indent: { match: new RegExp(`${ws}+`), next: 'instruction' },
      ...enter('instruction'),
    },
    instruction: instructionText,
    continuation: {
      droppedComment: { match: new RegExp(`${ws}*#[^\\n]*(?:\\n|$)`), lineBreaks: true },
      emptyContinuation: { match: new RegExp(`${ws}*\\n|${ws}+$`), lineBreaks: true },
      ...enter('instruction'),
    },
    heredoc: {
      bodyLine: { match: /[^\n]*\n|[^\n]+/, lineBreaks: true },
    },
  };
}

/** Tokens of a JSON value as Go's encoding/json accepts it (used for exec forms). */
export const jsonRules: Rules = {
  space: { match: /[ \t\n\r]+/, lineBreaks: true },
  lbracket: '[',
  rbracket: ']',
  lbrace: '{',
  rbrace: '}',
  comma: ',',
  colon: ':',
  string: /"(?:[^"\\\x00-\x1f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"/,
  number: /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/,
  literal: /true|false|null/,
  invalid: { match: /[^]/, lineBreaks: true },
};
