import assert from 'node:assert/strict';
import { readdirSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { Store, LockTimeoutError, type RefTarget } from '../../src/store/index.js';
import { ownerTag, selfIdentity } from '../../src/store/owner.js';
import { killHard, startWorker, tempDir } from './helpers.js';

/** An OCI-like toy: a manifest JSON names its config and layers; GC learns that through children(). */
async function children(store: Store, digest: string): Promise<string[]> {
  const bytes = await store.readBlob(digest);
  try {
    const doc = JSON.parse(bytes.toString()) as { config?: { digest: string }; layers?: { digest: string }[] };
    return [doc.config?.digest, ...(doc.layers ?? []).map((l) => l.digest)].filter((d): d is string => typeof d === 'string');
  } catch {
    return [];
  }
}

const past = new Date(Date.now() - 3_600_000);

/** Store with: ref → manifest M → config C + layer L (unpacked), an orphan blob O, an orphan layer dir X. */
async function fixture(store: Store) {
  const age = (digest: string) => utimesSync(store.blobPath(digest), past, past);
  const C = await store.ingest(Buffer.from('{"config":true}'));
  const L = await store.ingest(Buffer.alloc(5000, 1));
  const M = await store.ingest(Buffer.from(JSON.stringify({ config: { digest: C.digest }, layers: [{ digest: L.digest }] })));
  const O = await store.ingest(Buffer.alloc(777, 2));
  const X = await store.ingest(Buffer.alloc(10, 3)); // only its unpacked dir will be left
  for (const d of [C, L, M, O, X]) age(d.digest);
  const target: RefTarget = { digest: M.digest, mediaType: 'application/vnd.oci.image.manifest.v1+json', size: M.size };
  await store.setRef('example.com/app:1', target);
  for (const [blob, content] of [[L, 'live'], [X, 'dead!']] as const) {
    const dir = await store.prepareLayerDir();
    writeFileSync(join(dir, 'f'), content);
    await store.commitLayerDir(dir, blob.digest, { sync: false });
    utimesSync(store.layerDir(blob.digest), past, past);
  }
  await store.content.deleteBlob(X.digest);
  return { C, L, M, O, X };
}

async function withStore(fn: (store: Store, root: string) => Promise<void>): Promise<void> {
  const t = tempDir();
  try {
    const root = join(t.dir, 'store');
    await fn(await Store.open(root), root);
  } finally {
    t.cleanup();
  }
}

test('dry run reports unreachable blobs and layer dirs without touching them', () =>
  withStore(async (store) => {
    const { O, X, C, L, M } = await fixture(store);
    const r = await store.collectGarbage([], { children: (d) => children(store, d), dryRun: true });
    assert.equal(r.dryRun, true);
    assert.equal(r.marked, 3);
    assert.deepEqual(r.removedBlobs, [{ digest: O.digest, size: 777 }]);
    assert.deepEqual(r.removedLayers, [{ diffId: X.digest, size: 5 }]);
    assert.equal(r.bytesFreed, 782);
    for (const d of [O, C, L, M]) assert.equal(await store.hasBlob(d.digest), true);
    assert.equal(await store.hasLayer(X.digest), true);
  }));

test('GC sweeps what refs and roots do not reach, keeps the rest, and reports bytes freed', () =>
  withStore(async (store) => {
    const { O, X, C, L, M } = await fixture(store);
    const r = await store.collectGarbage([], { children: (d) => children(store, d) });
    assert.deepEqual(r.removedBlobs.map((b) => b.digest), [O.digest]);
    assert.deepEqual(r.removedLayers.map((l) => l.diffId), [X.digest]);
    assert.equal(r.bytesFreed, 782);
    assert.equal(await store.hasBlob(O.digest), false);
    assert.equal(await store.hasLayer(X.digest), false);
    for (const d of [C, L, M]) assert.equal(await store.hasBlob(d.digest), true);
    assert.equal(await store.hasLayer(L.digest), true, 'a layer whose blob is marked is live');
    assert.deepEqual(readdirSync(store.layout.tmp), []);
    const again = await store.collectGarbage([], { children: (d) => children(store, d) });
    assert.equal(again.bytesFreed, 0);
  }));

test('roots, live diff_ids and the grace period keep otherwise unreachable content', () =>
  withStore(async (store) => {
    const { O, X } = await fixture(store);
    const fresh = await store.ingest(Buffer.from('just written, not yet named'));
    const r = await store.collectGarbage([O.digest], { children: (d) => children(store, d), liveDiffIds: [X.digest], graceMs: 60_000 });
    assert.deepEqual(r.removedBlobs, []);
    assert.deepEqual(r.removedLayers, []);
    assert.equal(r.keptRecent, 1);
    assert.equal(await store.hasBlob(fresh.digest), true);
    // Without a grace period, content written before GC started is fair game.
    const r2 = await store.collectGarbage([O.digest], { children: (d) => children(store, d), liveDiffIds: [X.digest] });
    assert.deepEqual(r2.removedBlobs.map((b) => b.digest), [fresh.digest]);
  }));

test('reachable digests that are absent are reported, and a failing children() aborts before any sweep', () =>
  withStore(async (store) => {
    const { O } = await fixture(store);
    const ghost = 'sha256:' + '0'.repeat(64);
    const r = await store.collectGarbage([ghost], { children: (d) => children(store, d), dryRun: true });
    assert.deepEqual(r.missing, [ghost]);
    await assert.rejects(store.collectGarbage([], { children: () => { throw new Error('cannot parse manifest'); } }), /cannot parse manifest/);
    assert.equal(await store.hasBlob(O.digest), true);
  }));

test('GC removes dead writers\' temp files but not live ones', () =>
  withStore(async (store) => {
    const me = selfIdentity();
    const live = `${ownerTag(me)}-1111.blob`;
    const dead = `${ownerTag({ ...me, start: String(Number(me.start) + 5) })}-2222.blob`;
    writeFileSync(join(store.layout.tmp, live), 'x');
    writeFileSync(join(store.layout.tmp, dead), 'y');
    assert.deepEqual((await store.collectGarbage([], { dryRun: true })).removedTemp, [dead]);
    assert.deepEqual(readdirSync(store.layout.tmp).sort(), [dead, live].sort());
    assert.deepEqual((await store.collectGarbage()).removedTemp, [dead]);
    assert.deepEqual(readdirSync(store.layout.tmp), [live]);
  }));

test('GC waits for a lease held by another process, and proceeds once that process is killed', { timeout: 60_000 }, () =>
  withStore(async (store, root) => {
    const { O } = await fixture(store);
    const w = startWorker(['lease', root]);
    try {
      await w.waitFor(/^leased$/);
      await assert.rejects(store.collectGarbage([], { lockTimeoutMs: 150 }), (e: unknown) => e instanceof LockTimeoutError && e.holderPid === w.child.pid);
      assert.equal(await store.hasBlob(O.digest), true);
      const gc = store.collectGarbage([], { children: (d) => children(store, d), lockTimeoutMs: 10_000 });
      await killHard(w);
      const r = await gc;
      assert.deepEqual(r.removedBlobs.map((b) => b.digest), [O.digest]);
    } finally {
      w.child.kill('SIGKILL');
    }
  }));

test('an ingest-then-tag sequence under a lease survives a concurrent GC', () =>
  withStore(async (store) => {
    await fixture(store);
    let gcDone = false;
    let gc: Promise<unknown> | undefined;
    await store.withLease(async () => {
      const blob = await store.ingest(Buffer.from('{"new":"manifest"}'));
      utimesSync(store.blobPath(blob.digest), past, past); // even old-looking content is safe under a lease
      gc = store.collectGarbage([], { children: (d) => children(store, d) }).then(() => (gcDone = true));
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(gcDone, false, 'GC waits for the lease');
      await store.setRef('example.com/new:1', { digest: blob.digest, mediaType: 'application/json', size: blob.size });
    });
    await gc;
    assert.ok((await store.getRef('example.com/new:1')) !== undefined);
    assert.equal(await store.hasBlob((await store.getRef('example.com/new:1'))!.digest), true);
  }));
