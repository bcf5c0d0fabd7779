/**
 * `--change` (import, and later commit): Dockerfile instructions given on the command line, parsed
 * by strata's own front end, expanded against the config's environment and applied in order.
 */
import { InstructionError, StrataError } from '../errors.js';
import { convertNode } from '../dockerfile/convert-instruction.js';
import { expandInstruction } from '../dockerfile/expand-instruction.js';
import { parseDockerfile } from '../dockerfile/parser.js';
import { StageScope } from '../dockerfile/scope.js';
import { applyToConfig, isConfigInstruction, newApplyState } from './apply-instruction.js';
import type { ImageConfig } from './types.js';

/** What docker accepts in `--change` (its commit/import list). */
export const CHANGE_INSTRUCTIONS: ReadonlySet<string> = new Set([
  'CMD', 'ENTRYPOINT', 'ENV', 'EXPOSE', 'HEALTHCHECK', 'LABEL', 'ONBUILD', 'STOPSIGNAL', 'USER', 'VOLUME', 'WORKDIR',
]);

/**
 * Applies `changes` (each one Dockerfile instruction, e.g. `CMD ["sh"]`) to a copy of `config`.
 * Throws InstructionError naming the change for anything outside `allowed`, and the front end's
 * own typed errors for bad syntax or values.
 */
export function applyChanges(config: ImageConfig, changes: readonly string[], allowed: ReadonlySet<string> = CHANGE_INSTRUCTIONS): ImageConfig {
  let out = structuredClone(config);
  const state = newApplyState();
  for (const change of changes) {
    const label = `--change ${JSON.stringify(change)}`;
    const ast = parseDockerfile(change, { file: label });
    for (const node of ast.instructions) {
      const kind = node.keyword.toUpperCase();
      if (!allowed.has(kind)) {
        throw new InstructionError(`${kind} is not a valid change command`, {
          location: { file: label },
          hint: `use one of ${[...allowed].sort().join(', ')}`,
        });
      }
      try {
        const inst = convertNode(node, () => undefined);
        if (inst.kind === 'FROM' || !isConfigInstruction(inst)) throw new InstructionError(`${kind} cannot be applied to a config`);
        const scope = new StageScope(out.config?.Env ?? []);
        const { instruction } = expandInstruction(inst, scope, ast.escapeToken);
        out = applyToConfig(out, instruction as typeof inst, state);
      } catch (e) {
        throw e instanceof StrataError ? e.at({ file: label }) : e;
      }
    }
  }
  return out;
}
