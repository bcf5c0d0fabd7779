import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { detectCompression, sniffStream } from '../../src/compress/index.js';
import { collect, semiCompressible, streamOf, tool } from './helpers.js';

const h = (...bytes: number[]) => Uint8Array.from(bytes);

describe('detectCompression', () => {
  it('recognises each magic', () => {
    assert.equal(detectCompression(h(0x1f, 0x8b, 0x08, 0)), 'gzip');
    assert.equal(detectCompression(h(0x28, 0xb5, 0x2f, 0xfd, 0x04)), 'zstd');
    assert.equal(detectCompression(h(0x50, 0x2a, 0x4d, 0x18, 0, 0)), 'zstd', 'skippable frame (pzstd output starts with one)');
    assert.equal(detectCompression(h(0x5f, 0x2a, 0x4d, 0x18)), 'zstd');
    assert.equal(detectCompression(Buffer.from('BZh91AY&SY')), 'bzip2');
    assert.equal(detectCompression(h(0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00, 0x00)), 'xz');
  });

  it('says none for plain data, near misses and short heads', () => {
    assert.equal(detectCompression(h()), 'none');
    assert.equal(detectCompression(h(0x1f)), 'none');
    assert.equal(detectCompression(h(0x28, 0xb5, 0x2f)), 'none');
    assert.equal(detectCompression(Buffer.from('BZh')), 'none', 'no block-size digit yet');
    assert.equal(detectCompression(Buffer.from('BZhello')), 'none');
    assert.equal(detectCompression(h(0xfd, 0x37, 0x7a, 0x58, 0x5a)), 'none', 'xz needs all six bytes');
    assert.equal(detectCompression(h(0x60, 0x2a, 0x4d, 0x18)), 'none');
    assert.equal(detectCompression(Buffer.from('etc/passwd\0\0\0')), 'none');
  });

  it('agrees with what the CLIs write', () => {
    const data = Buffer.from('some layer bytes\n');
    assert.equal(detectCompression(tool('gzip', ['-c'], data)), 'gzip');
    assert.equal(detectCompression(tool('zstd', ['-c'], data)), 'zstd');
    assert.equal(detectCompression(tool('bzip2', ['-c'], data)), 'bzip2');
    assert.equal(detectCompression(tool('xz', ['-c'], data)), 'xz');
    assert.equal(detectCompression(tool('pzstd', ['-c', '-q'], data)), 'zstd');
  });
});

describe('sniffStream', () => {
  it('detects across one-byte chunks and yields every byte', async () => {
    const data = Buffer.concat([tool('xz', ['-c'], Buffer.from('x')), Buffer.from('tail')]);
    const { compression, stream } = await sniffStream(streamOf(data, 1));
    assert.equal(compression, 'xz');
    assert.deepEqual(await collect(stream), data);
  });

  it('handles empty and shorter-than-magic inputs', async () => {
    for (const data of [Buffer.alloc(0), Buffer.from([0x1f]), Buffer.from('BZh')]) {
      const { compression, stream } = await sniffStream(streamOf(data, 1));
      assert.equal(compression, 'none');
      assert.deepEqual(await collect(stream), data);
    }
  });

  it('passes large streams through unchanged', async () => {
    const data = semiCompressible(3 * 1024 * 1024 + 17);
    const { compression, stream } = await sniffStream(streamOf(data, 10_000));
    assert.equal(compression, 'none');
    assert.deepEqual(await collect(stream), data);
  });

  it('reports a source error on the returned stream', async () => {
    const src = new Readable({ read() {} });
    src.push(Buffer.from('plain data, long enough'));
    const { stream } = await sniffStream(src);
    setImmediate(() => src.destroy(new Error('disk on fire')));
    await assert.rejects(collect(stream), /disk on fire/);
  });

  it('rejects when the source fails before the magic is read', async () => {
    const src = new Readable({ read() {} });
    setImmediate(() => src.destroy(new Error('gone')));
    await assert.rejects(sniffStream(src), /gone/);
  });

  it('destroying the returned stream destroys the source', async () => {
    const src = streamOf(semiCompressible(1024 * 1024), 1024);
    const { stream } = await sniffStream(src);
    stream.destroy();
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    assert.equal(src.destroyed, true);
  });
});
