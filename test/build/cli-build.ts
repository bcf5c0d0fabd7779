/**
 * Helpers for the end-to-end tests of `strata build`: a store with the busybox base imported,
 * small build contexts, the CLI run in the background (for signals, and so a server in the test
 * process can answer while a build runs), and the plain progress output grouped by step.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import { busyboxRootfsTar } from '../helpers/base-images.js';
import { runStrata, STRATA_BIN, type CliResult } from '../helpers/cli.js';
import { repoRoot } from '../helpers/corpus.js';
import { makeTemp, rmTemp } from './helpers.js';

/** The base image every CLI test builds on. */
export const BUSYBOX = 'localhost/fixture/busybox:latest';

/** A fresh store with the busybox base imported. */
export async function storeWithBusybox(): Promise<string> {
  const root = makeTemp('cli-store-');
  const r = runStrata(['--root', root, 'import', await busyboxRootfsTar(), BUSYBOX]);
  assert.equal(r.code, 0, r.stderr);
  return root;
}

/** What a suite of CLI build tests shares: a store with the busybox base, and temp dirs removed after. */
export interface CliSuite {
  /** The store (made before the suite's tests). */
  readonly root: string;
  /** A context holding `files`, removed after the suite. */
  ctx(files: Record<string, string>): string;
  /** A temp dir, removed after the suite. */
  temp(prefix: string): string;
}

/** Registers the suite's before/after hooks; call inside `describe`. */
export function cliSuite(): CliSuite {
  let root: string | undefined;
  const temps: string[] = [];
  before(async () => {
    root = await storeWithBusybox();
  });
  after(() => {
    for (const d of temps) rmTemp(d);
    if (root) rmTemp(root);
  });
  const keep = (d: string) => (temps.push(d), d);
  return {
    get root() {
      return root!;
    },
    ctx: (files) => keep(makeContext(files)),
    temp: (prefix) => keep(makeTemp(prefix)),
  };
}

/** A fresh context directory holding `files` (path → content). */
export function makeContext(files: Record<string, string>): string {
  const dir = makeTemp('cli-ctx-');
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), content);
  }
  return dir;
}

/** A CLI run in the background. */
export interface Running {
  pid: number;
  /** What it printed on stderr so far. */
  stderr(): string;
  /** Resolves when it exits. */
  result: Promise<CliResult & { signal: NodeJS.Signals | null }>;
  kill(signal: NodeJS.Signals): void;
}

/** Starts `strata ...args` without waiting for it. */
export function startStrata(args: string[], opts: { env?: NodeJS.ProcessEnv; input?: string | Buffer } = {}): Running {
  const child = spawn(process.execPath, [STRATA_BIN, ...args], { cwd: repoRoot, env: { ...process.env, ...opts.env }, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  child.stdin.end(opts.input ?? '');
  const result = new Promise<CliResult & { signal: NodeJS.Signals | null }>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
  return { pid: child.pid!, stderr: () => stderr, result, kill: (s) => child.kill(s) };
}

/** Runs `strata ...args` in the background to completion. */
export function strataAsync(args: string[], opts: { env?: NodeJS.ProcessEnv; input?: string | Buffer } = {}): Promise<CliResult> {
  return startStrata(args, opts).result;
}

/** `--progress plain` output as step number → its lines (without the `#N ` prefix). */
export function plainSteps(text: string): Map<number, string[]> {
  const steps = new Map<number, string[]>();
  for (const line of text.split('\n')) {
    const m = /^#(\d+) (.*)$/.exec(line);
    if (!m) continue;
    const n = Number(m[1]);
    steps.set(n, [...(steps.get(n) ?? []), m[2]!]);
  }
  return steps;
}

/** The step whose first line matches `title`, with its lines. */
export function stepTitled(steps: Map<number, string[]>, title: RegExp): string[] {
  for (const lines of steps.values()) if (title.test(lines[0] ?? '')) return lines;
  assert.fail(`no step titled ${title} in:\n${[...steps.values()].map((l) => l[0]).join('\n')}`);
}

/** Polls `check` every 50 ms until it is true or `ms` pass; returns whether it became true. */
export async function waitFor(check: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (check()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return check();
}
