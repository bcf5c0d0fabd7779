/**
 * Corrupt, truncated or foreign input must end in a typed CompressedDataError naming the
 * compression; missing tools and bad levels in a CompressionError.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, it } from 'node:test';
import { CompressionError, compressStream, decompressStream, openDecompressed } from '../../src/compress/index.js';
import type { Compression } from '../../src/compress/index.js';
import { ArchiveFormatError } from '../../src/errors.js';
import { collect, MiB, rejectsData, semiCompressible, streamOf, tool } from './helpers.js';

const data = semiCompressible(2 * MiB, 13);

function decode(kind: Compression, packed: Buffer): Promise<Buffer> {
  return collect(streamOf(packed).pipe(decompressStream(kind)));
}

function flip(b: Buffer, at: number): Buffer {
  const c = Buffer.from(b);
  c[at] ^= 0x55;
  return c;
}

describe('gzip corrupt input', () => {
  const packed = tool('gzip', ['-c'], data);
  it('truncated', async () => {
    const err = await rejectsData(decode('gzip', packed.subarray(0, packed.length - 100)), 'gzip', /truncated/);
    assert.ok(err instanceof ArchiveFormatError);
  });
  it('empty', async () => {
    await rejectsData(decode('gzip', Buffer.alloc(0)), 'gzip', /truncated/);
  });
  it('a flipped byte in the deflate data', async () => {
    await rejectsData(decode('gzip', flip(packed, packed.length >> 1)), 'gzip', /corrupt data/);
  });
  it('a flipped CRC', async () => {
    await rejectsData(decode('gzip', flip(packed, packed.length - 6)), 'gzip', /corrupt data/);
  });
  it('trailing garbage', async () => {
    await rejectsData(decode('gzip', Buffer.concat([packed, Buffer.from('garbage')])), 'gzip');
  });
  it('keeps upstream errors as they are', async () => {
    const src = new Readable({ read() {} });
    src.push(packed.subarray(0, 1000));
    setImmediate(() => src.destroy(new Error('upstream broke')));
    await assert.rejects(pipeline(src, decompressStream('gzip'), async function* (s) {
      for await (const c of s) yield c;
    }), /upstream broke/);
  });
});

describe('zstd corrupt input', () => {
  const packed = tool('zstd', ['-c', '-q'], data);
  const noCheck = tool('zstd', ['-c', '-q', '--no-check'], data);
  it('truncated at the end and in the middle', async () => {
    await rejectsData(decode('zstd', packed.subarray(0, packed.length - 1)), 'zstd', /unexpected end of input at byte \d+ \(truncated stream\)/);
    await rejectsData(decode('zstd', packed.subarray(0, packed.length >> 1)), 'zstd', /truncated/);
    await rejectsData(decode('zstd', noCheck.subarray(0, noCheck.length - 3)), 'zstd', /truncated/);
  });
  it('skippable frames alone decode to nothing, as with zstd -d', async () => {
    const skip = Buffer.from([0x50, 0x2a, 0x4d, 0x18, 2, 0, 0, 0, 0x61, 0x62]);
    assert.equal((await decode('zstd', skip)).length, 0);
    await rejectsData(decode('zstd', skip.subarray(0, 9)), 'zstd', /truncated/);
  });
  it('empty input and foreign bytes', async () => {
    await rejectsData(decode('zstd', Buffer.alloc(0)), 'zstd', /empty input/);
    await rejectsData(decode('zstd', Buffer.from('plain text, not zstd')), 'zstd', /not a zstd frame/);
    await rejectsData(decode('zstd', Buffer.concat([packed, Buffer.from('junk')])), 'zstd', new RegExp(`not a zstd frame \\(magic 6a756e6b\\) at byte ${packed.length}`));
  });
  // Without a content checksum a flipped literal byte decodes "fine" (zstd -d agrees), so only
  // frames with one are tested for payload damage.
  it('flipped bytes anywhere in a frame with a checksum', async () => {
    for (const at of [200, packed.length >> 1, packed.length - 2]) await rejectsData(decode('zstd', flip(packed, at)), 'zstd', /corrupt data in the frame at byte 0/);
  });
  it('malformed headers', async () => {
    const small = tool('zstd', ['-c', '-q'], Buffer.from('hello hello hello hello'));
    const reserved = Buffer.from(small);
    reserved[4] |= 0x08;
    await rejectsData(decode('zstd', reserved), 'zstd', /reserved bit/);
    const dict = Buffer.concat([Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x01, 0x50, 0x07]), small.subarray(6)]);
    await rejectsData(decode('zstd', dict), 'zstd', /dictionary 7/);
    const legacy = Buffer.from([0x27, 0xb5, 0x2f, 0xfd, 0, 0, 0, 0]);
    await rejectsData(decode('zstd', legacy), 'zstd', /legacy/);
    // Frame header of `small` is 6 bytes (magic, FHD 0x04, window); the first block header follows.
    const badType = Buffer.from(small);
    badType[6] |= 0x06;
    await rejectsData(decode('zstd', badType), 'zstd', /reserved zstd block type/);
    const huge = Buffer.from(small);
    huge[6] = 0xf8;
    huge[7] = 0xff;
    huge[8] = 0xff;
    await rejectsData(decode('zstd', huge), 'zstd', /exceeds the 128 KiB maximum/);
  });
  it('a content size that does not match the data', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'strata-zstd-'));
    try {
      writeFileSync(join(dir, 'f'), 'abcdefgh');
      const withSize = tool('zstd', ['-c', '-q', '--no-check', join(dir, 'f')], Buffer.alloc(0));
      // FHD 0x20: single segment, 1-byte content size right after the FHD.
      assert.equal(withSize[4], 0x20);
      const lying = Buffer.from(withSize);
      lying[5] = 9;
      await rejectsData(decode('zstd', lying), 'zstd');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

for (const kind of ['bzip2', 'xz'] as const) {
  describe(`${kind} corrupt input`, () => {
    const packed = tool(kind, ['-c'], data);
    it('truncated: the error carries the tool stderr', async () => {
      const err = await rejectsData(decode(kind, packed.subarray(0, packed.length - 20)), kind, new RegExp(`\`${kind} -dc\` failed \\(exit status \\d\\): .+`));
      assert.match(err.message, kind === 'xz' ? /Unexpected end of input/i : /end of file|integrity|unexpected/i);
    });
    it('a flipped byte', async () => {
    await rejectsData(decode(kind, flip(packed, packed.length >> 1)), kind, /failed \(exit status/);
  });
    it('not compressed at all', async () => {
    await rejectsData(decode(kind, Buffer.from('plain')), kind);
  });
  });
}

describe('openDecompressed', () => {
  it('reports a codec error on the stream it returns', async () => {
    const packed = tool('gzip', ['-c'], data);
    const { compression, stream } = await openDecompressed(streamOf(packed.subarray(0, packed.length >> 1)));
    assert.equal(compression, 'gzip');
    await rejectsData(collect(stream), 'gzip', /truncated/);
  });
  it('reports a source error on the stream it returns', async () => {
    const packed = tool('zstd', ['-c', '-q'], data);
    const src = new Readable({ read() {} });
    src.push(packed.subarray(0, 100_000));
    const { stream } = await openDecompressed(src);
    setImmediate(() => src.destroy(new Error('network reset')));
    await assert.rejects(collect(stream), /network reset/);
  });
});

describe('codec errors', () => {
  it('a missing bzip2/xz program is COMPRESSION_TOOL_MISSING with an install hint', async () => {
    const saved = process.env.PATH;
    const empty = mkdtempSync(join(tmpdir(), 'strata-nopath-'));
    process.env.PATH = empty;
    try {
      for (const kind of ['bzip2', 'xz'] as const) {
        assert.throws(() => decompressStream(kind), (e: unknown) => e instanceof CompressionError && e.code === 'COMPRESSION_TOOL_MISSING' && /apt-get install/.test(e.hint ?? ''));
      }
      await assert.rejects(openDecompressed(streamOf(tool('/usr/bin/xz', ['-c'], Buffer.from('x')))), (e: unknown) => e instanceof CompressionError && e.code === 'COMPRESSION_TOOL_MISSING');
    } finally {
      process.env.PATH = saved;
      rmSync(empty, { recursive: true, force: true });
    }
  });

  it('levels out of range are COMPRESSION_LEVEL errors', () => {
    for (const [kind, level] of [['zstd', 0], ['zstd', 20], ['zstd', 2.5], ['gzip', 10], ['gzip', -1]] as const) {
      assert.throws(() => compressStream(kind, { level }), (e: unknown) => e instanceof CompressionError && e.code === 'COMPRESSION_LEVEL');
    }
  });
});
