/**
 * Builder flags (`--chown=…`, `--link`, `--mount=…`) checked against what each instruction
 * accepts.
 */
import { InstructionError } from '../errors.js';
import { suggest } from '../util/suggest.js';

/** bool: `--link` or `--link=false`; string: one `--from=x`; strings: repeatable `--exclude=a`. */
export type FlagKind = 'bool' | 'string' | 'strings';

/** The flags an instruction accepts. */
export type FlagSpec = Readonly<Record<string, FlagKind>>;

/** Parsed flag values by name (without `--`). */
export interface ParsedFlags {
  bool(name: string): boolean;
  string(name: string): string | undefined;
  strings(name: string): string[];
  /** Names of the flags given, in order of first use. */
  used: string[];
}

/**
 * Checks raw flags (`--name[=value]`) against `spec`. Unknown flags are errors, with a
 * suggestion; when `lenient` is set they are reported to `ignored` and skipped instead.
 */
export function parseFlags(
  instruction: string,
  raw: readonly string[],
  spec: FlagSpec,
  opts: { lenient?: boolean; ignored?: (flag: string) => void } = {},
): ParsedFlags {
  const bools = new Map<string, boolean>();
  const strings = new Map<string, string>();
  const lists = new Map<string, string[]>();
  const used: string[] = [];
  for (const arg of raw) {
    if (arg === '--') break;
    const body = arg.slice(2);
    const eq = body.indexOf('=');
    const name = eq < 0 ? body : body.slice(0, eq);
    const value = eq < 0 ? undefined : body.slice(eq + 1);
    const kind = Object.hasOwn(spec, name) ? spec[name] : undefined;
    if (!kind) {
      if (opts.lenient) {
        opts.ignored?.(`--${name}`);
        continue;
      }
      const names = Object.keys(spec);
      const close = suggest(name, names);
      const hint = close
        ? `did you mean --${close}?`
        : names.length > 0
          ? `${instruction} accepts ${names.map((n) => '--' + n).join(', ')}`
          : `${instruction} takes no flags`;
      throw new InstructionError(`unknown flag: --${name}`, { hint });
    }
    if (used.includes(name) && kind !== 'strings') {
      throw new InstructionError(`duplicate flag specified: --${name}`, { hint: `give --${name} once` });
    }
    if (!used.includes(name)) used.push(name);
    if (kind === 'bool') {
      if (value === '') throw new InstructionError(`missing a value on flag: --${name}`, { hint: `write --${name} or --${name}=true|false` });
      const lower = value?.toLowerCase();
      if (lower !== undefined && lower !== 'true' && lower !== 'false') {
        throw new InstructionError(`expecting boolean value for flag --${name}, not: ${value}`, { hint: `write --${name}=true or --${name}=false` });
      }
      bools.set(name, lower !== 'false');
      continue;
    }
    if (value === undefined) throw new InstructionError(`missing a value on flag: --${name}`, { hint: `write --${name}=<value>` });
    if (kind === 'string') strings.set(name, value);
    else lists.set(name, [...(lists.get(name) ?? []), value]);
  }
  return {
    bool: (n) => bools.get(n) ?? false,
    string: (n) => strings.get(n),
    strings: (n) => lists.get(n) ?? [],
    used,
  };
}
