/**
 * Flattening is mostly copying: three layers of about 100 MB in all (thousands of small files,
 * some large ones, overwrites and whiteouts) are flattened into a file and the rate reported.
 * The budget is on CPU time and loose (it catches per-entry syscall storms and quadratic
 * planning, not a slow disk or a busy machine); several hundred MB per CPU-second is typical.
 */
import assert from 'node:assert/strict';
import { createWriteStream, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { once } from 'node:events';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { flattenLayers } from '../../src/fs/flatten.js';
import { TarWriter } from '../../src/fs/tar-writer.js';
import type { TarWriteHeader } from '../../src/fs/tar-writer.js';
import { whiteoutPath } from '../../src/fs/whiteout.js';

async function writeLayer(path: string, fill: (add: (h: Omit<TarWriteHeader, 'mode' | 'uid' | 'gid' | 'mtime'>, data?: Buffer) => Promise<void>) => Promise<void>): Promise<number> {
  const out = createWriteStream(path);
  const w = new TarWriter(out);
  await fill((h, data) => w.entry({ mode: h.type === 'dir' ? 0o755 : 0o644, uid: 0, gid: 0, mtime: 1_700_000_000, ...h }, data));
  await w.finish();
  out.end();
  await once(out, 'close');
  return statSync(path).size;
}

const content = (seed: number, size: number) => Buffer.alloc(size, `file ${seed} `);

describe('flattenLayers performance', () => {
  it('flattens about 100 MB of layers at copying speed', async (ctx) => {
    mkdirSync('.cache/tmp', { recursive: true });
    const work = mkdtempSync(join(process.cwd(), '.cache/tmp', 'flperf-'));
    try {
      const layers = [0, 1, 2].map((i) => join(work, `l${i}.tar`));
      let input = 0;
      input += await writeLayer(layers[0]!, async (add) => {
        for (let d = 0; d < 40; d++) {
          await add({ name: `d${d}`, type: 'dir', size: 0 });
          for (let f = 0; f < 100; f++) await add({ name: `d${d}/f${f}`, type: 'file', size: 8192 }, content(d * 100 + f, 8192));
        }
        for (let b = 0; b < 4; b++) await add({ name: `big${b}`, type: 'file', size: 2_500_000 }, content(b, 2_500_000));
      });
      input += await writeLayer(layers[1]!, async (add) => {
        for (let d = 0; d < 40; d++) {
          await add({ name: `d${d}`, type: 'dir', size: 0 });
          for (let f = 0; f < 25; f++) await add({ name: `d${d}/f${f}`, type: 'file', size: 8192 }, content(-f, 8192));
          for (let f = 90; f < 100; f++) await add({ name: whiteoutPath(`d${d}/f${f}`), type: 'file', size: 0 });
          for (let f = 100; f < 150; f++) await add({ name: `d${d}/f${f}`, type: 'file', size: 8192 }, content(f, 8192));
        }
        await add({ name: 'big1', type: 'file', size: 5_000_000 }, content(7, 5_000_000));
      });
      input += await writeLayer(layers[2]!, async (add) => {
        for (let d = 0; d < 30; d++) {
          await add({ name: `n${d}`, type: 'dir', size: 0 });
          for (let f = 0; f < 100; f++) await add({ name: `n${d}/f${f}`, type: 'file', size: 10_000 }, content(f, 10_000));
        }
      });
      const outPath = join(work, 'rootfs.tar');
      const out = createWriteStream(outPath);
      const t0 = performance.now();
      const cpu0 = process.cpuUsage();
      const stats = await flattenLayers(layers, out);
      out.end();
      await once(out, 'close');
      const s = (performance.now() - t0) / 1000;
      const cpu = process.cpuUsage(cpu0);
      const cpuS = (cpu.user + cpu.system) / 1e6;
      const mb = (n: number) => n / 1e6;
      ctx.diagnostic(
        `${mb(input).toFixed(0)} MB of layers → ${mb(stats.bytes).toFixed(0)} MB, ${stats.entries} entries: ${(s * 1000).toFixed(0)} ms wall ` +
        `(${(mb(input) / s).toFixed(0)} MB/s of layers, ${(mb(stats.bytes) / s).toFixed(0)} MB/s written), ${(cpuS * 1000).toFixed(0)} ms CPU ` +
        `(${(mb(input) / cpuS).toFixed(0)} MB per CPU-second)`,
      );
      // 40 dirs × (90 kept of the base + 50 new) + 4 big + 30 × 100 + 30 dirs
      assert.equal(stats.entries, 40 + 40 * 140 + 4 + 30 + 3000);
      assert.equal(statSync(outPath).size, stats.bytes);
      assert.ok(input > 95e6, `only ${mb(input).toFixed(0)} MB of layers`);
      // CPU time, not wall time: a shared machine's load would make a wall-clock budget flaky.
      assert.ok(mb(input) / cpuS > 100, `${(mb(input) / cpuS).toFixed(0)} MB per CPU-second`);
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  });
});
