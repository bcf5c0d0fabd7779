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

/** How to run strata. */
export interface StrataCli {
  /** The command and arguments that run strata with `args`. */
  argv(args: string[]): [string, string[]];
  /** The script itself (to run under `node` with flags, e.g. --cpu-prof). */
  script: string;
  /** For the report (stale bundle warnings included). */
  note: string;
}

/**
 * The bin is executed itself, as the `strata` command is (its launcher line is part of what users
 * get); `--cli PATH` and the fallback dist/src/cli/main.js are run with `node`.
 */
export function strataCli(repo: string): StrataCli {
  const withNode = (path: string, note: string): StrataCli => ({ argv: (args) => ['node', [path, ...args]], script: path, note });
  const given = flag('--cli');
  if (given !== undefined) return withNode(given, `node --cli ${given}`);
  const pkg = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as { bin?: Record<string, string> };
  const bin = pkg.bin?.strata;
  const fallback = join(repo, 'dist/src/cli/main.js');
  if (bin === undefined || !existsSync(join(repo, bin))) return withNode(fallback, 'node dist/src/cli/main.js');
  const path = join(repo, bin);
  const stale = statSync(path).mtimeMs < newestMtime(join(repo, 'dist/src'));
  return { argv: (args) => [path, args], script: path, note: `${bin} (package.json bin, executed as the strata command)${stale ? ' — WARNING: older than dist/src, run `npm run build`' : ''}` };
}
