/**
 * Base-image rootfs tars for tests and the demo, made at run time from Debian packages (nothing
 * binary is committed) and cached: a tiny busybox rootfs written entry by entry with tar-stream,
 * and a Debian bookworm minbase rootfs from mmdebstrap.
 *
 * CLI for shell scripts: `node dist/test/helpers/base-images.js busybox|debian` prints the path.
 */
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { accessSync, closeSync, constants, createReadStream, createWriteStream, openSync, readFileSync, readSync, realpathSync, statSync } from 'node:fs';
import { delimiter, join, posix } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import tarStream from 'tar-stream';
import type { Header } from 'tar-stream';
import { hostAptSources, mirrorLinesFor } from './apt-sources.js';
import { repoRoot } from './corpus.js';
import { buildCached } from './file-lock.js';

/** Where busybox-static installs its binary. */
export const BUSYBOX_PATH = '/bin/busybox';
/** Every timestamp in the fixtures (2024-01-01T00:00:00Z): fixed, so the tars hash the same everywhere. */
export const FIXTURE_EPOCH = 1704067200;
/** Bump when the busybox layout changes, so stale caches are not reused. */
const BUSYBOX_LAYOUT_VERSION = 1;
/** Bump when the mmdebstrap invocation changes. */
const DEBIAN_RECIPE_VERSION = 1;

/** Skip reason when busybox cannot be used. */
export const BUSYBOX_MISSING = `no statically linked ${BUSYBOX_PATH} (apt package busybox-static; run \`sh scripts/setup.sh\`) — skipping busybox rootfs tests`;
/** Skip reason when mmdebstrap cannot be used. */
export const DEBIAN_MISSING = 'mmdebstrap is not installed or we are not root (apt package mmdebstrap; run `sh scripts/setup.sh` as root) — skipping Debian rootfs tests';

/** Per-call knobs, mostly for the helper's own tests. */
export interface FixtureOptions {
  /** Overrides fixtureCacheDir(). */
  cacheDir?: string;
  /** How long to wait for another process building the same fixture. */
  lockTimeoutMs?: number;
  /** Debian only: mirror URI or one-line `deb ...` entries; default $STRATA_DEBIAN_MIRROR, else this machine's apt sources. */
  mirrors?: string[];
}

/** Directory for cached fixtures: $STRATA_TEST_CACHE, else <repo>/.cache/fixtures (gitignored: /.cache/ is in .gitignore). */
export function fixtureCacheDir(): string {
  return process.env.STRATA_TEST_CACHE || join(repoRoot, '.cache', 'fixtures');
}

/** True when /bin/busybox exists and is static (the dynamic `busybox` package's would not run in a bare chroot). */
export function canBuildBusybox(): boolean {
  try {
    return isStaticElf(BUSYBOX_PATH);
  } catch {
    return false;
  }
}

/** True when mmdebstrap is on PATH and we are root (root mode needs no subuid set-up). */
export function canBuildDebian(): boolean {
  return process.getuid?.() === 0 && onPath('mmdebstrap') !== undefined;
}

function onPath(cmd: string): string | undefined {
  for (const dir of (process.env.PATH ?? '/usr/bin:/bin').split(delimiter)) {
    const p = join(dir, cmd);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

/** An ELF without a PT_INTERP program header needs no dynamic loader. */
function isStaticElf(path: string): boolean {
  const fd = openSync(path, 'r');
  try {
    const eh = Buffer.alloc(64);
    readSync(fd, eh, 0, 64, 0);
    if (eh.readUInt32BE(0) !== 0x7f454c46 || eh[4] !== 2 || eh[5] !== 1) return false; // 64-bit little-endian ELF only
    const phoff = Number(eh.readBigUInt64LE(32));
    const phentsize = eh.readUInt16LE(54);
    const phnum = eh.readUInt16LE(56);
    const ph = Buffer.alloc(phentsize * phnum);
    readSync(fd, ph, 0, ph.length, phoff);
    for (let i = 0; i < phnum; i++) if (ph.readUInt32LE(i * phentsize) === 3) return false; // PT_INTERP
    return true;
  } finally {
    closeSync(fd);
  }
}

function sha256File(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

/** One entry of the busybox rootfs; `source` streams a regular file's bytes from disk. */
interface RootfsEntry {
  name: string;
  type: 'directory' | 'file' | 'symlink';
  mode: number;
  uid?: number;
  linkname?: string;
  source?: string;
  content?: string;
}

const PASSWD = 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n';
const GROUP = 'root:x:0:\napp:x:1000:\nnogroup:x:65534:\n';

/** Applet paths (`usr/bin/env`, ...) as busybox reports them, checked to stay inside the rootfs. */
function busyboxApplets(): string[] {
  const list = execFileSync(BUSYBOX_PATH, ['--list-full'], { encoding: 'utf8' });
  return list.split('\n').filter((p) => {
    if (p === '') return false;
    if (p.startsWith('/') || p.split('/').includes('..')) throw new Error(`busybox --list-full gave an unsafe applet path: ${JSON.stringify(p)}`);
    return true;
  });
}

/** Every entry of the busybox rootfs, sorted by name (so each directory precedes its contents). */
function busyboxEntries(): RootfsEntry[] {
  const entries = new Map<string, RootfsEntry>();
  const add = (e: RootfsEntry) => {
    if (!entries.has(e.name)) entries.set(e.name, e);
  };
  for (const d of ['bin', 'dev', 'etc', 'home', 'proc', 'sbin', 'usr', 'usr/bin', 'usr/sbin', 'var']) add({ name: d, type: 'directory', mode: 0o755 });
  add({ name: 'tmp', type: 'directory', mode: 0o1777 });
  add({ name: 'root', type: 'directory', mode: 0o700 });
  // Owned by app so that `USER app` steps can write their own home, as in real images.
  add({ name: 'home/app', type: 'directory', mode: 0o755, uid: 1000 });
  add({ name: 'etc/passwd', type: 'file', mode: 0o644, content: PASSWD });
  add({ name: 'etc/group', type: 'file', mode: 0o644, content: GROUP });
  add({ name: 'bin/busybox', type: 'file', mode: 0o755, source: BUSYBOX_PATH });
  for (const applet of busyboxApplets()) {
    if (applet === 'bin/busybox') continue; // --list-full names the binary itself too
    // Relative targets resolve the same inside a chroot and when the unpacked rootfs is read from
    // the host; an absolute /bin/busybox would silently point at the host's copy there.
    const dir = posix.dirname(applet);
    for (let p = dir; p !== '.'; p = posix.dirname(p)) add({ name: p, type: 'directory', mode: 0o755 });
    add({ name: applet, type: 'symlink', mode: 0o777, linkname: posix.relative(dir, 'bin/busybox') });
  }
  return [...entries.values()].sort((a, b) => Buffer.compare(Buffer.from(a.name), Buffer.from(b.name)));
}

/** Writes the busybox rootfs tar to `out`: fixed mtimes and owners, sorted entries. */
async function writeBusyboxTar(out: string): Promise<void> {
  const pack = tarStream.pack();
  const written = pipeline(pack, createWriteStream(out));
  const mtime = new Date(FIXTURE_EPOCH * 1000);
  for (const e of busyboxEntries()) {
    const uid = e.uid ?? 0;
    const header: Partial<Header> & { name: string } = { name: e.type === 'directory' ? e.name + '/' : e.name, type: e.type, mode: e.mode, uid, gid: uid, mtime, uname: '', gname: '' };
    if (e.type === 'symlink') {
      header.linkname = e.linkname!;
      await addEntry(pack, header, '');
    } else if (e.type === 'directory') {
      await addEntry(pack, header, '');
    } else if (e.content !== undefined) {
      await addEntry(pack, header, e.content);
    } else {
      header.size = statSync(e.source!).size;
      await pipeline(createReadStream(e.source!), pack.entry(header));
    }
  }
  pack.finalize();
  await written;
}

function addEntry(pack: tarStream.Pack, header: Partial<Header> & { name: string }, body: string): Promise<void> {
  return new Promise((resolve, reject) => pack.entry(header, body, (err) => (err ? reject(err) : resolve())));
}

/**
 * A deterministic busybox rootfs tar built from Debian's busybox-static: bin/busybox, one relative
 * symlink per applet, /etc/passwd (root, app uid 1000, nobody), /etc/group, and empty /tmp (1777),
 * /root, /home/app, /var, /dev, /proc. Cached under a name keyed by the binary's sha256; returns its path.
 */
export async function busyboxRootfsTar(opts: FixtureOptions = {}): Promise<string> {
  if (!canBuildBusybox()) throw new Error(`cannot build the busybox rootfs: ${BUSYBOX_MISSING}`);
  const key = sha256File(BUSYBOX_PATH).slice(0, 16);
  const out = join(opts.cacheDir ?? fixtureCacheDir(), `busybox-rootfs-v${BUSYBOX_LAYOUT_VERSION}-${key}.tar`);
  return buildCached(out, { timeoutMs: opts.lockTimeoutMs ?? 120_000, what: 'the busybox rootfs fixture' }, writeBusyboxTar);
}

/** The mirrors mmdebstrap should use: explicit, $STRATA_DEBIAN_MIRROR, or this machine's bookworm sources. */
function debianMirrors(opts: FixtureOptions): string[] {
  if (opts.mirrors) return opts.mirrors;
  const env = process.env.STRATA_DEBIAN_MIRROR;
  if (env) return env.split('\n').map((s) => s.trim()).filter(Boolean);
  return mirrorLinesFor(hostAptSources(), 'bookworm'); // empty: mmdebstrap's default, deb.debian.org
}

function debianArgs(out: string, mirrors: string[]): string[] {
  return [
    '--variant=minbase',
    '--format=tar',
    '--mode=root',
    // The host's resolv.conf and hostname are copied in otherwise, which breaks reproducibility
    // across machines and leaks host settings into the image.
    '--customize-hook=rm -f "$1/etc/resolv.conf" "$1/etc/hostname"',
    'bookworm',
    out,
    ...mirrors,
  ];
}

/** Runs mmdebstrap to `out`; on failure throws with the reason and how to fix it. */
function runMmdebstrap(out: string, mirrors: string[]): Promise<void> {
  const mirrorText = mirrors.length > 0 ? mirrors.join(' | ') : 'mmdebstrap default (http://deb.debian.org/debian)';
  const fix =
    'Fix: check that this machine reaches that apt mirror (`apt-get update` should succeed), or set ' +
    'STRATA_DEBIAN_MIRROR to a reachable Debian mirror URI (or newline-separated `deb URI SUITE COMPONENTS` lines); ' +
    'install mmdebstrap with `sh scripts/setup.sh` (as root).';
  return new Promise((resolve, reject) => {
    const child = spawn('mmdebstrap', debianArgs(out, mirrors), {
      env: { ...process.env, SOURCE_DATE_EPOCH: String(FIXTURE_EPOCH), DEBIAN_FRONTEND: 'noninteractive' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let tail = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (s: string) => (tail = (tail + s).slice(-4000)));
    // A stuck download must not hang the suite forever.
    const timer = setTimeout(() => child.kill('SIGTERM'), 20 * 60_000);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`cannot run mmdebstrap (${e.message}) to build the Debian bookworm rootfs fixture. ${fix}`, { cause: e }));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) return resolve();
      const why = tail.split('\n').filter((l) => l.startsWith('E:')).slice(-4).join('\n  ') || tail.trim().split('\n').slice(-6).join('\n  ');
      reject(new Error(`mmdebstrap failed (${signal ?? `exit ${code}`}) building the Debian bookworm rootfs fixture from mirrors [${mirrorText}]:\n  ${why}\n${fix}`));
    });
  });
}

/** A Debian bookworm minbase rootfs tar (`mmdebstrap --variant=minbase --format=tar`, SOURCE_DATE_EPOCH fixed), cached; returns its path. */
export async function debianRootfsTar(opts: FixtureOptions = {}): Promise<string> {
  if (!canBuildDebian()) throw new Error(`cannot build the Debian rootfs: ${DEBIAN_MISSING}`);
  const mirrors = debianMirrors(opts);
  // Keyed by the recipe and mirrors: other sources make another image.
  const key = createHash('sha256').update(JSON.stringify([DEBIAN_RECIPE_VERSION, debianArgs('', mirrors)])).digest('hex').slice(0, 16);
  const out = join(opts.cacheDir ?? fixtureCacheDir(), `debian-bookworm-minbase-${key}.tar`);
  return buildCached(out, { timeoutMs: opts.lockTimeoutMs ?? 25 * 60_000, what: 'the Debian rootfs fixture (mmdebstrap)' }, (tmp) => runMmdebstrap(tmp, mirrors));
}

async function main(argv: string[]): Promise<number> {
  const kind = argv[0];
  if (argv.length !== 1 || (kind !== 'busybox' && kind !== 'debian')) {
    process.stderr.write('usage: node dist/test/helpers/base-images.js busybox|debian\n');
    return 2;
  }
  try {
    process.stdout.write((kind === 'busybox' ? await busyboxRootfsTar() : await debianRootfsTar()) + '\n');
    return 0;
  } catch (e) {
    process.stderr.write(`base-images: ${(e as Error).message}\n`);
    return 1;
  }
}

/** True when node was started on this file (not when a test imports it). */
function isMain(): boolean {
  try {
    return process.argv[1] !== undefined && realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isMain()) process.exitCode = await main(process.argv.slice(2));
