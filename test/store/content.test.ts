import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { test } from 'node:test';
import { DigestMismatchError, InvalidReferenceError, NotFoundError, StoreError } from '../../src/errors.js';
import { Store } from '../../src/store/index.js';
import { tempDir } from './helpers.js';

const sha = (b: Buffer | string) => 'sha256:' + createHash('sha256').update(b).digest('hex');

async function withStore(fn: (store: Store) => Promise<void>): Promise<void> {
  const t = tempDir();
  try {
    await fn(await Store.open(join(t.dir, 'store')));
  } finally {
    t.cleanup();
  }
}

const blobNames = (s: Store) => readdirSync(s.layout.blobs);
const tmpNames = (s: Store) => readdirSync(s.layout.tmp);

test('ingest stores a buffer under its digest, durably named, and dedupes', () =>
  withStore(async (store) => {
    const data = Buffer.from('hello blob');
    const r = await store.ingest(data);
    assert.deepEqual(r, { digest: sha(data), size: data.length, created: true });
    assert.deepEqual(readFileSync(store.blobPath(r.digest)), data);
    assert.deepEqual(tmpNames(store), []);
    const again = await store.ingest(Readable.from([data]));
    assert.deepEqual(again, { digest: r.digest, size: data.length, created: false });
    assert.deepEqual(blobNames(store), [r.digest.slice(7)]);
    assert.equal(await store.hasBlob(r.digest), true);
    assert.equal((await store.statBlob(r.digest))?.size, data.length);
  }));

test('ingest hashes a chunked stream and accepts matching expectations', () =>
  withStore(async (store) => {
    const chunks = [Buffer.alloc(70_000, 1), 'text chunk', Buffer.alloc(5, 2)];
    const whole = Buffer.concat(chunks.map((c) => Buffer.from(c)));
    const r = await store.ingest(Readable.from(chunks), { digest: sha(whole), size: whole.length });
    assert.equal(r.digest, sha(whole));
    assert.deepEqual(await store.readBlob(r.digest), whole);
  }));

test('ingest reads any async iterable of chunks, such as a generator', () =>
  withStore(async (store) => {
    async function* gen() {
      yield Buffer.from('part one, ');
      yield 'part two';
    }
    const r = await store.ingest(gen(), { digest: sha('part one, part two'), size: 18 });
    assert.equal((await store.readBlob(r.digest)).toString(), 'part one, part two');
    let finished = false;
    async function* endless() {
      try {
        for (;;) yield Buffer.alloc(4096);
      } finally {
        finished = true;
      }
    }
    await assert.rejects(store.ingest(endless(), { size: 5000 }), DigestMismatchError);
    assert.ok(finished, 'the generator was closed');
    assert.deepEqual(tmpNames(store), []);
  }));

test('ingest refuses content that does not match the expected digest; nothing lands', () =>
  withStore(async (store) => {
    const wrong = sha('something else');
    await assert.rejects(store.ingest(Readable.from([Buffer.from('actual')]), { digest: wrong }), (e: unknown) => {
      assert.ok(e instanceof DigestMismatchError);
      assert.match(e.message, new RegExp(`blob ${wrong}: content hashes to ${sha('actual')}`));
      return true;
    });
    assert.deepEqual(blobNames(store), []);
    assert.deepEqual(tmpNames(store), []);
  }));

test('ingest cuts off a stream longer than the expected size and destroys it', () =>
  withStore(async (store) => {
    let pushed = 0;
    const endless = new Readable({
      read() {
        pushed++;
        this.push(Buffer.alloc(1024));
      },
    });
    await assert.rejects(store.ingest(endless, { size: 10_000 }), /longer than the expected 10000 bytes/);
    assert.ok(endless.destroyed);
    assert.ok(pushed < 100, `stopped early (${pushed} chunks)`);
    assert.deepEqual(blobNames(store), []);
    assert.deepEqual(tmpNames(store), []);
  }));

test('ingest refuses a stream shorter than the expected size, and a failing source', () =>
  withStore(async (store) => {
    await assert.rejects(store.ingest(Buffer.from('short'), { size: 6 }), (e: unknown) => e instanceof DigestMismatchError && /got 5 bytes, expected 6/.test(e.message));
    const failing = new Readable({
      read() {
        this.destroy(new Error('network reset'));
      },
    });
    await assert.rejects(store.ingest(failing), /network reset/);
    assert.deepEqual(blobNames(store), []);
    assert.deepEqual(tmpNames(store), []);
    await assert.rejects(store.ingest(Buffer.from('x'), { digest: 'sha256:abc' }), InvalidReferenceError);
    await assert.rejects(store.ingest(Buffer.from('x'), { size: -1 }), StoreError);
  }));

test('ingest repairs a damaged copy of the same blob (wrong size on disk)', () =>
  withStore(async (store) => {
    const data = Buffer.from('precious content');
    const r = await store.ingest(data);
    writeFileSync(store.blobPath(r.digest), 'trunc');
    const again = await store.ingest(data);
    assert.equal(again.created, false);
    assert.deepEqual(await store.readBlob(r.digest), data);
  }));

test('openBlob streams verified content and fails at the end when the disk copy is corrupt', () =>
  withStore(async (store) => {
    const data = Buffer.from('x'.repeat(200_000));
    const { digest } = await store.ingest(data);
    assert.equal(await text(await store.openBlob(digest)), data.toString());
    // Same size, different bytes: only re-hashing can notice.
    writeFileSync(store.blobPath(digest), 'y'.repeat(200_000));
    await assert.rejects(text(await store.openBlob(digest)), (e: unknown) => {
      assert.ok(e instanceof DigestMismatchError);
      assert.match(e.message, new RegExp(`blob ${digest} is corrupt`));
      return true;
    });
    assert.equal((await text(await store.openBlob(digest, { verify: false }))).length, 200_000);
    await assert.rejects(store.openBlob(sha('absent')), NotFoundError);
  }));

test('verifyBlob reads a blob through: silent when intact, DigestMismatchError when corrupt', () =>
  withStore(async (store) => {
    const data = Buffer.from('v'.repeat(5_000_000)); // more than one read
    const { digest } = await store.ingest(data);
    await store.verifyBlob(digest);
    const bytes = readFileSync(store.blobPath(digest));
    bytes[4_500_000] = 0x77;
    writeFileSync(store.blobPath(digest), bytes);
    await assert.rejects(store.verifyBlob(digest), (e: unknown) => e instanceof DigestMismatchError && e.message.includes(`blob ${digest} is corrupt`));
    await assert.rejects(store.verifyBlob(sha('absent')), NotFoundError);
  }));

test('a verified stream destroyed early closes without error', () =>
  withStore(async (store) => {
    const { digest } = await store.ingest(Buffer.alloc(1 << 20, 7));
    const s = await store.openBlob(digest);
    await new Promise<void>((resolve, reject) => {
      s.once('data', () => {
        s.destroy();
        resolve();
      });
      s.once('error', reject);
    });
    assert.ok(s.destroyed);
  }));

test('readBlobJson caps size, verifies and parses', () =>
  withStore(async (store) => {
    const doc = { schemaVersion: 2, layers: [] };
    const { digest } = await store.ingest(Buffer.from(JSON.stringify(doc)));
    assert.deepEqual(await store.readBlobJson(digest), doc);
    await assert.rejects(store.readBlobJson(digest, 5), (e: unknown) => e instanceof StoreError && e.code === 'STORE_BLOB_TOO_LARGE');
    const { digest: notJson } = await store.ingest(Buffer.from('{nope'));
    await assert.rejects(store.readBlobJson(notJson), (e: unknown) => e instanceof StoreError && e.code === 'STORE_BAD_JSON');
    writeFileSync(store.blobPath(digest), JSON.stringify({ schemaVersion: 3, layers: [] }));
    await assert.rejects(store.readBlobJson(digest), DigestMismatchError);
    await assert.rejects(store.readBlobJson(sha('absent')), NotFoundError);
  }));

test('listBlobs and deleteBlob', () =>
  withStore(async (store) => {
    const a = await store.ingest(Buffer.from('a'));
    const b = await store.ingest(Buffer.from('bb'));
    writeFileSync(join(store.layout.blobs, 'not-a-digest'), 'junk');
    assert.deepEqual((await store.content.listBlobs()).map((x) => x.digest).sort(), [a.digest, b.digest].sort());
    assert.equal(await store.content.deleteBlob(b.digest), 2);
    assert.equal(await store.content.deleteBlob(b.digest), 0);
    assert.equal(await store.hasBlob(b.digest), false);
  }));
