/**
 * Syntax tree → typed Dockerfile: each node converted (convert-instruction.ts), then grouped into
 * stages, with the meta ARGs that come before the first FROM kept apart.
 */
import { InstructionError, StrataError } from '../errors.js';
import type { DockerfileAst } from './ast.js';
import { convertNode, docCommentFor } from './convert-instruction.js';
import type { ArgInstruction, Diagnostic, Dockerfile, Stage } from './instructions.js';

/** Stage names BuildKit reserves for itself. */
const RESERVED_STAGE_NAMES = new Set(['scratch', 'context']);

/** Converts a parsed file. Throws InstructionError (with a location) on the first bad instruction. */
export function convertAst(ast: DockerfileAst): Dockerfile {
  const warnings: Diagnostic[] = ast.warnings.map((w) => ({ rule: w.rule, message: w.message, line: w.line }));
  const metaArgs: ArgInstruction[] = [];
  const stages: Stage[] = [];
  const names = new Map<string, number>();

  for (const node of ast.instructions) {
    const line = node.range.start.line;
    const location = { file: ast.file, line, column: node.range.start.column };
    let converted;
    try {
      converted = convertNode(node, (rule, message) => warnings.push({ rule, message, line }));
    } catch (e) {
      throw e instanceof StrataError ? e.at(location) : e;
    }
    if (converted.kind === 'FROM') {
      const name = converted.stageName;
      if (name !== undefined) {
        const previous = names.get(name);
        if (previous !== undefined) {
          throw new InstructionError(`duplicate stage name "${name}"`, {
            location,
            hint: `stage "${name}" is already defined on line ${previous}; give this stage another name`,
          });
        }
        names.set(name, line);
        if (RESERVED_STAGE_NAMES.has(name)) {
          warnings.push({ rule: 'ReservedStageName', message: `Stage name should not use the same name as reserved stage "${name}"`, line });
        }
      }
      stages.push({
        index: stages.length,
        ...(name !== undefined ? { name } : {}),
        from: converted,
        instructions: [],
        docComment: docCommentFor(node.comments, name ?? ''),
      });
      continue;
    }
    const current = stages[stages.length - 1];
    if (!current) {
      if (converted.kind === 'ARG') {
        metaArgs.push(converted);
        continue;
      }
      throw new InstructionError(`${converted.kind} cannot come before the first FROM`, {
        location,
        hint: 'a Dockerfile starts with FROM; only ARG may come before it',
      });
    }
    current.instructions.push(converted);
  }
  if (stages.length === 0) {
    throw new InstructionError('the Dockerfile has no FROM instruction', {
      location: { file: ast.file },
      hint: 'add FROM <image> (or FROM scratch) to start a build stage',
    });
  }
  return { file: ast.file, directives: ast.directives, metaArgs, stages, warnings };
}
