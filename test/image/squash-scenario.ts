/**
 * A hand-built five-layer image for the squash and export tests, and helpers to store images and
 * to look at layer stacks two ways: applied one after another in 'merge' mode, and unpacked in
 * 'overlay' mode and stacked by the kernel.
 *
 * The layers cover: whiteouts of base content and of content only squashed layers had, an opaque
 * directory over a base directory, directories deleted and made again (explicitly, and only as a
 * parent), a file replaced by a directory and a directory by a file and back, hardlinks whose
 * target is overwritten later, setuid/setgid, xattrs, devices, fifos, symlinks, and a big file
 * added and then deleted.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createReadStream, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { applyLayer } from '../../src/fs/apply-layer.js';
import type { ImageStore, StoredImage } from '../../src/image/image-store.js';
import type { HistoryEntry, ImageConfig } from '../../src/image/types.js';
import type { Digest } from '../../src/util/digest.js';
import { repoRoot } from '../helpers/corpus.js';
import { D, F, H, L, N, OPQ, T, WH, tarOf } from '../fs/flatten-layers.js';
import type { Item } from '../fs/flatten-layers.js';
import { treeShape } from '../fs/tree-compare.js';
import type { PathShape } from '../fs/tree-compare.js';

/** VFS_CAP_REVISION_2 with cap_net_raw: binary, not valid UTF-8. */
export const CAP = Buffer.from('0100000200200000000000000000000000000000', 'hex');
/** Size of the file layer 2 adds and layer 4 deletes. */
export const BIG_SIZE = 3 << 20;
const BIG = Buffer.alloc(BIG_SIZE, 'squash me ');

/**
 * The layers, base first. `boundaryCases` adds directories an upper layer only makes as a parent
 * (no entry) over a base directory with other metadata: the kernel then shows the upper, implicit
 * directory and 'merge' keeps the base one, so the original image has no single meaning there
 * unless the base entry stays below the squashed layers (from >= 1).
 */
export function scenarioLayers(boundaryCases: boolean): Item[][] {
  const l0: Item[] = [
    D('./'),
    D('bin/'), F('bin/sh', 'sh\n', { mode: 0o755 }), F('bin/tool', 'tool v1\n', { mode: 0o755 }), H('bin/tool-link', 'bin/tool'),
    D('etc/'), F('etc/passwd', 'root:x:0:0\n'), F('etc/gone', 'base file, deleted by layer 2'), F('etc/keep', 'keep'),
    D('etc/conf.d/'), F('etc/conf.d/a.conf', 'a'), F('etc/conf.d/b.conf', 'b'),
    D('var/'), D('var/lib/'), D('var/lib/data/', { mode: 0o700, uid: 5 }), F('var/lib/data/x', 'x'), D('var/lib/data/sub/', { mode: 0o750 }), F('var/lib/data/sub/y', 'y'),
    D('var/log/', { mode: 0o750, gid: 4 }), F('var/log/old.log', 'old'),
    D('opt/'), F('opt/thing', 'a file, a directory later'),
    D('srv/'), D('srv/d/'), F('srv/d/f', 'f'),
    D('dev/'), N('dev/null', 'char', 1, 3, { mode: 0o666 }), N('dev/sda', 'block', 8, 0, { mode: 0o660, gid: 6 }),
    D('usr/'), D('usr/bin/'), F('usr/bin/su', 'su', { mode: 0o4755 }), F('usr/bin/ping', 'ping', { mode: 0o755, xattrs: { 'security.capability': CAP } }),
    F('usr/bin/sg', 'sg', { mode: 0o2755, gid: 50 }),
    D('tmp/', { mode: 0o1777 }), L('lib', 'usr/lib'),
    D('mnt/'), D('mnt/empty/'),
  ];
  if (boundaryCases) {
    l0.push(D('home/'), D('home/u/', { mode: 0o700, uid: 1000, gid: 1000 }), F('home/u/.profile', 'p', { uid: 1000 }), D('etc/ssl/', { mode: 0o700 }), F('etc/ssl/cert', 'c'));
  }
  const l1: Item[] = [
    D('etc/'), F('etc/l1', 'added by layer 1'), F('etc/gone2', 'layer 1 file, deleted by layer 3'),
    D('usr/'), D('usr/bin/'), F('usr/bin/l1tool', 'l1', { mode: 0o755, uid: 7, mtime: T + 1 }),
  ];
  const l2: Item[] = [
    D('etc/', { mode: 0o751, mtime: T + 2 }), WH('etc/gone'), D('etc/conf.d/'), OPQ('etc/conf.d'), F('etc/conf.d/c.conf', 'c'),
    D('tmp/', { mode: 0o1777 }), F('tmp/scratch', 'only squashed layers have this'),
    D('usr/'), D('usr/share/'), F('usr/share/big', BIG),
    D('var/'), D('var/lib/'), WH('var/lib/data'), WH('var/log'),
    D('opt/'), D('opt/thing/'), F('opt/thing/inner', 'now a directory'),
    D('srv/'), F('srv/d', 'a file now'),
    D('bin/'), F('bin/tool2', 'tool2 v1\n', { mode: 0o750, gid: 10 }), H('bin/tool2-link', 'bin/tool2'), H('bin/tool2-link2', 'bin/tool2'),
    D('mnt/'), WH('mnt/empty'),
    D('run/'), F('run/pid', '1'),
  ];
  const l3: Item[] = [
    D('tmp/', { mode: 0o1777 }), WH('tmp/scratch'),
    D('var/'), D('var/lib/'), D('var/lib/data/', { mode: 0o755 }), F('var/lib/data/z', 'z'), F('var/lib/data/sub/new', 'sub only a parent'),
    D('srv/'), D('srv/d/', { mode: 0o711 }), F('srv/d/g', 'g'),
    D('bin/'), F('bin/tool2', 'tool2 v2\n', { mode: 0o755 }), F('bin/tool', 'tool v2\n', { mode: 0o755, mtime: T + 3 }),
    D('etc/'), WH('etc/gone2'),
    D('dev/'), N('dev/tty', 'char', 5, 0, { mode: 0o666, gid: 5 }),
    D('mnt/'), D('mnt/empty/', { mode: 0o700 }),
    WH('run'),
    D('usr/'), D('usr/bin/'), F('usr/bin/newsuid', 's', { mode: 0o4711, xattrs: { 'user.note': Buffer.from([0xff, 0, 1]) } }), N('usr/bin/fifo', 'fifo', 0, 0, { mode: 0o600 }),
    D('usr/share/'), D('usr/share/doc/', { mode: 0o711, xattrs: { 'user.dir': Buffer.from('d') } }), F('usr/share/doc/readme', 'r'),
  ];
  const l4: Item[] = [
    D('usr/'), D('usr/share/'), WH('usr/share/big'),
    F('var/log/new.log', 'new'), // var/log deleted by layer 2, made again here only as a parent
    D('run/'), F('run/again', 'run is back'),
  ];
  if (boundaryCases) {
    l3.push(OPQ('etc/ssl'), F('etc/ssl/new', 'n')); // opaque, the directory itself only a parent
    l4.push(F('home/u/.config', 'c')); // home and home/u only parents
  }
  return [l0, l1, l2, l3, l4];
}

/** A scratch directory under `<repo>/.cache/tmp` (file creation under /tmp is slow here). */
export function scratchDir(prefix: string): { dir: string; cleanup: () => void } {
  const base = join(repoRoot, '.cache', 'tmp');
  mkdirSync(base, { recursive: true });
  const dir = mkdtempSync(join(base, prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Default created time of stored test images. */
export const CREATED = '2024-01-01T00:00:00Z';

/** One history entry per layer with an empty-layer entry between each pair (like ENV steps). */
export function historyFor(count: number): HistoryEntry[] {
  const h: HistoryEntry[] = [];
  for (let i = 0; i < count; i++) {
    if (i > 0) h.push({ created: CREATED, created_by: `ENV STEP=${i}`, empty_layer: true });
    h.push({ created: CREATED, created_by: `RUN layer ${i}` });
  }
  return h;
}

/** Stores layer tars (blobs first) and an image over them named `names`; returns it resolved. */
export async function storeImage(images: ImageStore, layers: Array<Item[] | Buffer>, names: string[], edit?: (c: ImageConfig) => void): Promise<StoredImage> {
  const descs: Array<{ digest: Digest; size: number }> = [];
  for (const l of layers) {
    const r = await images.store.ingest(Buffer.isBuffer(l) ? l : await tarOf(l));
    descs.push({ digest: r.digest as Digest, size: r.size });
  }
  const config: ImageConfig = {
    created: CREATED,
    architecture: 'amd64',
    os: 'linux',
    config: { Env: ['PATH=/usr/bin:/bin'], Cmd: ['sh'], Labels: { 'org.example.kind': 'test' } },
    rootfs: { type: 'layers', diff_ids: descs.map((d) => d.digest) },
    history: historyFor(layers.length),
  };
  edit?.(config);
  await images.commitImage(Buffer.from(JSON.stringify(config)), descs, names);
  return images.resolve(names[0]!);
}

/** The tree of `layerFiles` applied one after another in 'merge' mode into `dir` (created). */
export async function mergeTree(layerFiles: readonly string[], dir: string): Promise<Map<string, PathShape>> {
  mkdirSync(dir, { recursive: true });
  for (const f of layerFiles) await applyLayer(createReadStream(f), dir, { mode: 'merge' });
  return treeShape(dir);
}

/** The kernel's merged view of `layerFiles`, each unpacked in 'overlay' mode under `work`. Needs root. */
export async function kernelTree(layerFiles: readonly string[], work: string): Promise<Map<string, PathShape>> {
  const lowers: string[] = [];
  for (const [i, f] of layerFiles.entries()) {
    const d = join(work, `o${i}`);
    mkdirSync(d, { recursive: true });
    await applyLayer(createReadStream(f), d, { mode: 'overlay' });
    lowers.unshift(d); // the top layer first
  }
  const mnt = join(work, 'mnt');
  mkdirSync(mnt, { recursive: true });
  if (lowers.length === 1) lowers.push(join(work, 'empty-lower')); // overlayfs wants two lower dirs without an upper
  mkdirSync(lowers[lowers.length - 1]!, { recursive: true });
  const r = spawnSync('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${lowers.join(':')}`, mnt], { encoding: 'utf8' });
  assert.equal(r.status, 0, `mount failed: ${r.stderr}`);
  try {
    return treeShape(mnt);
  } finally {
    spawnSync('umount', [mnt]);
  }
}
