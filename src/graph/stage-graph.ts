/**
 * The stage graph of a multi-stage Dockerfile: which stages each stage needs (`FROM <stage>`,
 * `COPY --from=<stage|index>`, `RUN --mount=from=<stage>`), which external images, and the order
 * to build what a target needs. Stages the target does not need are never built.
 */
import type { EscapeToken } from '../../grammar/dockerfile.js';
import { BuildError } from '../errors.js';
import { applyToScope, expandFrom, expandInstruction, globalScope } from '../dockerfile/expand-instruction.js';
import type { Dockerfile, FromInstruction, Stage } from '../dockerfile/instructions.js';
import { StageScope } from '../dockerfile/scope.js';
import { suggest } from '../util/suggest.js';

/** One stage with what it depends on. */
export interface StageNode {
  stage: Stage;
  /** The expanded FROM line. */
  from: FromInstruction;
  /** Index of the stage this one is based on, when FROM names a stage. */
  baseStage?: number;
  /** The base image reference, when FROM names an image (or `scratch`). */
  baseImage?: string;
  /** Stages whose results this stage reads (base stage included). */
  stageDeps: Set<number>;
  /** External images this stage copies or mounts from. */
  imageDeps: Set<string>;
}

/** The whole graph plus the global scope used to expand FROM lines. */
export interface StageGraph {
  nodes: StageNode[];
  global: Map<string, string>;
}

/** Finds the stage a `--from` / FROM value names: a stage name, or a number for COPY/RUN --from. */
export function stageByName(df: Dockerfile, name: string, before: number, allowIndex: boolean): number | undefined {
  const lower = name.toLowerCase();
  for (let i = 0; i < before; i++) if (df.stages[i]!.name === lower) return i;
  if (allowIndex && /^\d+$/.test(name)) {
    const i = Number(name);
    if (i < before) return i;
  }
  return undefined;
}

/** Builds the graph: expands FROM with the global scope and finds every stage reference. */
export function buildStageGraph(
  df: Dockerfile,
  opts: { buildArgs: ReadonlyMap<string, string>; predefined: ReadonlyMap<string, string>; escapeToken: EscapeToken },
): StageGraph {
  const global = globalScope(df.metaArgs, opts.buildArgs, opts.predefined, opts.escapeToken);
  const nodes: StageNode[] = [];
  for (const stage of df.stages) {
    const from = expandFrom(stage.from, global, opts.escapeToken).instruction;
    const node: StageNode = { stage, from, stageDeps: new Set(), imageDeps: new Set() };
    const base = stageByName(df, from.image, stage.index, false);
    if (base !== undefined) {
      node.baseStage = base;
      node.stageDeps.add(base);
    } else {
      if (from.image === '') {
        throw new BuildError(`stage ${stage.index}: FROM expands to an empty image name (${stage.from.image})`, {
          location: { file: df.file, line: stage.from.range.start.line },
          hint: 'pass the missing value with --build-arg or give the ARG a default',
        });
      }
      node.baseImage = from.image;
    }
    // --from values may use the stage's ARGs and ENVs: walk the stage with its own scope.
    const scope = new StageScope();
    for (const inst of stage.instructions) {
      const { instruction } = expandInstruction(inst, scope, opts.escapeToken);
      applyToScope(instruction, scope, opts.buildArgs, global);
      const refs: string[] = [];
      if (instruction.kind === 'COPY' && instruction.from !== undefined) refs.push(instruction.from);
      if (instruction.kind === 'RUN') for (const m of instruction.mounts) if (m.from !== undefined) refs.push(m.from);
      for (const ref of refs) {
        const dep = stageByName(df, ref, stage.index, true);
        if (dep !== undefined) node.stageDeps.add(dep);
        else if (df.stages.some((s) => s.name === ref.toLowerCase())) {
          throw new BuildError(`stage "${ref}" is used before it is defined`, {
            location: { file: df.file, line: inst.range.start.line },
            hint: 'a stage can only use stages defined above it',
          });
        } else node.imageDeps.add(ref);
      }
    }
    nodes.push(node);
  }
  return { nodes, global };
}

/** The index of the target stage (`--target`), or the last stage. */
export function targetIndex(df: Dockerfile, target: string | undefined): number {
  if (target === undefined) return df.stages.length - 1;
  const i = stageByName(df, target, df.stages.length, false);
  if (i !== undefined) return i;
  const names = df.stages.flatMap((s) => (s.name ? [s.name] : []));
  const close = suggest(target, names);
  throw new BuildError(`target stage "${target}" could not be found`, {
    location: { file: df.file },
    hint: close ? `did you mean ${close}?` : names.length ? `stages: ${names.join(', ')}` : 'this Dockerfile has no named stages (use FROM ... AS name)',
  });
}

/** The stages the target needs, dependencies first (a topological order; ties by file order). */
export function stagesFor(graph: StageGraph, target: number): number[] {
  const needed = new Set<number>();
  const visit = (i: number): void => {
    if (needed.has(i)) return;
    needed.add(i);
    for (const d of graph.nodes[i]!.stageDeps) visit(d);
  };
  visit(target);
  // Dependencies always have smaller indexes (stages only refer upwards), so file order is topological.
  return [...needed].sort((a, b) => a - b);
}
