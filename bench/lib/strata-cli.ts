/**
 * Which strata the benches run: what the `strata` command runs (package.json's bin, the bundle
 * when there is one), or `--cli PATH`. Start-up is part of every figure, so this matters.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { flag } from './proc.js';

function newestMtime(dir: string): number {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    newest = Math.max(newest, e.isDirectory() ? newestMtime(p) : statSync(p).mtimeMs);
  }
  return newest;
}

/** The script to run with `node`, and a note for the report (stale bundle warnings included). */
export function strataCli(repo: string): { path: string; note: string } {
  const given = flag('--cli');
  if (given !== undefined) return { path: given, note: `--cli ${given}` };
  const pkg = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as { bin?: Record<string, string> };
  const bin = pkg.bin?.strata;
  const fallback = join(repo, 'dist/src/cli/main.js');
  if (bin === undefined || !existsSync(join(repo, bin))) return { path: fallback, note: 'dist/src/cli/main.js' };
  const path = join(repo, bin);
  const stale = statSync(path).mtimeMs < newestMtime(join(repo, 'dist/src'));
  return { path, note: `${bin} (package.json bin)${stale ? ' — WARNING: older than dist/src, run `npm run build`' : ''}` };
}
