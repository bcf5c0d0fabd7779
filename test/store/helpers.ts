/**
 * Shared helpers of the store tests: temp store roots and child processes running worker.ts.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Compiled path of the worker script children run. */
export const WORKER = fileURLToPath(new URL('./worker.js', import.meta.url));

/** A fresh temp directory and its cleanup. */
export function tempDir(prefix = 'strata-store-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A worker child running `worker.js ...args`, with its stdout split into lines. */
export interface Worker {
  child: ChildProcess;
  lines: string[];
  /** Resolves with the first stdout line matching `re` (already seen or future). */
  waitFor(re: RegExp, timeoutMs?: number): Promise<string>;
  /** Resolves with the exit code (or signal name) once the child is gone and reaped. */
  exited: Promise<number | string>;
}

/** Starts worker.ts in a child node process. */
export function startWorker(args: string[]): Worker {
  const child = spawn(process.execPath, [WORKER, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  const waiters: { re: RegExp; resolve: (l: string) => void }[] = [];
  let buf = '';
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      lines.push(line);
      for (const w of [...waiters]) {
        if (w.re.test(line)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(line);
        }
      }
    }
  });
  const exited = new Promise<number | string>((resolve) => child.on('exit', (code, sig) => resolve(code ?? sig ?? -1)));
  return {
    child,
    lines,
    exited,
    waitFor(re, timeoutMs = 20_000) {
      const seen = lines.find((l) => re.test(l));
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`worker ${args.join(' ')}: no line matching ${re} in ${timeoutMs}ms; stderr: ${stderr}`)), timeoutMs);
        const done = (l: string) => {
          clearTimeout(timer);
          resolve(l);
        };
        waiters.push({ re, resolve: done });
        void exited.then((code) => {
          clearTimeout(timer);
          reject(new Error(`worker ${args.join(' ')} exited (${code}) before printing ${re}; stderr: ${stderr}`));
        });
      });
    },
  };
}

/** kill -9 and wait until the child is reaped (a zombie would still look alive in /proc). */
export async function killHard(w: Worker): Promise<void> {
  w.child.kill('SIGKILL');
  await w.exited;
}
