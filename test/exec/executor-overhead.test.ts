/** Per-step overhead: a trivial `true` end to end through runIsolated (the goal is < 30 ms). */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { runIsolated } from '../../src/exec/executor.js';
import { MODES, Sandbox, skipReason } from './sandbox.js';

const skip = skipReason();
const RUNS = 50;
/** Loose enough for a busy CI machine; the figure itself is printed. */
const LIMIT_MS = Number(process.env.STRATA_STEP_OVERHEAD_LIMIT_MS ?? 60);

describe('runIsolated: per-step overhead', { skip }, () => {
  let sb: Sandbox;
  before(async () => {
    sb = await Sandbox.create();
  });
  after(() => sb?.cleanup());

  for (const [label, mode, volatile] of [...MODES.map((m) => [m, m, false] as const), ['overlay (volatile)', 'overlay', true] as const]) {
    it(`runs \`true\` in a ${label} root ${RUNS} times; median under ${LIMIT_MS} ms`, async (t) => {
      const times: number[] = [];
      for (let i = 0; i < RUNS; i++) {
        const made = sb.rootfs(mode); // fresh upper/work dirs are made outside the timing
        const rootfs = made.kind === 'overlay' ? { ...made, volatile } : made;
        const t0 = process.hrtime.bigint();
        const r = await runIsolated({
          rootfs,
          process: { args: ['true'], env: ['PATH=/bin'], cwd: '/', uid: 0, gid: 0, groups: [] },
          network: 'host',
          hostname: 'strata',
          binds: [
            { source: '/etc/resolv.conf', target: '/etc/resolv.conf', readonly: true },
            { source: '/etc/hosts', target: '/etc/hosts', readonly: true },
          ],
        });
        times.push(Number(process.hrtime.bigint() - t0) / 1e6);
        assert.equal(r.exitCode, 0);
      }
      times.sort((a, b) => a - b);
      const median = times[RUNS >> 1]!;
      t.diagnostic(`${label}: median ${median.toFixed(1)} ms, min ${times[0]!.toFixed(1)} ms, p90 ${times[Math.floor(RUNS * 0.9)]!.toFixed(1)} ms over ${RUNS} runs`);
      assert.ok(median < LIMIT_MS, `median ${median.toFixed(1)} ms`);
    });
  }
});
