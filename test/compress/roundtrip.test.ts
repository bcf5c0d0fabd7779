import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { compressStream, decompressStream, openDecompressed } from '../../src/compress/index.js';
import type { Compression } from '../../src/compress/index.js';
import { collect, MiB, numberedLines, semiCompressible, streamOf, tool } from './helpers.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

const INPUTS: [string, Buffer][] = [
  ['empty', Buffer.alloc(0)],
  ['one byte', Buffer.from([0])],
  ['tiny', Buffer.from('hello, layer\n')],
  ['64 MiB', semiCompressible(64 * MiB)],
];

async function compress(kind: 'gzip' | 'zstd', data: Buffer, level?: number): Promise<Buffer> {
  return collect(streamOf(data).pipe(compressStream(kind, level === undefined ? {} : { level })));
}

async function decompress(kind: Compression, data: Buffer, chunk?: number): Promise<Buffer> {
  return collect(streamOf(data, chunk).pipe(decompressStream(kind)));
}

for (const kind of ['gzip', 'zstd'] as const) {
  describe(`${kind} round trip`, () => {
    for (const [name, data] of INPUTS) {
      it(`${name}`, async () => {
        const packed = await compress(kind, data);
        assert.ok(packed.length > 0, 'even empty input makes a valid stream');
        if (data.length > MiB) assert.ok(packed.length < data.length * 0.8, `compresses (${packed.length} of ${data.length})`);
        const back = await decompress(kind, packed);
        assert.equal(back.length, data.length);
        assert.equal(sha(back), sha(data));
        const opened = await openDecompressed(streamOf(packed));
        assert.equal(opened.compression, kind);
        assert.equal(sha(await collect(opened.stream)), sha(data));
      });
    }
  });
}

describe('levels', () => {
  const data = semiCompressible(2 * MiB, 3);
  it('every zstd level 1-19 fits its heap and round-trips', async () => {
    const sizes: number[] = [];
    for (let level = 1; level <= 19; level++) {
      const packed = await compress('zstd', data.subarray(0, level > 12 ? MiB : 2 * MiB), level);
      assert.equal(sha(await decompress('zstd', packed)), sha(data.subarray(0, level > 12 ? MiB : 2 * MiB)), `level ${level}`);
      sizes.push(packed.length);
    }
    assert.ok(sizes[18] < sizes[12], 'level 19 compresses better than level 13');
  });
  it('gzip levels 1 and 9 round-trip; 9 is not larger than 1', async () => {
    const fast = await compress('gzip', data, 1);
    const best = await compress('gzip', data, 9);
    assert.ok(best.length <= fast.length);
    assert.ok((await decompress('gzip', best)).equals(data));
  });
});

describe('zstd decoder input chunking', () => {
  it('decodes the same whatever the chunk boundaries', async () => {
    const data = semiCompressible(600 * 1024, 11);
    const packed = await compress('zstd', data);
    for (const chunk of [1, 3, 4095, 128 * 1024 + 3, packed.length]) {
      assert.equal(sha(await decompress('zstd', packed, chunk)), sha(data), `chunk ${chunk}`);
    }
  });
});

describe('none', () => {
  it('passes bytes through and sniffs as none', async () => {
    for (const [, data] of INPUTS) {
      assert.equal(sha(await decompress('none', data)), sha(data));
      const opened = await openDecompressed(streamOf(data));
      assert.equal(opened.compression, 'none');
      assert.equal(sha(await collect(opened.stream)), sha(data));
    }
  });
});

// 64 MiB of text rather than half-random data: xz and bzip2 need tens of seconds for the latter.
const TOOL_INPUTS: [string, Buffer][] = [...INPUTS.slice(0, 3), ['64 MiB', numberedLines(64 * MiB)]];

for (const kind of ['bzip2', 'xz'] as const) {
  describe(`${kind} (decompression by the system tool)`, () => {
    for (const [name, data] of TOOL_INPUTS) {
      it(`${name}`, async () => {
        const packed = tool(kind, ['-c', '-1'], data);
        assert.equal(sha(await decompress(kind, packed)), sha(data));
        const opened = await openDecompressed(streamOf(packed));
        assert.equal(opened.compression, kind);
        assert.equal(sha(await collect(opened.stream)), sha(data));
      });
    }
  });
}
