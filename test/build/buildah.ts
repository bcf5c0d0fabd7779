/**
 * buildah (the reference builder of the comparison tests) in a private store: its own --root under
 * the checkout's .cache/tmp and --runroot under /run (podman rejects long runroot paths), the
 * overlay driver, and a cleanup that unmounts what buildah left mounted before removing both.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { makeTemp } from './helpers.js';

const TOOLS = ['buildah', 'podman', 'skopeo'];

/** Why buildah cannot be used here (undefined when it can). */
export function buildahMissing(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (buildah with a private store, chroot isolation)';
  for (const t of TOOLS) {
    if (spawnSync(t, ['--version'], { stdio: 'ignore' }).status !== 0) return `${t} is not installed (apt packages buildah podman skopeo; run \`sh scripts/setup.sh\`)`;
  }
  return undefined;
}

/** What one command printed. */
export interface Output {
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: string[], opts: { cwd?: string; timeoutMs?: number } = {}): Output {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, timeout: opts.timeoutMs ?? 600_000, ...(opts.cwd ? { cwd: opts.cwd } : {}) });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status ?? r.signal}):\n${r.stderr.trim().split('\n').slice(-15).join('\n')}`);
  return { stdout: r.stdout, stderr: r.stderr };
}

/** Options of one `buildah bud`. */
export interface BudOptions {
  tag: string;
  file?: string;
  target?: string;
  buildArgs?: Record<string, string>;
}

/** A buildah/podman/skopeo store of our own. */
export class Buildah {
  private constructor(readonly root: string, readonly runroot: string) {}

  /** A fresh, empty store. */
  static create(): Buildah {
    const root = makeTemp('buildah-root-');
    mkdirSync('/run', { recursive: true });
    return new Buildah(root, mkdtempSync('/run/strata-bh-'));
  }

  private get globals(): string[] {
    return ['--root', this.root, '--runroot', this.runroot, '--storage-driver', 'overlay'];
  }

  /** `podman import` of a rootfs tar: the same base strata imports. */
  importRootfs(tar: string, name: string): void {
    run('podman', [...this.globals, 'import', '--quiet', tar, name]);
  }

  /** `buildah bud --layers --format docker --isolation chroot`. */
  bud(context: string, o: BudOptions): Output {
    const args = [...this.globals, 'bud', '--layers', '--format', 'docker', '--isolation', 'chroot', '-t', o.tag];
    if (o.file) args.push('-f', o.file);
    if (o.target) args.push('--target', o.target);
    for (const [k, v] of Object.entries(o.buildArgs ?? {})) args.push('--build-arg', `${k}=${v}`);
    return run('buildah', [...args, context]);
  }

  /** The image's docker-format config (config, history, rootfs). */
  dockerConfig(tag: string): DockerImageConfig {
    const info = JSON.parse(run('buildah', [...this.globals, 'inspect', '--type', 'image', tag]).stdout) as { Docker: DockerImageConfig };
    return info.Docker;
  }

  /** The image as an OCI layout in `dir` (layers left uncompressed), named `tag`; returns the layout dir. */
  ociLayout(tag: string, dir: string): string {
    run('skopeo', ['copy', '--quiet', '--dest-oci-accept-uncompressed-layers',
      `containers-storage:[overlay@${this.root}+${this.runroot}]${tag}`, `oci:${dir}:${tag.replace(/[^A-Za-z0-9._-]/g, '_')}`]);
    return dir;
  }

  /**
   * Runs `fn` on the image's root filesystem as the store mounts it (`podman image mount`: a
   * read-only view; `buildah from` would run the image's ONBUILD triggers).
   */
  async withRootfs<T>(tag: string, fn: (dir: string) => Promise<T> | T): Promise<T> {
    const dir = run('podman', [...this.globals, 'image', 'mount', tag]).stdout.trim();
    try {
      return await fn(dir);
    } finally {
      run('podman', [...this.globals, 'image', 'unmount', tag]);
    }
  }

  /** Removes the store: unmounts whatever is still mounted below it (overlay keeps its home bind-mounted), then deletes it. */
  cleanup(): void {
    spawnSync('buildah', [...this.globals, 'rm', '--all'], { stdio: 'ignore' });
    for (const m of mountsUnder([this.root, this.runroot])) spawnSync('umount', ['-l', m], { stdio: 'ignore' });
    rmSync(this.root, { recursive: true, force: true });
    rmSync(this.runroot, { recursive: true, force: true });
  }
}

/** Mount points below any of `dirs`, deepest first. */
export function mountsUnder(dirs: string[]): string[] {
  const points = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')[4] ?? '')
    .map((p) => p.replace(/\\(\d{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))));
  return points.filter((p) => dirs.some((d) => p === d || p.startsWith(d + '/'))).sort((a, b) => b.length - a.length);
}

/** The parts of a docker image config the comparisons read. */
export interface DockerImageConfig {
  config?: Record<string, unknown>;
  history?: { created_by?: string; empty_layer?: boolean; comment?: string }[];
  rootfs: { diff_ids: string[] };
}
