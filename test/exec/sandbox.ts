/**
 * Helpers for the executor tests: a busybox rootfs extracted under <repo>/.cache/tmp (file
 * creation under /tmp is slow here), used either as a plain dir or as the lower dir of an overlay
 * with a fresh upper dir per run, and runIsolated with its output captured.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { helperPath, runIsolated } from '../../src/exec/executor.js';
import type { ProcessSpec, RootfsSpec, RunResult, RunSpec } from '../../src/exec/executor.js';
import { BUSYBOX_MISSING, busyboxRootfsTar, canBuildBusybox } from '../helpers/base-images.js';
import { repoRoot } from '../helpers/corpus.js';

/** Both kinds of root every behaviour is checked on. */
export const MODES = ['dir', 'overlay'] as const;
export type Mode = (typeof MODES)[number];

/** Docker's default capability set as /proc/<pid>/status shows it. */
export const DEFAULT_CAPS = '00000000a80425fb';

/** Why the isolated tests cannot run here, or undefined when they can. */
export function skipReason(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (namespaces, overlayfs, pivot_root)';
  if (!existsSync(helperPath())) return `the helper ${helperPath()} is not built (npm run build needs a C compiler)`;
  if (!canBuildBusybox()) return BUSYBOX_MISSING;
  return undefined;
}

/** A Writable that keeps what it is given. */
export class Capture extends Writable {
  private readonly chunks: Buffer[] = [];
  private readonly waiters: { text: string; resolve: () => void }[] = [];

  override _write(chunk: Buffer, _enc: BufferEncoding, done: () => void): void {
    this.chunks.push(chunk);
    const all = this.text;
    for (const w of [...this.waiters]) {
      if (all.includes(w.text)) {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        w.resolve();
      }
    }
    done();
  }

  get text(): string {
    return Buffer.concat(this.chunks).toString('utf8');
  }

  /** Resolves once `text` has been written. */
  waitFor(text: string): Promise<void> {
    if (this.text.includes(text)) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ text, resolve }));
  }
}

/** What a run gave: the result plus its output. */
export interface Outcome extends RunResult {
  stdout: string;
  stderr: string;
}

/** Options for one run: RunSpec fields plus process fields. */
export type RunOptions = Partial<Omit<RunSpec, 'process' | 'rootfs'>> & { process?: Partial<ProcessSpec>; rootfs?: RootfsSpec; stdoutCapture?: Capture };

/** One scratch area per test file with a pristine busybox rootfs in it. */
export class Sandbox {
  /** The extracted busybox rootfs: never written to (dir runs use `dirRoot`). */
  readonly base: string;
  /** A copy of `base` that dir-mode runs share (their stubs accumulate in it). */
  readonly dirRoot: string;
  private n = 0;

  private constructor(readonly dir: string) {
    this.base = join(dir, 'base');
    this.dirRoot = join(dir, 'dirroot');
  }

  /** Makes the scratch area and extracts the busybox rootfs into it. */
  static async create(): Promise<Sandbox> {
    const scratch = join(repoRoot, '.cache', 'tmp');
    mkdirSync(scratch, { recursive: true });
    const sb = new Sandbox(mkdtempSync(join(scratch, 'exec-')));
    sb.extract(await busyboxRootfsTar(), sb.base);
    execFileSync('cp', ['-a', sb.base, sb.dirRoot]);
    return sb;
  }

  /** Extracts the busybox rootfs into a new dir `name` of the scratch area (to be changed freely); returns it. */
  async freshRootfs(name: string): Promise<string> {
    const dir = join(this.dir, name);
    this.extract(await busyboxRootfsTar(), dir);
    return dir;
  }

  private extract(tar: string, dir: string): void {
    mkdirSync(dir, { recursive: true });
    execFileSync('tar', ['-xf', tar, '-C', dir, '--numeric-owner']);
  }

  /** A root of the given kind: `dirRoot` itself, or an overlay of `lowers` (default: base) with a fresh upper. */
  rootfs(mode: Mode, opts: { lowers?: string[]; dir?: string } = {}): RootfsSpec {
    if (mode === 'dir') return { kind: 'dir', path: opts.dir ?? this.dirRoot };
    const d = join(this.dir, `ov${++this.n}`);
    for (const sub of ['upper', 'work', 'merged']) mkdirSync(join(d, sub), { recursive: true });
    return { kind: 'overlay', mountpoint: join(d, 'merged'), lowers: opts.lowers ?? [this.base], upper: join(d, 'upper'), work: join(d, 'work') };
  }

  /** Runs `args` isolated (root, cwd /, a PATH) and captures its output. */
  async run(mode: Mode, args: string[], opts: RunOptions = {}): Promise<Outcome> {
    const stdout = opts.stdoutCapture ?? new Capture();
    const stderr = new Capture();
    const { process: proc, rootfs, stdoutCapture: _ignored, ...rest } = opts;
    const result = await runIsolated({
      rootfs: rootfs ?? this.rootfs(mode),
      process: { args, env: ['PATH=/usr/sbin:/usr/bin:/sbin:/bin'], cwd: '/', uid: 0, gid: 0, groups: [], ...proc },
      network: 'host',
      stdout,
      stderr,
      ...rest,
    });
    return { ...result, stdout: stdout.text, stderr: stderr.text };
  }

  /** Removes the scratch area. */
  cleanup(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Every path under `dir`, relative, sorted. */
export function listTree(dir: string): string[] {
  const out: string[] = [];
  const walk = (abs: string, rel: string) => {
    for (const name of readdirSync(abs)) {
      const r = rel ? `${rel}/${name}` : name;
      out.push(r);
      if (lstatSync(join(abs, name)).isDirectory()) walk(join(abs, name), r);
    }
  };
  walk(dir, '');
  return out.sort();
}

/** The Cap* lines of a /proc/<pid>/status text, keyed by name. */
export function capsOf(status: string): Record<string, string> {
  const caps: Record<string, string> = {};
  for (const m of status.matchAll(/^(Cap\w+):\s*([0-9a-f]+)$/gm)) caps[m[1]!] = m[2]!;
  return caps;
}

/** PIDs of host processes whose command line contains `marker` (pgrep -f), without pgrep itself. */
export function hostPids(marker: string): number[] {
  const r = spawnSync('pgrep', ['-f', marker], { encoding: 'utf8' });
  return r.stdout.split('\n').filter(Boolean).map(Number).filter((p) => p !== r.pid);
}

/** argv of a host process, or undefined when it is gone. */
export function cmdlineOf(pid: number): string[] | undefined {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').slice(0, -1);
  } catch {
    return undefined;
  }
}

/** A name unique to this process and call, for markers and host paths. */
export function unique(prefix: string): string {
  return `${prefix}-${process.pid}-${Math.random().toString(36).slice(2, 10)}`;
}
