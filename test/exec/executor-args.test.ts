import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ExecError } from '../../src/errors.js';
import { effectiveNetwork, helperArgs, MAX_ID } from '../../src/exec/executor.js';
import type { RunSpec } from '../../src/exec/executor.js';

function spec(over: Partial<RunSpec['process']> = {}, rest: Partial<RunSpec> = {}): RunSpec {
  return {
    rootfs: { kind: 'dir', path: '/srv/root' },
    process: { args: ['sh', '-c', 'true'], env: ['SECRET=hunter2', 'PATH=/bin'], cwd: '/', uid: 0, gid: 0, groups: [], ...over },
    network: 'host',
    ...rest,
  };
}

describe('effectiveNetwork', () => {
  it('never widens a build started with --network none', () => {
    assert.equal(effectiveNetwork('none', 'host'), 'none');
    assert.equal(effectiveNetwork('none', 'default'), 'none');
    assert.equal(effectiveNetwork('none', undefined), 'none');
    assert.equal(effectiveNetwork('none', 'none'), 'none');
  });

  it('lets a step narrow the build network, and keeps host otherwise', () => {
    assert.equal(effectiveNetwork('host', 'none'), 'none');
    assert.equal(effectiveNetwork('host', 'host'), 'host');
    assert.equal(effectiveNetwork('host', 'default'), 'host');
    assert.equal(effectiveNetwork('host', undefined), 'host');
  });
});

describe('helperArgs', () => {
  it('refuses ids that do not fit instead of passing them on (4294967295 is "-1" to setresuid)', () => {
    for (const bad of [4294967296, 4294967295, 2 ** 31, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      assert.throws(() => helperArgs(spec({ uid: bad })), (e: unknown) => e instanceof ExecError && /uid .* out of range/.test(e.message), `uid ${bad}`);
      assert.throws(() => helperArgs(spec({ gid: bad })), ExecError, `gid ${bad}`);
      assert.throws(() => helperArgs(spec({ groups: [10, bad] })), ExecError, `group ${bad}`);
    }
  });

  it('accepts the largest id and passes ids, cwd and the program after --', () => {
    const a = helperArgs(spec({ uid: MAX_ID, gid: 7, groups: [10, 20], cwd: '/w' }));
    assert.deepEqual(a.slice(a.indexOf('--uid'), a.indexOf('--uid') + 6), ['--uid', String(MAX_ID), '--gid', '7', '--groups', '10,20']);
    assert.deepEqual(a.slice(a.indexOf('--')), ['--', 'sh', '-c', 'true']);
    assert.equal(a[a.indexOf('--cwd') + 1], '/w');
  });

  it('keeps the environment off the command line (other users can read it in ps); it goes through fd 4', () => {
    const a = helperArgs(spec());
    assert.ok(!a.some((x) => x.includes('hunter2')));
    assert.equal(a[a.indexOf('--env-fd') + 1], '4');
    assert.equal(a[a.indexOf('--report-fd') + 1], '3');
  });

  it('rejects overlay paths with option separators and mount paths with "|"', () => {
    const ov = (upper: string): RunSpec => spec({}, { rootfs: { kind: 'overlay', mountpoint: '/m', lowers: ['/l'], upper, work: '/w' } });
    assert.throws(() => helperArgs(ov('/u,x')), ExecError);
    assert.throws(() => helperArgs(ov('/u:x')), ExecError);
    assert.deepEqual(helperArgs(ov('/u')).slice(0, 5), ['--rootfs', '/m', '--overlay', '/l|/u|/w', '--net']);
    const vol = spec({}, { rootfs: { kind: 'overlay', mountpoint: '/m', lowers: ['/l2', '/l1'], upper: '/u', work: '/w', volatile: true } });
    assert.deepEqual(helperArgs(vol).slice(0, 5), ['--rootfs', '/m', '--overlay', '/l2:/l1|/u|/w', '--volatile']);
    assert.throws(() => helperArgs(spec({}, { binds: [{ source: '/a|b', target: '/x', readonly: true }] })), ExecError);
  });

  it('asks for --mkdir-cwd and --sync only when wanted', () => {
    assert.ok(!helperArgs(spec()).includes('--mkdir-cwd'));
    assert.ok(!helperArgs(spec()).includes('--sync'));
    const a = helperArgs(spec({}, { mkdirCwd: true, onReady: () => undefined, noNewPrivileges: true, capabilities: 'none' }));
    for (const f of ['--mkdir-cwd', '--sync', '--no-new-privs']) assert.ok(a.includes(f), f);
    assert.equal(a[a.indexOf('--caps') + 1], 'none');
  });
});
