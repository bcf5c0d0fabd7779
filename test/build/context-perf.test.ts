/**
 * The context workload of the build benchmark: 20,000 files / ~130 MB. Fully cached, a new build
 * must walk and checksum it without reading a file (target: ~120 ms here); cold, it is bounded by
 * reading and hashing. It runs on tmpfs when there is one, so other load on the shared disk does
 * not decide the outcome; budgets are on this process's CPU time and generous (they catch
 * quadratic behaviour and re-reading, not milliseconds). Figures are reported as diagnostics.
 */
import assert from 'node:assert/strict';
import { randomFillSync } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { BuildContext } from '../../src/build/context.js';
import { copyInto } from '../../src/build/copy.js';
import { RACY_MS } from '../../src/build/stat-cache.js';
import { makeTemp, rmTemp } from './helpers.js';

function measure<T>(f: () => Promise<T>): Promise<{ value: T; wall: number; cpu: number }> {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  return f().then((value) => {
    const c = process.cpuUsage(c0);
    return { value, wall: performance.now() - t0, cpu: (c.user + c.system) / 1000 };
  });
}

describe('build context performance', () => {
  it('walks and checksums 20,000 files / 130 MB: cold, then fully cached', async (t) => {
    const work = existsSync('/dev/shm') ? mkdtempSync('/dev/shm/strata-ctx-perf-') : makeTemp('ctx-perf-');
    try {
      const ctxDir = join(work, 'ctx');
      const pool = randomFillSync(Buffer.alloc(1 << 20));
      const size = 6_800;
      for (let a = 0; a < 20; a++) {
        for (let b = 0; b < 20; b++) {
          const d = join(ctxDir, `pkg${a}`, `mod${b}`);
          mkdirSync(d, { recursive: true });
          for (let c = 0; c < 50; c++) {
            const off = ((a * 20 + b) * 50 + c) * 37 % (pool.length - size);
            writeFileSync(join(d, `file${c}.txt`), pool.subarray(off, off + size));
          }
        }
      }
      await sleep(RACY_MS + 50);
      const cacheFile = join(work, 'statcache.bin');
      const run = () => measure(async () => {
        const ctx = await BuildContext.open(ctxDir, { statCacheFile: cacheFile });
        return ctx.checksum(await ctx.select(['.']));
      });

      const cold = await run();
      assert.equal(cold.value.hashed, 20_000);
      assert.equal(cold.value.hashedBytes, 136_000_000);
      const warm = [await run(), await run(), await run()].sort((x, y) => x.wall - y.wall)[0]!;
      assert.equal(warm.value.hashed, 0, 'an unchanged context is not read again');
      assert.equal(warm.value.digest, cold.value.digest);

      const root = join(work, 'root');
      mkdirSync(root);
      const ctx = await BuildContext.open(ctxDir, { statCacheFile: cacheFile });
      const sel = await ctx.select(['.']);
      const copy = await measure(() => copyInto(root, { selection: sel, dest: '/app/' }));
      assert.equal(copy.value.files, 20_000);

      t.diagnostic(`cold walk+checksum: ${cold.wall.toFixed(0)} ms wall, ${cold.cpu.toFixed(0)} ms CPU (${(136 / (cold.wall / 1000)).toFixed(0)} MB/s)`);
      t.diagnostic(`cached walk+checksum: ${warm.wall.toFixed(0)} ms wall, ${warm.cpu.toFixed(0)} ms CPU`);
      t.diagnostic(`copyInto 20,000 files: ${copy.wall.toFixed(0)} ms wall, ${copy.cpu.toFixed(0)} ms CPU (on ${work.split('/')[1]})`);
      assert.ok(warm.cpu < 1_000, `cached walk+checksum used ${warm.cpu.toFixed(0)} ms of CPU`);
      assert.ok(cold.cpu < 5_000, `cold walk+checksum used ${cold.cpu.toFixed(0)} ms of CPU`);
    } finally {
      if (work.startsWith('/dev/shm/')) rmSync(work, { recursive: true, force: true });
      else rmTemp(work);
    }
  });
});
