import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { CacheStore, Store, resolveStoreRoot, storeLayout } from '../../src/store/index.js';
import { ownerTag, selfIdentity } from '../../src/store/owner.js';
import { tempDir } from './helpers.js';

test('resolveStoreRoot: --root, then STRATA_ROOT, then per-user defaults', () => {
  const env = { STRATA_ROOT: '/srv/strata', XDG_DATA_HOME: '/home/u/.data' };
  assert.equal(resolveStoreRoot({ root: '/opt/s', env, uid: 1000 }), '/opt/s');
  assert.equal(resolveStoreRoot({ root: 'rel', env }), join(process.cwd(), 'rel'));
  assert.equal(resolveStoreRoot({ env, uid: 1000 }), '/srv/strata');
  assert.equal(resolveStoreRoot({ env: {}, uid: 0 }), '/var/lib/strata');
  assert.equal(resolveStoreRoot({ env: { XDG_DATA_HOME: '/home/u/.data' }, uid: 1000 }), '/home/u/.data/strata');
  assert.equal(resolveStoreRoot({ env: { XDG_DATA_HOME: 'relative' }, uid: 1000, home: '/home/u' }), '/home/u/.local/share/strata');
  assert.equal(resolveStoreRoot({ env: {}, uid: 1000, home: '/home/u' }), '/home/u/.local/share/strata');
});

test('Store.open creates the fixed layout with a 0700 root', async () => {
  const t = tempDir();
  try {
    const root = join(t.dir, 'a', 'store');
    const store = await Store.open(root);
    assert.equal(store.root, root);
    assert.equal(statSync(root).mode & 0o777, 0o700);
    assert.deepEqual(readdirSync(root).sort(), ['blobs', 'cache', 'layers', 'locks', 'tmp']);
    assert.deepEqual(readdirSync(join(root, 'blobs')), ['sha256']);
    assert.deepEqual(storeLayout(root), { root, blobs: join(root, 'blobs/sha256'), refs: join(root, 'refs.json'), layers: join(root, 'layers'), cache: join(root, 'cache'), tmp: join(root, 'tmp'), locks: join(root, 'locks') });
    writeFileSync(join(t.dir, 'file'), '');
    await assert.rejects(Store.open(join(t.dir, 'file')), /not a directory|cannot create the store/);
  } finally {
    t.cleanup();
  }
});

test('Store.open removes temp entries of dead writers and keeps live ones', async () => {
  const t = tempDir();
  try {
    const root = join(t.dir, 'store');
    const store = await Store.open(root);
    const me = selfIdentity();
    const live = `${ownerTag(me)}-aaaa.blob`;
    const dead = `${ownerTag({ ...me, start: String(Number(me.start) + 99) })}-bbbb.blob`;
    const deadDir = `${ownerTag({ ...me, pid: 4194310 })}-cccc.layer`;
    writeFileSync(join(store.layout.tmp, live), 'in flight');
    writeFileSync(join(store.layout.tmp, dead), 'torn');
    mkdirSync(join(store.layout.tmp, deadDir, 'usr', 'bin'), { recursive: true });
    writeFileSync(join(store.layout.tmp, 'no-owner-tag'), '');
    await Store.open(root);
    assert.deepEqual(readdirSync(store.layout.tmp), [live]);
  } finally {
    t.cleanup();
  }
});

test('cache records: atomic JSON write, read, list, delete; unreadable is a miss', async () => {
  const t = tempDir();
  try {
    const store = await Store.open(join(t.dir, 'store'));
    const cache: CacheStore = store.cache;
    assert.equal(await cache.readRecord('k1'), undefined);
    await cache.writeRecord('k1', { layer: 'sha256:abc', n: 1 });
    await cache.writeRecord('sha256:ff', [1, 2]);
    assert.deepEqual(await cache.readRecord('k1'), { layer: 'sha256:abc', n: 1 });
    assert.equal(cache.recordPath('k1'), join(store.cacheDir, 'k1.json'));
    assert.deepEqual(await cache.listKeys(), ['k1', 'sha256:ff']);
    writeFileSync(cache.recordPath('k1'), '{torn');
    assert.equal(await cache.readRecord('k1'), undefined);
    assert.equal(await cache.deleteRecord('k1'), true);
    assert.equal(await cache.deleteRecord('k1'), false);
    assert.throws(() => cache.recordPath('../escape'), /invalid cache key/);
    assert.throws(() => cache.recordPath('a/b'), /invalid cache key/);
    assert.deepEqual(readdirSync(store.layout.tmp), []);
  } finally {
    t.cleanup();
  }
});
