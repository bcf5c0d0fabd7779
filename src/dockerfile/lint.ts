/**
 * Checks that need the expansion pass: variables used but never defined (UndefinedVar) and FROM
 * lines that use ARGs not declared before the first FROM (UndefinedArgInFrom).
 */
import { ExpansionError } from '../errors.js';
import { suggest } from '../util/suggest.js';
import { applyToScope, expandFrom, expandInstruction, globalScope } from './expand-instruction.js';
import type { Diagnostic, Dockerfile } from './instructions.js';
import { hostPlatform, platformArgs, StageScope } from './scope.js';

/** Options for lintDockerfile. */
export interface LintOptions {
  /**
   * The environment (`KEY=value` list) of a base image, or undefined when it is not known.
   * Unknown images are assumed to define PATH only, as most images do.
   */
  baseEnv?: (image: string) => string[] | undefined;
  buildArgs?: ReadonlyMap<string, string>;
  escapeToken?: '\\' | '`';
}

const DEFAULT_ENV = ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'];

/** Runs the expansion-based checks over every stage. */
export function lintDockerfile(df: Dockerfile, opts: LintOptions = {}): Diagnostic[] {
  const escape = opts.escapeToken ?? (df.directives.find((d) => d.name === 'escape')?.value as '\\' | '`' | undefined) ?? '\\';
  const buildArgs = opts.buildArgs ?? new Map<string, string>();
  const predefined = platformArgs(hostPlatform());
  const out: Diagnostic[] = [];
  const global = globalScope(df.metaArgs, buildArgs, predefined, escape, (e, inst) => {
    out.push({ rule: 'InvalidArgValue', message: `ARG default cannot be expanded: ${e.message}`, line: inst.range.start.line });
  });
  const declaredGlobally = new Set([...predefined.keys(), ...df.metaArgs.flatMap((a) => a.args.map((d) => d.key))]);
  const stageEnv = new Map<string, ReadonlyMap<string, string>>();

  for (const stage of df.stages) {
    const line = stage.from.range.start.line;
    let image = stage.from.image;
    try {
      const from = expandFrom(stage.from, global, escape);
      image = from.instruction.image;
      for (const name of from.unmatched) {
        if (!declaredGlobally.has(name)) {
          out.push({ rule: 'UndefinedArgInFrom', message: `FROM argument '${name}' is not declared`, line });
        }
      }
    } catch (e) {
      if (!(e instanceof ExpansionError)) throw e;
    }

    const parentEnv = stageEnv.get(image.toLowerCase());
    const scope = parentEnv
      ? StageScope.fromEnv(parentEnv)
      : new StageScope(image === 'scratch' ? [] : (opts.baseEnv?.(image) ?? DEFAULT_ENV));

    for (const inst of stage.instructions) {
      try {
        const { instruction, unmatched } = expandInstruction(inst, scope, escape);
        for (const name of unmatched) {
          if (scope.declared.has(name)) continue;
          const close = suggest(name, scope.declared);
          out.push({
            rule: 'UndefinedVar',
            message: `Usage of undefined variable '$${name}'` + (close ? ` (did you mean $${close}?)` : ''),
            line: inst.range.start.line,
          });
        }
        applyToScope(instruction, scope, buildArgs, global);
      } catch (e) {
        if (!(e instanceof ExpansionError)) throw e;
      }
    }
    if (stage.name !== undefined) stageEnv.set(stage.name, scope.env);
  }
  return out;
}
