/**
 * Byte ranges of files copied into new files inside the kernel (copy_file_range), through the
 * small native helper dist/native/copy-ranges (src/util/native/copy-ranges.c): Node has no
 * ranged copy, and on this kind of machine writing bytes from user space costs several times
 * more than the kernel's copy. Callers hash the same bytes themselves meanwhile (digests are
 * verified on read), and keep a user-space path for when the helper was not built.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from './package-root.js';

/** `length` bytes at `offset` of source file number `source`. */
export interface Range {
  source: number;
  offset: number;
  length: number;
}

/** What to copy: each output (created; it must not exist) is the concatenation of its ranges. */
export interface CopyPlan {
  sources: readonly string[];
  outputs: ReadonlyArray<{ path: string; ranges: readonly Range[] }>;
}

let helperPath: string | null | undefined;

/** The helper's path, or undefined when it was not built (no C compiler at install time). */
export function copyRangesHelper(): string | undefined {
  if (helperPath === undefined) {
    const path = join(packageRoot(), 'dist', 'native', 'copy-ranges');
    helperPath = existsSync(path) ? path : null;
  }
  return helperPath ?? undefined;
}

/**
 * Runs the plan with the helper; resolves when every output is written, rejects with the
 * helper's message otherwise (outputs it created are left for the caller to remove).
 */
export function copyRanges(helper: string, plan: CopyPlan): Promise<void> {
  const args = [...plan.sources.map((s) => `<${s}`), ...plan.outputs.map((o) => `>${o.path}`)];
  const lines: string[] = [];
  plan.outputs.forEach((o, k) => {
    lines.push(`o ${k}`);
    for (const r of o.ranges) if (r.length > 0) lines.push(`c ${r.source} ${r.offset} ${r.length}`);
  });
  return new Promise((resolve, reject) => {
    const child = spawn(helper, args, { stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(stderr.trim() || `copy-ranges exited with ${code}`))));
    child.stdin.on('error', () => undefined); // an early exit is reported by 'close'
    child.stdin.end(lines.join('\n') + '\n');
  });
}
