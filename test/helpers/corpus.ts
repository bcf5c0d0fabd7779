/**
 * Locates BuildKit's conformance corpus (../shared/conformance beside the checkout, or
 * $STRATA_CONFORMANCE_DIR) and tallies results so every runner reports `N passed, N failed`.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (dist/test/helpers → ../../..). */
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/** Absolute path of the corpus, or undefined when it is not on this machine. */
export function corpusDir(): string | undefined {
  const dir = process.env.STRATA_CONFORMANCE_DIR ?? join(repoRoot, '..', 'shared', 'conformance');
  return existsSync(join(dir, 'README.md')) ? dir : undefined;
}

/** A message for `t.skip()` when the corpus is absent. */
export const CORPUS_ABSENT =
  'conformance corpus not found at ../shared/conformance (set STRATA_CONFORMANCE_DIR); skipping — strata\'s own fixtures still run';

/** Reads a JSON file of the corpus. */
export function readCorpusJson<T = any>(rel: string): T {
  return JSON.parse(readFileSync(join(corpusDir()!, rel), 'utf8')) as T;
}

/** Counts cases and collects failures; `report()` prints one summary line. */
export class Tally {
  passed = 0;
  skipped = 0;
  readonly failures: string[] = [];
  constructor(readonly name: string) {}

  /** Runs one case; a thrown error or `false` counts as a failure. */
  check(label: string, fn: () => boolean | void): void {
    try {
      if (fn() === false) this.failures.push(`${label}: mismatch`);
      else this.passed++;
    } catch (e) {
      this.failures.push(`${label}: ${(e as Error).message}`);
    }
  }

  skip(): void {
    this.skipped++;
  }

  /** Prints `name: N passed, N failed[, N skipped]` and the first failures. */
  report(): string {
    const line = `${this.name}: ${this.passed} passed, ${this.failures.length} failed` + (this.skipped ? `, ${this.skipped} skipped` : '');
    console.log(line);
    for (const f of this.failures.slice(0, 30)) console.log('  FAIL ' + f);
    return line;
  }
}
