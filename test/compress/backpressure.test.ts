/**
 * A consumer that stops reading must stop the codec: decompression bombs (1 GiB of zeros in a
 * few hundred KiB) may not be decoded ahead into memory, and a compressor may not swallow its
 * whole input while nobody reads its output.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { Readable } from 'node:stream';
import type { Transform } from 'node:stream';
import { describe, it } from 'node:test';
import { compressStream, decompressStream } from '../../src/compress/index.js';
import type { Compression } from '../../src/compress/index.js';
import { MiB, semiCompressible } from './helpers.js';

/** `size` zero bytes compressed by a shell pipeline (never held uncompressed in this process). */
function zerosBomb(size: string, compressor: string): Buffer {
  const r = spawnSync('sh', ['-c', `head -c ${size} /dev/zero | ${compressor}`], { maxBuffer: 256 * MiB });
  assert.equal(r.status, 0, r.stderr.toString());
  return r.stdout;
}

const settle = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits until `t` has produced something and stopped, unread; returns how much it buffered. */
async function bufferedWhenStalled(t: Transform): Promise<number> {
  let last = -1;
  for (let i = 0; i < 50; i++) {
    await settle(100);
    if (t.readableLength === last && last > 0) return last;
    last = t.readableLength;
  }
  assert.fail(`still producing after 5 s (buffered ${t.readableLength} bytes)`);
}

/** Reads `n` bytes from a paused stream (proving it resumes), then destroys it. */
async function readSome(t: Transform, n: number): Promise<void> {
  let got = 0;
  for await (const c of t) {
    got += (c as Buffer).length;
    if (got >= n) break;
  }
  assert.ok(got >= n);
}

const BOMBS: [Compression, string, string][] = [
  ['zstd', '1G', 'zstd -c -q -3'],
  ['gzip', '1G', 'gzip -c -1'],
  ['xz', '128M', 'xz -c -0'],
  ['bzip2', '64M', 'bzip2 -c -1'],
];

describe('decompression waits for the reader', () => {
  for (const [kind, size, cmd] of BOMBS) {
    it(`${kind}: ${size} of zeros, nobody reading`, async () => {
      const bomb = zerosBomb(size, cmd);
      const t = decompressStream(kind);
      t.write(bomb);
      t.end();
      const buffered = await bufferedWhenStalled(t);
      assert.ok(buffered > 0, 'produced something');
      assert.ok(buffered <= 2 * MiB, `buffered ${buffered} bytes while unread`);
      await readSome(t, 16 * MiB);
      assert.ok(t.destroyed);
    });
  }
});

describe('compression waits for the reader', () => {
  for (const kind of ['zstd', 'gzip'] as const) {
    it(`${kind}: a 256 MiB source is not drained while the output is unread`, async () => {
      const chunk = semiCompressible(MiB, 17);
      let pulled = 0;
      const src = new Readable({
        read() {
          if (pulled >= 256 * MiB) return void this.push(null);
          pulled += chunk.length;
          this.push(chunk);
        },
      });
      const t = compressStream(kind, { level: 1 });
      src.pipe(t);
      await bufferedWhenStalled(t);
      assert.ok(pulled <= 16 * MiB, `the compressor pulled ${pulled} bytes while its output was unread`);
      await readSome(t, 4 * MiB);
      src.destroy();
    });
  }
});
