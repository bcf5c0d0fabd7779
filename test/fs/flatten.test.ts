/**
 * flattenLayers against two references: the layers applied one after another in 'merge' mode,
 * and the kernel's own merged view (each layer unpacked in 'overlay' mode, stacked with an
 * overlayfs mount). The flattened tar, extracted, must give the same tree as both: types, modes,
 * owners, mtimes, links, devices, xattrs, content and hardlink groups.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createReadStream, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { UnsafeArchiveError } from '../../src/errors.js';
import { applyLayer } from '../../src/fs/apply-layer.js';
import { flattenLayers } from '../../src/fs/flatten.js';
import { readTarEntries } from '../../src/fs/tar-entries.js';
import { D, F, H, L, N, OPQ, T, WH, writeLayer } from './flatten-layers.js';
import type { Item } from './flatten-layers.js';
import { diffShapes, treeShape } from './tree-compare.js';

const isRoot = process.geteuid?.() === 0;
// VFS_CAP_REVISION_2, effective, permitted = cap_net_raw: binary, and not valid UTF-8.
const CAP = Buffer.from('0100000200200000000000000000000000000000', 'hex');
const BLOB = randomBytes(200_000);
const BIG = randomBytes(1_500_000); // larger than flatten's read window

const root = (m = {}): Item => D('./', { mode: 0o755, mtime: T, ...m });

const L0: Item[] = [
  root(),
  D('bin/'), F('bin/tool', 'tool v1\n', { mode: 0o755 }), H('bin/tool-link', 'bin/tool'), H('bin/tool-link2', 'bin/tool'),
  F('bin/su', 'su\n', { mode: 0o4755 }), F('bin/ping', 'ping\n', { mode: 0o755, xattrs: { 'security.capability': CAP } }), H('bin/ping6', 'bin/ping'),
  D('etc/'), F('etc/passwd', 'root:x:0:0\n'), F('etc/shadow', 'root:*\n', { mode: 0o640, gid: 42 }),
  F('etc/a', 'a\n'), H('etc/b', 'etc/a'),
  D('etc/conf.d/'), F('etc/conf.d/x.conf', 'x'), F('etc/conf.d/y.conf', 'y'),
  D('var/'), D('var/cache/'), F('var/cache/c1', 'c1'), D('var/cache/sub/'), F('var/cache/sub/c2', 'c2'),
  D('opt/'), D('opt/app/'), F('opt/app/lib.so', 'lib'),
  D('srv/'), F('srv/data', 'data file'),
  D('dev/'), N('dev/null', 'char', 1, 3, { mode: 0o666 }), N('dev/sda', 'block', 8, 0, { mode: 0o660, gid: 6 }),
  D('run/'), N('run/fifo', 'fifo', 0, 0, { mode: 0o620 }),
  D('home/'), D('home/user/', { mode: 0o700, uid: 1000, gid: 1000 }), F('home/user/.profile', 'PS1=$\n', { uid: 1000, gid: 1000, mtime: T + 5 }),
  D('usr/'), D('usr/lib/'), F('usr/lib/libc.so', 'libc'), L('usr/lib/libc.so.6', 'libc.so', { uid: 7, gid: 8, mtime: T - 5 }),
  L('lib', 'usr/lib'),
  D('usr/bin/'), F('usr/bin/sg', 'sg', { mode: 0o2755, gid: 50 }),
  D('tmp/', { mode: 0o1777 }),
  D('usr/share/'), F('usr/share/blob', BLOB), D('usr/share/doc/'), F('usr/share/doc/readme', 'read me'),
];

const L1: Item[] = [
  root(),
  D('etc/', { mode: 0o751, mtime: T + 100 }), WH('etc/a'), F('etc/passwd', 'root:x:0:0\nuser:x:1000:1000\n', { mtime: T + 100 }), WH('etc/conf.d'),
  D('var/'), D('var/cache/'), OPQ('var/cache'), F('var/cache/new', 'new'),
  D('opt/'), F('opt/app', 'now a file'),
  D('srv/'), D('srv/data/'), F('srv/data/inner', 'inner'),
  D('bin/'), F('bin/tool', 'tool v2\n', { mode: 0o755, mtime: T + 100 }),
  L('lib', 'usr/lib64'),
  D('usr/'), D('usr/lib/'), F('usr/lib/libc.so.6', 'no longer a link'),
  D('dev/'), N('dev/tty', 'char', 5, 0, { mode: 0o666, gid: 5 }),
  D('home/'), D('home/user/', { mode: 0o700, uid: 1000, gid: 1000 }), WH('home/user/.profile'),
  D('run/'), N('run/fifo2', 'fifo', 0, 0, { mode: 0o600, uid: 33 }),
  D('usr/bin/'), F('usr/bin/x', 'x'), H('usr/bin/x-link', 'usr/bin/x'), F('usr/bin/sg', 'sg v2', { mode: 0o2755, gid: 50 }),
  F('usr/bin/y', 'y', { mode: 0o700, uid: 3 }), H('usr/bin/y-link', 'usr/bin/y'), H('usr/bin/y-link2', 'usr/bin/y'),
];

const L2: Item[] = [
  root({ mode: 0o750 }),
  D('etc/'), D('etc/conf.d/', { mode: 0o700 }), F('etc/conf.d/z.conf', 'z'),
  D('opt/'), D('opt/app/'), F('opt/app/v2', 'v2'),
  D('srv/'), WH('srv/data'),
  D('bin/'), WH('bin/tool-link2'),
  D('var/'), D('var/cache/'), D('var/cache/sub/'), F('var/cache/sub/c3', 'c3'),
  D('usr/'), D('usr/share/'), F('usr/share/big2', BIG, { mtime: T + 1, paxMtime: `${T + 1}.5` }),
  D('usr/share/doc/', { mode: 0o711, xattrs: { 'user.note': Buffer.from([0xff, 0, 0xfe]) } }),
  F('.wh..wh.plnk/123', 'aufs bookkeeping'),
  D('usr/bin/'), F('usr/bin/x', 'x replaced'), WH('usr/bin/y'),
];

function mountOverlay(lowers: string[], at: string): void {
  mkdirSync(at, { recursive: true });
  const r = spawnSync('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${lowers.join(':')}`, at], { encoding: 'utf8' });
  assert.equal(r.status, 0, `mount failed: ${r.stderr}`);
}

/** Collects what flattenLayers writes. */
async function flattenToBuffer(layers: string[]): Promise<{ buf: Buffer; entries: number; bytes: number }> {
  const out = new PassThrough();
  const chunks: Buffer[] = [];
  out.on('data', (c: Buffer) => chunks.push(c));
  const stats = await flattenLayers(layers, out);
  out.end();
  return { buf: Buffer.concat(chunks), ...stats };
}

describe('flattenLayers', { skip: !isRoot && 'needs root (owners, devices, overlay mount)' }, () => {
  let work: string;
  const layerFiles: string[] = [];
  before(async () => {
    mkdirSync('.cache/tmp', { recursive: true });
    work = mkdtempSync(join(process.cwd(), '.cache/tmp', 'fl-'));
    for (const [i, items] of [L0, L1, L2].entries()) {
      layerFiles.push(join(work, `l${i}.tar`));
      await writeLayer(layerFiles[i]!, items);
    }
  });
  after(() => rmSync(work, { recursive: true, force: true }));

  it('gives the tree of merge-mode application and of the kernel overlay', async () => {
    // (a) every layer applied in 'merge' mode onto one directory
    const merged = join(work, 'a');
    mkdirSync(merged);
    for (const f of layerFiles) await applyLayer(createReadStream(f), merged, { mode: 'merge' });
    // (b) every layer unpacked in 'overlay' mode into its own directory, stacked by the kernel
    const lowers: string[] = [];
    for (const [i, f] of layerFiles.entries()) {
      const d = join(work, `o${i}`);
      mkdirSync(d);
      await applyLayer(createReadStream(f), d, { mode: 'overlay' });
      lowers.unshift(d); // the top layer comes first
    }
    const mnt = join(work, 'm');
    mountOverlay(lowers, mnt);
    let kernel;
    try {
      kernel = treeShape(mnt);
    } finally {
      spawnSync('umount', [mnt]);
    }
    // (c) the flattened tar extracted into an empty directory
    const { buf, entries } = await flattenToBuffer(layerFiles);
    const flat = join(work, 'c');
    mkdirSync(flat);
    const applied = await applyLayer(PassThrough.from([buf]), flat, { mode: 'merge' });
    assert.deepEqual(applied.warnings, []);
    assert.equal(applied.entries, entries);

    const a = treeShape(merged);
    const c = treeShape(flat);
    assert.deepEqual(diffShapes(a, kernel, ['merge', 'kernel']), []);
    assert.deepEqual(diffShapes(c, kernel, ['flatten', 'kernel']), []);
    assert.deepEqual(diffShapes(c, a, ['flatten', 'merge']), []);

    // The comparison covers what it claims to.
    const at = (p: string) => c.get(p)!;
    assert.equal(readFileSync(join(flat, 'bin/tool'), 'utf8'), 'tool v2\n');
    assert.equal(readFileSync(join(flat, 'bin/tool-link'), 'utf8'), 'tool v1\n', 'a link to an overwritten file keeps the old content');
    assert.equal(at('bin/tool-link').links, undefined, 'its other link was whited out');
    assert.equal(at('etc/b').type, 'file');
    assert.equal(c.has('etc/a'), false);
    assert.deepEqual(at('usr/bin/x-link').links, undefined);
    assert.deepEqual(at('bin/ping').links, ['bin/ping6']);
    assert.deepEqual(at('usr/bin/y-link').links, ['usr/bin/y-link2'], 'links to a hidden target stay one inode');
    assert.deepEqual([at('usr/bin/y-link').mode, at('usr/bin/y-link').owner], ['700', '3:0']);
    assert.equal(c.has('usr/bin/y'), false);
    assert.equal(readFileSync(join(flat, 'usr/bin/x-link'), 'utf8'), 'x');
    assert.deepEqual([...c.keys()].filter((p) => p.startsWith('etc/conf.d')), ['etc/conf.d', 'etc/conf.d/z.conf']);
    assert.deepEqual([...c.keys()].filter((p) => p.startsWith('var/cache')), ['var/cache', 'var/cache/new', 'var/cache/sub', 'var/cache/sub/c3']);
    assert.deepEqual([...c.keys()].filter((p) => p.startsWith('opt/app')), ['opt/app', 'opt/app/v2']);
    assert.deepEqual([...c.keys()].filter((p) => p.startsWith('srv')), ['srv']);
    assert.equal(at('bin/su').mode, '4755');
    assert.equal(at('usr/bin/sg').mode, '2755');
    assert.equal(at('tmp').mode, '1777');
    assert.equal(at('bin/ping').xattrs?.['security.capability'], CAP.toString('hex'));
    assert.equal(at('usr/share/doc').xattrs?.['user.note'], 'ff00fe');
    assert.equal(at('usr/share/doc').mode, '711');
    assert.equal(at('etc').mode, '755', 'the topmost entry of a directory wins');
    assert.equal(at('.').mode, '750');
    assert.equal(at('dev/sda').rdev, (8 << 8) | 0);
    assert.equal(at('dev/tty').owner, '0:5');
    assert.equal(at('run/fifo2').type, 'fifo');
    assert.equal(at('usr/lib/libc.so.6').type, 'file');
    assert.equal(at('lib').link, 'usr/lib64');
    assert.equal(at('home/user').owner, '1000:1000');
    assert.equal(c.has('home/user/.profile'), false);
    assert.equal(at('usr/share/big2').mtime, (T + 1) * 1e6 + 500_000);
    assert.equal(statSync(join(flat, 'usr/share/big2')).size, BIG.length);
  });

  it('keeps hardlinks whose target stays visible as hardlinks', async () => {
    const dir = mkdtempSync(join(work, 'hl-'));
    const l0 = join(dir, '0.tar');
    const l1 = join(dir, '1.tar');
    await writeLayer(l0, [D('d/'), F('d/f', 'f'), H('d/g', 'd/f'), H('d/h', 'd/g'), F('d/x', 'x'), H('d/y', 'd/x'), H('d/z', 'd/x')]);
    await writeLayer(l1, [D('d/'), F('d/x', 'new x'), F('d/other', 'o')]);
    const { buf } = await flattenToBuffer([l0, l1]);
    const seen: string[] = [];
    for await (const e of readTarEntries(PassThrough.from([buf]), { label: 't', maxEntrySize: 2 ** 40 })) seen.push(`${e.name} ${e.type}${e.linkname ? ' -> ' + e.linkname : ''}`);
    assert.deepEqual(seen, ['d/ dir', 'd/f file', 'd/g hardlink -> d/f', 'd/h hardlink -> d/f', 'd/y file', 'd/z hardlink -> d/y', 'd/x file', 'd/other file']);
  });

  it('is deterministic and writes no whiteout names', async () => {
    const one = await flattenToBuffer(layerFiles);
    const two = await flattenToBuffer(layerFiles);
    assert.ok(one.buf.equals(two.buf));
    assert.equal(one.bytes, one.buf.length);
    let n = 0;
    for await (const e of readTarEntries(PassThrough.from([one.buf]), { label: 't', maxEntrySize: 2 ** 40 })) {
      n++;
      assert.ok(!e.name.split('/').some((p) => p.startsWith('.wh.')), e.name);
      assert.ok(![...e.xattrs.keys()].some((k) => k.startsWith('trusted.overlay.')), e.name);
    }
    assert.equal(n, one.entries);
  });

  it('refuses a layer that applyLayer refuses, before writing anything', async () => {
    const dir = mkdtempSync(join(work, 'bad-'));
    const bad = join(dir, 'bad.tar');
    await writeLayer(bad, [D('d/'), L('d/l', '/etc'), F('d/l/passwd', 'pwned')]);
    const out = new PassThrough();
    let written = 0;
    out.on('data', (c: Buffer) => (written += c.length));
    await assert.rejects(flattenLayers([layerFiles[0]!, bad], out, { labels: ['base', 'layer sha256:bad'] }), (e: unknown) => {
      assert.ok(e instanceof UnsafeArchiveError, String(e));
      assert.equal(e.message, 'layer sha256:bad: entry "d/l/passwd": parent "d/l" is a symlink; writing through a symlink is refused');
      return true;
    });
    assert.equal(written, 0);
  });

  it('stops on abort, and on an output that fails', async () => {
    const ac = new AbortController();
    const slow = new Writable({ highWaterMark: 1024, write: (_c, _e, cb) => setTimeout(cb, 5) });
    const p = flattenLayers(layerFiles, slow, { signal: ac.signal });
    setTimeout(() => ac.abort(new Error('user stop')), 20);
    await assert.rejects(p, /user stop/);
    const broken = new Writable({ highWaterMark: 1024, write: (_c, _e, cb) => cb(new Error('disk on fire')) });
    await assert.rejects(flattenLayers(layerFiles, broken), /disk on fire/);
  });

  it('lets a lower entry describe a directory an upper layer only made as a parent', async () => {
    const dir = mkdtempSync(join(work, 'imp-'));
    const l0 = join(dir, '0.tar');
    const l1 = join(dir, '1.tar');
    await writeLayer(l0, [D('p/', { mode: 0o700, uid: 5 }), F('p/old', 'o')]);
    await writeLayer(l1, [F('p/new', 'n'), F('q/r', 'implicit q')]);
    const { buf } = await flattenToBuffer([l0, l1]);
    const seen: string[] = [];
    for await (const e of readTarEntries(PassThrough.from([buf]), { label: 't', maxEntrySize: 2 ** 40 })) seen.push(`${e.name} ${e.mode.toString(8)} ${e.uid}`);
    assert.deepEqual(seen, ['p/ 700 5', 'p/old 644 0', 'p/new 644 0', 'q/r 644 0']);
  });
});
