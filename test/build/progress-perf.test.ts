import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { createProgress, type ProgressMode } from '../../src/build/progress.js';

const TOTAL = 200 * 1024 * 1024;

// A real gc() to measure what stays reachable rather than what the collector has not reclaimed yet.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** Heap plus Buffer memory still reachable after a full collection. */
function retained(): number {
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}
const CHUNK = 64 * 1024;

/** A 64 KiB chunk of ~100-byte lines whose last line runs into the next chunk. */
function chunk(): Buffer {
  const b = Buffer.alloc(CHUNK);
  let pos = 0;
  let i = 0;
  while (pos < CHUNK) {
    const line = `${i++} compiling src/module-${i % 97}/file-${i % 13}.c -O2 -Wall -Wextra ${'.'.repeat(i % 40)}\n`;
    pos += b.write(line, pos);
  }
  return b;
}

/** Feeds 200 MB through `mode`; returns MB/s, peak RSS growth and memory held while the step runs (MB), bytes written. */
async function run(mode: ProgressMode): Promise<{ mbps: number; rssMB: number; heldMB: number; written: number }> {
  let written = 0;
  const out = new Writable({
    write(c: Buffer, _e, cb) {
      written += c.length;
      cb();
    },
  });
  (out as unknown as { columns: number }).columns = 80;
  const sink = createProgress(mode, out, { frameIntervalMs: 100 });
  const data = chunk();
  const held0 = retained();
  const rss0 = process.memoryUsage().rss;
  let peak = rss0;
  const t0 = performance.now();
  sink.emit({ type: 'step-start', id: 1, name: 'RUN chatty', time: Date.now() });
  for (let sent = 0, n = 0; sent < TOTAL; sent += CHUNK, n++) {
    sink.emit({ type: 'step-log', id: 1, stream: 'stdout', data, time: Date.now() });
    if (n % 256 === 0) {
      peak = Math.max(peak, process.memoryUsage().rss);
      await sink.drain?.();
    }
  }
  const secs = (performance.now() - t0) / 1000;
  peak = Math.max(peak, process.memoryUsage().rss);
  const held = retained() - held0;
  sink.emit({ type: 'step-done', id: 1, time: Date.now() });
  await sink.close();
  const MB = 1024 * 1024;
  return { mbps: TOTAL / MB / secs, rssMB: (peak - rss0) / MB, heldMB: held / MB, written };
}

test('200 MB of output in 64 KiB chunks streams through plain mode fast and in bounded memory', async (t) => {
  const r = await run('plain');
  t.diagnostic(report('plain', r));
  assert.ok(r.written > TOTAL, 'everything was streamed, with prefixes');
  assert.ok(r.mbps > 100, `too slow: ${r.mbps.toFixed(0)} MB/s`);
  assert.ok(r.rssMB < 96, `memory grew by ${r.rssMB.toFixed(1)} MB`);
  // The 4 MiB tail (and nothing else) is what a running chatty step holds.
  assert.ok(r.heldMB < 12, `${r.heldMB.toFixed(1)} MB still held while the step runs`);
});

for (const mode of ['tty', 'json', 'quiet'] as const) {
  test(`200 MB of output through ${mode} mode stays fast and bounded`, async (t) => {
    const r = await run(mode);
    t.diagnostic(report(mode, r));
    assert.ok(r.mbps > (mode === 'json' ? 60 : 100), `too slow: ${r.mbps.toFixed(0)} MB/s`);
    assert.ok(r.heldMB < 12, `${r.heldMB.toFixed(1)} MB still held while the step runs`);
    assert.ok(r.rssMB < 96, `memory grew by ${r.rssMB.toFixed(1)} MB`);
  });
}

function report(mode: string, r: { mbps: number; rssMB: number; heldMB: number; written: number }): string {
  return `${mode}: ${r.mbps.toFixed(0)} MB/s, peak RSS growth ${r.rssMB.toFixed(1)} MB, held ${r.heldMB.toFixed(1)} MB, ${r.written} bytes written`;
}
