import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { LockManager, LockTimeoutError } from '../../src/store/index.js';
import { isOwnerAlive, ownerTag, parseOwnerTag, readProcStat, selfIdentity } from '../../src/store/owner.js';
import { killHard, startWorker, tempDir } from './helpers.js';

async function withLocks(fn: (locks: LockManager, dir: string) => Promise<void>): Promise<void> {
  const t = tempDir();
  try {
    await fn(new LockManager(join(t.dir, 'locks'), 10_000), t.dir);
  } finally {
    t.cleanup();
  }
}

test('owner identity: pid + start time + boot id; dead and reused pids are not alive', () => {
  const me = selfIdentity();
  assert.equal(me.pid, process.pid);
  assert.equal(me.start, readProcStat(process.pid)!.start);
  assert.deepEqual(parseOwnerTag(ownerTag(me) + '-abcd.blob'), me);
  assert.equal(parseOwnerTag('junk'), undefined);
  assert.equal(isOwnerAlive(me), true);
  assert.equal(isOwnerAlive({ ...me, start: String(Number(me.start) + 1) }), false, 'pid reused by a later process');
  assert.equal(isOwnerAlive({ ...me, boot: 'deadbeef' }), false, 'previous boot');
  assert.equal(isOwnerAlive({ ...me, pid: 4194304 + 7 }), false, 'no such pid');
  assert.equal(isOwnerAlive({ ...me, pidns: '1' }), true, 'another pid namespace cannot be judged');
});

test('a zombie (killed, not yet reaped) owner is not alive', async () => {
  // `sleep 0 &` becomes a child of the shell, which then execs a process that never reaps it.
  const sh = spawn('sh', ['-c', 'sleep 0 & echo $!; exec sleep 30'], { stdio: ['ignore', 'pipe', 'ignore'] });
  try {
    const pid = Number((await once(sh.stdout!, 'data'))[0].toString().trim());
    let stat = readProcStat(pid);
    for (let i = 0; i < 100 && stat?.state !== 'Z'; i++) {
      await sleep(10);
      stat = readProcStat(pid);
    }
    assert.equal(stat?.state, 'Z');
    assert.equal(isOwnerAlive({ ...selfIdentity(), pid, start: stat.start }), false);
  } finally {
    sh.kill('SIGKILL');
  }
});

test('exclusive locks exclude, in one process', () =>
  withLocks(async (locks) => {
    let active = 0;
    let maxActive = 0;
    const order: number[] = [];
    await Promise.all(Array.from({ length: 12 }, (_, i) => locks.withLock('x', 'exclusive', async () => {
      active++;
      maxActive = Math.max(maxActive, active);
      await sleep(2);
      order.push(i);
      active--;
    })));
    assert.equal(maxActive, 1);
    assert.equal(order.length, 12);
    assert.deepEqual(await locks.entries('x'), []);
  }));

test('shared holders coexist; an exclusive waiter times out naming the holder pid', () =>
  withLocks(async (locks) => {
    const a = await locks.acquire('g', 'shared');
    const b = await locks.acquire('g', 'shared', { timeoutMs: 100 });
    const t0 = Date.now();
    await assert.rejects(locks.acquire('g', 'exclusive', { timeoutMs: 150 }), (e: unknown) => {
      assert.ok(e instanceof LockTimeoutError);
      assert.equal(e.holderPid, process.pid);
      assert.equal(e.code, 'STORE_LOCKED');
      assert.match(e.message, new RegExp(`store lock "g": held \\(shared\\) by pid ${process.pid}`));
      assert.match(e.hint!, new RegExp(`pid ${process.pid}`));
      return true;
    });
    assert.ok(Date.now() - t0 >= 140);
    await a.release();
    await b.release();
    await b.release(); // idempotent
    const x = await locks.acquire('g', 'exclusive', { timeoutMs: 1000 });
    await assert.rejects(locks.acquire('g', 'shared', { timeoutMs: 50 }), LockTimeoutError);
    await x.release();
    assert.deepEqual(await locks.entries('g'), []);
  }));

test('a nested shared hold does not deadlock behind a queued exclusive waiter', () =>
  withLocks(async (locks) => {
    const outer = await locks.acquire('gc', 'shared');
    let gotExclusive = false;
    const writer = locks.acquire('gc', 'exclusive', { timeoutMs: 5000 }).then((h) => {
      gotExclusive = true;
      return h;
    });
    await sleep(30);
    const inner = await locks.acquire('gc', 'shared', { timeoutMs: 200 });
    assert.equal(gotExclusive, false);
    await inner.release();
    await sleep(20);
    assert.equal(gotExclusive, false, 'still held by the outer shared hold');
    await outer.release();
    await (await writer).release();
    assert.equal(gotExclusive, true);
  }));

test('a lock held by a kill -9ed process is taken over at once', { timeout: 60_000 }, () =>
  withLocks(async (_locks, dir) => {
    const root = join(dir, 'store');
    const w = startWorker(['hold-lock', root, 'refs', 'exclusive']);
    try {
      await w.waitFor(/^locked$/);
      const locks = new LockManager(join(root, 'locks'));
      await assert.rejects(locks.acquire('refs', 'exclusive', { timeoutMs: 100 }), (e: unknown) => e instanceof LockTimeoutError && e.holderPid === w.child.pid);
      await killHard(w);
      const t0 = Date.now();
      const h = await locks.acquire('refs', 'exclusive', { timeoutMs: 30_000 });
      assert.ok(Date.now() - t0 < 5000, 'no waiting for a timeout');
      const entries = await locks.entries('refs');
      assert.equal(entries.length, 1);
      assert.equal(entries[0]!.owner.pid, process.pid);
      await h.release();
    } finally {
      w.child.kill('SIGKILL');
    }
  }));

test('stale entries whose pid now belongs to another process are recognised by start time', () =>
  withLocks(async (locks) => {
    const me = selfIdentity();
    const dir = locks.lockDir('r');
    mkdirSync(dir, { recursive: true });
    // Same pid as a running process (this one), but another start time: a dead predecessor.
    const reused = ownerTag({ ...me, start: String(Number(me.start) + 12345) });
    writeFileSync(join(dir, `t.000000000001.x.${reused}-0000`), '');
    writeFileSync(join(dir, `c.${reused}-0001`), '');
    const h = await locks.acquire('r', 'exclusive', { timeoutMs: 500 });
    assert.deepEqual(readdirSync(dir).filter((n) => n.includes(reused)), []);
    await h.release();

    // A live owner's ticket (this process, another tag) is respected.
    writeFileSync(join(dir, `t.000000000001.x.${ownerTag(me)}-ffff`), '');
    await assert.rejects(locks.acquire('r', 'shared', { timeoutMs: 80 }), (e: unknown) => e instanceof LockTimeoutError && e.holderPid === process.pid);
  }));

test('exclusion holds across processes: a child holding shared blocks our exclusive', { timeout: 60_000 }, () =>
  withLocks(async (_locks, dir) => {
    const root = join(dir, 'store');
    const w = startWorker(['hold-lock', root, 'gc', 'shared']);
    try {
      await w.waitFor(/^locked$/);
      const locks = new LockManager(join(root, 'locks'));
      const s = await locks.acquire('gc', 'shared', { timeoutMs: 500 });
      await s.release();
      await assert.rejects(locks.acquire('gc', 'exclusive', { timeoutMs: 100 }), /held \(shared\) by pid/);
    } finally {
      await killHard(w);
    }
  }));

test('invalid lock names are refused', () =>
  withLocks(async (locks) => {
    await assert.rejects(locks.acquire('../x'), /invalid lock name/);
    await assert.rejects(locks.acquire(''), /invalid lock name/);
  }));
