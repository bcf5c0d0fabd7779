/**
 * The `# check=skip=<rules>;error=true` directive: which warnings to hide, and whether the
 * remaining ones fail the build (as BuildKit's build checks do).
 */
import { InstructionError } from '../errors.js';
import type { Directive } from './ast.js';
import type { Diagnostic } from './instructions.js';

/** Settings from the `check` directive. */
export interface CheckSettings {
  skipAll: boolean;
  skip: Set<string>;
  error: boolean;
}

/** Reads the `check` directive (absent: nothing skipped, warnings never fail). */
export function checkSettings(directives: readonly Directive[], file: string): CheckSettings {
  const out: CheckSettings = { skipAll: false, skip: new Set(), error: false };
  const d = directives.find((x) => x.name === 'check');
  if (!d) return out;
  for (const part of d.value.split(';')) {
    const [rawKey, ...rest] = part.split('=');
    const key = rawKey!.trim().toLowerCase();
    const value = rest.join('=').trim();
    if (key === 'skip') {
      for (const rule of value.split(',').map((s) => s.trim()).filter(Boolean)) {
        if (rule.toLowerCase() === 'all') out.skipAll = true;
        else out.skip.add(rule);
      }
    } else if (key === 'error') {
      out.error = value.toLowerCase() === 'true';
    } else if (key !== '') {
      throw new InstructionError(`unknown check option "${key}"`, {
        location: { file, line: d.line },
        hint: 'use # check=skip=<Rule,...> and/or error=true, separated by ;',
      });
    }
  }
  return out;
}

/** The warnings left after `skip`; throws when `error=true` and any remain. */
export function applyChecks(warnings: readonly Diagnostic[], settings: CheckSettings, file: string): Diagnostic[] {
  if (settings.skipAll) return [];
  const shown = warnings.filter((w) => !settings.skip.has(w.rule));
  if (settings.error && shown.length > 0) {
    const first = shown[0]!;
    throw new InstructionError(`${shown.length} build check warning(s) and # check=error=true: ${first.message} [${first.rule}]`, {
      location: { file, line: first.line },
      hint: `fix the warnings, or skip a rule with # check=skip=${first.rule}`,
    });
  }
  return shown;
}
