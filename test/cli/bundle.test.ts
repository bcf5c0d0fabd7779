/**
 * The single-file CLI the `strata` command runs (dist/bundle/strata.cjs, made by
 * scripts/bundle.mjs) behaves like the tsc output the other CLI tests drive.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import Module from 'node:module';
import { join } from 'node:path';
import { test } from 'node:test';
import { Script } from 'node:vm';
import { repoRoot } from '../helpers/corpus.js';
import { runStrata } from '../helpers/cli.js';

const BUNDLE = join(repoRoot, 'dist', 'bundle', 'strata.cjs');

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

test('the bundle is CommonJS with a V8 code cache that this Node accepts, and no run-time import()', () => {
  const core = join(repoRoot, 'dist', 'bundle', 'strata-core.cjs');
  const source = readFileSync(core, 'utf8');
  assert.doesNotMatch(source, /\bimport\(/);
  const script = new Script(Module.wrap(source), { filename: core, cachedData: readFileSync(`${core}.v8cache`) });
  assert.equal(script.cachedDataRejected, false, 'npm run build makes the cache with this Node');
  // Executed as a program, the launcher's first line hands NODE_EXTRA_CA_CERTS on and execs node.
  const direct = spawnSync(BUNDLE, ['--version'], { encoding: 'utf8', cwd: repoRoot, env: { ...process.env, NODE_EXTRA_CA_CERTS: '/nonexistent/ca.pem' } });
  assert.equal(direct.status, 0, direct.stderr);
  assert.equal(direct.stderr, '', 'Node did not try to read the CA file at start-up');
  assert.equal(direct.stdout, runStrata(['--version']).stdout);
});
