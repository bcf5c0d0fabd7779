/**
 * Runs one build stage: FROM (an image in the store, an earlier stage, or scratch), the base
 * image's ONBUILD triggers, then each instruction — settings go into the config, RUN/COPY/ADD
 * make layers and go through the cache.
 */
import { BuildError, StrataError } from '../errors.js';
import { applyToScope, expandInstruction } from '../dockerfile/expand-instruction.js';
import { convertNode } from '../dockerfile/convert-instruction.js';
import type { FromInstruction, Instruction, RunInstruction } from '../dockerfile/instructions.js';
import { parseDockerfile } from '../dockerfile/parser.js';
import { effectiveNetwork } from '../exec/executor.js';
import { formatPlatform, parsePlatform, StageScope } from '../dockerfile/scope.js';
import { applyToConfig, isConfigInstruction } from '../image/apply-instruction.js';
import type { ImageConfig } from '../image/types.js';
import type { StageNode } from '../graph/stage-graph.js';
import { sha256, type Digest } from '../util/digest.js';
import { chainKey, stepKey, type CacheRecord, type StepContext, type StepInputs, type StepOutcome } from './cache.js';
import { copyHistory, copyInputs, executeCopy } from './copy-step.js';
import { bindSourcesDigest } from './run-bind-mounts.js';
import { executeRun, runCommand, runEnv, shellOf, stageUser } from './run-step.js';
import type { BuildServices } from './services.js';
import { checkUserSpec } from './user.js';
import { appendHistory, DEFAULT_PATH, formatCreated, initialState, layersOf, scratchConfig, type StageResult, type StageState } from './state.js';

/** A stage's label in step names: its name, `stage-N`, or nothing for the last unnamed stage. */
export function stageLabel(node: StageNode, isLast: boolean): string {
  return node.stage.name ?? (isLast ? '' : `stage-${node.stage.index}`);
}

/** Runs a stage to the end. `dependency(i)` gives the result of an earlier stage. */
export async function runStage(svc: BuildServices, node: StageNode, label: string, dependency: (i: number) => Promise<StageResult>): Promise<StageResult> {
  const total = 1 + node.stage.instructions.length;
  const name = (n: number, text: string) => `[${label ? label + ' ' : ''}${n}/${total}] ${text}`;
  let state = await startStage(svc, node, name(1, `FROM ${node.from.image}${node.stage.name ? ` AS ${node.stage.name}` : ''}`), dependency);

  // ONBUILD triggers of the base image run first; the child image does not inherit them.
  const triggers = state.config.config?.OnBuild ?? [];
  if (state.config.config?.OnBuild) {
    state.config = structuredClone(state.config);
    delete state.config.config!.OnBuild;
  }
  for (const expr of triggers) {
    const ast = parseDockerfile(expr, { file: `ONBUILD trigger of ${node.from.image}` });
    for (const n of ast.instructions) {
      const inst = convertNode(n, () => undefined);
      if (inst.kind === 'FROM') throw new BuildError(`ONBUILD trigger "${expr}" is a FROM, which is not allowed`);
      state = await step(svc, state, inst, name(1, `ONBUILD ${expr.split('\n')[0]}`));
    }
  }
  for (let i = 0; i < node.stage.instructions.length; i++) {
    const inst = node.stage.instructions[i]!;
    try {
      state = await step(svc, state, inst, name(i + 2, inst.original.split('\n')[0]!));
    } catch (e) {
      if (e instanceof StrataError) throw e.at({ file: svc.opts.dockerfilePath, line: inst.range.start.line, column: inst.range.start.column });
      throw e;
    }
  }
  return { config: state.config, key: state.key, baseLayers: state.baseLayers };
}

async function startStage(svc: BuildServices, node: StageNode, stepName: string, dependency: (i: number) => Promise<StageResult>): Promise<StageState> {
  const from = node.from;
  const location = { file: svc.opts.dockerfilePath, line: node.stage.from.range.start.line };
  checkPlatform(svc, from);
  const id = svc.nextStepId();
  let config: ImageConfig;
  let key: string;
  let baseLayers: number | undefined;
  if (node.baseStage !== undefined) {
    const base = await dependency(node.baseStage);
    svc.progress.emit({ type: 'step-start', id, name: stepName, time: Date.now() });
    config = structuredClone(base.config);
    key = base.key;
    baseLayers = base.baseLayers;
  } else if (from.image === 'scratch') {
    svc.progress.emit({ type: 'step-start', id, name: stepName, time: Date.now() });
    config = scratchConfig(svc.platform);
    key = 'scratch';
  } else {
    svc.progress.emit({ type: 'step-start', id, name: stepName, time: Date.now() });
    let stored;
    try {
      stored = await svc.images.resolve(from.image);
    } catch (e) {
      throw new BuildError(`base image "${from.image}" is not in the store`, {
        location,
        hint: 'get it first with `strata load -i image.tar` or `strata import rootfs.tar NAME`, or build it (strata does not pull from registries)',
        cause: e,
      }, 'BUILD_BASE_MISSING');
    }
    config = structuredClone(await stored.image.config());
    if (config.os !== svc.platform.os || config.architecture !== svc.platform.architecture) {
      throw new BuildError(`base image "${from.image}" is for ${config.os}/${config.architecture}, not ${formatPlatform(svc.platform)}`, {
        location,
        hint: 'strata builds for the platform it runs on',
      });
    }
    key = stored.id.slice(7);
  }
  // Like BuildKit and buildah: a base without PATH gets docker's default one.
  const env = config.config?.Env ?? [];
  if (!env.some((e) => e.startsWith('PATH='))) config.config = { ...(config.config ?? {}), Env: [DEFAULT_PATH, ...env] };
  svc.progress.emit({ type: 'step-done', id, time: Date.now() });
  return initialState(config, new StageScope(config.config?.Env ?? []), key, baseLayers ?? config.rootfs.diff_ids.length);
}

function checkPlatform(svc: BuildServices, from: FromInstruction): void {
  if (from.platform === undefined || from.platform === '') return;
  const p = parsePlatform(from.platform);
  if (!p || p.os !== svc.platform.os || p.architecture !== svc.platform.architecture) {
    throw new BuildError(`FROM --platform=${from.platform}: strata only builds for ${formatPlatform(svc.platform)}, the platform it runs on`, {
      location: { file: svc.opts.dockerfilePath, line: from.range.start.line },
      hint: 'remove --platform or set it to $BUILDPLATFORM',
    });
  }
}

/** History text for a settings instruction (what `strata history` shows). */
function createdBy(inst: Instruction): string {
  switch (inst.kind) {
    case 'ENV':
    case 'LABEL':
      return `${inst.kind} ${inst.pairs.map((p) => `${p.key}=${p.value}`).join(' ')}`;
    case 'ARG':
      return `ARG ${inst.args.map((a) => (a.value === undefined ? a.key : `${a.key}=${a.value}`)).join(' ')}`;
    case 'WORKDIR':
      return `WORKDIR ${inst.path}`;
    case 'USER':
      return `USER ${inst.user}`;
    case 'EXPOSE':
      return `EXPOSE ${inst.ports.join(' ')}`;
    case 'VOLUME':
      return `VOLUME ${JSON.stringify(inst.paths)}`;
    case 'STOPSIGNAL':
      return `STOPSIGNAL ${inst.signal}`;
    default:
      return inst.original.replace(/\s+/g, ' ');
  }
}

/** Runs one instruction on a state and returns the next state. */
async function step(svc: BuildServices, state: StageState, raw: Instruction, stepName: string): Promise<StageState> {
  const inst = expandInstruction(raw, state.scope, svc.escapeToken).instruction;
  const created = formatCreated(svc.created);
  if (inst.kind === 'ARG') {
    for (const a of inst.args) svc.usedBuildArgs.add(a.key);
    const scope = cloneScope(state.scope);
    applyToScope(inst, scope, svc.opts.buildArgs, svc.globalArgs);
    const config = appendHistory(state.config, { created, created_by: createdBy(inst) });
    // The values in scope (build args win over defaults) decide later steps' keys.
    const values = inst.args.map((a) => `${a.key}=${scope.args.get(a.key) ?? ''}`).join(' ');
    return { ...state, config, scope, key: chainKey(state.key, `ARG ${values}`) };
  }
  if (isConfigInstruction(inst)) {
    if (inst.kind === 'USER') checkUserSpec(inst.user);
    let config = applyToConfig(state.config, inst, state.apply);
    config = appendHistory(config, { created, created_by: createdBy(inst) });
    const scope = inst.kind === 'ENV' ? cloneScope(state.scope) : state.scope;
    if (inst.kind === 'ENV') applyToScope(inst, scope, svc.opts.buildArgs, svc.globalArgs);
    return { ...state, config, scope, key: chainKey(state.key, JSON.stringify(config.config ?? {})) };
  }
  if (inst.kind === 'RUN') return runWithCache(svc, state, inst, stepName);
  if (inst.kind === 'COPY' || inst.kind === 'ADD') {
    const { inputs, prepared } = await copyInputs(svc, state, inst);
    try {
      return await withCache(svc, state, stepName, inputs, copyHistory(inst), (step) => executeCopy(svc, state, inst, prepared, step), prepared.resolve);
    } finally {
      await prepared.cleanup?.();
    }
  }
  throw new BuildError(`unsupported instruction ${(inst as Instruction).kind}`);
}

async function runWithCache(svc: BuildServices, state: StageState, inst: RunInstruction, stepName: string): Promise<StageState> {
  const user = await stageUser(svc, state);
  const env = runEnv(state, svc.opts.buildArgs, user);
  const command = runCommand(inst, shellOf(state));
  const argsInScope = [...state.scope.args].filter(([k]) => !(state.config.config?.Env ?? []).some((e) => e.startsWith(k + '=')));
  const prefix = argsInScope.length ? `|${argsInScope.length} ${argsInScope.map(([k, v]) => `${k}=${v}`).join(' ')} ` : '';
  const text = `RUN ${prefix}${command.argv.join(' ')}`;
  const mounted = await bindSourcesDigest(svc, inst);
  const inputs: StepInputs = {
    ...(mounted !== undefined ? { filesDigest: mounted } : {}),
    // A #! heredoc runs from a bound file, not from argv: its body is an input too.
    instruction: command.script === undefined ? text : `${text} (script ${sha256(command.script).slice(7, 19)})`,
    env: [...env, `USER=${user.uid}:${user.gid}:${user.groups.join(',')}`, `WORKDIR=${state.config.config?.WorkingDir ?? ''}`,
      // The network the step really gets: a result made with network is not one made without.
      `NETWORK=${effectiveNetwork(svc.opts.network, inst.network)}`, `MOUNTS=${JSON.stringify(inst.mounts.map((m) => ({ ...m, raw: undefined })))}`],
  };
  return withCache(svc, state, stepName, inputs, text, async ({ id }) => {
    const diffId = await executeRun({ svc, state, stepId: id, stepName }, inst, command, env, user);
    return diffId === undefined ? {} : { diffId };
  });
}

/**
 * The cache around a layer-making step: a hit reuses the recorded state; a miss says why, runs
 * `execute`, appends history (and the layer), stores the state and records it.
 */
async function withCache(
  svc: BuildServices, state: StageState, stepName: string, inputs: StepInputs, history: string,
  execute: (step: StepContext) => Promise<StepOutcome>,
  /** Makes the inputs' details a miss needs (a COPY's file list), skipped on a hit. */
  onMiss?: () => Promise<void>,
): Promise<StageState> {
  const id = svc.nextStepId();
  let previous: CacheRecord | undefined;
  // Set in place, not spread: a COPY's per-file list is a getter, computed only on a miss.
  inputs.timestamp = String(svc.opts.timestamp);
  const key = stepKey(state.key, inputs);
  svc.progress.emit({ type: 'step-start', id, name: stepName, time: Date.now() });
  if (!svc.opts.noCache) {
    const hit = await svc.cache.get(key);
    if (hit) {
      const config = await svc.images.image(hit.manifestDigest).config();
      svc.progress.emit({ type: 'step-cached', id, time: Date.now() });
      return { ...state, config, key };
    }
    await onMiss?.();
    const why = await svc.cache.explainMiss(state.key, inputs);
    if (why) svc.progress.emit({ type: 'step-note', id, text: `cache miss: ${why}`, time: Date.now() });
    previous = await svc.cache.previous(state.key, inputs);
  }
  if (svc.opts.noCache) await onMiss?.();
  let outcome: StepOutcome;
  const started = new Date().toISOString();
  try {
    outcome = await execute({ id, ...(previous ? { previous } : {}) });
  } catch (e) {
    svc.progress.emit({ type: 'step-error', id, message: (e as Error).message, time: Date.now() });
    throw e;
  }
  const config = appendHistory(state.config, { created: formatCreated(svc.created), created_by: history }, outcome.diffId as Digest | undefined);
  const layers = await Promise.all(layersOf({ config }).map(async (d) => ({ digest: d, size: (await svc.store.statBlob(d))!.size })));
  const { manifestDigest } = await svc.images.commitImage(Buffer.from(JSON.stringify(config)), layers, []);
  await svc.cache.put({
    version: 1, key, parent: state.key, inputs, manifestDigest, created: new Date().toISOString(), started, ...(outcome.patchable ? { patchable: true } : {}),
  });
  svc.progress.emit({ type: 'step-done', id, time: Date.now() });
  return { ...state, config, key };
}

function cloneScope(s: StageScope): StageScope {
  const c = StageScope.fromEnv(s.env);
  for (const [k, v] of s.args) c.args.set(k, v);
  for (const d of s.declared) c.declared.add(d);
  return c;
}
