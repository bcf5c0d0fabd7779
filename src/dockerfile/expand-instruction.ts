/**
 * The expansion pass: substitutes `$VAR`s into an instruction's values, for the instructions that
 * BuildKit expands (ADD, COPY, ENV, EXPOSE, LABEL, STOPSIGNAL, USER, VOLUME, WORKDIR, ARG
 * defaults, RUN mount options, FROM with the global scope). RUN, CMD, ENTRYPOINT, SHELL,
 * HEALTHCHECK and ONBUILD are left to the shell or the child build.
 */
import type { EscapeToken } from '../../grammar/dockerfile.js';
import { ExpansionError } from '../errors.js';
import { expandWord, expandWords, type EnvLookup } from './expand.js';
import type { ArgInstruction, FromInstruction, Instruction, MountSpec } from './instructions.js';
import { StageScope } from './scope.js';

/** The result of expanding one instruction. */
export interface Expanded<T> {
  instruction: T;
  /** Variables referenced but not set (for the undefined-variable check). */
  unmatched: Set<string>;
}

/** Expands words against a lookup, collecting unset names. */
class Expander {
  readonly unmatched = new Set<string>();
  constructor(private readonly lookup: EnvLookup, private readonly escapeToken: EscapeToken) {}

  word(text: string): string {
    const r = expandWord(text, this.lookup, { escapeToken: this.escapeToken });
    for (const n of r.unmatched) this.unmatched.add(n);
    return r.word;
  }

  words(text: string): string[] {
    const r = expandWords(text, this.lookup, { escapeToken: this.escapeToken });
    for (const n of r.unmatched) this.unmatched.add(n);
    return r.words;
  }

  optional(text: string | undefined): string | undefined {
    return text === undefined ? undefined : this.word(text);
  }
}

/** Expands FROM's image and platform with the global scope (meta ARGs + platform ARGs). */
export function expandFrom(from: FromInstruction, global: ReadonlyMap<string, string>, escapeToken: EscapeToken): Expanded<FromInstruction> {
  const x = new Expander((n) => global.get(n), escapeToken);
  const out: FromInstruction = { ...from, image: x.word(from.image) };
  if (from.platform !== undefined) out.platform = x.word(from.platform);
  return { instruction: out, unmatched: x.unmatched };
}

/**
 * The global scope: the predefined ARGs, then each meta ARG in order, its value from `buildArgs`
 * or its (expanded) default. A meta ARG with neither stays unset.
 */
export function globalScope(
  metaArgs: readonly ArgInstruction[],
  buildArgs: ReadonlyMap<string, string>,
  predefined: ReadonlyMap<string, string>,
  escapeToken: EscapeToken,
  onError?: (e: ExpansionError, inst: ArgInstruction) => void,
): Map<string, string> {
  const scope = new Map(predefined);
  for (const inst of metaArgs) {
    for (const decl of inst.args) {
      let value = buildArgs.get(decl.key);
      if (value === undefined && decl.value !== undefined) {
        try {
          value = expandWord(decl.value, (n) => scope.get(n), { escapeToken }).word;
        } catch (e) {
          // Without a handler the error is the caller's; with one, the ARG stays unset.
          if (!(e instanceof ExpansionError) || !onError) throw e;
          onError(e, inst);
        }
      }
      if (value !== undefined) scope.set(decl.key, value);
      else scope.delete(decl.key);
    }
  }
  return scope;
}

/** Expands one instruction of a stage with the stage's current scope (before the instruction). */
export function expandInstruction<T extends Instruction>(inst: T, scope: StageScope, escapeToken: EscapeToken): Expanded<T> {
  const x = new Expander(scope.lookup, escapeToken);
  const out = expandWith(inst, x) as T;
  return { instruction: out, unmatched: x.unmatched };
}

function expandWith(inst: Instruction, x: Expander): Instruction {
  switch (inst.kind) {
    case 'ENV':
    case 'LABEL':
      return { ...inst, pairs: inst.pairs.map((p) => ({ key: x.word(p.key), value: x.word(p.value) })) };
    case 'ARG':
      return { ...inst, args: inst.args.map((a) => (a.value === undefined ? a : { ...a, value: x.word(a.value) })) };
    case 'COPY':
    case 'ADD': {
      const out = {
        ...inst,
        sources: inst.sources.map((s) => x.word(s)),
        dest: x.word(inst.dest),
        exclude: inst.exclude.map((s) => x.word(s)),
      } as typeof inst;
      if (inst.chown !== undefined) out.chown = x.word(inst.chown);
      if (inst.chmod !== undefined) out.chmod = x.word(inst.chmod);
      if (inst.kind === 'COPY' && inst.from !== undefined) (out as typeof inst).from = x.word(inst.from);
      if (inst.kind === 'ADD' && inst.checksum !== undefined) (out as typeof inst).checksum = x.word(inst.checksum);
      return out;
    }
    case 'EXPOSE':
      return { ...inst, ports: inst.ports.flatMap((p) => x.words(p)) };
    case 'USER':
      return { ...inst, user: x.word(inst.user) };
    case 'WORKDIR':
      return { ...inst, path: x.word(inst.path) };
    case 'STOPSIGNAL':
      return { ...inst, signal: x.word(inst.signal) };
    case 'VOLUME':
      return { ...inst, paths: inst.paths.map((p) => x.word(p)) };
    case 'RUN':
      return { ...inst, mounts: inst.mounts.map((m) => expandMount(m, x)) };
    default:
      return inst;
  }
}

function expandMount(m: MountSpec, x: Expander): MountSpec {
  const out: MountSpec = { ...m };
  for (const key of ['target', 'source', 'id', 'mode', 'uid', 'gid', 'size', 'env'] as const) {
    const v = x.optional(m[key]);
    if (v !== undefined) out[key] = v;
  }
  return out;
}

/**
 * Applies an (expanded) instruction's effect on the scope: ENV sets variables; ARG declares
 * them, taking the build arg, else its default, else the global ARG of that name.
 */
export function applyToScope(
  inst: Instruction,
  scope: StageScope,
  buildArgs: ReadonlyMap<string, string>,
  global: ReadonlyMap<string, string>,
): void {
  if (inst.kind === 'ENV') {
    for (const p of inst.pairs) {
      scope.env.set(p.key, p.value);
      scope.declared.add(p.key);
    }
  } else if (inst.kind === 'ARG') {
    for (const a of inst.args) {
      const value = buildArgs.get(a.key) ?? a.value ?? global.get(a.key);
      scope.declared.add(a.key);
      if (value !== undefined) scope.args.set(a.key, value);
    }
  }
}
