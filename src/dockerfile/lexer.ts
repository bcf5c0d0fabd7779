/**
 * The compiled Dockerfile lexers (one per escape token), built from the rules in `grammar/`.
 */
import moo from 'moo';
import { dockerfileStates, type EscapeToken } from '../../grammar/dockerfile.js';

const compiled = new Map<EscapeToken, moo.Lexer>();

/**
 * The lexer for the escape token, reset to `text` in the `line` state. Lexers are reused: parsing
 * is synchronous, so one parse finishes with a lexer before the next takes it.
 */
export function dockerfileLexer(escape: EscapeToken, text: string): moo.Lexer {
  let lexer = compiled.get(escape);
  if (!lexer) {
    lexer = moo.states(dockerfileStates(escape), 'line');
    compiled.set(escape, lexer);
  }
  lexer.reset(text);
  lexer.setState('line');
  return lexer;
}

/** moo's internal position fields (stable across moo 0.5). */
interface LexerPosition {
  index: number;
  line: number;
  col: number;
}

/**
 * Moves the lexer to an absolute offset of the text it was reset to, in `state`. Used to re-read
 * heredoc bodies that were already lexed in the wrong state, without copying the text.
 */
export function seekLexer(lexer: moo.Lexer, offset: number, line: number, state: string): void {
  const pos = lexer as unknown as LexerPosition;
  pos.index = offset;
  pos.line = line;
  pos.col = 1;
  lexer.setState(state);
}
