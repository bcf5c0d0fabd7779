/**
 * A private dockerd for bench/build: its own socket, data root, exec root and pid file, no
 * bridge or iptables changes, so it neither needs nor disturbs anything else on the machine.
 * Stopped (SIGTERM, then SIGKILL) by the bench when it ends, and its leftover mounts removed.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** A running private dockerd. */
export interface Dockerd {
  /** Environment for the docker CLI (DOCKER_HOST, a private DOCKER_CONFIG, BuildKit on). */
  env: NodeJS.ProcessEnv;
  log: string;
  stop(): Promise<void>;
}

/** Unmounts every mount point under `dir`, deepest first (dockerd or buildah may leave some). */
export function unmountUnder(dir: string): void {
  const points = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .map((p) => p.replace(/\\040/g, ' '))
    .filter((p) => p === dir || p.startsWith(dir + '/'))
    .sort((a, b) => b.length - a.length);
  for (const p of points) spawnSync('umount', ['-l', p]);
}

/** Starts dockerd with its state under `base` and waits until it answers; `baseEnv` is the CLI's environment. */
export async function startDockerd(base: string, baseEnv: NodeJS.ProcessEnv = process.env): Promise<Dockerd> {
  const dataRoot = join(base, 'data');
  const execRoot = join(base, 'exec');
  for (const d of [dataRoot, execRoot, join(base, 'config')]) mkdirSync(d, { recursive: true });
  const sock = join(execRoot, 'docker.sock');
  const log = join(base, 'dockerd.log');
  const logFd = openSync(log, 'a');
  const child: ChildProcess = spawn('dockerd', [
    '--bridge=none', '--iptables=false', '--ip6tables=false', '--storage-driver=overlay2',
    `--data-root=${dataRoot}`, `--exec-root=${execRoot}`, `--pidfile=${join(execRoot, 'docker.pid')}`,
    '-H', `unix://${sock}`,
  ], { stdio: ['ignore', logFd, logFd], detached: true });
  const env: NodeJS.ProcessEnv = { ...baseEnv, DOCKER_HOST: `unix://${sock}`, DOCKER_CONFIG: join(base, 'config'), DOCKER_BUILDKIT: '1' };
  let exited = false;
  child.on('exit', () => { exited = true; });
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (exited) throw new Error(`dockerd exited at start; see ${log}`);
    if (spawnSync('/usr/bin/docker', ['version', '--format', '{{.Server.Version}}'], { env, stdio: 'ignore' }).status === 0) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`dockerd did not answer within 60 s; see ${log}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  const stop = async () => {
    if (!exited) {
      child.kill('SIGTERM');
      const t0 = Date.now();
      while (!exited && Date.now() - t0 < 30_000) await new Promise((r) => setTimeout(r, 100));
      if (!exited) child.kill('SIGKILL');
    }
    unmountUnder(dataRoot);
    unmountUnder(execRoot);
  };
  return { env, log, stop };
}
