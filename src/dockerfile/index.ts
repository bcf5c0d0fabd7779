/**
 * The Dockerfile front end in one call: text → syntax tree → typed stages, with warnings
 * filtered by the `check` directive.
 */
import type { DockerfileAst } from './ast.js';
import { applyChecks, checkSettings } from './checks.js';
import { convertAst } from './convert.js';
import type { Dockerfile } from './instructions.js';
import { lintDockerfile } from './lint.js';
import { parseDockerfile } from './parser.js';

/** What loadDockerfile returns: the syntax tree and the typed form (warnings already filtered). */
export interface LoadedDockerfile {
  ast: DockerfileAst;
  dockerfile: Dockerfile;
}

/** Parses, converts and lints a Dockerfile. Throws a located StrataError on bad input. */
export function loadDockerfile(input: string | Uint8Array, opts: { file?: string } = {}): LoadedDockerfile {
  const ast = parseDockerfile(input, opts);
  const dockerfile = convertAst(ast);
  dockerfile.warnings.push(...lintDockerfile(dockerfile));
  dockerfile.warnings.sort((a, b) => a.line - b.line);
  dockerfile.warnings = applyChecks(dockerfile.warnings, checkSettings(ast.directives, ast.file), ast.file);
  return { ast, dockerfile };
}

export type { Dockerfile, Stage, Instruction } from './instructions.js';
export type { DockerfileAst, InstructionNode } from './ast.js';
