import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { NotFoundError, StoreError } from '../../src/errors.js';
import { Store, sha256, type RefTarget } from '../../src/store/index.js';
import { startWorker, tempDir } from './helpers.js';

async function withStore(fn: (store: Store) => Promise<void>): Promise<void> {
  const t = tempDir();
  try {
    await fn(await Store.open(join(t.dir, 'store')));
  } finally {
    t.cleanup();
  }
}

async function manifest(store: Store, body: string): Promise<RefTarget> {
  const r = await store.ingest(Buffer.from(body));
  return { digest: r.digest, mediaType: 'application/vnd.oci.image.manifest.v1+json', size: r.size };
}

test('setRef, getRef, listRefs and deleteRef round-trip through refs.json', () =>
  withStore(async (store) => {
    const m = await manifest(store, '{"a":1}');
    assert.equal(await store.getRef('docker.io/library/busybox:latest'), undefined);
    assert.equal(await store.setRef('docker.io/library/busybox:latest', m), undefined);
    await store.setRef('docker.io/library/alpine:3', m);
    const entry = await store.getRef('docker.io/library/busybox:latest');
    assert.deepEqual({ ...entry, created: undefined }, { ...m, created: undefined });
    assert.ok(!Number.isNaN(Date.parse(entry!.created)));
    assert.deepEqual((await store.listRefs()).map((r) => r.name), ['docker.io/library/alpine:3', 'docker.io/library/busybox:latest']);

    const file = JSON.parse(readFileSync(store.layout.refs, 'utf8'));
    assert.equal(file.version, 1);
    assert.deepEqual(Object.keys(file.refs), ['docker.io/library/alpine:3', 'docker.io/library/busybox:latest']);
    assert.equal(file.refs['docker.io/library/busybox:latest'].digest, m.digest);
    assert.equal(statSync(store.layout.refs).mode & 0o777, 0o600);

    const old = await store.deleteRef('docker.io/library/alpine:3');
    assert.equal(old?.digest, m.digest);
    assert.equal(await store.deleteRef('docker.io/library/alpine:3'), undefined);
    assert.deepEqual((await store.listRefs()).map((r) => r.name), ['docker.io/library/busybox:latest']);
    assert.deepEqual(readdirSync(store.layout.tmp), []);
  }));

test('setRef refuses a target blob that is absent or of another size; nothing is written', () =>
  withStore(async (store) => {
    const missing = { digest: sha256('never stored'), mediaType: 'x', size: 12 };
    await assert.rejects(store.setRef('a:1', missing), (e: unknown) => e instanceof NotFoundError && /blob sha256:\w+ is not in the store/.test(e.message));
    assert.equal(existsSync(store.layout.refs), false);
    const m = await manifest(store, 'abc');
    await assert.rejects(store.setRef('a:1', { ...m, size: 4 }), (e: unknown) => e instanceof StoreError && /is 3 bytes, not 4/.test(e.message));
    await assert.rejects(store.setRef('bad name', m), /invalid ref name/);
    await assert.rejects(store.setRef('a:1', { ...m, digest: 'sha256:xyz' }), /invalid digest/);
    assert.equal(existsSync(store.layout.refs), false);
  }));

test('updateRefs applies all changes at once, or none when the callback or a check fails', () =>
  withStore(async (store) => {
    const m1 = await manifest(store, 'one');
    const m2 = await manifest(store, 'two');
    await store.setRef('keep:1', m1);
    const n = await store.updateRefs((tx) => {
      tx.set('new:1', m2);
      tx.set('new:2', m2);
      tx.delete('keep:1');
      return tx.names().length;
    });
    assert.equal(n, 2);
    assert.deepEqual((await store.listRefs()).map((r) => r.name), ['new:1', 'new:2']);

    const before = readFileSync(store.layout.refs, 'utf8');
    await assert.rejects(store.updateRefs((tx) => {
      tx.delete('new:1');
      throw new Error('changed my mind');
    }), /changed my mind/);
    await assert.rejects(store.updateRefs((tx) => {
      tx.delete('new:1');
      tx.set('ghost:1', { digest: sha256('ghost'), mediaType: 'x', size: 5 });
    }), NotFoundError);
    assert.equal(readFileSync(store.layout.refs, 'utf8'), before);
  }));

test('re-setting the same target keeps created and does not rewrite refs.json', () =>
  withStore(async (store) => {
    const m = await manifest(store, 'same');
    await store.setRef('x:1', m);
    const ino = statSync(store.layout.refs).ino;
    const created = (await store.getRef('x:1'))!.created;
    await new Promise((r) => setTimeout(r, 5));
    await store.setRef('x:1', m);
    assert.equal(statSync(store.layout.refs).ino, ino);
    assert.equal((await store.getRef('x:1'))!.created, created);
  }));

test('a corrupt or unknown-version refs.json is a STORE_CORRUPT error, not an empty index', () =>
  withStore(async (store) => {
    for (const bad of ['{not json', '[]', '{"version":2,"refs":{}}', '{"version":1,"refs":{"a":{"digest":1}}}']) {
      writeFileSync(store.layout.refs, bad);
      await assert.rejects(store.listRefs(), (e: unknown) => e instanceof StoreError && e.code === 'STORE_CORRUPT' && !!e.hint, bad);
      await assert.rejects(store.setRef('a:1', await manifest(store, 'z')), (e: unknown) => e instanceof StoreError && e.code === 'STORE_CORRUPT');
      assert.equal(readFileSync(store.layout.refs, 'utf8'), bad);
    }
  }));

test('many concurrent setRef calls in one process lose nothing', () =>
  withStore(async (store) => {
    const m = await manifest(store, 'shared');
    await Promise.all(Array.from({ length: 40 }, (_, i) => store.setRef(`repo:t${i}`, m)));
    assert.equal((await store.listRefs()).length, 40);
  }));

test('8 processes adding 25 tags each concurrently lose none of the 200', { timeout: 120_000 }, async () => {
  const t = tempDir();
  try {
    const root = join(t.dir, 'store');
    await Store.open(root);
    const workers = Array.from({ length: 8 }, (_, i) => startWorker(['tag', root, `p${i}`, '25']));
    const codes = await Promise.all(workers.map((w) => w.exited));
    assert.deepEqual(codes, Array(8).fill(0));
    const store = await Store.open(root);
    const names = (await store.listRefs()).map((r) => r.name);
    assert.equal(names.length, 200);
    for (let p = 0; p < 8; p++) for (let i = 0; i < 25; i++) assert.ok(names.includes(`example.com/p${p}:t${i}`), `p${p}:t${i}`);
    assert.deepEqual(await store.locks.entries('refs'), []);
    assert.deepEqual(await store.locks.entries('gc'), []);
    assert.deepEqual(readdirSync(store.layout.tmp), []);
  } finally {
    t.cleanup();
  }
});
