/** What a step can reach: capabilities, fds, processes, devices, kernel files, network, ids. */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, closeSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { helperArgs, helperPath } from '../../src/exec/executor.js';
import type { RunSpec } from '../../src/exec/executor.js';
import { capsOf, DEFAULT_CAPS, MODES, Sandbox, skipReason } from './sandbox.js';
import type { Mode } from './sandbox.js';

const skip = skipReason();
const CAP_SYS_ADMIN = 21n;

/** A static program that prints its own Uid/Cap lines and tries mount(2); made setuid root in the tests. */
const PROBE_C = `#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
int main(void) {
  char line[256];
  FILE *f = fopen("/proc/self/status", "r");
  while (f && fgets(line, sizeof line, f)) if (!strncmp(line, "Cap", 3) || !strncmp(line, "Uid", 3)) fputs(line, stdout);
  int r = mount("none", "/tmp", "tmpfs", 0, NULL);
  printf("mount: %s\\n", r == 0 ? "allowed" : strerror(errno));
  if (r == 0) umount("/tmp");
  return 0;
}
`;

/** Runs the helper itself with an extra fd (4 is the env pipe) and returns its exit code and output. */
function runHelper(spec: RunSpec, extra: number[] = []): Promise<{ code: number | null; stdout: string; report: string }> {
  return new Promise((resolve) => {
    const child = spawn(helperPath(), helperArgs(spec), { stdio: ['ignore', 'pipe', 'pipe', 'pipe', 'pipe', ...extra], env: {} });
    let stdout = '';
    let report = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', () => undefined);
    (child.stdio[3] as Readable).on('data', (d: Buffer) => (report += d.toString()));
    (child.stdio[4] as Writable).on('error', () => undefined).end(spec.process.env.map((e) => e + '\0').join(''));
    child.on('close', (code) => resolve({ code, stdout, report }));
  });
}

describe('runIsolated: confinement', { skip }, () => {
  let sb: Sandbox;
  let probeLayer: string | undefined;
  let probeSkip: string | undefined;
  before(async () => {
    sb = await Sandbox.create();
    // The probe goes into the shared dir root and into an extra lower dir for overlay roots.
    probeLayer = join(sb.dir, 'probe-layer');
    mkdirSync(join(probeLayer, 'bin'), { recursive: true });
    writeFileSync(join(sb.dir, 'probe.c'), PROBE_C);
    const cc = spawnSync(process.env.CC || 'cc', ['-static', '-O1', '-o', join(probeLayer, 'bin', 'capprobe'), join(sb.dir, 'probe.c')], { encoding: 'utf8' });
    if (cc.status !== 0) probeSkip = `cannot build a static probe program: ${cc.error?.message ?? cc.stderr}`;
    else {
      chmodSync(join(probeLayer, 'bin', 'capprobe'), 0o4755);
      spawnSync('cp', ['-a', join(probeLayer, 'bin', 'capprobe'), join(sb.dirRoot, 'bin', 'capprobe')]);
    }
  });
  after(() => sb?.cleanup());

  const probeRoot = (mode: Mode) => (mode === 'dir' ? sb.rootfs('dir') : sb.rootfs('overlay', { lowers: [probeLayer!, sb.base] }));

  for (const mode of MODES) {
    describe(`${mode} root`, () => {
      it("gives uid 0 exactly docker's default capabilities, nothing inheritable or ambient", async () => {
        const r = await sb.run(mode, ['cat', '/proc/self/status']);
        assert.deepEqual(capsOf(r.stdout), { CapInh: '0'.repeat(16), CapPrm: DEFAULT_CAPS, CapEff: DEFAULT_CAPS, CapBnd: DEFAULT_CAPS, CapAmb: '0'.repeat(16) });
      });

      it('gives no capability at all with capabilities: none', async () => {
        const r = await sb.run(mode, ['cat', '/proc/self/status'], { capabilities: 'none' });
        for (const [k, v] of Object.entries(capsOf(r.stdout))) assert.equal(v, '0'.repeat(16), k);
        assert.equal(Object.keys(capsOf(r.stdout)).length, 5);
      });

      it('gives uid 1000 no effective or permitted capability, and the default bounding set', async () => {
        const r = await sb.run(mode, ['cat', '/proc/self/status'], { process: { uid: 1000, gid: 1000 } });
        const caps = capsOf(r.stdout);
        assert.equal(caps.CapEff, '0'.repeat(16));
        assert.equal(caps.CapPrm, '0'.repeat(16));
        assert.equal(caps.CapBnd, DEFAULT_CAPS);
      });

      it('lets a setuid-root program gain only the default set, and nothing with noNewPrivileges', async (t) => {
        if (probeSkip) return t.skip(probeSkip);
        const r = await sb.run(mode, ['/bin/capprobe'], { rootfs: probeRoot(mode), process: { uid: 1000, gid: 1000 } });
        assert.equal(r.exitCode, 0, r.stderr);
        assert.match(r.stdout, /^Uid:\s+1000\s+0\s+0\s+0$/m, 'the setuid bit worked (the root is not nosuid)');
        const caps = capsOf(r.stdout);
        assert.equal(caps.CapEff, DEFAULT_CAPS);
        assert.equal((BigInt('0x' + caps.CapEff) >> CAP_SYS_ADMIN) & 1n, 0n);
        assert.match(r.stdout, /^mount: Operation not permitted$/m);

        const nnp = await sb.run(mode, ['/bin/capprobe'], { rootfs: probeRoot(mode), process: { uid: 1000, gid: 1000 }, noNewPrivileges: true });
        assert.match(nnp.stdout, /^Uid:\s+1000\s+1000\s+1000\s+1000$/m);
        assert.equal(capsOf(nnp.stdout).CapEff, '0'.repeat(16));
        assert.equal(capsOf(nnp.stdout).CapPrm, '0'.repeat(16));
      });

      it('refuses mount(2) to root inside', async (t) => {
        const r = await sb.run(mode, ['mount', '-t', 'tmpfs', 'none', '/tmp']);
        assert.notEqual(r.exitCode, 0);
        assert.match(r.stderr, /permission denied/i);
        if (probeSkip) return t.skip(probeSkip);
        const p = await sb.run(mode, ['/bin/capprobe'], { rootfs: probeRoot(mode) });
        assert.match(p.stdout, /^mount: Operation not permitted$/m);
      });

      it('passes only fds 0, 1 and 2 to the program', async () => {
        const extra = openSync('/', 'r'); // Node opens it close-on-exec; the helper must not depend on that
        try {
          const r = await sb.run(mode, ['sh', '-c', 'ls /proc/$$/fd; true']); // `; true`: sh must not exec ls
          assert.deepEqual(r.stdout.split(/\s+/).filter(Boolean), ['0', '1', '2']);
        } finally {
          closeSync(extra);
        }
      });

      it('closes fds it inherits without close-on-exec, before any path is resolved', async () => {
        // fd 5: the host's / open in the helper (what runc's CVE-2024-21626 leaked).
        const hostRoot = openSync('/', 'r');
        try {
          const base = { rootfs: sb.rootfs(mode), network: 'host' as const, process: { args: ['sh', '-c', 'ls /proc/$$/fd; ls'], env: ['PATH=/bin'], cwd: '/', uid: 0, gid: 0, groups: [] } };
          const ok = await runHelper(base, [hostRoot]);
          assert.equal(ok.code, 0, ok.report);
          assert.deepEqual(ok.stdout.split('\n').slice(0, 3), ['0', '1', '2']);
          const escape = await runHelper({ ...base, rootfs: sb.rootfs(mode), process: { ...base.process, cwd: '/proc/self/fd/5' } }, [hostRoot]);
          assert.equal(escape.code, 125, `the working directory must not open onto the host: ${escape.stdout}`);
          assert.match(escape.report, /error\tchdir to working directory "\/proc\/self\/fd\/5"/);
        } finally {
          closeSync(hostRoot);
        }
      });

      it('shows only its own processes (a PID namespace)', async () => {
        const r = await sb.run(mode, ['sh', '-c', 'ps; ls /proc | grep -c "^[0-9]"']);
        const lines = r.stdout.trim().split('\n');
        const pids = lines.slice(1, -1).map((l) => Number(l.trim().split(/\s+/)[0]));
        assert.equal(pids[0], 1);
        assert.equal(pids.length, 2, r.stdout); // sh and ps
        assert.ok(Number(lines.at(-1)) <= 3, r.stdout); // sh, ls, grep
        const hostCount = spawnSync('sh', ['-c', 'ls /proc | grep -c "^[0-9]"'], { encoding: 'utf8' }).stdout.trim();
        assert.ok(Number(hostCount) > 3, 'the host has more processes than the step sees');
      });

      it('has a /dev with the six nodes and no disks; a node the process makes cannot be opened', async () => {
        const r = await sb.run(mode, ['sh', '-c', 'ls -A /dev; echo ---; mknod /dev/made c 1 3 && echo made; echo x > /dev/made || echo refused; echo x > /dev/null && head -c 4 /dev/zero | wc -c']);
        const [listing, rest] = r.stdout.split('---\n');
        assert.deepEqual(listing!.split(/\s+/).filter(Boolean).sort(), ['core', 'fd', 'full', 'mqueue', 'null', 'ptmx', 'pts', 'random', 'shm', 'stderr', 'stdin', 'stdout', 'tty', 'urandom', 'zero']);
        assert.equal(rest, 'made\nrefused\n4\n');
        assert.match(r.stderr, /can't create \/dev\/made: Permission denied/);
      });

      it('makes /proc/sys and other kernel files read-only or empty, as docker does', async () => {
        // domainname is per UTS namespace: harmless to write even if the protection failed.
        const r = await sb.run(mode, ['sh', '-c', 'echo x > /proc/sys/kernel/domainname || echo refused; grep -E " /proc/(sys|bus|fs|irq) " /proc/self/mountinfo | cut -d" " -f5,6']);
        assert.match(r.stdout, /^refused$/m);
        assert.match(r.stderr, /Read-only file system/);
        assert.match(r.stdout, /^\/proc\/sys ro,/m);
      });
    });
  }

  it('never lets a device node the image brings be opened (the root is nodev)', async () => {
    const layer = join(sb.dir, 'device-layer');
    mkdirSync(layer, { recursive: true });
    for (const [name, type, major, minor] of [['loop0', 'b', '7', '0'], ['nullcopy', 'c', '1', '3']] as const) {
      const made = spawnSync('mknod', [join(layer, name), type, major, minor]);
      assert.equal(made.status, 0, `mknod ${name}`);
      spawnSync('cp', ['-a', join(layer, name), join(sb.dirRoot, name)]);
    }
    // On the host the copy of /dev/null opens fine: only the nodev root stops it inside.
    closeSync(openSync(join(layer, 'nullcopy'), 'w'));
    for (const mode of MODES) {
      const rootfs = mode === 'dir' ? sb.rootfs('dir') : sb.rootfs('overlay', { lowers: [layer, sb.base] });
      const r = await sb.run(mode, ['sh', '-c', 'ls -l /loop0 /nullcopy >/dev/null && echo listed; echo x > /nullcopy || echo null-refused; dd if=/loop0 of=/dev/null count=1 2>/dev/null || echo loop-refused'], { rootfs });
      assert.equal(r.stdout, 'listed\nnull-refused\nloop-refused\n', `${mode}: ${r.stderr}`);
    }
    rmSync(join(sb.dirRoot, 'loop0'));
    rmSync(join(sb.dirRoot, 'nullcopy'));
  });

  it('with network none sees only lo, and lo is up', async () => {
    const r = await sb.run('overlay', ['sh', '-c', 'ls /sys/class/net; cat /sys/class/net/lo/flags; tail -n +3 /proc/net/dev | cut -d: -f1'], { network: 'none' });
    const [ifs, flags, ...devs] = r.stdout.trim().split('\n');
    assert.equal(ifs, 'lo');
    assert.equal(Number(flags) & 1, 1, 'IFF_UP');
    assert.deepEqual(devs.map((d) => d.trim()), ['lo']);
  });

  it('with network host sees the host interfaces', async () => {
    const hostIfs = readFileSync('/proc/net/dev', 'utf8').split('\n').slice(2).filter(Boolean).map((l) => l.split(':')[0]!.trim()).sort();
    assert.ok(hostIfs.length > 1, 'the host has more than lo');
    const r = await sb.run('overlay', ['sh', '-c', 'tail -n +3 /proc/net/dev | cut -d: -f1'], { network: 'host' });
    assert.deepEqual(r.stdout.trim().split('\n').map((l) => l.trim()).sort(), hostIfs);
  });

  it('applies uid, gid and supplementary groups', async () => {
    const r = await sb.run('overlay', ['sh', '-c', 'id; grep -E "^(Uid|Gid|Groups):" /proc/self/status'], { process: { uid: 1000, gid: 1000, groups: [10, 20, 65534] } });
    assert.match(r.stdout, /^uid=1000\(app\) gid=1000\(app\) groups=10,20,65534\(nogroup\)$/m);
    assert.match(r.stdout, /^Uid:\s+1000\s+1000\s+1000\s+1000$/m);
    assert.match(r.stdout, /^Gid:\s+1000\s+1000\s+1000\s+1000$/m);
    assert.match(r.stdout, /^Groups:\s+10 20 65534\s*$/m);
    const root = await sb.run('overlay', ['sh', '-c', 'grep -E "^Groups:" /proc/self/status']);
    assert.match(root.stdout, /^Groups:\s*$/m, 'no supplementary group left over from the host');
  });

  it('refuses ids that do not fit in the helper itself (never uid 0, never "-1" = unchanged)', async () => {
    const spec: RunSpec = { rootfs: sb.rootfs('overlay'), network: 'host', process: { args: ['echo', 'RAN'], env: ['PATH=/bin'], cwd: '/', uid: 0, gid: 0, groups: [] } };
    const args = helperArgs(spec);
    const devNull = openSync('/dev/null', 'r+'); // report fd 3, env fd 4 (empty)
    const stdio = ['ignore', 'pipe', 'pipe', devNull, devNull] as const;
    for (const [flag, value] of [['--uid', '4294967296'], ['--uid', '4294967295'], ['--uid', '2147483648'], ['--uid', '-1'], ['--gid', '4294967295'], ['--gid', '1e3'], ['--uid', ''], ['--groups', '10,4294967295']]) {
      const a = [...args];
      if (flag === '--groups') a.splice(a.indexOf('--cwd'), 0, flag, value);
      else a[a.indexOf(flag) + 1] = value;
      const r = spawnSync(helperPath(), a, { encoding: 'utf8', env: {}, stdio: [...stdio] });
      assert.equal(r.status, 125, `${flag} ${value}: ${r.stdout}`);
      assert.equal(r.stdout, '', `${flag} ${value} must not run the program`);
      assert.match(r.stderr, new RegExp(`invalid ${flag.slice(2).replace(/s$/, '')}`));
    }
    const ok = spawnSync(helperPath(), args.map((x, i) => (args[i - 1] === '--uid' ? '2147483647' : x)), { encoding: 'utf8', env: {}, stdio: [...stdio] });
    assert.equal(ok.status, 0, ok.stderr);
    assert.equal(ok.stdout, 'RAN\n');
    closeSync(devNull);
  });
});
