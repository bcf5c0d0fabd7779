/**
 * The single-file CLI the `strata` command runs (dist/bundle/strata.mjs, made by
 * scripts/bundle.mjs) behaves like the tsc output the other CLI tests drive.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { repoRoot } from '../helpers/corpus.js';
import { runStrata } from '../helpers/cli.js';

const BUNDLE = join(repoRoot, 'dist', 'bundle', 'strata.mjs');

function bundled(args: string[], input?: string) {
  return spawnSync(process.execPath, [BUNDLE, ...args], { input, encoding: 'utf8', cwd: repoRoot });
}

test('the bundle exists after the build and gives the same answers as dist/src', () => {
  assert.ok(existsSync(BUNDLE), 'run npm run build first');
  const version = bundled(['--version']);
  assert.equal(version.status, 0, version.stderr);
  assert.equal(version.stdout, runStrata(['--version']).stdout);
  const dump = bundled(['parse', '-f', 'fixtures/demo/Dockerfile', '--format', 'dump']);
  assert.equal(dump.status, 0, dump.stderr);
  assert.equal(dump.stdout, runStrata(['parse', '-f', 'fixtures/demo/Dockerfile', '--format', 'dump']).stdout);
  const bad = bundled(['parse', '-f', '-'], 'FROM scratch\nCOPPY a b\n');
  assert.equal(bad.status, 1);
  assert.equal(bad.stderr, '<stdin>:2:1: unknown instruction "COPPY" (did you mean COPY?)\n');
});
