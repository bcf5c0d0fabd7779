/** Nothing outside the root through symlinks, cwd or mounts; stubs; read-only binds; ending a step. */
import assert from 'node:assert/strict';
import { existsSync, lstatSync, mkdirSync, readFileSync, rmSync, symlinkSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { captureStubs } from '../../src/snapshot/stubs.js';
import { writeDiffTar } from '../../src/snapshot/diff-tar.js';
import { Capture, cmdlineOf, hostPids, listTree, MODES, Sandbox, skipReason, unique } from './sandbox.js';
import type { Mode } from './sandbox.js';

const skip = skipReason();
const RESOLV = { source: '/etc/resolv.conf', target: '/etc/resolv.conf', readonly: true };

describe('runIsolated: no way out of the root', { skip }, () => {
  let sb: Sandbox;
  before(async () => {
    sb = await Sandbox.create();
  });
  after(() => sb?.cleanup());

  /** A root (dir or overlay) whose `rel` is a symlink to `target`; returns it and where its files are. */
  async function rootWithLink(mode: Mode, rel: string, target: string): Promise<{ rootfs: ReturnType<Sandbox['rootfs']>; files: string }> {
    const dir = await sb.freshRootfs(unique('linked'));
    rmSync(join(dir, rel), { recursive: true, force: true });
    symlinkSync(target, join(dir, rel));
    if (mode === 'dir') return { rootfs: sb.rootfs('dir', { dir }), files: dir };
    const rootfs = sb.rootfs('overlay', { lowers: [dir] });
    return { rootfs, files: rootfs.kind === 'overlay' ? rootfs.upper : dir };
  }

  for (const mode of MODES) {
    describe(`${mode} root`, () => {
      // Where each link target must land inside the root. /proc is mounted after the binds, so
      // /proc/... targets are plain directories of the image then.
      const variants: [string, string, (escape: string) => string][] = [
        ['absolute', '/../../../../..', (e) => e],
        ['relative', '../../../../../..', (e) => e],
        ['the old root', '/.strata-oldroot-1', (e) => `/.strata-oldroot-1${e}`],
        ['/proc/1/root', '/proc/1/root', (e) => `/proc/1/root${e}`],
        ['/proc/self/cwd', '/proc/self/cwd/../..', (e) => `/proc${e}`],
      ];
      for (const [variant, prefix, inside] of variants) {
        it(`keeps a bind target that is a symlink (${variant}) inside the root`, async () => {
          const escape = unique('/tmp/strata-escape-test');
          const { rootfs, files } = await rootWithLink(mode, 'etc/resolv.conf', `${prefix}${escape}/resolv.conf`);
          try {
            const r = await sb.run(mode, ['sh', '-c', 'cat /etc/resolv.conf >/dev/null; echo ok'], { rootfs, binds: [RESOLV] });
            assert.equal(r.stdout, 'ok\n', r.stderr);
            assert.ok(!existsSync(escape), `${escape} was created on the host`);
            const stub = `${inside(escape).slice(1)}/resolv.conf`;
            assert.ok(existsSync(join(files, stub)), `the stub was made inside the root at ${stub}`);
            assert.ok(r.stubs.some((s) => s.path === stub), JSON.stringify(r.stubs.map((s) => s.path)));
          } finally {
            rmSync(escape, { recursive: true, force: true });
          }
        });
      }

      it('keeps a working directory that is a symlink to ../../../.. inside the root', async () => {
        const { rootfs } = await rootWithLink(mode, 'home/app', '../../../../../../..');
        const r = await sb.run(mode, ['sh', '-c', 'pwd -P; ls'], { rootfs, process: { cwd: '/home/app' } });
        assert.equal(r.exitCode, 0, r.stderr);
        const [pwd, ...names] = r.stdout.trim().split('\n');
        assert.equal(pwd, '/');
        assert.ok(names.includes('linuxrc'), 'busybox root listed');
        assert.ok(!existsSync('/linuxrc'), 'and the host has none');
      });

      it('makes its mount points inside the root and reports them as the only new entries', async () => {
        const dir = await sb.freshRootfs(unique('bare'));
        rmSync(join(dir, 'proc'), { recursive: true });
        assert.ok(!existsSync(join(dir, 'sys')) && !existsSync(join(dir, 'etc/resolv.conf')));
        const rootfs = mode === 'dir' ? sb.rootfs('dir', { dir }) : sb.rootfs('overlay', { lowers: [dir] });
        const r = await sb.run(mode, ['true'], { rootfs, binds: [RESOLV] });
        assert.equal(r.exitCode, 0, r.stderr);
        const paths = r.stubs.map((s) => s.path).sort();
        if (rootfs.kind === 'overlay') {
          // overlayfs copied /etc up to make etc/resolv.conf: it is part of what must be left out.
          assert.deepEqual(paths, ['etc', 'etc/resolv.conf', 'proc', 'sys']);
          assert.deepEqual(listTree(rootfs.upper), paths);
          assert.deepEqual(r.stubs.map(({ path, ino, ctimeMs }) => ({ path, ino, ctimeMs })).sort((a, b) => a.path.localeCompare(b.path)), captureStubs(rootfs.upper));
          const sink = new Writable({ write: (_c, _e, done) => done() });
          const diff = await writeDiffTar(rootfs.upper, sink, { stubs: r.stubs });
          assert.equal(diff.empty, true, 'an unchanged step makes no layer');
        } else {
          assert.deepEqual(paths, ['etc/resolv.conf', 'proc', 'sys']);
          for (const s of r.stubs) assert.equal(lstatSync(join(dir, s.path)).ino, s.ino);
        }
      });

      it('sets the hostname and keeps /etc/hosts and /etc/resolv.conf read-only', async () => {
        const hostsBefore = readFileSync('/etc/hosts', 'utf8');
        const r = await sb.run(mode, ['sh', '-c', 'hostname; echo x >> /etc/hosts || echo hosts-ro; echo x >> /etc/resolv.conf || echo resolv-ro; rm /etc/hosts || echo rm-refused'], {
          hostname: 'strata-step',
          binds: [RESOLV, { source: '/etc/hosts', target: '/etc/hosts', readonly: true }],
        });
        assert.equal(r.stdout, 'strata-step\nhosts-ro\nresolv-ro\nrm-refused\n');
        assert.match(r.stderr, /Read-only file system/);
        assert.equal(readFileSync('/etc/hosts', 'utf8'), hostsBefore);
      });

      it('ends every process of the step when its main process ends', async () => {
        const marker = unique('strata-bg');
        const out = new Capture();
        const running = sb.run(mode, ['sh', '-c', `sh -c "sleep 1000; : ${marker}" & echo started; sleep 0.5`], { stdoutCapture: out });
        await out.waitFor('started');
        const during = hostPids(marker).filter((p) => cmdlineOf(p)?.[0] === 'sh');
        assert.ok(during.length > 0, 'the background process is visible from the host while the step runs');
        const r = await running;
        assert.equal(r.exitCode, 0);
        assert.deepEqual(hostPids(marker), [], 'nothing of the step is left');
      });

      it('stops the whole step within seconds on abort and leaves no process or mount', async () => {
        const marker = unique('strata-abort');
        const out = new Capture();
        const ac = new AbortController();
        const rootfs = sb.rootfs(mode);
        const running = sb.run(mode, ['sh', '-c', `sh -c "sleep 1000; : ${marker}" & trap "" TERM INT; echo started; sleep 1000`], { rootfs, stdoutCapture: out, signal: ac.signal });
        await out.waitFor('started');
        assert.ok(hostPids(marker).length > 0);
        const t0 = Date.now();
        ac.abort();
        const r = await running;
        assert.ok(Date.now() - t0 < 2500, `took ${Date.now() - t0} ms`);
        assert.equal(r.aborted, true);
        assert.deepEqual(hostPids(marker), []);
        const where = rootfs.kind === 'overlay' ? rootfs.mountpoint : rootfs.path;
        assert.ok(!readFileSync('/proc/self/mountinfo', 'utf8').includes(where), 'no mount left on the host');
      });
    });
  }

  it('resolves a mount point through a symlinked parent directory inside the root', async () => {
    const dir = await sb.freshRootfs(unique('etclink'));
    mkdirSync(join(dir, 'real-etc'));
    rmSync(join(dir, 'etc'), { recursive: true });
    symlinkSync('/../../real-etc', join(dir, 'etc'));
    const r = await sb.run('overlay', ['cat', '/real-etc/resolv.conf'], { rootfs: sb.rootfs('overlay', { lowers: [dir] }), binds: [RESOLV] });
    assert.equal(r.stdout, readFileSync('/etc/resolv.conf', 'utf8'));
    unlinkSync(join(dir, 'etc'));
  });
});
