import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { Store } from '../../src/store/index.js';
import { parseOwnerTag } from '../../src/store/owner.js';
import { killHard, startWorker, tempDir } from './helpers.js';

/** Every invariant a crash must not break: blobs hash to their names, refs point at blobs. */
async function assertConsistent(store: Store): Promise<void> {
  for (const blob of await store.content.listBlobs()) await store.readBlob(blob.digest); // throws if damaged
  const refs = await store.listRefs(); // throws if refs.json is torn
  for (const ref of refs) assert.ok(await store.hasBlob(ref.digest), `${ref.name} → ${ref.digest} exists`);
}

test('kill -9 in the middle of a large ingest leaves no blob, and the next open removes its temp file', { timeout: 60_000 }, async () => {
  const t = tempDir();
  try {
    const root = join(t.dir, 'store');
    const w = startWorker(['ingest-endless', root]);
    await w.waitFor(/^produced 16777216$/); // 16 MiB into the stream
    await killHard(w);
    const leftovers = readdirSync(join(root, 'tmp'));
    assert.equal(leftovers.length, 1, 'the killed writer left its temp file');
    assert.equal(parseOwnerTag(leftovers[0]!)?.pid, w.child.pid);
    assert.deepEqual(readdirSync(join(root, 'blobs', 'sha256')), [], 'nothing under a final name');
    const store = await Store.open(root);
    assert.deepEqual(readdirSync(store.layout.tmp), []);
    await assertConsistent(store);
  } finally {
    t.cleanup();
  }
});

test('kill -9 inside a refs transaction: the update is not applied and the lock is reclaimed', { timeout: 60_000 }, async () => {
  const t = tempDir();
  try {
    const root = join(t.dir, 'store');
    const store = await Store.open(root, { lockTimeoutMs: 30_000 });
    const m = await store.ingest(Buffer.from('{"m":1}'));
    await store.setRef('example.com/before:1', { digest: m.digest, mediaType: 'application/json', size: m.size });
    const w = startWorker(['hold-refs', root]);
    await w.waitFor(/^holding$/);
    await killHard(w);
    assert.equal(await store.getRef('example.com/held:1'), undefined);
    const t0 = Date.now();
    await store.setRef('example.com/after:1', { digest: m.digest, mediaType: 'application/json', size: m.size });
    assert.ok(Date.now() - t0 < 5000, 'the dead holder did not make us wait for a timeout');
    assert.deepEqual((await store.listRefs()).map((r) => r.name), ['example.com/after:1', 'example.com/before:1']);
    await assertConsistent(store);
  } finally {
    t.cleanup();
  }
});

test('kill -9 at random moments of ingest + tag loops never leaves the store inconsistent', { timeout: 120_000 }, async () => {
  const t = tempDir();
  try {
    const root = join(t.dir, 'store');
    let namesBefore = 0;
    for (let round = 0; round < 6; round++) {
      const w = startWorker(['ingest-loop', root, `r${round}`]);
      await w.waitFor(/^set 0$/);
      await sleep(20 + Math.floor(Math.random() * 120));
      await killHard(w);
      const store = await Store.open(root);
      assert.ok(readdirSync(store.layout.tmp).every((n) => parseOwnerTag(n)?.pid !== w.child.pid), 'dead writer temp files removed');
      await assertConsistent(store);
      const names = (await store.listRefs()).length;
      assert.ok(names >= namesBefore, 'no name was lost');
      namesBefore = names;
      // Every blob is named (blobs first, refs last: at most one unnamed blob per kill).
      const named = new Set((await store.listRefs()).map((r) => r.digest));
      const unnamed = (await store.content.listBlobs()).filter((b) => !named.has(b.digest));
      assert.ok(unnamed.length <= round + 1, `unnamed blobs: ${unnamed.length}`);
    }
  } finally {
    t.cleanup();
  }
});
