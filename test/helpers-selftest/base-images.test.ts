import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import tarStream from 'tar-stream';
import type { Header } from 'tar-stream';
import {
  BUSYBOX_MISSING,
  BUSYBOX_PATH,
  DEBIAN_MISSING,
  FIXTURE_EPOCH,
  busyboxRootfsTar,
  canBuildBusybox,
  canBuildDebian,
  debianRootfsTar,
  fixtureCacheDir,
} from '../helpers/base-images.js';
import { repoRoot } from '../helpers/corpus.js';

const BASE_IMAGES_JS = new URL('../helpers/base-images.js', import.meta.url).pathname;

function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'strata-fixtures-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function sha256(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

/** Every header of a tar, with the sha256 of regular files' bytes. */
async function readTar(path: string): Promise<Array<Header & { sha?: string }>> {
  const out: Array<Header & { sha?: string }> = [];
  const ex = tarStream.extract();
  createReadStream(path).pipe(ex);
  for await (const entry of ex) {
    const h = createHash('sha256');
    for await (const chunk of entry) h.update(chunk as Buffer);
    out.push({ ...entry.header, ...(entry.header.type === 'file' ? { sha: h.digest('hex') } : {}) });
  }
  return out;
}

test('the fixture cache dir is $STRATA_TEST_CACHE, else .cache/fixtures in the repo', () => {
  const saved = process.env.STRATA_TEST_CACHE;
  try {
    delete process.env.STRATA_TEST_CACHE;
    assert.equal(fixtureCacheDir(), join(repoRoot, '.cache', 'fixtures'));
    process.env.STRATA_TEST_CACHE = '/somewhere/else';
    assert.equal(fixtureCacheDir(), '/somewhere/else');
  } finally {
    if (saved === undefined) delete process.env.STRATA_TEST_CACHE;
    else process.env.STRATA_TEST_CACHE = saved;
  }
});

test('busybox rootfs: two builds in different cache dirs are byte-identical', async (t) => {
  if (!canBuildBusybox()) return t.skip(BUSYBOX_MISSING);
  const a = await busyboxRootfsTar({ cacheDir: tempDir(t) });
  const b = await busyboxRootfsTar({ cacheDir: tempDir(t) });
  assert.notEqual(a, b);
  const sha = sha256(a);
  assert.equal(sha256(b), sha);
  t.diagnostic(`busybox rootfs tar sha256 ${sha} (${statSync(a).size} bytes)`);
});

test('busybox rootfs: sorted entries, fixed owners and mtimes, every applet linked', async (t) => {
  if (!canBuildBusybox()) return t.skip(BUSYBOX_MISSING);
  const entries = await readTar(await busyboxRootfsTar({ cacheDir: tempDir(t) }));
  const names = entries.map((e) => e.name.replace(/\/$/, ''));
  assert.deepEqual(names, [...names].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y))));
  assert.equal(new Set(names).size, names.length, 'no duplicate entries');
  const byName = new Map(entries.map((e) => [e.name.replace(/\/$/, ''), e]));
  for (const e of entries) {
    assert.equal(e.mtime.getTime(), FIXTURE_EPOCH * 1000, e.name);
    const owner = e.name.startsWith('home/app') ? 1000 : 0;
    assert.equal(e.uid, owner, e.name);
    assert.equal(e.gid, owner, e.name);
  }
  for (const d of ['bin', 'dev', 'etc', 'home', 'home/app', 'proc', 'root', 'sbin', 'tmp', 'usr', 'usr/bin', 'usr/sbin', 'var']) {
    assert.equal(byName.get(d)?.type, 'directory', d);
  }
  assert.equal(byName.get('tmp')!.mode, 0o1777);
  assert.equal(byName.get('root')!.mode, 0o700);
  assert.ok(!names.some((n) => n.startsWith('dev/') || n.startsWith('proc/')), '/dev and /proc are empty');
  assert.ok(!byName.has('etc/hostname'));
  assert.equal(byName.get('bin/busybox')!.sha, sha256(BUSYBOX_PATH));
  assert.equal(byName.get('bin/busybox')!.mode, 0o755);

  // --list-full names bin/busybox itself too; that one is the binary, checked above.
  const applets = execFileSync(BUSYBOX_PATH, ['--list-full'], { encoding: 'utf8' }).split('\n').filter((a) => a !== '' && a !== 'bin/busybox');
  assert.ok(applets.length > 100);
  for (const a of applets) {
    const e = byName.get(a);
    assert.equal(e?.type, 'symlink', a);
    assert.ok(!e!.linkname!.startsWith('/'), `${a} links relatively`);
    assert.equal(posix.join(posix.dirname(a), e!.linkname!), 'bin/busybox', a);
  }
  assert.equal(byName.get('bin/sh')!.linkname, 'busybox');
  assert.equal(byName.get('usr/bin/env')!.linkname, '../../bin/busybox');
});

test('busybox rootfs: extracted, it runs a shell in a chroot and knows the app user', async (t) => {
  if (!canBuildBusybox()) return t.skip(BUSYBOX_MISSING);
  if (process.getuid?.() !== 0) return t.skip('chroot needs root');
  const tar = await busyboxRootfsTar({ cacheDir: tempDir(t) });
  const root = tempDir(t);
  execFileSync('tar', ['-x', '-f', tar, '-C', root]);
  const r = spawnSync('chroot', [root, '/bin/sh', '-c', 'echo ok && ls /bin | head -3'], { encoding: 'utf8', env: { PATH: '/bin:/usr/bin:/sbin:/usr/sbin' } });
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.equal(lines[0], 'ok');
  assert.equal(lines.length, 4);
  const binNames = readdirSync(join(root, 'bin')).sort();
  assert.deepEqual(lines.slice(1), binNames.slice(0, 3));
  const id = spawnSync('chroot', [root, '/usr/bin/env', 'id', 'app'], { encoding: 'utf8', env: { PATH: '/bin:/usr/bin:/sbin:/usr/sbin' } });
  assert.equal(id.stdout.trim(), 'uid=1000(app) gid=1000(app) groups=1000(app)', id.stderr);
  const home = statSync(join(root, 'home', 'app'));
  assert.equal(home.uid, 1000);
});

test('busybox rootfs: a cached tar is reused, not rebuilt', async (t) => {
  if (!canBuildBusybox()) return t.skip(BUSYBOX_MISSING);
  const dir = tempDir(t);
  const first = await busyboxRootfsTar({ cacheDir: dir });
  const before = statSync(first);
  const second = await busyboxRootfsTar({ cacheDir: dir });
  assert.equal(second, first);
  const after = statSync(second);
  assert.equal(after.ino, before.ino);
  assert.equal(after.mtimeMs, before.mtimeMs);
});

test('CLI: concurrent `base-images.js busybox` runs print one path and leave only the tar', async (t) => {
  if (!canBuildBusybox()) return t.skip(BUSYBOX_MISSING);
  const dir = tempDir(t);
  const run = () =>
    new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
      const c = spawn(process.execPath, [BASE_IMAGES_JS, 'busybox'], { env: { ...process.env, STRATA_TEST_CACHE: dir } });
      let out = '';
      let err = '';
      c.stdout.on('data', (b) => (out += b));
      c.stderr.on('data', (b) => (err += b));
      c.on('close', (code) => resolve({ code, out, err }));
    });
  const results = await Promise.all([run(), run(), run()]);
  for (const r of results) assert.equal(r.code, 0, r.err);
  const paths = new Set(results.map((r) => r.out));
  assert.equal(paths.size, 1);
  const [path] = [...paths];
  assert.match(path!, /^\/.*busybox-rootfs-v\d+-[0-9a-f]{16}\.tar\n$/);
  assert.deepEqual(readdirSync(dir), [path!.trim().slice(dir.length + 1)]);
});

test('CLI: an unknown fixture name is a usage error', () => {
  const r = spawnSync(process.execPath, [BASE_IMAGES_JS, 'alpine'], { encoding: 'utf8' });
  assert.equal(r.status, 2);
  assert.match(r.stderr, /usage: .*busybox\|debian/);
});

test('debian rootfs: mmdebstrap minbase tar with dpkg, cached once per machine', { timeout: 30 * 60_000 }, async (t) => {
  if (!canBuildDebian()) return t.skip(DEBIAN_MISSING);
  const started = Date.now();
  const tar = await debianRootfsTar();
  t.diagnostic(`debian rootfs ${tar} ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  assert.ok(statSync(tar).size > 50 * 1024 * 1024, `${tar} is only ${statSync(tar).size} bytes`);
  const names = new Set(execFileSync('tar', ['-tf', tar], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 }).split('\n'));
  assert.ok(names.has('./etc/debian_version'));
  assert.ok(names.has('./usr/bin/dpkg'));
  assert.ok(!names.has('./etc/resolv.conf'), "the host's resolv.conf is not baked in");
  assert.equal(await debianRootfsTar(), tar, 'second call returns the cached tar');
});

test('debian rootfs: an unreachable mirror fails with the reason and how to fix it', { timeout: 5 * 60_000 }, async (t) => {
  if (!canBuildDebian()) return t.skip(DEBIAN_MISSING);
  const dir = tempDir(t);
  await assert.rejects(debianRootfsTar({ cacheDir: dir, mirrors: ['http://127.0.0.1:9/debian'] }), (e: Error) => {
    assert.match(e.message, /mmdebstrap failed \(exit \d+\)/);
    assert.match(e.message, /127\.0\.0\.1:9/);
    assert.match(e.message, /STRATA_DEBIAN_MIRROR/);
    return true;
  });
  assert.deepEqual(readdirSync(dir), [], 'no partial tar or lock left');
});
