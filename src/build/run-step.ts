/**
 * RUN: the command runs isolated (executor) in an overlay of the stage's layers; what it changed
 * becomes the step's layer (snapshotter).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { BuildError } from '../errors.js';
import { effectiveNetwork, runIsolated, type Bind } from '../exec/executor.js';
import type { RunInstruction } from '../dockerfile/instructions.js';
import { PROXY_ARGS } from '../dockerfile/scope.js';
import { heredocBody } from '../dockerfile/heredoc.js';
import { DEFAULT_SHELL } from '../image/apply-instruction.js';
import { withOverlay } from '../snapshot/host-mount.js';
import { LowerView } from '../snapshot/lower-view.js';
import type { ActiveSnapshot } from '../snapshot/snapshotter.js';
import { mkdirAllInRoot, resolveInRoot } from './copy-dest.js';
import { mountTarget } from './mount-options.js';
import { withBindMounts } from './run-bind-mounts.js';
import { prepareSecretMounts } from './run-secret-mounts.js';
import { withSshMounts } from './run-ssh-mounts.js';
import type { BuildServices } from './services.js';
import { layersOf, type StageState } from './state.js';
import { resolveUser, type ResolvedUser } from './user.js';

/** The argv a RUN executes, and the files (script bodies) it needs bound in. */
export interface RunCommand {
  argv: string[];
  /** A heredoc script run directly (it starts with #!): bound at SCRIPT_PATH. */
  script?: string;
}

/** Where a `#!` heredoc script is bound inside the step (in /dev's tmpfs, never in a layer). */
export const SCRIPT_PATH = '/dev/.strata-heredoc';

/**
 * Builds the command of a RUN like BuildKit: exec form as is; shell form through the config's
 * shell; a RUN that is one heredoc runs its body as the script (directly when it has a #! line);
 * other heredocs are handed to the shell with their bodies, which it reads as shell heredocs.
 */
export function runCommand(inst: RunInstruction, shell: readonly string[]): RunCommand {
  const cmd = inst.command;
  if (cmd.form === 'exec') return { argv: [...cmd.args] };
  const line = cmd.args[0] ?? '';
  if (cmd.files.length === 1 && /^\s*\d*<<-?\s*['"]?[^\s'"]+['"]?\s*$/.test(line)) {
    const body = heredocBody({ name: cmd.files[0]!.name, fileDescriptor: 0, expand: false, chomp: cmd.files[0]!.chomp, content: cmd.files[0]!.data });
    if (body.startsWith('#!')) return { argv: [SCRIPT_PATH], script: body };
    return { argv: [...shell, body] };
  }
  let script = line;
  for (const f of cmd.files) script += '\n' + f.data + f.name;
  return { argv: [...shell, script] };
}

/** The environment a RUN sees: the image's, plus build args in scope, proxies, and HOME. */
export function runEnv(state: StageState, buildArgs: ReadonlyMap<string, string>, user: ResolvedUser): string[] {
  const env = [...(state.config.config?.Env ?? [])];
  const has = (k: string) => env.some((e) => e.startsWith(k + '='));
  for (const [k, v] of state.scope.args) if (!has(k)) env.push(`${k}=${v}`);
  for (const [k, v] of buildArgs) if (PROXY_ARGS.has(k) && !has(k)) env.push(`${k}=${v}`);
  if (!has('HOME')) env.push(`HOME=${user.home ?? '/'}`);
  return env;
}

/** Resolves the stage's USER against its own /etc/passwd and /etc/group. */
export async function stageUser(svc: BuildServices, state: StageState): Promise<ResolvedUser> {
  const view = new LowerView(await svc.snapshotter.lowerDirs(layersOf(state)));
  return resolveUser(state.config.config?.User ?? '', view.readFile('/etc/passwd')?.toString('utf8'), view.readFile('/etc/group')?.toString('utf8'));
}

/** What runStep needs besides the instruction. */
export interface RunStepContext {
  svc: BuildServices;
  state: StageState;
  stepId: number;
  stepName: string;
}

/**
 * Runs the command and commits its changes. Returns the new layer's diff_id, or undefined when
 * the command changed nothing. A non-zero exit is a BuildError with the last lines of output.
 */
export async function executeRun(ctx: RunStepContext, inst: RunInstruction, command: RunCommand, env: string[], user: ResolvedUser): Promise<string | undefined> {
  const { svc, state } = ctx;
  if (inst.security === 'insecure') {
    throw new BuildError('RUN --security=insecure is not supported: strata never runs privileged steps', { hint: 'remove --security=insecure' });
  }
  const active = await svc.snapshotter.prepare(layersOf(state));
  try {
    const binds: Bind[] = [
      { source: '/etc/resolv.conf', target: '/etc/resolv.conf', readonly: true },
      { source: '/etc/hosts', target: '/etc/hosts', readonly: true },
      { source: '/etc/hostname', target: '/etc/hostname', readonly: true },
    ];
    if (command.script !== undefined) {
      const scriptFile = join(active.dir, 'heredoc-script');
      await writeFile(scriptFile, command.script, { mode: 0o755 });
      binds.push({ source: scriptFile, target: SCRIPT_PATH, readonly: true });
    }
    const cwd = state.config.config?.WorkingDir || '/';
    const tmpfs: { target: string; options: string }[] = [];
    for (const m of inst.mounts) {
      if (m.type !== 'tmpfs' && m.type !== 'cache') continue; // bind and secret mounts are made below
      const target = mountTarget(m, cwd);
      if (m.type === 'tmpfs') tmpfs.push({ target, options: m.size ? `size=${m.size}` : 'size=65536k' });
      else {
        const dir = join(svc.store.cacheDir, 'mounts', (m.id ?? target).replace(/[^A-Za-z0-9._-]/g, '_'));
        await mkdir(dir, { recursive: true, mode: 0o755 });
        binds.push({ source: dir, target, readonly: m.readonly === true });
      }
    }
    const secrets = await prepareSecretMounts(inst, svc.opts.secrets ?? [], cwd, active.dir);
    binds.push(...secrets.binds);
    await makeWorkdir(active, cwd, user);
    const out = new PassThrough();
    const err = new PassThrough();
    out.on('data', (d: Buffer) => svc.progress.emit({ type: 'step-log', id: ctx.stepId, stream: 'stdout', data: d, time: Date.now() }));
    err.on('data', (d: Buffer) => svc.progress.emit({ type: 'step-log', id: ctx.stepId, stream: 'stderr', data: d, time: Date.now() }));
    const result = await withBindMounts(svc, inst, cwd, join(active.dir, 'mounts'), (sourceBinds) => withSshMounts(inst, svc.opts.sshAgents ?? [], cwd, (sshBinds, sshEnv) => runIsolated({
      rootfs: { kind: 'overlay', mountpoint: active.mountpoint, lowers: active.lowers, upper: active.upper, work: active.work },
      process: { args: command.argv, env: [...env, ...secrets.env, ...sshEnv], cwd, uid: user.uid, gid: user.gid, groups: user.groups },
      network: effectiveNetwork(svc.opts.network, inst.network),
      hostname: 'strata',
      binds: [...binds, ...sourceBinds, ...sshBinds],
      tmpfs,
      // The working directory is made after the stubs are listed, so it is part of the layer.
      mkdirCwd: true,
      stdout: out,
      stderr: err,
      ...(svc.opts.signal ? { signal: svc.opts.signal } : {}),
    })));
    if (result.aborted) throw new BuildError('build interrupted', {}, 'BUILD_INTERRUPTED');
    if (result.exitCode !== 0) {
      const tail = svc.progress.lastLines?.(ctx.stepId, 8) ?? [];
      throw new BuildError(
        `${ctx.stepName} failed with exit code ${result.exitCode}` + (tail.length ? `:\n${tail.map((l) => '    ' + l).join('\n')}` : ''),
        { hint: 'fix the command (its last lines of output are quoted above)' },
        'BUILD_STEP_FAILED',
      );
    }
    const layer = await svc.snapshotter.commit(active, { stubs: result.stubs, ...(svc.clampMtime !== undefined ? { clampMtime: svc.clampMtime } : {}) });
    return layer?.diffId;
  } catch (e) {
    await svc.snapshotter.dispose(active);
    throw e;
  }
}

/**
 * A missing WORKDIR is made for a RUN owned by the step's user, as BuildKit and buildah make it
 * (a `USER app` step can then write there). The helper makes root's itself; another user's is
 * made here, through a host mount of the step's overlay, with the same in-root path rules as COPY.
 */
async function makeWorkdir(active: ActiveSnapshot, cwd: string, user: ResolvedUser): Promise<void> {
  if ((user.uid === 0 && user.gid === 0) || active.lowers.length === 0) return;
  const view = new LowerView(active.lowers);
  const rel = view.resolve(cwd);
  if (rel !== undefined && view.lookup(rel)?.stat.isDirectory()) return;
  await withOverlay(active.mountpoint, active.lowers, { upper: active.upper, work: active.work }, async () => {
    mkdirAllInRoot(active.mountpoint, resolveInRoot(active.mountpoint, cwd), { mode: 0o755, owner: { uid: user.uid, gid: user.gid } }, cwd);
  });
}

/** The default shell of a state. */
export function shellOf(state: StageState): readonly string[] {
  const s = state.config.config?.Shell;
  return s && s.length > 0 ? s : DEFAULT_SHELL;
}
