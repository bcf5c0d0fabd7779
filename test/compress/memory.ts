/**
 * The bounded-memory check shared by memory-*.test.ts: 256 MiB of semi-compressible data through
 * compress → decompress in one pipeline, RSS sampled all along. One codec per test file, since
 * node:test runs each file in its own process and RSS never shrinks back within one.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { PassThrough, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { compressStream, decompressStream } from '../../src/compress/index.js';
import { MiB, semiCompressibleStream } from './helpers.js';

export const TOTAL = 256 * MiB;
export const GROWTH_LIMIT = 150 * MiB;

/** Runs the round trip, asserts equality and bounded growth, returns a one-line summary. */
export async function boundedRoundTrip(kind: 'gzip' | 'zstd', level: number): Promise<string> {
  const before = process.memoryUsage().rss;
  let peak = before;
  let n = 0;
  const sample = () => {
    if ((++n & 63) === 0) peak = Math.max(peak, process.memoryUsage().rss);
  };
  const hin = createHash('sha256');
  const hout = createHash('sha256');
  let packed = 0;
  const counter = new PassThrough();
  counter.on('data', (c: Buffer) => {
    packed += c.length;
    sample();
  });
  const t0 = Date.now();
  await pipeline(
    semiCompressibleStream(TOTAL, (c) => hin.update(c)),
    compressStream(kind, { level }),
    counter,
    decompressStream(kind),
    new Writable({
      write(c: Buffer, _e, cb) {
        hout.update(c);
        sample();
        cb();
      },
    }),
  );
  const seconds = (Date.now() - t0) / 1000;
  peak = Math.max(peak, process.memoryUsage().rss);
  assert.equal(hout.digest('hex'), hin.digest('hex'), 'round trip changed the data');
  assert.ok(packed < TOTAL * 0.8, `compressed to ${packed} bytes`);
  const growth = peak - before;
  assert.ok(growth < GROWTH_LIMIT, `RSS grew by ${(growth / MiB).toFixed(0)} MiB`);
  return `RSS before ${(before / MiB).toFixed(0)} MiB, peak ${(peak / MiB).toFixed(0)} MiB; compressed to ${(packed / TOTAL).toFixed(3)}; ${(TOTAL / MiB / seconds).toFixed(1)} MiB/s round trip`;
}
