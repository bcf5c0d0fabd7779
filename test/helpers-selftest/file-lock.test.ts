import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { buildCached, pidAlive } from '../helpers/file-lock.js';

const FILE_LOCK_JS = new URL('../helpers/file-lock.js', import.meta.url).href;

function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'strata-lock-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A pid that certainly belonged to a process that has exited. */
function deadPid(): number {
  const r = spawnSync('true');
  assert.ok(r.pid && !pidAlive(r.pid));
  return r.pid;
}

/** Runs a node ESM snippet in a child; resolves with its exit code and output. */
function runNode(code: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b) => (stdout += b));
    child.stderr.on('data', (b) => (stderr += b));
    child.on('close', (c) => resolve({ code: c, stdout, stderr }));
  });
}

test('several processes asking at once build the file exactly once', async (t) => {
  const dir = tempDir(t);
  const target = join(dir, 'cache', 'thing.bin');
  const counter = join(dir, 'builds.log');
  const code = `
    import { appendFileSync, writeFileSync } from 'node:fs';
    import { setTimeout as sleep } from 'node:timers/promises';
    import { buildCached } from ${JSON.stringify(FILE_LOCK_JS)};
    const p = await buildCached(${JSON.stringify(target)}, { timeoutMs: 30000, pollMs: 20, what: 'test' }, async (tmp) => {
      appendFileSync(${JSON.stringify(counter)}, process.pid + '\\n');
      await sleep(400);
      writeFileSync(tmp, 'built by ' + process.pid);
    });
    process.stdout.write(p);`;
  const results = await Promise.all([1, 2, 3, 4].map(() => runNode(code)));
  for (const r of results) {
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, target);
  }
  const builders = readFileSync(counter, 'utf8').trim().split('\n');
  assert.equal(builders.length, 1, `built ${builders.length} times`);
  assert.equal(readFileSync(target, 'utf8'), `built by ${builders[0]}`);
  assert.deepEqual(readdirSync(join(dir, 'cache')), ['thing.bin'], 'no lock or temp file left behind');
});

test('calls within one process share one build', async (t) => {
  const dir = tempDir(t);
  const target = join(dir, 'x');
  let builds = 0;
  const build = async (tmp: string) => {
    builds++;
    await sleep(50);
    writeFileSync(tmp, 'x');
  };
  const opts = { timeoutMs: 5000, what: 'test' };
  const [a, b] = await Promise.all([buildCached(target, opts, build), buildCached(target, opts, build)]);
  assert.equal(a, target);
  assert.equal(b, target);
  assert.equal(builds, 1);
  assert.equal(await buildCached(target, opts, build), target);
  assert.equal(builds, 1, 'an existing file is reused');
});

test('a lock left by a dead process is broken, and its temp files swept', async (t) => {
  const dir = tempDir(t);
  const target = join(dir, 'x');
  const dead = deadPid();
  writeFileSync(target + '.lock', `${dead}\nabc\n`);
  const leftover = `${target}.tmp-${dead}-dead`;
  writeFileSync(leftover, 'half');
  const p = await buildCached(target, { timeoutMs: 2000, pollMs: 20, what: 'test' }, async (tmp) => writeFileSync(tmp, 'ok'));
  assert.equal(readFileSync(p, 'utf8'), 'ok');
  assert.ok(!existsSync(leftover), 'dead builder temp removed');
  assert.deepEqual(readdirSync(dir), ['x']);
});

test('a lock file without a pid is treated as stale', async (t) => {
  const dir = tempDir(t);
  const target = join(dir, 'x');
  writeFileSync(target + '.lock', 'garbage\n');
  assert.equal(await buildCached(target, { timeoutMs: 1000, pollMs: 20, what: 'test' }, async (tmp) => writeFileSync(tmp, 'ok')), target);
  assert.deepEqual(readdirSync(dir), ['x']);
});

test('waiting on a live holder times out with a message naming it', async (t) => {
  const dir = tempDir(t);
  const target = join(dir, 'x');
  const holder = spawn('sleep', ['30'], { stdio: 'ignore' });
  t.after(() => holder.kill('SIGKILL'));
  writeFileSync(target + '.lock', `${holder.pid}\nabc\n`);
  const started = Date.now();
  await assert.rejects(
    buildCached(target, { timeoutMs: 300, pollMs: 20, what: 'the test fixture' }, async (tmp) => writeFileSync(tmp, 'x')),
    new RegExp(`waiting for the test fixture: lock .*x\\.lock is held by pid ${holder.pid} \\(sleep 30\\)`),
  );
  assert.ok(Date.now() - started >= 300);
  assert.ok(existsSync(target + '.lock'), "a live holder's lock is left alone");
  assert.ok(!existsSync(target));
});

test('a failing build propagates its error and leaves no temp file or lock', async (t) => {
  const dir = tempDir(t);
  const target = join(dir, 'x');
  await assert.rejects(
    buildCached(target, { timeoutMs: 2000, what: 'test' }, async (tmp) => {
      appendFileSync(tmp, 'partial');
      throw new Error('boom');
    }),
    /boom/,
  );
  assert.deepEqual(readdirSync(dir), []);
  // And the next attempt builds normally.
  assert.equal(await buildCached(target, { timeoutMs: 2000, what: 'test' }, async (tmp) => writeFileSync(tmp, 'ok')), target);
});
