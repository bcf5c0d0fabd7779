/** runIsolated on a real busybox rootfs: output, exit codes, start failures, environment, cwd. */
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { ExecError } from '../../src/errors.js';
import { ExecStartError } from '../../src/exec/executor.js';
import { captureStubs } from '../../src/snapshot/stubs.js';
import { Capture, cmdlineOf, hostPids, listTree, MODES, Sandbox, skipReason, unique } from './sandbox.js';

const skip = skipReason();

describe('runIsolated: running a program', { skip }, () => {
  let sb: Sandbox;
  before(async () => {
    sb = await Sandbox.create();
  });
  after(() => sb?.cleanup());

  for (const mode of MODES) {
    describe(`${mode} root`, () => {
      it('passes stdout, stderr and exit codes through', async () => {
        const ok = await sb.run(mode, ['sh', '-c', 'echo out; echo err >&2']);
        assert.equal(ok.exitCode, 0);
        assert.equal(ok.stdout, 'out\n');
        assert.equal(ok.stderr, 'err\n');
        assert.equal(ok.aborted, false);
        const three = await sb.run(mode, ['sh', '-c', 'echo before; exit 3']);
        assert.equal(three.exitCode, 3);
        assert.equal(three.stdout, 'before\n');
      });

      it('lets the program open /dev/stdout and /dev/stderr (pipes, not the sockets Node gives)', async () => {
        const r = await sb.run(mode, ['sh', '-c', 'echo to-out > /dev/stdout && echo to-err > /dev/stderr; ls -l /proc/self/fd/1']);
        assert.equal(r.exitCode, 0, r.stderr);
        assert.match(r.stdout, /^to-out\n/);
        assert.match(r.stdout, /pipe:/);
        assert.equal(r.stderr, 'to-err\n');
      });

      it('feeds stdin to the program', async () => {
        const r = await sb.run(mode, ['sh', '-c', 'cat; echo end'], { stdin: Readable.from([Buffer.from('line one\n'), Buffer.from('line two\n')]) });
        assert.equal(r.stdout, 'line one\nline two\nend\n');
      });

      it('reports a program killed by a signal as 128+n', async () => {
        const marker = unique('strata-kill');
        const out = new Capture();
        const running = sb.run(mode, ['sh', '-c', 'echo started; while :; do sleep 1; done', marker], { stdoutCapture: out });
        await out.waitFor('started');
        // PID 1 of a namespace ignores signals from inside it; from the host SIGKILL always lands.
        const pid1 = hostPids(marker).find((p) => cmdlineOf(p)?.[0] === 'sh');
        assert.ok(pid1, 'the step is visible on the host');
        process.kill(pid1, 'SIGKILL');
        const r = await running;
        assert.equal(r.exitCode, 128 + 9);
        assert.equal(r.aborted, false);
      });

      it('rejects a command that does not exist with ExecError, exit 127', async () => {
        await assert.rejects(sb.run(mode, ['no-such-command-here']), (e: unknown) => {
          assert.ok(e instanceof ExecError && e instanceof ExecStartError);
          assert.equal(e.exitCode, 127);
          assert.match(e.message, /no-such-command-here/);
          return true;
        });
        await assert.rejects(sb.run(mode, ['/no/such/path']), (e: unknown) => e instanceof ExecStartError && e.exitCode === 127);
      });

      it('rejects a file that cannot be executed with ExecError, exit 126', async () => {
        for (const path of ['/etc/passwd', '/etc']) {
          await assert.rejects(sb.run(mode, [path]), (e: unknown) => e instanceof ExecStartError && e.exitCode === 126 && e.message.includes(path), path);
        }
      });

      it('rejects a missing working directory with an ExecError naming it', async () => {
        await assert.rejects(sb.run(mode, ['true'], { process: { cwd: '/no/such/workdir' } }), (e: unknown) => {
          assert.ok(e instanceof ExecStartError);
          assert.equal(e.exitCode, 125);
          assert.match(e.message, /\/no\/such\/workdir/);
          return true;
        });
      });

      it('creates a missing working directory with mkdirCwd', async () => {
        const r = await sb.run(mode, ['sh', '-c', 'pwd; stat -c "%u %a" .'], { process: { cwd: '/made/for/step', uid: 1000, gid: 1000 }, mkdirCwd: true });
        assert.equal(r.exitCode, 0, r.stderr);
        assert.equal(r.stdout, '/made/for/step\n0 755\n');
      });

      it('gives the program exactly the environment asked for, never to the helper itself', async () => {
        const env = ['PATH=/bin:/usr/bin', 'A=1', 'WITH_SPACE=a b', 'LD_PRELOAD=/no/such/library.so', 'EMPTY='];
        const r = await sb.run(mode, ['env'], { process: { env } });
        assert.equal(r.exitCode, 0, r.stderr);
        assert.deepEqual(r.stdout.trimEnd().split('\n'), env);
        // The helper is a dynamic program: had it got LD_PRELOAD, ld.so would complain here.
        assert.equal(r.stderr, '');
      });

      it('finds the program on the PATH of its environment', async () => {
        const none = await sb.run(mode, ['sh', '-c', 'echo $PATH'], { process: { env: ['PATH=/usr/sbin'] } }).catch((e: unknown) => e);
        assert.ok(none instanceof ExecStartError && none.exitCode === 127, 'sh is not in /usr/sbin');
        const found = await sb.run(mode, ['sh', '-c', 'echo $PATH'], { process: { env: ['PATH=/usr/sbin:/bin'] } });
        assert.equal(found.stdout, '/usr/sbin:/bin\n');
      });
    });
  }

  it('calls onReady after the stubs are made and before the program starts', async () => {
    const rootfs = sb.rootfs('overlay');
    assert.equal(rootfs.kind, 'overlay');
    if (rootfs.kind !== 'overlay') return;
    let seen: string[] | undefined;
    let captured: ReturnType<typeof captureStubs> = [];
    const r = await sb.run('overlay', ['sh', '-c', 'touch /made-by-step; mkdir -p /etc/made'], {
      rootfs,
      binds: [{ source: '/etc/resolv.conf', target: '/etc/resolv.conf', readonly: true }],
      onReady: () => {
        seen = readdirSync(rootfs.upper).sort();
        captured = captureStubs(rootfs.upper);
      },
    });
    assert.equal(r.exitCode, 0, r.stderr);
    assert.ok(seen, 'onReady was called');
    assert.ok(!seen.includes('made-by-step'), `the program had not run yet: ${seen.join(' ')}`);
    assert.ok(existsSync(join(rootfs.upper, 'made-by-step')));
    // What the helper reports is what the snapshotter would have captured itself.
    assert.deepEqual(r.stubs.map(({ path, ino, ctimeMs }) => ({ path, ino, ctimeMs })).sort((a, b) => a.path.localeCompare(b.path)), captured);
    assert.ok(listTree(rootfs.upper).includes('etc/made'));
  });

  it('rejects with what onReady threw, and the program never runs', async () => {
    const rootfs = sb.rootfs('overlay');
    if (rootfs.kind !== 'overlay') return;
    await assert.rejects(
      sb.run('overlay', ['touch', '/ran'], {
        rootfs,
        onReady: () => {
          throw new Error('hook failed');
        },
      }),
      /hook failed/,
    );
    assert.ok(!existsSync(join(rootfs.upper, 'ran')));
  });
});
