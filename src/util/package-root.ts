/**
 * Where strata is installed: the directory holding its package.json. Code and assets are found
 * from there, so the same lookups work from dist/src (tsc output) and from dist/bundle (the
 * single-file build the `strata` command runs).
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let cached: string | undefined;

/** The package root (found by walking up from this module to strata's package.json). */
export function packageRoot(): string {
  if (cached) return cached;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'strata') return (cached = dir);
    const up = dirname(dir);
    if (up === dir) throw new Error('strata: cannot find its own package.json above ' + fileURLToPath(import.meta.url));
    dir = up;
  }
}

/** strata's version, from package.json. */
export function packageVersion(): string {
  return (JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version;
}
