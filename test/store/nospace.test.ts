import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { test, type TestContext } from 'node:test';
import { NoSpaceError } from '../../src/errors.js';
import { Store } from '../../src/store/index.js';
import { tempDir } from './helpers.js';

/** Runs `fn` on a fresh 1 MiB tmpfs; skips the test where mounting is not allowed. */
async function onTinyDisk(t: TestContext, fn: (mnt: string) => Promise<void>): Promise<void> {
  const tmp = tempDir('strata-enospc-');
  const mnt = join(tmp.dir, 'mnt');
  mkdirSync(mnt);
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mnt], { stdio: 'ignore' });
  } catch {
    tmp.cleanup();
    t.skip('cannot mount a tmpfs here (needs root)');
    return;
  }
  try {
    await fn(mnt);
  } finally {
    try {
      execFileSync('umount', [mnt], { stdio: 'ignore' });
    } catch {
      execFileSync('umount', ['-l', mnt], { stdio: 'ignore' });
    }
    tmp.cleanup();
  }
}

/** Fills the filesystem with one file until ENOSPC; returns its path. */
function fill(dir: string): string {
  const path = join(dir, 'filler');
  const fd = openSync(path, 'w');
  const chunk = Buffer.alloc(4096, 1);
  try {
    for (;;) writeSync(fd, chunk);
  } catch (e) {
    assert.equal((e as NodeJS.ErrnoException).code, 'ENOSPC');
  } finally {
    closeSync(fd);
  }
  return path;
}

test('a full disk during ingest is a NoSpaceError and changes nothing', async (t) =>
  onTinyDisk(t, async (mnt) => {
    const store = await Store.open(join(mnt, 'store'));
    const small = await store.ingest(Buffer.from('{"keep":"me"}'));
    await store.setRef('example.com/keep:1', { digest: small.digest, mediaType: 'application/json', size: small.size });
    const refsBefore = readFileSync(store.layout.refs);

    for (const source of [() => Buffer.alloc(2 << 20, 3), () => Readable.from(Array.from({ length: 32 }, () => Buffer.alloc(64 << 10, 5)))]) {
      await assert.rejects(store.ingest(source()), (e: unknown) => {
        assert.ok(e instanceof NoSpaceError, String(e));
        assert.match(e.message, /^no space left on device while writing blob .*; nothing was changed$/);
        assert.equal((e.cause as NodeJS.ErrnoException).code, 'ENOSPC');
        return true;
      });
      assert.deepEqual(readdirSync(store.layout.blobs), [small.digest.slice(7)]);
      assert.deepEqual(readdirSync(store.layout.tmp), []);
    }
    assert.deepEqual(await store.readBlobJson(small.digest), { keep: 'me' });
    assert.deepEqual(readFileSync(store.layout.refs), refsBefore);
    // The space is back: the same store works again.
    const again = await store.ingest(Buffer.alloc(100_000, 9));
    assert.equal(again.created, true);
  }));

test('a full disk during a ref update is a NoSpaceError and refs.json is intact', async (t) =>
  onTinyDisk(t, async (mnt) => {
    const store = await Store.open(join(mnt, 'store'));
    const m = await store.ingest(Buffer.from('{"m":1}'));
    await store.setRef('example.com/a:1', { digest: m.digest, mediaType: 'application/json', size: m.size });
    const before = readFileSync(store.layout.refs);
    const filler = fill(mnt);
    await assert.rejects(store.setRef('example.com/b:1', { digest: m.digest, mediaType: 'application/json', size: m.size }), (e: unknown) =>
      e instanceof NoSpaceError && /while updating refs\.json; nothing was changed/.test(e.message));
    assert.deepEqual(readFileSync(store.layout.refs), before);
    assert.deepEqual(readdirSync(store.layout.tmp), []);
    await assert.rejects(store.cache.writeRecord('k', { big: 'x'.repeat(10_000) }), NoSpaceError);
    rmSync(filler);
    await store.setRef('example.com/b:1', { digest: m.digest, mediaType: 'application/json', size: m.size });
    assert.deepEqual((await store.listRefs()).map((r) => r.name), ['example.com/a:1', 'example.com/b:1']);
  }));
