/**
 * Running the tools a bench compares: wall time, peak RSS and CPU time of one command, measured
 * the same way for strata and its peers (through `/usr/bin/time`, whose own cost is a few ms).
 */
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, openSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';

/** What one command cost. */
export interface Measured {
  /** Wall time in seconds (hrtime around spawn → exit). */
  seconds: number;
  /** Peak resident set of the biggest process in the tree (GNU time %M), KiB. */
  maxRssKiB: number;
  /** User and system CPU seconds of the command and the children it waited for. */
  userSeconds: number;
  systemSeconds: number;
  stdout: string;
  stderr: string;
}

/** Options of measure() and run(). */
export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** A file to use as stdin (default: /dev/null). */
  stdinFile?: string;
  /** Where the GNU time report goes (default: a file in the OS temp dir). */
  scratchDir?: string;
  /** Allow a non-zero exit (default: throw). */
  allowFailure?: boolean;
}

/** Thrown when a measured command fails: carries its output for the report. */
export class CommandFailed extends Error {
  constructor(readonly command: string, readonly code: number | null, readonly stderr: string) {
    super(`${command} exited ${code}: ${stderr.trim().split('\n').slice(-8).join('\n')}`);
  }
}

let seq = 0;

/** Runs `cmd args` under /usr/bin/time and returns its wall time, peak RSS and CPU time. */
export function measure(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<Measured> {
  const report = join(opts.scratchDir ?? '/dev/shm', `bench-time-${process.pid}-${++seq}`);
  const stdin = opts.stdinFile !== undefined ? openSync(opts.stdinFile, 'r') : 'ignore';
  const t0 = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    const child = spawn('/usr/bin/time', ['-f', '%M %U %S', '-o', report, cmd, ...args], {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: [stdin, 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout!.on('data', (b: Buffer) => out.push(b));
    child.stderr!.on('data', (b: Buffer) => err.push(b));
    child.on('error', reject);
    child.on('close', (code) => {
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      if (typeof stdin === 'number') closeSync(stdin);
      const stdout = Buffer.concat(out).toString();
      const stderr = Buffer.concat(err).toString();
      let fields: number[] = [0, 0, 0];
      try {
        // GNU time prefixes "Command exited with non-zero status N" on failure; the figures are the last line.
        const lines = readFileSync(report, 'utf8').trim().split('\n');
        fields = lines[lines.length - 1]!.split(' ').map(Number);
      } catch {
        // no report: the command could not start; the exit code says why
      }
      rmSync(report, { force: true });
      if (code !== 0 && !opts.allowFailure) {
        reject(new CommandFailed([cmd, ...args].join(' '), code, stderr));
        return;
      }
      resolve({ seconds, maxRssKiB: fields[0] ?? 0, userSeconds: fields[1] ?? 0, systemSeconds: fields[2] ?? 0, stdout, stderr });
    });
  });
}

/** measure() after a sync and once the machine is quiet: how every timed sample starts. */
export function measureSettled(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<Measured> {
  settle();
  waitQuiet();
  return measure(cmd, args, opts);
}

/** Runs a set-up or clean-up command synchronously (untimed); throws with its stderr on failure. */
export function run(cmd: string, args: readonly string[], opts: RunOptions = {}): string {
  const r = spawnSync(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.error) throw r.error;
  if (r.status !== 0 && !opts.allowFailure) throw new CommandFailed([cmd, ...args].join(' '), r.status, r.stderr);
  return r.stdout;
}

/** True when `cmd` can be found on PATH. */
export function have(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

/** Flushes dirty pages so one tool's writeback is not billed to the next one. */
export function settle(): void {
  spawnSync('sync');
}

function cpuTicks(): { busy: number; total: number } {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const total = f.reduce((a, b) => a + b, 0);
  return { busy: total - f[3]! - (f[4] ?? 0), total };
}

/** How busy the CPUs were (0..1) over the last `ms`, while this process only slept. */
function busyFraction(ms: number): number {
  const a = cpuTicks();
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
  const b = cpuTicks();
  return b.total === a.total ? 0 : (b.busy - a.busy) / (b.total - a.total);
}

/** Samples measured while other work kept the machine busy (see waitQuiet). */
export const noisy = { samples: 0, waitedSeconds: 0 };

/**
 * Waits (up to `maxSeconds`) until other processes use less than `threshold` of the CPUs, so a
 * sample is not taken in the middle of someone else's test run on this shared machine. Counts
 * the samples that had to start anyway.
 */
export function waitQuiet(threshold = 0.25, maxSeconds = 30): void {
  const t0 = Date.now();
  while (busyFraction(500) > threshold) {
    if (Date.now() - t0 > maxSeconds * 1000) {
      noisy.samples++;
      break;
    }
  }
  noisy.waitedSeconds += (Date.now() - t0) / 1000;
}

/** The median of a non-empty list. */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** The 1-, 5- and 15-minute load averages, for the report's machine-load note. */
export function loadAverage(): string {
  return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
}

/** Values of a repeatable `--name VALUE` flag (also comma-separated). */
export function flags(name: string): string[] {
  const out: string[] = [];
  process.argv.forEach((a, i) => {
    if (a === name && process.argv[i + 1] !== undefined) out.push(...process.argv[i + 1]!.split(','));
  });
  return out;
}

/**
 * The environment every measured command gets: this process's, minus the variables named by
 * `--unset NAME` (e.g. NODE_EXTRA_CA_CERTS, which this sandbox sets and which makes every Node
 * start-up parse a CA bundle; see startupNote).
 */
export function benchEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const name of flags('--unset')) delete env[name];
  return env;
}

/** Median start-up of `node -e 0` in `env`, in ms (strata pays it on every command). */
function nodeStartup(env: NodeJS.ProcessEnv): number {
  const xs: number[] = [];
  for (let i = 0; i < 7; i++) {
    const t0 = process.hrtime.bigint();
    spawnSync('node', ['-e', '0'], { env, stdio: 'ignore' });
    xs.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return median(xs);
}

/** One line on what a bare Node start costs here, with and without NODE_EXTRA_CA_CERTS. */
export function startupNote(env: NodeJS.ProcessEnv): string {
  const here = nodeStartup(env);
  if (env.NODE_EXTRA_CA_CERTS === undefined) return `node start-up: ${here.toFixed(0)} ms (NODE_EXTRA_CA_CERTS not set)`;
  const without = { ...env };
  delete without.NODE_EXTRA_CA_CERTS;
  return `node start-up: ${here.toFixed(0)} ms; NODE_EXTRA_CA_CERTS is set (${env.NODE_EXTRA_CA_CERTS}), without it ${nodeStartup(without).toFixed(0)} ms (--unset NODE_EXTRA_CA_CERTS to measure that way)`;
}

/** Value of a `--name VALUE` command-line flag. */
export function flag(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

/** `--runs N`-style numeric flag with a default. */
export function numberFlag(name: string, fallback: number): number {
  const v = flag(name);
  const n = v === undefined ? fallback : Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} wants a positive integer, got ${v}`);
  return n;
}

/** Seconds with a precision that suits their size. */
export function fmtSeconds(s: number): string {
  return s < 1 ? `${s.toFixed(3)} s` : s < 10 ? `${s.toFixed(2)} s` : `${s.toFixed(1)} s`;
}

/** KiB as MiB. */
export function fmtMiB(kib: number): string {
  return `${(kib / 1024).toFixed(0)} MiB`;
}

/** Prints rows as an aligned plain-text table (columns in `left` left-aligned, the rest right). */
export function printTable(header: readonly string[], rows: readonly (readonly string[])[], left: readonly number[] = [0]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells.map((c, i) => (left.includes(i) ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ').trimEnd();
  console.log(line(header));
  for (const r of rows) console.log(line(r));
}

/** The same rows as a Markdown table, to paste into bench/RESULTS.md. */
export function printMarkdown(header: readonly string[], rows: readonly (readonly string[])[]): void {
  console.log(`| ${header.join(' | ')} |`);
  console.log(`| ${header.map((_, i) => (i === 0 ? '---' : '---:')).join(' | ')} |`);
  for (const r of rows) console.log(`| ${r.join(' | ')} |`);
}
