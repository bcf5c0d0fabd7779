/**
 * How the Dockerfile instructions that only change settings (ENV, CMD, ENTRYPOINT, WORKDIR, USER,
 * EXPOSE, LABEL, VOLUME, STOPSIGNAL, SHELL, HEALTHCHECK, ONBUILD, MAINTAINER) change an image
 * config, the way docker applies them: shared by `import --change`, `build` and `commit`.
 * Instructions arrive already expanded; nothing here touches the filesystem.
 */
import { posix } from 'node:path';
import { InstructionError } from '../errors.js';
import type {
  CmdInstruction, CommandLine, EntrypointInstruction, EnvInstruction, ExposeInstruction, HealthcheckInstruction,
  Instruction, LabelInstruction, MaintainerInstruction, OnbuildInstruction, ShellInstruction, StopSignalInstruction,
  UserInstruction, VolumeInstruction, WorkdirInstruction,
} from '../dockerfile/instructions.js';
import type { ContainerConfig, HealthConfig, ImageConfig } from './types.js';

/** The instructions applyToConfig handles. */
export type ConfigInstruction =
  | CmdInstruction | EntrypointInstruction | EnvInstruction | LabelInstruction | ExposeInstruction | UserInstruction
  | WorkdirInstruction | VolumeInstruction | StopSignalInstruction | ShellInstruction | HealthcheckInstruction
  | OnbuildInstruction | MaintainerInstruction;

/** Keywords of the instructions applyToConfig handles. */
export const CONFIG_INSTRUCTIONS: ReadonlySet<string> = new Set([
  'CMD', 'ENTRYPOINT', 'ENV', 'LABEL', 'EXPOSE', 'USER', 'WORKDIR', 'VOLUME', 'STOPSIGNAL', 'SHELL', 'HEALTHCHECK',
  'ONBUILD', 'MAINTAINER',
]);

/** True when applyToConfig handles this instruction. */
export function isConfigInstruction(inst: Instruction): inst is ConfigInstruction {
  return CONFIG_INSTRUCTIONS.has(inst.kind);
}

/**
 * What a run of instructions remembers between them. Docker clears an inherited CMD when
 * ENTRYPOINT is set, unless CMD was set earlier in the same stage (or change set).
 */
export interface ApplyState {
  cmdSet: boolean;
}

/** A fresh state for a stage or change set. */
export function newApplyState(): ApplyState {
  return { cmdSet: false };
}

/** The shell of shell-form commands when the config sets none (Linux). */
export const DEFAULT_SHELL: readonly string[] = ['/bin/sh', '-c'];

/**
 * Returns a new config with one (expanded) instruction applied; `config` is not modified.
 * Throws InstructionError for values docker rejects (bad ports, unknown signals, empty volumes).
 */
export function applyToConfig(config: ImageConfig, inst: ConfigInstruction, state: ApplyState = newApplyState()): ImageConfig {
  const out = structuredClone(config);
  if (inst.kind === 'MAINTAINER') {
    out.author = inst.maintainer;
    return out;
  }
  const c: ContainerConfig = (out.config ??= {});
  switch (inst.kind) {
    case 'ENV': {
      const env = [...(c.Env ?? [])];
      for (const { key, value } of inst.pairs) {
        const i = env.findIndex((kv) => envKey(kv) === key);
        if (i >= 0) env[i] = `${key}=${value}`;
        else env.push(`${key}=${value}`);
      }
      c.Env = env;
      break;
    }
    case 'LABEL':
      c.Labels = { ...(c.Labels ?? {}) };
      for (const { key, value } of inst.pairs) c.Labels[key] = value;
      break;
    case 'CMD':
      c.Cmd = commandArgv(inst.command, c);
      state.cmdSet = true;
      break;
    case 'ENTRYPOINT':
      c.Entrypoint = commandArgv(inst.command, c);
      if (!state.cmdSet) delete c.Cmd;
      break;
    case 'WORKDIR':
      c.WorkingDir = normalizeWorkdir(c.WorkingDir ?? '', inst.path);
      break;
    case 'USER':
      c.User = inst.user;
      break;
    case 'EXPOSE':
      c.ExposedPorts = { ...(c.ExposedPorts ?? {}) };
      for (const spec of inst.ports) for (const port of parsePortSpec(spec)) c.ExposedPorts[port] = {};
      break;
    case 'VOLUME':
      c.Volumes = { ...(c.Volumes ?? {}) };
      for (const v of inst.paths) {
        if (v === '') throw new InstructionError('VOLUME specified can not be an empty string');
        c.Volumes[v] = {};
      }
      break;
    case 'STOPSIGNAL':
      checkSignal(inst.signal);
      c.StopSignal = inst.signal;
      break;
    case 'SHELL':
      c.Shell = [...inst.shell];
      break;
    case 'HEALTHCHECK':
      c.Healthcheck = healthConfig(inst);
      break;
    case 'ONBUILD':
      c.OnBuild = [...(c.OnBuild ?? []), inst.expression];
      break;
  }
  return out;
}

/** The name part of a `NAME=value` environment entry. */
function envKey(kv: string): string {
  const eq = kv.indexOf('=');
  return eq < 0 ? kv : kv.slice(0, eq);
}

/** Exec form as written; shell form wrapped in the config's shell (default `/bin/sh -c`). */
function commandArgv(cmd: CommandLine, c: ContainerConfig): string[] {
  if (cmd.form === 'exec') return [...cmd.args];
  const shell = c.Shell && c.Shell.length > 0 ? c.Shell : DEFAULT_SHELL;
  return [...shell, ...cmd.args];
}

/** Docker's WORKDIR rule: relative paths join the current one; the result is absolute and clean. */
export function normalizeWorkdir(current: string, requested: string): string {
  if (requested === '') throw new InstructionError('cannot normalize nothing', { hint: 'give WORKDIR a path' });
  const joined = requested.startsWith('/') ? requested : posix.join('/', current, requested);
  return posix.normalize(joined).replace(/(.)\/+$/, '$1');
}

const PROTOCOLS = new Set(['tcp', 'udp', 'sctp']);
const MAX_PORT_RANGE = 65536;

/**
 * Expands one EXPOSE value into `port/proto` keys: `80`, `80/udp`, `8000-8002/tcp`, and the
 * `[ip:]hostPort:containerPort[/proto]` forms docker also accepts (the container port counts).
 */
export function parsePortSpec(spec: string): string[] {
  const bad = (why: string) => new InstructionError(`invalid port specification "${spec}": ${why}`, { hint: 'write EXPOSE 80, 80/udp or 8000-8010/tcp' });
  const slash = spec.lastIndexOf('/');
  const portPart = slash < 0 ? spec : spec.slice(0, slash);
  const proto = slash < 0 ? 'tcp' : spec.slice(slash + 1).toLowerCase();
  if (!PROTOCOLS.has(proto)) throw bad(`unknown protocol "${proto}"`);
  // `ip:host:container` (the ip may be IPv6 in brackets): the container port is the last part.
  const containerPart = portPart.includes(':') ? portPart.slice(portPart.lastIndexOf(':') + 1) : portPart;
  const m = /^(\d+)(?:-(\d+))?$/.exec(containerPart);
  if (!m) throw bad('not a port number or range');
  const start = Number(m[1]);
  const end = m[2] === undefined ? start : Number(m[2]);
  if (start < 0 || end > 65535 || end < start) throw bad('port out of range');
  if (end - start + 1 > MAX_PORT_RANGE) throw bad('range too large');
  const out: string[] = [];
  for (let p = start; p <= end; p++) out.push(`${p}/${proto}`);
  return out;
}

const SIGNALS = new Set([
  'ABRT', 'ALRM', 'BUS', 'CHLD', 'CLD', 'CONT', 'FPE', 'HUP', 'ILL', 'INT', 'IO', 'IOT', 'KILL', 'PIPE', 'POLL', 'PROF',
  'PWR', 'QUIT', 'SEGV', 'STKFLT', 'STOP', 'SYS', 'TERM', 'TRAP', 'TSTP', 'TTIN', 'TTOU', 'UNUSED', 'URG', 'USR1',
  'USR2', 'VTALRM', 'WINCH', 'XCPU', 'XFSZ', 'RTMIN', 'RTMAX',
]);

/** Accepts what docker's signal parser accepts on Linux: a number 1–64 or a name, with or without SIG. */
export function checkSignal(signal: string): void {
  if (/^\d+$/.test(signal)) {
    const n = Number(signal);
    if (n >= 1 && n <= 64) return;
  } else {
    const name = signal.toUpperCase().replace(/^SIG/, '');
    const rt = /^RTM(?:IN\+(\d+)|AX-(\d+))$/.exec(name);
    if (SIGNALS.has(name) || (rt && Number(rt[1] ?? rt[2]) >= 1 && Number(rt[1] ?? rt[2]) <= 15)) return;
  }
  throw new InstructionError(`invalid signal: ${signal}`, { hint: 'use a signal name such as SIGTERM or a number such as 15' });
}

/** HEALTHCHECK replaces the previous one whole, as in docker and BuildKit (nothing is inherited). */
function healthConfig(inst: HealthcheckInstruction): HealthConfig {
  const h: HealthConfig = { Test: [...inst.test] };
  if (inst.interval !== undefined) h.Interval = inst.interval;
  if (inst.timeout !== undefined) h.Timeout = inst.timeout;
  if (inst.startPeriod !== undefined) h.StartPeriod = inst.startPeriod;
  if (inst.startInterval !== undefined) h.StartInterval = inst.startInterval;
  if (inst.retries !== undefined) h.Retries = inst.retries;
  return h;
}

/** Field order of the runtime config in OCI's image-spec (then docker's extensions), as Go tools write it. */
const CONTAINER_CONFIG_ORDER: readonly (keyof ContainerConfig)[] = [
  'User', 'ExposedPorts', 'Env', 'Entrypoint', 'Cmd', 'Volumes', 'WorkingDir', 'Labels', 'StopSignal', 'ArgsEscaped',
  'Healthcheck', 'OnBuild', 'Shell',
];

/**
 * The runtime config with its keys in the order Go tools (skopeo, podman, containerd) serialise
 * them, unknown keys last. A config written in this order survives their re-encoding byte for
 * byte, so the image keeps its ID when they convert it.
 */
export function orderContainerConfig(c: ContainerConfig): ContainerConfig {
  const out: Record<string, unknown> = {};
  for (const k of CONTAINER_CONFIG_ORDER) if (c[k] !== undefined) out[k] = c[k];
  for (const [k, v] of Object.entries(c)) if (!(k in out) && v !== undefined) out[k] = v;
  return out as ContainerConfig;
}

/** A timestamp as Go's RFC 3339 encoder writes it: UTC, fraction without trailing zeros. */
export function goTimestamp(d: Date): string {
  return d.toISOString().replace(/\.?0+Z$/, 'Z').replace(/\.Z$/, 'Z');
}
