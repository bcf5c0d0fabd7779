/**
 * Dockerfile word expansion with the exact behaviour of BuildKit's shell lexer (`shell.Lex`):
 * quote removal, escapes, `$VAR` / `${VAR…}` substitution and, for `expandWords`, splitting
 * on unquoted whitespace. The conformance corpus (README §2–§4) is the specification.
 *
 * One quirk is kept on purpose because BuildKit has it: in word-splitting mode, every nested
 * `${VAR<modifier>…}` word is lexed with the same pending-word buffer as the text around it,
 * so a word in progress before such an expansion is dropped (`a${X:-b}c` gives the one word
 * `bc`, while `expandWord` gives `abc`).
 */
import { ExpansionError } from '../errors.js';
import { charOf, EOF, isDigit, isLetter, isSpace, quoteForMessage } from './expand-chars.js';
import { replacePattern, trimPattern } from './expand-pattern.js';

/** Lexer settings; the defaults are BuildKit's NewLex('\\'). */
export interface LexOptions {
  escapeToken?: '\\' | '`';
  /** Keep quote characters in the result. */
  rawQuotes?: boolean;
  /** Keep escape tokens in the result. */
  rawEscapes?: boolean;
  /** Leave references to unset variables as written. */
  skipUnset?: boolean;
  /** Quotes are ordinary characters (COPY/ADD heredoc bodies). */
  skipProcessQuotes?: boolean;
}

/** Variable lookup: a Map or a function returning undefined when unset. */
export type EnvLookup = ReadonlyMap<string, string> | ((name: string) => string | undefined);

/** Result of single-word mode (BuildKit's ProcessWord). */
export interface WordResult {
  word: string;
  matched: Set<string>;
  unmatched: Set<string>;
}

/** Result of word-splitting mode (BuildKit's ProcessWords). */
export interface WordsResult {
  words: string[];
  matched: Set<string>;
  unmatched: Set<string>;
}

/** Both results of one lexing pass; names looked up are in matched (set) or unmatched (unset). */
export interface ExpansionResult {
  word: string;
  words: string[];
  matched: Set<string>;
  unmatched: Set<string>;
}

/** The five lexer settings BuildKit uses, named as in the conformance corpus. */
export const LEX_MODES = {
  default: {},
  backtickEscape: { escapeToken: '`' },
  heredocContent: { skipProcessQuotes: true },
  rawQuotesSkipUnset: { rawQuotes: true, skipUnset: true },
  heredocLineScan: { rawQuotes: true, rawEscapes: true, skipUnset: true },
} as const satisfies Record<string, LexOptions>;

/**
 * How deeply `${…}` words may nest. BuildKit has no limit; ours keeps recursion far from the
 * JavaScript stack limit. Real Dockerfiles nest two or three levels.
 */
export const MAX_NESTING = 200;

const DOLLAR = 0x24;
const LT = 0x3c;
const SQUOTE = 0x27;
const DQUOTE = 0x22;
const LBRACE = 0x7b;
const RBRACE = 0x7d;
const COLON = 0x3a;
const SLASH = 0x2f;

const MODIFIER_HINT =
  'supported forms: ${VAR}, ${VAR-w}, ${VAR:-w}, ${VAR+w}, ${VAR:+w}, ${VAR?msg}, ${VAR:?msg}, ' +
  '${VAR#pat}, ${VAR##pat}, ${VAR%pat}, ${VAR%%pat}, ${VAR/pat/repl}, ${VAR//pat/repl}';

function fail(message: string, hint?: string): never {
  throw new ExpansionError(message, hint === undefined ? {} : { hint });
}

/** `@ * # ? - $ ! 0`: one of these after `$` is a whole (normally unset) name. */
function isSpecialParam(cp: number): boolean {
  return cp === 0x40 || cp === 0x2a || cp === 0x23 || cp === 0x3f || cp === 0x2d || cp === 0x24 || cp === 0x21 || cp === 0x30;
}

/** Collects words for ProcessWords; `pending` is shared by every nesting level (see top). */
class Splitter {
  readonly words: string[] = [];
  private inWord = false;

  constructor(private readonly pending: { text: string }) {}

  /** Text whose whitespace separates words: plain characters and unquoted `$` results. */
  split(s: string): void {
    let start = 0;
    for (let i = 0; i < s.length; i++) {
      // Every white-space character is in the BMP, so code units are enough here.
      if (!isSpace(s.charCodeAt(i))) continue;
      if (i > start) this.raw(s.slice(start, i));
      this.space();
      start = i + 1;
    }
    if (start < s.length) this.raw(start === 0 ? s : s.slice(start));
  }

  /** Whitespace ends the current word; empty words are never kept. */
  space(): void {
    if (this.inWord && this.pending.text.length > 0) {
      this.words.push(this.pending.text);
      this.pending.text = '';
      this.inWord = false;
    }
  }

  /** Text that never splits: quoted parts, escaped characters. */
  raw(s: string): void {
    this.pending.text += s;
    this.inWord = true;
  }

  finish(): string[] {
    if (this.pending.text.length > 0) {
      this.words.push(this.pending.text);
      this.pending.text = '';
      this.inWord = false;
    }
    return this.words;
  }
}

/** One lexing pass over one input (BuildKit's shellWord). */
class Lexer {
  readonly matched = new Set<string>();
  readonly unmatched = new Set<string>();
  private pos: number;
  private depth = 0;
  private rawEscapes: boolean;
  private readonly pending = { text: '' };
  private readonly escape: number;
  private readonly rawQuotes: boolean;
  private readonly skipUnset: boolean;
  private readonly quotes: boolean;

  constructor(
    private readonly src: string,
    private readonly lookup: (name: string) => string | undefined,
    opts: LexOptions,
  ) {
    // BuildKit reads the word with Go's text/scanner, which skips a leading byte-order mark.
    this.pos = src.charCodeAt(0) === 0xfeff ? 1 : 0;
    this.escape = opts.escapeToken === '`' ? 0x60 : 0x5c;
    this.rawQuotes = opts.rawQuotes === true;
    this.rawEscapes = opts.rawEscapes === true;
    this.skipUnset = opts.skipUnset === true;
    this.quotes = opts.skipProcessQuotes !== true;
  }

  run(): { word: string; words: string[] } {
    return this.word(EOF, this.rawEscapes);
  }

  private peek(): number {
    if (this.pos >= this.src.length) return EOF;
    const c = this.src.charCodeAt(this.pos);
    return c >= 0xd800 && c <= 0xdbff ? this.src.codePointAt(this.pos)! : c;
  }

  private next(): number {
    const c = this.peek();
    if (c !== EOF) this.pos += c > 0xffff ? 2 : 1;
    return c;
  }

  private get(name: string): string | undefined {
    const v = this.lookup(name);
    (v === undefined ? this.unmatched : this.matched).add(name);
    return v;
  }

  /** Lexes up to `stop` (consumed) or the end; a missing `stop` is an error. */
  private word(stop: number, rawEscapes: boolean): { word: string; words: string[] } {
    const saved = this.rawEscapes;
    this.rawEscapes = rawEscapes;
    this.pending.text = '';
    const w = new Splitter(this.pending);
    let out = '';
    for (;;) {
      const ch = this.peek();
      if (ch === EOF) break;
      if (ch === stop) {
        this.pos++;
        this.rawEscapes = saved;
        return { word: out, words: w.finish() };
      }
      if (ch === DOLLAR) {
        const v = this.dollar();
        out += v;
        w.split(v);
      } else if (ch === LT || (this.quotes && (ch === SQUOTE || ch === DQUOTE))) {
        const v = ch === LT ? this.heredocMarker() : ch === SQUOTE ? this.singleQuoted() : this.doubleQuoted();
        out += v;
        w.raw(v);
      } else if (ch === this.escape) {
        this.pos++;
        if (this.rawEscapes) {
          out += charOf(ch);
          w.raw(charOf(ch));
        }
        const esc = this.next();
        if (esc === EOF) break; // a lone escape at the very end is dropped
        out += charOf(esc);
        w.raw(charOf(esc));
      } else if (isSpace(ch)) {
        this.pos++;
        out += charOf(ch);
        w.space();
      } else {
        // A run of ordinary characters is copied in one piece.
        const start = this.pos;
        this.next();
        for (let c = this.peek(); c !== EOF && !this.stopsRun(c, stop) && !isSpace(c); c = this.peek()) this.next();
        const run = this.src.slice(start, this.pos);
        out += run;
        w.raw(run);
      }
    }
    if (stop !== EOF) fail(`unexpected end of statement while looking for matching ${charOf(stop)}`);
    this.rawEscapes = saved;
    return { word: out, words: w.finish() };
  }

  private stopsRun(c: number, stop: number): boolean {
    return c === stop || c === DOLLAR || c === LT || c === SQUOTE || c === DQUOTE || c === this.escape;
  }

  /** A nested word; a failure that reached the end of input is reported as `eofMessage`. */
  private nested(stop: number, rawEscapes: boolean, eofMessage: string): string {
    if (++this.depth > MAX_NESTING) fail(`substitutions nested more than ${MAX_NESTING} levels deep`);
    try {
      const { word } = this.word(stop, rawEscapes);
      this.depth--;
      return word;
    } catch (e) {
      if (e instanceof ExpansionError && this.peek() === EOF) fail(eofMessage);
      throw e;
    }
  }

  /** `'…'`: everything literal, no escapes. */
  private singleQuoted(): string {
    this.pos++;
    const end = this.src.indexOf("'", this.pos);
    if (end < 0) {
      this.pos = this.src.length; // consumed to the end, which decides how an enclosing ${ reports it
      fail('unexpected end of statement while looking for matching single-quote', 'close the quote, or escape it');
    }
    const body = this.src.slice(this.pos, end);
    this.pos = end + 1;
    return this.rawQuotes ? `'${body}'` : body;
  }

  /** `"…"`: `$` expands; the escape token escapes only `"`, `$` and itself. */
  private doubleQuoted(): string {
    this.pos++;
    let out = this.rawQuotes ? '"' : '';
    for (;;) {
      const c = this.peek();
      if (c === EOF) fail('unexpected end of statement while looking for matching double-quote', 'close the quote, or escape it');
      if (c === DQUOTE) {
        this.pos++;
        return this.rawQuotes ? out + '"' : out;
      }
      if (c === DOLLAR) {
        out += this.dollar();
      } else if (c === this.escape) {
        this.pos++;
        if (this.rawEscapes) out += charOf(c);
        const p = this.peek();
        if (p === EOF) continue; // reported as an unterminated quote on the next turn
        if (p === DQUOTE || p === DOLLAR || p === this.escape) {
          this.pos++;
          out += charOf(p);
        } else out += charOf(c);
      } else {
        const start = this.pos;
        this.next();
        for (let d = this.peek(); d !== EOF && d !== DQUOTE && d !== DOLLAR && d !== this.escape; d = this.peek()) this.next();
        out += this.src.slice(start, this.pos);
      }
    }
  }

  /** `<`, or `<<` with the spaces after it, kept together so a heredoc marker stays one word. */
  private heredocMarker(): string {
    this.pos++;
    if (this.peek() !== LT) return '<';
    const start = ++this.pos;
    for (let c = this.peek(); c === 0x20 || c === 0x09 || c === 0x0d; c = this.peek()) this.pos++;
    return '<<' + this.src.slice(start, this.pos);
  }

  /** A variable name: digits only, one special character, or letters, digits and `_`. */
  private name(): string {
    const start = this.pos;
    const first = this.peek();
    if (isDigit(first)) {
      while (isDigit(this.peek())) this.next();
    } else if (isSpecialParam(first)) {
      this.next();
    } else {
      for (let c = first; isLetter(c) || isDigit(c) || c === 0x5f; c = this.peek()) this.next();
    }
    return this.src.slice(start, this.pos);
  }

  /** `$name`, `${name}` or `${name<modifier>word}`. */
  private dollar(): string {
    this.pos++;
    if (this.peek() !== LBRACE) {
      const name = this.name();
      if (name === '') return '$';
      const v = this.get(name);
      return v === undefined && this.skipUnset ? '$' + name : (v ?? '');
    }
    this.pos++;
    const first = this.peek();
    if (first === EOF) fail("syntax error: missing '}'");
    if (first === LBRACE || first === RBRACE || first === COLON) fail('syntax error: bad substitution', 'a substitution is ${NAME} or ${NAME<modifier>word}');
    const name = this.name();
    let op = this.next();
    if (op === EOF) fail("syntax error: missing '}'");
    let mod = charOf(op);
    if (op === RBRACE) {
      const v = this.get(name);
      return v === undefined && this.skipUnset ? '${' + name + '}' : (v ?? '');
    }
    if (op === SLASH) return this.replace(name);
    let nullIsUnset = false;
    if (op === COLON) {
      // `:` only changes how an empty value counts; whatever follows must be a modifier.
      nullIsUnset = true;
      op = this.next();
      mod += charOf(op);
    } else if (!'+-?#%'.includes(mod)) {
      fail(`unsupported modifier (${mod}) in substitution`, MODIFIER_HINT);
    }
    const trim = op === 0x23 || op === 0x25;
    if (nullIsUnset && trim) fail(`unsupported modifier (${mod}) in substitution`, MODIFIER_HINT);
    // Pattern words keep their escapes so that `\*` and `\?` reach the pattern matcher.
    const word = this.nested(RBRACE, trim, "syntax error: missing '}'");
    const v = this.get(name);
    if (v === undefined && this.skipUnset) return '${' + name + mod + word + '}';
    const unset = v === undefined || (nullIsUnset && v === '');
    switch (op) {
      case 0x2d: // -
        return unset ? word : v!;
      case 0x2b: // +
        return unset ? '' : word;
      case 0x3f: // ?
        if (v === undefined) fail(`${name}: ${word || 'is not allowed to be unset'}`, `set ${name} (ARG or ENV) before it is used`);
        if (unset) fail(`${name}: ${word || 'is not allowed to be empty'}`, `give ${name} a non-empty value`);
        return v;
      case 0x23: // # and ##
      case 0x25: {
        // % and %%
        const longest = word.charCodeAt(0) === op;
        return trimPattern(v ?? '', longest ? word.slice(1) : word, op === 0x25, longest);
      }
      default:
        return fail(`unsupported modifier (${mod}) in substitution`, MODIFIER_HINT);
    }
  }

  /** `${name/pattern/replacement}` and `${name//pattern/replacement}`. */
  private replace(name: string): string {
    const all = this.peek() === SLASH;
    if (all) this.pos++;
    const pattern = this.nested(SLASH, true, "syntax error: missing '/' in ${}");
    const replacement = this.nested(RBRACE, true, "syntax error: missing '}'");
    const v = this.get(name);
    // BuildKit writes a skipped `${name//…}` back with a single slash; so do we.
    if (v === undefined && this.skipUnset) return '${' + name + '/' + pattern + '/' + replacement + '}';
    return replacePattern(v ?? '', pattern, replacement, all);
  }
}

/** Runs one pass and returns the single word, the split words and the names looked up. */
export function expand(text: string, env: EnvLookup, opts: LexOptions = {}): ExpansionResult {
  const lookup = typeof env === 'function' ? env : (name: string) => env.get(name);
  const lexer = new Lexer(text, lookup, opts);
  try {
    const { word, words } = lexer.run();
    return { word, words, matched: lexer.matched, unmatched: lexer.unmatched };
  } catch (e) {
    const where = `failed to process ${quoteForMessage(text)}`;
    if (e instanceof ExpansionError) {
      throw new ExpansionError(`${where}: ${e.message}`, e.hint === undefined ? { cause: e } : { hint: e.hint, cause: e });
    }
    // A value too large to build (e.g. a replace-all that multiplies a long value) or a stack
    // overflow: report it like any other expansion failure instead of crashing the caller.
    if (e instanceof RangeError) throw new ExpansionError(`${where}: ${e.message}`, { cause: e });
    throw e;
  }
}

/** Expands `text` as one word, keeping its spaces (BuildKit's ProcessWord). */
export function expandWord(text: string, env: EnvLookup, opts?: LexOptions): WordResult {
  const { word, matched, unmatched } = expand(text, env, opts);
  return { word, matched, unmatched };
}

/** Expands `text` and splits it at unquoted whitespace (BuildKit's ProcessWords). */
export function expandWords(text: string, env: EnvLookup, opts?: LexOptions): WordsResult {
  const { words, matched, unmatched } = expand(text, env, opts);
  return { words, matched, unmatched };
}
