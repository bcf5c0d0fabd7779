/**
 * Hostile layer tars against applyLayer: each case must fail with a typed error naming the entry
 * and the rule, and leave everything outside the target exactly as it was.
 */
import assert from 'node:assert/strict';
import { existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, readlinkSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { ArchiveFormatError, UnsafeArchiveError } from '../../src/errors.js';
import { applyLayer } from '../../src/fs/apply-layer.js';
import type { ApplyMode } from '../../src/fs/apply-layer.js';
import {
  device, dir, file, gnuLongLink, gnuLongName, hardlink, makeSandbox, pax, raw, snapshotOutside, streamOf, symlink, tar,
} from './hostile-tars.js';
import type { Sandbox } from './hostile-tars.js';

const LABEL = 'layer test';
let sb: Sandbox;
beforeEach(() => {
  sb = makeSandbox();
});
afterEach(() => sb.cleanup());

function apply(buf: Buffer, mode: ApplyMode = 'overlay', extra: { sameOwner?: boolean; maxEntrySize?: number } = {}) {
  return applyLayer(streamOf(buf), sb.target, { mode, label: LABEL, ...extra });
}

/** Applies `buf`, expects an error of `cls` naming `entry` and matching `rule`, and an untouched outside. */
async function refused(buf: Buffer, entry: string, rule: RegExp, opts: { mode?: ApplyMode; cls?: Function } = {}): Promise<Error> {
  const before = snapshotOutside(sb);
  let caught: unknown;
  await apply(buf, opts.mode ?? 'overlay').catch((e) => (caught = e));
  assert.ok(caught instanceof (opts.cls ?? UnsafeArchiveError), `expected ${(opts.cls ?? UnsafeArchiveError).name}, got ${String(caught)}`);
  const msg = (caught as Error).message;
  assert.ok(msg.startsWith(`${LABEL}: entry ${JSON.stringify(entry)}: `), msg);
  assert.match(msg, rule);
  assert.deepEqual(snapshotOutside(sb), before, 'something outside the target changed');
  assert.equal(readFileSync(sb.victim, 'utf8'), 'original victim\n');
  return caught as Error;
}

const t = (rel: string) => join(sb.target, rel);

describe('applyLayer: names', () => {
  it('refuses ../ escapes with the exact message', async () => {
    const err = await refused(tar(file('ok', 'x'), file('../../outside/victim', 'pwned')), '../../outside/victim', /path escapes the target$/);
    assert.equal(err.message, 'layer test: entry "../../outside/victim": path escapes the target');
    assert.equal((err as UnsafeArchiveError).code, 'ARCHIVE_UNSAFE');
  });

  it('refuses a .. in the middle that climbs out', async () => {
    await refused(tar(file('a/../../../outside/victim', 'pwned')), 'a/../../../outside/victim', /path escapes the target/);
  });

  it('refuses absolute names (not stripped, not followed)', async () => {
    const abs = sb.victim;
    await refused(tar(raw({ name: abs.slice(-99), typeflag: '0' }, 'pwned')), abs.slice(-99), /absolute path escapes the target/);
    await refused(tar(pax({ path: abs }), file('harmless', 'pwned')), abs, /absolute path escapes the target/);
    assert.equal(existsSync(t(abs.slice(1))), false);
  });

  it('validates the GNU long name that overrides a harmless ustar name', async () => {
    await refused(tar(gnuLongName('../../outside/victim'), file('harmless', 'pwned')), '../../outside/victim', /path escapes/);
    assert.equal(existsSync(t('harmless')), false);
  });

  it('validates the PAX path that overrides a harmless ustar name', async () => {
    await refused(tar(pax({ path: '../../outside/victim' }), file('harmless', 'pwned')), '../../outside/victim', /path escapes/);
    assert.equal(existsSync(t('harmless')), false);
  });

  it('validates the PAX path over a GNU long name over a ustar name', async () => {
    const buf = tar(gnuLongName('fine/long'), pax({ path: '../../outside/victim' }), file('harmless', 'pwned'));
    await refused(buf, '../../outside/victim', /path escapes/);
  });

  it('refuses NUL bytes in a PAX path', async () => {
    await refused(tar(pax([['path', Buffer.from('ok\0../../outside/victim')]]), file('harmless', 'x')), 'ok\0../../outside/victim', /NUL byte/);
  });

  it('normalises ./a, a//b, trailing / and harmless a/../b', async () => {
    const stats = await apply(tar(dir('./d/'), file('./d//f', 'one'), file('d/sub/../g', 'two'), dir('e//'), dir('./')));
    assert.equal(stats.entries, 5);
    assert.equal(readFileSync(t('d/f'), 'utf8'), 'one');
    assert.equal(readFileSync(t('d/g'), 'utf8'), 'two');
    assert.ok(lstatSync(t('e')).isDirectory());
    assert.deepEqual(readdirSync(sb.target).sort(), ['d', 'e']);
  });

  it('refuses a non-directory entry naming the root', async () => {
    await refused(tar(symlink('.', 'x')), '.', /only a directory entry may name the target root/);
  });

  it('refuses absurd sizes before reading any data', async () => {
    const base256 = Buffer.alloc(12);
    base256[0] = 0x80;
    base256.writeUInt32BE(0x10000000, 4); // 2^60
    await refused(tar(raw({ name: 'huge', sizeField: base256 })), 'huge', /size \d+ exceeds the limit/, { cls: ArchiveFormatError });
    await refused(tar(pax({ size: '99999999999999999999999' }), file('huge2', 'x')), 'huge2', /size 1e\+23 exceeds the limit/, { cls: ArchiveFormatError });
    const small = await apply(tar(file('fits', 'x'.repeat(600)))).then(() => 'ok');
    assert.equal(small, 'ok');
    await assert.rejects(apply(tar(file('big', 'x'.repeat(600))), 'overlay', { maxEntrySize: 512 }), /entry "big": size 600 exceeds the limit of 512 bytes/);
  });

  it('refuses data on a symlink, unknown types, sparse files and entries after the end marker', async () => {
    await refused(tar(raw({ name: 's', typeflag: '2', linkname: 'x' }, 'hidden data')), 's', /must not carry data/, { cls: ArchiveFormatError });
    await refused(tar(raw({ name: 'sp', typeflag: 'S' }, 'x')), 'sp', /unsupported entry type/, { cls: ArchiveFormatError });
    await refused(tar(pax({ 'GNU.sparse.major': '1' }), file('sp2', 'x')), 'sp2', /sparse/, { cls: ArchiveFormatError });
    const afterEnd = Buffer.concat([tar(file('a', 'x')), file('../../outside/victim', 'pwned'), Buffer.alloc(1024)]);
    await refused(afterEnd, '../../outside/victim', /end-of-archive/, { cls: ArchiveFormatError });
  });

  it('reports a corrupt header as a malformed tar after the last good entry', async () => {
    const bad = file('b', 'x');
    bad[148] = 0x37; // break the checksum
    await assert.rejects(apply(tar(file('a', 'x'), bad)), (e: unknown) => e instanceof ArchiveFormatError && /layer test: malformed tar after entry "a"/.test(e.message));
  });
});

describe('applyLayer: symlinks', () => {
  it('keeps legitimate link targets verbatim', async () => {
    await apply(tar(dir('usr/lib/'), symlink('lib', 'usr/lib'), dir('var/'), symlink('var/run', '/run'), symlink('a/b/x', '../../../etc/x'), symlink('abs', sb.outside)));
    assert.equal(readlinkSync(t('lib')), 'usr/lib');
    assert.equal(readlinkSync(t('var/run')), '/run');
    assert.equal(readlinkSync(t('a/b/x')), '../../../etc/x');
    assert.equal(readlinkSync(t('abs')), sb.outside);
  });

  it('refuses a write through a symlink planted earlier in the same tar', async () => {
    await refused(tar(symlink('lnk', '../../outside'), file('lnk/victim', 'pwned')), 'lnk/victim', /parent "lnk" is a symlink/);
    await refused(tar(symlink('abs', sb.outside), dir('abs/newdir/')), 'abs/newdir/', /parent "abs" is a symlink/);
    await refused(tar(dir('d/'), symlink('d/l', '/'), file('d/l/tmp/x', 'pwned')), 'd/l/tmp/x', /parent "d\/l" is a symlink/);
  });

  it('refuses a write through a symlink already in the target (merge)', async () => {
    symlinkSync(sb.outside, t('lib'));
    await refused(tar(file('lib/victim', 'pwned')), 'lib/victim', /parent "lib" is a symlink/, { mode: 'merge' });
    await refused(tar(symlink('lib/new', 'x')), 'lib/new', /parent "lib" is a symlink/, { mode: 'merge' });
  });

  it('replaces (never follows) a symlink at the final component', async () => {
    symlinkSync(sb.victim, t('f'));
    symlinkSync(join(sb.outside, 'dir'), t('d'));
    const before = snapshotOutside(sb);
    await apply(tar(file('f', 'mine'), dir('d/', { mode: 0o700 })), 'merge');
    assert.equal(readFileSync(t('f'), 'utf8'), 'mine');
    assert.ok(lstatSync(t('d')).isDirectory());
    assert.deepEqual(snapshotOutside(sb), before);
  });

  it('invalidates its directory cache when a directory is replaced by a symlink', async () => {
    const buf = tar(dir('d/'), file('d/a', '1'), symlink('d', sb.outside), file('d/victim', 'pwned'));
    await refused(buf, 'd/victim', /parent "d" is a symlink/);
    const deep = tar(dir('a/'), dir('a/b/'), file('a/b/f', '1'), symlink('a', '../../outside'), file('a/b/victim', 'pwned'));
    sb.cleanup();
    sb = makeSandbox();
    await refused(deep, 'a/b/victim', /parent "a" is a symlink/);
  });

  it('does not chmod or chown through a symlink entry', async () => {
    const before = lstatSync(sb.victim);
    await apply(tar(symlink('l', sb.victim, { mode: 0o4777, uid: 4321, gid: 4321, mtime: 1000 })));
    const after = lstatSync(sb.victim);
    assert.equal(after.mode, before.mode);
    assert.equal(after.uid, before.uid);
    assert.equal(after.mtimeMs, before.mtimeMs);
    const l = lstatSync(t('l'));
    assert.equal(l.uid, 4321);
    assert.equal(l.mtimeMs, 1_000_000);
  });
});

describe('applyLayer: hardlinks', () => {
  it('refuses a hardlink to ../outside', async () => {
    await refused(tar(hardlink('h', '../../outside/victim')), 'h', /hardlink target "..\/..\/outside\/victim": path escapes the target/);
  });

  it('refuses an escaping PAX linkpath or GNU long link over a harmless one', async () => {
    await refused(tar(file('ok', 'x'), pax({ linkpath: '../../outside/victim' }), hardlink('h', 'ok')), 'h', /path escapes the target/);
    await refused(tar(file('ok', 'x'), gnuLongLink('/etc/passwd'), hardlink('h2', 'ok')), 'h2', /absolute path escapes/);
  });

  it('refuses a hardlink through a symlink (which would link an outside file in)', async () => {
    await refused(tar(symlink('lnk', sb.outside), hardlink('h', 'lnk/victim')), 'h', /hardlink target "lnk\/victim": parent "lnk" is a symlink/);
    assert.equal(lstatSync(sb.victim).nlink, 1);
  });

  it('refuses hardlinks to directories, to nothing, and to the root', async () => {
    await refused(tar(dir('d/'), hardlink('h', 'd')), 'h', /is a directory/);
    await refused(tar(hardlink('h', 'missing')), 'h', /does not exist/, { cls: ArchiveFormatError });
    await refused(tar(hardlink('h', './')), 'h', /is the target root/);
  });

  it('links to a symlink itself, not to what it points at', async () => {
    await apply(tar(symlink('s', sb.victim), hardlink('h', 's')));
    assert.ok(lstatSync(t('h')).isSymbolicLink());
    assert.equal(lstatSync(t('h')).ino, lstatSync(t('s')).ino);
    assert.equal(lstatSync(sb.victim).nlink, 1);
  });
});

describe('applyLayer: whiteouts in the wrong place', () => {
  for (const mode of ['overlay', 'merge'] as const) {
    it(`refuses whiteouts of .., . and nothing (${mode})`, async () => {
      await refused(tar(dir('a/'), file('a/.wh...')), 'a/.wh...', /whiteout names ".."/, { mode });
      await refused(tar(file('.wh..')), '.wh..', /whiteout names "."/, { mode });
      await refused(tar(file('.wh.')), '.wh.', /whiteout names nothing/, { mode });
    });

    it(`refuses opaque markers and whiteouts as directories (${mode})`, async () => {
      await refused(tar(dir('a/.wh..wh..opq/')), 'a/.wh..wh..opq/', /opaque marker must not be a directory/, { mode });
      await refused(tar(file('a/.wh..wh..opq/x', 'y')), 'a/.wh..wh..opq/x', /whiteout name ".wh..wh..opq" used as a directory/, { mode });
      await refused(tar(dir('.wh.x/')), '.wh.x/', /whiteout must not be a directory/, { mode });
      await refused(tar(file('.wh.x/y', 'z')), '.wh.x/y', /used as a directory/, { mode });
    });

    it(`refuses a whiteout whose parent is a symlink (${mode})`, async () => {
      await refused(tar(symlink('lnk', sb.outside), file('lnk/.wh.victim')), 'lnk/.wh.victim', /parent "lnk" is a symlink/, { mode });
      await refused(tar(symlink('lnk', '../../outside'), file('lnk/.wh..wh..opq')), 'lnk/.wh..wh..opq', /parent "lnk" is a symlink/, { mode });
    });
  }

  it('merge: a whiteout of a symlink removes the link, not its target', async () => {
    symlinkSync(sb.outside, t('l'));
    symlinkSync(sb.victim, t('v'));
    const before = snapshotOutside(sb);
    await apply(tar(file('.wh.l'), file('.wh.v')), 'merge');
    assert.deepEqual(readdirSync(sb.target), []);
    assert.deepEqual(snapshotOutside(sb), before);
  });

  it('merge: an opaque marker removes symlinks to outside without following them', async () => {
    mkdirSync(t('d'));
    symlinkSync(sb.outside, t('d/out'));
    writeFileSync(t('d/old'), 'lower');
    const before = snapshotOutside(sb);
    await apply(tar(dir('d/'), file('d/new', 'n'), file('d/.wh..wh..opq')), 'merge');
    assert.deepEqual(readdirSync(t('d')), ['new']);
    assert.deepEqual(snapshotOutside(sb), before);
  });
});

describe('applyLayer: duplicates (the later entry wins)', () => {
  it('dir → file → dir, file → dir, and replacing a dir tree stays inside', async () => {
    await apply(tar(
      dir('x/'), file('x/a', 'a'), dir('x/sub/'), symlink('x/sub/out', sb.outside), file('x', 'now a file'),
      dir('x/'), file('x/b', 'b'),
      file('y', 'file'), dir('y/'), file('y/c', 'c'),
      file('z', 'one'), file('z', 'two'),
    ));
    assert.deepEqual(readdirSync(t('x')), ['b']);
    assert.deepEqual(readdirSync(t('y')), ['c']);
    assert.equal(readFileSync(t('z'), 'utf8'), 'two');
    assert.ok(existsSync(join(sb.outside, 'dir', 'inner')));
  });

  it('a file replacing a directory drops that directory\'s pending metadata', async () => {
    await apply(tar(dir('d/', { mode: 0o700, mtime: 5 }), file('d', 'f', { mode: 0o640, mtime: 7 })));
    const st = lstatSync(t('d'));
    assert.ok(st.isFile());
    assert.equal(st.mode & 0o7777, 0o640);
    assert.equal(st.mtimeMs, 7000);
  });
});

describe('applyLayer: devices, setuid, xattrs from the tar', () => {
  it('creates devices as root with their numbers', async (ctx) => {
    if (process.geteuid?.() !== 0) return ctx.skip('needs root');
    const stats = await apply(tar(device('null', 'c', 1, 3), device('loop', 'b', 7, 0)));
    assert.deepEqual(stats.warnings, []);
    assert.ok(lstatSync(t('null')).isCharacterDevice());
    assert.equal(lstatSync(t('null')).rdev, (1 << 8) | 3);
    assert.ok(lstatSync(t('loop')).isBlockDevice());
  });

  it('overlay whiteouts share one inode, never a file that replaced the first one', async (ctx) => {
    if (process.geteuid?.() !== 0) return ctx.skip('needs root');
    await apply(tar(file('.wh.a'), file('.wh.b'), dir('d/'), file('d/.wh.c'), file('a', 'now a file'), file('.wh.e')));
    const [b, c, e] = ['b', 'd/c', 'e'].map((p) => lstatSync(t(p)));
    for (const st of [b!, c!, e!]) assert.ok(st.isCharacterDevice() && st.rdev === 0 && (st.mode & 0o7777) === 0);
    assert.equal(b!.ino, c!.ino);
    assert.ok(lstatSync(t('a')).isFile());
    assert.notEqual(e!.ino, lstatSync(t('a')).ino);
    assert.equal(readFileSync(t('a'), 'utf8'), 'now a file');
  });

  it('keeps setuid/setgid/sticky with sameOwner and drops them without', async (ctx) => {
    if (process.geteuid?.() !== 0) return ctx.skip('needs root');
    const layer = tar(file('su', '#!', { mode: 0o4755, uid: 1000, gid: 1000 }), file('sg', '#!', { mode: 0o2755, uid: 1000, gid: 50 }), dir('tmp/', { mode: 0o1777 }));
    await apply(layer, 'overlay', { sameOwner: true });
    assert.equal(lstatSync(t('su')).mode & 0o7777, 0o4755);
    assert.equal(lstatSync(t('su')).uid, 1000);
    assert.equal(lstatSync(t('sg')).mode & 0o7777, 0o2755);
    assert.equal(lstatSync(t('tmp')).mode & 0o7777, 0o1777);
    sb.cleanup();
    sb = makeSandbox();
    await apply(layer, 'overlay', { sameOwner: false });
    assert.equal(lstatSync(t('su')).mode & 0o7777, 0o755);
    assert.equal(lstatSync(t('su')).uid, 0);
    assert.equal(lstatSync(t('tmp')).mode & 0o7777, 0o777);
  });

  it('drops overlayfs xattrs carried by the tar, with a warning', async (ctx) => {
    if (process.geteuid?.() !== 0) return ctx.skip('needs root');
    const stats = await apply(tar(pax({ 'SCHILY.xattr.trusted.overlay.opaque': 'y' }), dir('d/'), pax({ 'SCHILY.xattr.trusted.overlay.redirect': '/etc' }), file('f', 'x')));
    assert.equal(stats.warnings.length, 2);
    assert.ok(stats.warnings.some((w) => /entry "d\/": overlayfs xattr trusted.overlay.opaque dropped/.test(w)), stats.warnings.join('\n'));
    const { readXattrsSync } = await import('../../src/fs/xattr.js');
    assert.deepEqual(Object.keys(readXattrsSync(t('d'))), []);
  });
});

describe('applyLayer: abort', () => {
  it('rejects with the signal reason while waiting for data', async () => {
    const { PassThrough } = await import('node:stream');
    const input = new PassThrough();
    input.write(file('a', 'x'));
    input.write(raw({ name: 'slow', size: 100_000 }).subarray(0, 512));
    const ac = new AbortController();
    const p = applyLayer(input, sb.target, { mode: 'overlay', signal: ac.signal, label: LABEL });
    setTimeout(() => ac.abort(new Error('stop now')), 50);
    await assert.rejects(p, /stop now/);
    assert.ok(input.destroyed);
  });

  it('rejects at once with an already aborted signal', async () => {
    const ac = new AbortController();
    ac.abort();
    await assert.rejects(applyLayer(streamOf(tar(file('a', 'x'))), sb.target, { mode: 'merge', signal: ac.signal }), { name: 'AbortError' });
    assert.deepEqual(readdirSync(sb.target), []);
  });
});
