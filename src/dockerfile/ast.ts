/**
 * The Dockerfile syntax tree: what the line parser produces before any instruction-level checks
 * or variable expansion. One node per instruction, each with its source range.
 */
import type { EscapeToken } from '../../grammar/dockerfile.js';

/** A position in the source. Lines and columns are 1-based. */
export interface Position {
  line: number;
  column: number;
}

/** The physical lines an instruction spans, continuation and heredoc bodies included. */
export interface SourceRange {
  start: Position;
  end: Position;
}

/** A heredoc attached to a RUN, COPY or ADD instruction. */
export interface Heredoc {
  /** The terminator word, quotes removed. */
  name: string;
  /** Digits before `<<` (`3<<EOF`), 0 when absent. Kept but unused, as in BuildKit. */
  fileDescriptor: number;
  /** False when the name was quoted: the body is then never expanded. */
  expand: boolean;
  /** `<<-`: leading tabs are removed from the body when it is used. */
  chomp: boolean;
  /** The raw body, each line with its own line ending, terminator excluded. */
  content: string;
}

/** One instruction as written. */
export interface InstructionNode {
  /** The keyword exactly as written (`From`, `run`...). */
  keyword: string;
  /** Words that began with `--` right after the keyword, quotes and escapes removed. */
  flags: string[];
  /** Argument nodes as the keyword's argument rule splits them (BuildKit's node list). */
  args: string[];
  /** True when the arguments came from a JSON array (exec form). */
  json: boolean;
  /** The text after the keyword and flags (trimmed), before the argument rule split it. */
  rest: string;
  /** For ONBUILD: the nested instruction. */
  child?: InstructionNode;
  heredocs: Heredoc[];
  /** The logical line after continuation joining (keyword included), as BuildKit's `Original`. */
  original: string;
  /** Comment lines gathered just before this instruction, `#` and surrounding space removed. */
  comments: string[];
  range: SourceRange;
}

/** A non-fatal finding of the parser, shown on stderr. */
export interface ParseWarning {
  /** Short form (`Empty continuation line found in: RUN a b`). */
  message: string;
  line: number;
  /** A stable rule name, for filtering (`EmptyContinuation`, ...). */
  rule: string;
}

/** A parser directive found at the top of the file. */
export interface Directive {
  name: string;
  value: string;
  line: number;
}

/** The parsed file. */
export interface DockerfileAst {
  instructions: InstructionNode[];
  directives: Directive[];
  escapeToken: EscapeToken;
  warnings: ParseWarning[];
  /** The file name used in messages. */
  file: string;
}
