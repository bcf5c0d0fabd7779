import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync, writeFileSync, symlinkSync, linkSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { StoreError } from '../../src/errors.js';
import { Store, sha256 } from '../../src/store/index.js';
import { tempDir } from './helpers.js';

async function withStore(fn: (store: Store, dir: string) => Promise<void>): Promise<void> {
  const t = tempDir();
  try {
    await fn(await Store.open(join(t.dir, 'store')), t.dir);
  } finally {
    t.cleanup();
  }
}

function populate(dir: string, marker: string): void {
  mkdirSync(join(dir, 'etc'));
  writeFileSync(join(dir, 'etc', 'os-release'), `ID=${marker}\n`);
  symlinkSync('etc/os-release', join(dir, 'link'));
  linkSync(join(dir, 'etc', 'os-release'), join(dir, 'hard'));
}

test('a prepared layer dir is committed as layers/<hex> in one rename', () =>
  withStore(async (store) => {
    const diffId = sha256('layer one');
    assert.equal(await store.hasLayer(diffId), false);
    const prepared = await store.prepareLayerDir();
    assert.ok(prepared.startsWith(store.layout.tmp + '/'));
    populate(prepared, 'one');
    const r = await store.commitLayerDir(prepared, diffId);
    assert.deepEqual(r, { path: join(store.layout.layers, diffId.slice(7)), committed: true });
    assert.equal(store.layerDir(diffId), r.path);
    assert.equal(readFileSync(join(r.path, 'link'), 'utf8'), 'ID=one\n');
    assert.equal(await store.hasLayer(diffId), true);
    assert.deepEqual(readdirSync(store.layout.tmp), []);
    assert.deepEqual((await store.layers.listLayers()).map((l) => l.diffId), [diffId]);
  }));

test('concurrent identical commits: one wins, the other is discarded, both succeed', () =>
  withStore(async (store) => {
    const diffId = sha256('shared layer');
    const dirs = await Promise.all(Array.from({ length: 4 }, () => store.prepareLayerDir()));
    dirs.forEach((d, i) => populate(d, `copy${i}`));
    const results = await Promise.all(dirs.map((d) => store.commitLayerDir(d, diffId)));
    assert.equal(results.filter((r) => r.committed).length, 1);
    assert.ok(results.every((r) => r.path === store.layerDir(diffId)));
    assert.match(readFileSync(join(store.layerDir(diffId), 'etc', 'os-release'), 'utf8'), /^ID=copy\d\n$/);
    assert.deepEqual(readdirSync(store.layout.tmp), []);
    // Committing again later is a no-op that drops the new copy.
    const late = await store.prepareLayerDir();
    populate(late, 'late');
    assert.equal((await store.commitLayerDir(late, diffId, { sync: false })).committed, false);
    assert.deepEqual(readdirSync(store.layout.tmp), []);
  }));

test('only directories made by prepareLayerDir can be committed', () =>
  withStore(async (store, dir) => {
    const outside = join(dir, 'elsewhere');
    mkdirSync(outside);
    await assert.rejects(store.commitLayerDir(outside, sha256('x')), StoreError);
    await assert.rejects(store.commitLayerDir(join(store.layout.tmp, 'nope'), sha256('x')), StoreError);
    assert.throws(() => store.layerDir('sha256:short'), /invalid digest/);
  }));

test('removeLayerDir frees the layer and reports its bytes (hard links once)', () =>
  withStore(async (store) => {
    const diffId = sha256('to remove');
    const d = await store.prepareLayerDir();
    populate(d, 'gone'); // os-release is 8 bytes, "hard" is the same inode
    await store.commitLayerDir(d, diffId);
    assert.equal(await store.layers.removeLayerDir(diffId), 8);
    assert.equal(await store.hasLayer(diffId), false);
    assert.equal(await store.layers.removeLayerDir(diffId), 0);
    assert.deepEqual(readdirSync(store.layout.tmp), []);
  }));
