/**
 * Shared fixtures for the compression tests: deterministic semi-compressible data, stream
 * helpers, and running the gzip/zstd/bzip2/xz CLIs.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { Readable } from 'node:stream';
import { CompressedDataError } from '../../src/compress/index.js';
import type { Compression } from '../../src/compress/index.js';

export const MiB = 1 << 20;

const WORDS = Array.from({ length: 64 }, (_, i) => Buffer.from(`usr/lib/lib${i.toString(36)}.so.${i % 7} ${'#'.repeat(i % 5)}\n`));

/**
 * Fills `buf` with data that compresses to roughly half: random bytes interleaved with words
 * from a small vocabulary, from an xorshift generator so every run sees the same bytes.
 */
export function fillSemiCompressible(buf: Buffer, seed: number): number {
  let x = seed >>> 0 || 1;
  let i = 0;
  while (i < buf.length) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    if ((x & 3) === 0) {
      const w = WORDS[(x >>> 8) & 63];
      i += w.copy(buf, i);
    } else {
      const end = Math.min(buf.length, i + 12);
      for (; i < end; i++) {
        x ^= x << 13;
        x >>>= 0;
        x ^= x >>> 17;
        x ^= x << 5;
        x >>>= 0;
        buf[i] = x & 0xff;
      }
    }
  }
  return x;
}

/** `size` bytes of semi-compressible data. */
export function semiCompressible(size: number, seed = 7): Buffer {
  const b = Buffer.allocUnsafe(size);
  fillSemiCompressible(b, seed);
  return b;
}

/** `size` bytes of numbered text lines: very compressible, so slow compressors (xz) stay quick. */
export function numberedLines(size: number): Buffer {
  const b = Buffer.allocUnsafe(size);
  let o = 0;
  for (let i = 1; o < size; i++) o += b.write(`line ${i} of the fixture\n`, o);
  return b;
}

/** A stream of `total` semi-compressible bytes in 64 KiB chunks; `onChunk` sees each chunk. */
export function semiCompressibleStream(total: number, onChunk: (c: Buffer) => void): Readable {
  let left = total;
  let seed = 99;
  return new Readable({
    read() {
      if (left === 0) return void this.push(null);
      const c = Buffer.allocUnsafe(Math.min(64 * 1024, left));
      seed = fillSemiCompressible(c, seed);
      left -= c.length;
      onChunk(c);
      this.push(c);
    },
  });
}

/** A byte stream of `buf` in `chunk`-sized pieces. */
export function streamOf(buf: Buffer, chunk = 64 * 1024): Readable {
  return Readable.from(
    (function* () {
      for (let o = 0; o < buf.length; o += chunk) yield buf.subarray(o, o + chunk);
    })(),
    { objectMode: false },
  );
}

/** Everything a stream yields, as one Buffer. */
export async function collect(s: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of s) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

/** Runs `cmd args` with `input` on stdin and returns stdout; fails the test on a non-zero exit. */
export function tool(cmd: string, args: string[], input: Buffer): Buffer {
  const r = spawnSync(cmd, args, { input, maxBuffer: 1 << 30 });
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')} failed: ${r.stderr?.toString()}`);
  return r.stdout;
}

/** Expects `p` to reject with a CompressedDataError for `compression`; returns it. */
export async function rejectsData(p: Promise<unknown>, compression: Compression, message?: RegExp): Promise<CompressedDataError> {
  let caught: unknown;
  await p.then(
    () => assert.fail('expected a CompressedDataError'),
    (e: unknown) => (caught = e),
  );
  assert.ok(caught instanceof CompressedDataError, `expected CompressedDataError, got ${String(caught)}`);
  assert.equal(caught.compression, compression);
  assert.equal(caught.code, 'ARCHIVE_INVALID');
  assert.ok(caught.message.startsWith(`${compression} data: `), caught.message);
  if (message) assert.match(caught.message, message);
  return caught;
}
