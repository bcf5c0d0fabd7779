/**
 * The Dockerfile line parser: text → syntax tree. It joins continuation lines, drops comments,
 * reads directives and heredoc bodies, and splits each instruction with its keyword's rule. No
 * variable expansion and no instruction-level checks happen here (see convert.ts).
 */
import type moo from 'moo';
import { DockerfileSyntaxError, StrataError } from '../errors.js';
import type { DockerfileAst, Heredoc, InstructionNode, ParseWarning, SourceRange } from './ast.js';
import { scanDirectives } from './directives.js';
import { HEREDOC_INSTRUCTIONS, heredocsFromLine } from './heredoc.js';
import { dockerfileLexer, seekLexer } from './lexer.js';
import { buildNodeShape, completeChild, type NodeShape } from './node-builder.js';
import { decodeSource, stripBom } from './source.js';
import { trimLeftSpace, trimSpace } from './words.js';

/** Options for parseDockerfile. */
export interface ParseOptions {
  /** The name used in locations and messages (default `Dockerfile`). */
  file?: string;
}

/** Parses Dockerfile text or bytes. Throws DockerfileSyntaxError with a location on bad input. */
export function parseDockerfile(input: string | Uint8Array, opts: ParseOptions = {}): DockerfileAst {
  const file = opts.file ?? 'Dockerfile';
  const text = stripBom(decodeSource(input));
  const { directives, escapeToken } = scanDirectives(text, file);
  const lexer = dockerfileLexer(escapeToken, text);
  const instructions: InstructionNode[] = [];
  const warnings: ParseWarning[] = [];
  let comments: string[] = [];

  let tok = lexer.next();
  while (tok) {
    if (tok.type === 'blank') {
      tok = lexer.next();
      continue;
    }
    if (tok.type === 'comment') {
      // Directive lines are not comments of the first instruction.
      if (tok.line > directives.length) {
        const body = trimSpace(trimLeftSpace(tok.text).slice(1));
        if (body === '') comments = [];
        else comments.push(body);
      }
      tok = lexer.next();
      continue;
    }

    // An instruction: gather its text up to an unescaped end of line.
    const startLine = tok.line;
    let startColumn = tok.col;
    let endLine = tok.line;
    let emptyContinuation = false;
    const parts: string[] = [];
    if (tok.type === 'indent') {
      startColumn += tok.text.length;
      tok = lexer.next();
    }
    let ended = false;
    while (tok && !ended) {
      endLine = tok.line;
      switch (tok.type) {
        case 'text':
        case 'escape':
        case 'cr':
          parts.push(tok.text);
          break;
        case 'emptyContinuation':
          emptyContinuation = true;
          break;
        case 'eol':
          ended = true;
          break;
        // continuation, droppedComment, trailingCr, indent: nothing to keep
      }
      tok = lexer.next();
    }

    const original = trimSpace(parts.join(''));
    if (original === '') continue;
    const range: SourceRange = { start: { line: startLine, column: startColumn }, end: { line: endLine, column: 1 } };
    const location = { file, line: startLine, column: startColumn };
    let shape: NodeShape;
    try {
      shape = buildNodeShape(original, escapeToken);
    } catch (e) {
      throw relocate(e, location);
    }
    if (emptyContinuation) {
      warnings.push({ message: `Empty continuation line found in: ${original}`, line: startLine, rule: 'EmptyContinuation' });
    }

    const node = completeChild(shape, { original, range });
    node.comments = comments;
    comments = [];

    const target = shape.keyword.toLowerCase() === 'onbuild' ? node.child : node;
    if (target && HEREDOC_INSTRUCTIONS.has(target.keyword.toLowerCase()) && !target.json) {
      let heredocs: Heredoc[];
      try {
        heredocs = heredocsFromLine(original);
      } catch (e) {
        throw relocate(e, location);
      }
      if (heredocs.length > 0) {
        // The lexer already read this instruction's end of line, so `tok` (if any) is the first
        // body line lexed in the wrong state: rewind to it.
        const resumeAt = tok ? tok.offset : text.length;
        const read = readHeredocBodies(lexer, resumeAt, tok ? tok.line : endLine + 1, heredocs, location);
        range.end.line = read.endLine;
        node.heredocs = heredocs;
        if (target !== node) target.heredocs = heredocs;
        tok = lexer.next();
      }
    }
    instructions.push(node);
  }

  if (instructions.length === 0) {
    throw new DockerfileSyntaxError('file with no instructions', {
      location: { file },
      hint: 'a Dockerfile needs at least a FROM instruction',
    });
  }
  return { instructions, directives, escapeToken, warnings, file };
}

/**
 * Reads each heredoc's body, in order, from `offset`: raw lines up to one that equals the name
 * (after its line ending, and with `<<-` its leading tabs, are removed). Leaves the lexer after
 * the last terminator, in the `line` state.
 */
function readHeredocBodies(
  lexer: moo.Lexer,
  offset: number,
  firstLine: number,
  heredocs: Heredoc[],
  location: { file: string; line: number; column: number },
): { endLine: number } {
  seekLexer(lexer, offset, firstLine, 'heredoc');
  let endLine = firstLine - 1;
  let consumed = 0;
  for (const h of heredocs) {
    let terminated = false;
    for (let t = lexer.next(); t; t = lexer.next()) {
      consumed += t.text.length;
      endLine = t.line;
      let candidate = t.text.replace(/[\r\n]+$/, '');
      if (h.chomp) candidate = candidate.replace(/^\t+/, '');
      if (candidate === h.name) {
        terminated = true;
        break;
      }
      h.content += t.text.endsWith('\n') ? t.text : t.text + '\n';
    }
    if (!terminated) {
      throw new DockerfileSyntaxError('unterminated heredoc', {
        location: { ...location, endLine },
        hint: `end the heredoc with a line that is exactly "${h.name}"`,
      });
    }
  }
  // Continue with normal lines after the bodies.
  seekLexer(lexer, offset + consumed, endLine + 1, 'line');
  return { endLine };
}

/** Gives a location-less parse error the instruction's location. */
function relocate(e: unknown, location: { file: string; line: number; column: number }): unknown {
  return e instanceof StrataError ? e.at(location) : e;
}
