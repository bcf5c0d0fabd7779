/**
 * Runs one process isolated in a root filesystem (new mount, PID, UTS and IPC namespaces, and a
 * network namespace for `none`), through the native helper strata-init. It knows nothing of
 * images: callers give it a rootfs (or overlay layers), a process and mounts.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { join } from 'node:path';
import type { Duplex, Readable, Writable } from 'node:stream';
import { ExecError } from '../errors.js';
import { packageRoot } from '../util/package-root.js';

/**
 * An entry the helper's mount points added to the root, not a change the process made. For an
 * overlay root that is every entry of the fresh upper dir before the program started (the mount
 * points and the directories overlayfs copied up for them), with the upper dir's own inode and
 * ctime, so it can be given to the snapshotter's commit as a StubRecord. For a dir root: the
 * mount points the helper created in it (they stay there).
 */
export interface Stub {
  /** Relative to the root, no leading slash (`etc/resolv.conf`). */
  path: string;
  ino: number;
  /** As Node's `fs.lstat` reports it (compare with `===`). */
  ctimeMs: number;
  ctimeNs: bigint;
}

/** The process to start. */
export interface ProcessSpec {
  args: string[];
  /** `KEY=value` entries: exactly the process environment. */
  env: string[];
  /** Working directory inside the root; must exist unless RunSpec.mkdirCwd. */
  cwd: string;
  uid: number;
  gid: number;
  groups: number[];
}

/** The root filesystem: an overlay of layer dirs (top first) with a writable upper dir, or a plain dir. */
export type RootfsSpec =
  | {
      kind: 'overlay';
      mountpoint: string;
      lowers: string[];
      upper: string;
      work: string;
      /**
       * Mount with overlayfs' `volatile`: the upper filesystem is not synced when the step ends
       * (a few ms less per step on ext4), and `work` cannot be mounted again. Only for a fresh
       * work dir, and only when whoever keeps the upper dir makes it durable itself if needed.
       */
      volatile?: boolean;
    }
  | { kind: 'dir'; path: string };

/** A host path bound into the root; the target is resolved inside it. */
export interface Bind {
  source: string;
  target: string;
  readonly: boolean;
}

/** Everything runIsolated needs. */
export interface RunSpec {
  rootfs: RootfsSpec;
  process: ProcessSpec;
  network: 'host' | 'none';
  hostname?: string;
  binds?: Bind[];
  tmpfs?: { target: string; options: string }[];
  readonlyRootfs?: boolean;
  /** Create the working directory (as root, mode 0755) when the image lacks it, as runc does. */
  mkdirCwd?: boolean;
  /**
   * Called once the root is set up (its stubs made) and before the program starts, which waits
   * until this returns: the place to look at the upper dir. `RunResult.stubs` already lists
   * what is there then, without this round trip.
   */
  onReady?: () => void;
  noNewPrivileges?: boolean;
  /** Docker's default capability set for uid 0 (default), or none at all. */
  capabilities?: 'default' | 'none';
  stdin?: Readable;
  stdout?: Writable;
  stderr?: Writable;
  signal?: AbortSignal;
}

/** How the process ended. */
export interface RunResult {
  exitCode: number;
  stubs: Stub[];
  /** True when it was stopped through `signal`. */
  aborted: boolean;
}

/** Exit codes of the helper itself, as docker uses them. */
export const EXIT_SETUP_FAILED = 125;
export const EXIT_CANNOT_EXECUTE = 126;
export const EXIT_NOT_FOUND = 127;

/** An ExecError that says with which exit code the step ended: 125 setup, 126 cannot execute, 127 not found. */
export class ExecStartError extends ExecError {
  constructor(message: string, readonly exitCode: number, opts: { hint?: string } = {}) {
    super(message, opts);
  }
}

/** Highest uid/gid the helper accepts (2^31-1); larger values are never passed to setresuid. */
export const MAX_ID = 0x7fffffff;

/**
 * The network a RUN step gets. A build started with `--network none` keeps every step off the
 * network: `RUN --network=host` cannot widen it (docker gates host networking behind an
 * entitlement; strata narrows to `none` instead). The caller must pass the build's setting here
 * rather than the step's alone.
 */
export function effectiveNetwork(buildNetwork: 'host' | 'none', stepNetwork?: 'default' | 'host' | 'none'): 'host' | 'none' {
  if (buildNetwork === 'none' || stepNetwork === 'none') return 'none';
  return 'host';
}

function checkId(what: string, v: number): void {
  if (!Number.isSafeInteger(v) || v < 0 || v > MAX_ID) throw new ExecError(`${what} ${v} is out of range (0 to ${MAX_ID})`);
}

/** Path of the compiled helper (dist/native/strata-init). */
export function helperPath(): string {
  return join(packageRoot(), 'dist', 'native', 'strata-init');
}

/** Builds the helper's command line for a spec. */
export function helperArgs(spec: RunSpec): string[] {
  checkId('uid', spec.process.uid);
  checkId('gid', spec.process.gid);
  for (const g of spec.process.groups) checkId('group', g);
  const a: string[] = [];
  if (spec.rootfs.kind === 'overlay') {
    for (const p of [...spec.rootfs.lowers, spec.rootfs.upper, spec.rootfs.work]) {
      // Overlay option syntax reserves these characters; strata's own paths never contain them.
      if (/[:,|\\]/.test(p)) throw new ExecError(`overlay path ${JSON.stringify(p)} contains a reserved character (: , | or \\)`);
    }
    a.push('--rootfs', spec.rootfs.mountpoint, '--overlay', `${spec.rootfs.lowers.join(':')}|${spec.rootfs.upper}|${spec.rootfs.work}`);
    if (spec.rootfs.volatile) a.push('--volatile');
  } else {
    a.push('--rootfs', spec.rootfs.path);
  }
  a.push('--net', spec.network, '--caps', spec.capabilities ?? 'default', '--report-fd', '3', '--env-fd', '4');
  if (spec.hostname) a.push('--hostname', spec.hostname);
  a.push('--uid', String(spec.process.uid), '--gid', String(spec.process.gid));
  if (spec.process.groups.length > 0) a.push('--groups', spec.process.groups.join(','));
  a.push('--cwd', spec.process.cwd);
  for (const b of spec.binds ?? []) {
    if (b.source.includes('|') || b.target.includes('|')) throw new ExecError(`mount path contains "|": ${b.source} → ${b.target}`);
    a.push('--bind', `${b.source}|${b.target}|${b.readonly ? 'ro' : 'rw'}`);
  }
  for (const t of spec.tmpfs ?? []) {
    if (t.target.includes('|')) throw new ExecError(`tmpfs target contains "|": ${t.target}`);
    a.push('--tmpfs', `${t.target}|${t.options}`);
  }
  if (spec.readonlyRootfs) a.push('--readonly-rootfs');
  if (spec.mkdirCwd) a.push('--mkdir-cwd');
  if (spec.onReady) a.push('--sync');
  if (spec.noNewPrivileges) a.push('--no-new-privs');
  a.push('--', ...spec.process.args);
  return a;
}

/**
 * Starts the process and resolves when it has ended, with its exit code and the stubs the
 * helper created. Setup failures (before the program starts) and a program that cannot be
 * executed reject with ExecStartError (exit code 125, 126 or 127); a program that runs and fails
 * resolves with its exit code (128+n when killed by signal n). Aborting kills every process of
 * the step and resolves with `aborted: true`.
 */
export function runIsolated(spec: RunSpec): Promise<RunResult> {
  const helper = helperPath();
  if (!existsSync(helper)) {
    return Promise.reject(new ExecError(`the isolation helper ${helper} is not built`, {
      hint: 'install a C compiler (apt-get install gcc libc6-dev) and run `npm run build`',
    }));
  }
  if (process.getuid?.() !== 0) {
    return Promise.reject(new ExecError('running build steps and containers needs root (namespaces, overlayfs, pivot_root)', { hint: 'run strata as root' }));
  }
  let args: string[];
  try {
    args = helperArgs(spec);
  } catch (e) {
    return Promise.reject(e);
  }
  if (spec.process.env.some((kv) => kv.includes('\0'))) return Promise.reject(new ExecError('an environment entry contains a NUL byte'));
  return new Promise((resolve, reject) => {
    // The helper runs as root on the host before it isolates anything, so it gets an empty
    // environment (a dynamic loader would honour LD_PRELOAD from a Dockerfile's ENV); the
    // program's environment goes through fd 4.
    const child = spawn(helper, args, {
      stdio: [spec.stdin ? 'pipe' : 'ignore', spec.stdout ? 'pipe' : 'ignore', spec.stderr ? 'pipe' : 'ignore', 'pipe', 'pipe'],
      env: {},
      detached: true,
    });
    const envPipe = child.stdio[4] as Writable;
    envPipe.on('error', () => undefined); // the helper may exit (bad arguments) before reading it
    envPipe.end(Buffer.from(spec.process.env.map((kv) => kv + '\0').join('')));

    const stubs: Stub[] = [];
    let setupError: string | undefined;
    let ready = false;
    let aborted = false;
    let buffered = '';
    const report = child.stdio[3] as Readable;
    report.setEncoding('utf8');
    report.on('data', (chunk: string) => {
      buffered += chunk;
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        const [kind, ...rest] = line.split('\t');
        if (kind === 'stub' && rest.length === 3) stubs.push(parseStub(rest[0]!, rest[1]!, rest[2]!));
        else if (kind === 'mounted') mounted();
        else if (kind === 'ready') ready = true;
        else if (kind === 'error') setupError = rest.join('\t');
      }
    });
    if (spec.stdin && child.stdin) spec.stdin.pipe(child.stdin).on('error', () => undefined);
    if (spec.stdout && child.stdout) child.stdout.pipe(spec.stdout, { end: false });
    if (spec.stderr && child.stderr) child.stderr.pipe(spec.stderr, { end: false });

    let hookError: unknown;
    const mounted = () => {
      try {
        spec.onReady?.();
        (report as Duplex).write('\n');
      } catch (e) {
        hookError = e;
        onAbort();
      }
    };

    let killTimer: NodeJS.Timeout | undefined;
    const onAbort = () => {
      aborted = true;
      // The helper forwards this as SIGKILL to the step's PID 1; the kernel ends the rest.
      child.kill('SIGTERM');
      killTimer = setTimeout(() => child.kill('SIGKILL'), 3000);
      killTimer.unref();
    };
    if (spec.signal?.aborted) onAbort();
    spec.signal?.addEventListener('abort', onAbort, { once: true });

    child.on('error', (e) => reject(new ExecError(`cannot start ${helper}: ${e.message}`, { cause: e })));
    child.on('close', (code, signal) => {
      spec.signal?.removeEventListener('abort', onAbort);
      if (killTimer) clearTimeout(killTimer);
      const exitCode = code ?? 128 + (signal ? osConstants.signals[signal] : 0);
      if (hookError !== undefined) {
        reject(hookError);
        return;
      }
      if (setupError !== undefined && !aborted) {
        // Before "ready": setting up the root failed (125). After it: execve failed (126/127).
        const hint = ready ? (exitCode === EXIT_NOT_FOUND ? 'check the command and the image\'s PATH' : 'check the file is executable') : hintFor(setupError);
        reject(new ExecStartError(setupError, exitCode, { hint }));
        return;
      }
      resolve({ exitCode, stubs, aborted });
    });
  });
}

/** Decodes one stub report; the helper writes control bytes and '\\' as \\ooo (ASCII only, so the rest is UTF-8 text). */
function parseStub(path: string, ino: string, ctimeNs: string): Stub {
  const ns = BigInt(ctimeNs);
  // The same arithmetic as Node's Stats.ctimeMs, so the values compare equal.
  const ctimeMs = Number(ns / 1_000_000_000n) * 1e3 + Number(ns % 1_000_000_000n) / 1e6;
  return { path: path.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))), ino: Number(ino), ctimeMs, ctimeNs: ns };
}

function hintFor(message: string): string {
  if (message.includes('chdir to working directory')) return 'the working directory does not exist in the image';
  if (message.includes('unshare') || message.includes('Operation not permitted')) return 'strata needs root for namespaces and mounts';
  return 'this is a problem setting up the isolated environment';
}
