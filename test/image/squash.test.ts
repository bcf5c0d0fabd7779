/**
 * squashImage on hand-built images (squash-scenario.ts), for every `from`: the squashed image's
 * layers give the same tree as the original's, applied in 'merge' mode and under the kernel's
 * overlayfs; the merged layer holds no redundant whiteout or opaque marker and follows the
 * changeset rules; history and diff_ids are rewritten as documented; validateImage passes.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { createReadStream } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { DigestMismatchError } from '../../src/errors.js';
import { applyLayer } from '../../src/fs/apply-layer.js';
import { readTarEntries } from '../../src/fs/tar-entries.js';
import { parentOf } from '../../src/fs/tar-path.js';
import { classifyBasename } from '../../src/fs/whiteout.js';
import { ImageStore } from '../../src/image/image-store.js';
import type { StoredImage } from '../../src/image/image-store.js';
import { SquashError, squashImage } from '../../src/image/squash.js';
import { exportImage } from '../../src/image/export.js';
import { layerFiles } from '../../src/image/layer-files.js';
import { validateImage } from '../../src/image/validate.js';
import { D, F, WH } from '../fs/flatten-layers.js';
import { diffShapes, treeShape } from '../fs/tree-compare.js';
import { BIG_SIZE, CREATED, kernelTree, mergeTree, scenarioLayers, scratchDir, storeImage } from './squash-scenario.js';

const isRoot = process.geteuid?.() === 0;
const LAYERS = 5;

/** One entry of a layer tar, as the checks need it. */
interface Seen {
  path: string;
  kind: 'whiteout' | 'opaque' | 'entry';
  type: string;
  link?: string;
}

async function entriesOf(file: string): Promise<Seen[]> {
  const out: Seen[] = [];
  for await (const e of readTarEntries(createReadStream(file), { label: 't', maxEntrySize: 2 ** 40 })) {
    const name = e.name.replace(/^\.\/?/, '').replace(/\/$/, '');
    const base = name.slice(name.lastIndexOf('/') + 1);
    const cls = classifyBasename(base);
    if (cls.kind === 'opaque') out.push({ path: parentOf(name), kind: 'opaque', type: e.type });
    else if (cls.kind === 'whiteout') out.push({ path: name.slice(0, name.length - base.length) + cls.target, kind: 'whiteout', type: e.type });
    else out.push({ path: name, kind: 'entry', type: e.type, ...(e.type === 'hardlink' ? { link: e.linkname } : {}) });
  }
  return out;
}

describe('squashImage', () => {
  const scratch = scratchDir('squash-');
  let images: ImageStore;
  let n = 0;
  const work = () => join(scratch.dir, `w${n++}`);
  const originals = new Map<boolean, StoredImage>();
  before(async () => {
    images = await ImageStore.open(join(scratch.dir, 'store'));
    for (const boundary of [false, true]) originals.set(boundary, await storeImage(images, scenarioLayers(boundary), [`scenario:${boundary ? 'boundary' : 'plain'}`]));
  });
  after(() => scratch.cleanup());

  /** The original image for a given `from`: boundary cases only where their base entry stays kept. */
  const originalFor = (from: number) => originals.get(from > 0)!;
  const paths = async (img: StoredImage) => (await layerFiles(images, img)).map((l) => l.path);

  for (let from = 0; from < LAYERS; from++) {
    it(`from ${from}: same tree as the original under 'merge' application`, async () => {
      const orig = originalFor(from);
      const sq = await squashImage(images, orig, { from, names: [`sq:merge-${from}`] });
      const squashed = await images.resolve(`sq:merge-${from}`);
      const a = await mergeTree(await paths(orig), work());
      const b = await mergeTree(await paths(squashed), work());
      assert.deepEqual(diffShapes(a, b, ['original', 'squashed']), []);
      assert.equal((await squashed.image.config()).rootfs.diff_ids.length, from + 1);
      assert.ok(sq.stats.entries > 0);
    });

    it(`from ${from}: same tree as the original under the kernel's overlayfs`, { skip: !isRoot && 'needs root (mount, devices, trusted xattrs)' }, async () => {
      const orig = originalFor(from);
      await squashImage(images, orig, { from, names: [`sq:kernel-${from}`] });
      const squashed = await images.resolve(`sq:kernel-${from}`);
      const a = await kernelTree(await paths(orig), work());
      const b = await kernelTree(await paths(squashed), work());
      assert.deepEqual(diffShapes(a, b, ['original', 'squashed']), []);
    });

    it(`from ${from}: the merged layer keeps only whiteouts and opaque markers that hide kept content`, async () => {
      const orig = originalFor(from);
      const r = await squashImage(images, orig, { from, names: [`sq:lean-${from}`] });
      const squashed = await images.resolve(`sq:lean-${from}`);
      const files = await paths(squashed);
      const kept = from === 0 ? new Map() : await mergeTree(files.slice(0, from), work());
      const seen = await entriesOf(files[from]!);
      const byPath = new Map<string, Seen>();
      const hidden = new Set<string>(); // paths whose kept content the layer hides as a whole
      const started = new Set<string>(); // directories with an ordinary child written already
      for (const s of seen) {
        const key = `${s.kind}:${s.path}`;
        assert.ok(!byPath.has(key), `duplicate ${key}`);
        byPath.set(key, s);
        const ancestors: string[] = [];
        for (let p = s.path; p !== ''; ) ancestors.push((p = parentOf(p)));
        if (s.kind === 'whiteout') {
          assert.ok(kept.has(s.path), `whiteout of ${s.path}, which the kept layers do not have`);
          assert.ok(!byPath.has(`entry:${s.path}`), `${s.path} both written and whited out`);
          for (const a of ancestors) assert.ok(!hidden.has(a), `whiteout of ${s.path} under ${a || '/'}, which already hides it`);
          assert.ok(!started.has(parentOf(s.path)), `whiteout ${s.path} after an ordinary sibling`);
          hidden.add(s.path);
        } else if (s.kind === 'opaque') {
          assert.equal(kept.get(s.path === '' ? '.' : s.path)?.type, 'dir', `opaque ${s.path}: no kept directory there`);
          const prefix = s.path === '' ? '' : `${s.path}/`;
          assert.ok([...kept.keys()].some((k) => k !== '.' && k.startsWith(prefix) && !k.slice(prefix.length).includes('/')), `opaque ${s.path}: the kept directory is empty`);
          for (const a of ancestors) assert.ok(!hidden.has(a), `opaque ${s.path} under ${a || '/'}, which already hides it`);
          assert.ok(!started.has(s.path), `opaque marker of ${s.path} after one of its children`);
          hidden.add(s.path);
        } else {
          assert.ok(!byPath.has(`whiteout:${s.path}`), `${s.path} both whited out and written`);
          if (s.type !== 'dir') hidden.add(s.path);
          if (s.link !== undefined) assert.ok(byPath.has(`entry:${s.link}`), `hardlink ${s.path} -> ${s.link} before its target`);
          if (s.path !== '') started.add(parentOf(s.path));
        }
      }
      const markers = (kind: string) => seen.filter((s) => s.kind === kind).map((s) => s.path).sort();
      assert.equal(r.stats.whiteouts, markers('whiteout').length);
      assert.equal(r.stats.opaques, markers('opaque').length);
      if (from === 0) {
        assert.deepEqual([...markers('whiteout'), ...markers('opaque')], [], 'squashing everything leaves nothing to hide');
      }
      if (from === 2) {
        assert.deepEqual(markers('whiteout'), ['etc/gone', 'etc/gone2']);
        assert.deepEqual(markers('opaque'), ['etc/conf.d', 'etc/ssl', 'srv/d', 'var/lib/data', 'var/log']);
        assert.equal(r.stats.droppedWhiteouts, 2, 'tmp/scratch and usr/share/big hid nothing below');
        assert.equal(r.stats.madeDirs, 1, 'var/log, deleted and made again only as a parent');
        assert.ok(!seen.some((s) => s.path === 'home' || s.path === 'home/u'), 'directories the squashed layers only made as parents stay implicit');
      }
      if (from === 1) assert.ok(!markers('whiteout').includes('etc/gone2'), 'a whiteout of what only squashed layers had is dropped');
    });
  }

  it('export of the squashed image equals export of the original, for every from', async () => {
    const exported = async (img: StoredImage) => {
      const out = new PassThrough();
      const chunks: Buffer[] = [];
      out.on('data', (c: Buffer) => chunks.push(c));
      await exportImage(images, img, out);
      const dir = work();
      mkdirSync(dir);
      await applyLayer(PassThrough.from([Buffer.concat(chunks)]), dir, { mode: 'merge' });
      return treeShape(dir);
    };
    // Boundary cases included even for from 0: export and squash resolve them the same way.
    for (const boundary of [false, true]) {
      const orig = originals.get(boundary)!;
      const want = await exported(orig);
      for (let from = 0; from < LAYERS; from++) {
        await squashImage(images, orig, { from, names: [`sq:export-${boundary}-${from}`] });
        const got = await exported(await images.resolve(`sq:export-${boundary}-${from}`));
        assert.deepEqual(diffShapes(want, got, ['original', `squashed from ${from}`]), []);
      }
    }
  });

  it('rewrites history and diff_ids, and leaves the rest of the config alone', async () => {
    const orig = originalFor(2);
    const before = await orig.image.config();
    const r = await squashImage(images, orig, { from: 2, names: ['sq:history'] });
    const sq = await images.resolve('sq:history');
    const after = await sq.image.config();
    const diffIds = before.rootfs.diff_ids;
    assert.deepEqual(after.rootfs.diff_ids, [diffIds[0], diffIds[1], r.diffId]);
    assert.equal(sq.id, r.id);
    assert.equal(sq.manifestDigest, r.manifestDigest);
    const h = before.history!;
    assert.equal(after.history!.length, h.length + 1);
    // Layers 0 and 1 keep their entries; 2..4 become empty; ENV entries stay as they were.
    assert.deepEqual(after.history!.slice(0, h.length), h.map((e) => (/^RUN layer [234]$/.test(e.created_by ?? '') ? { ...e, empty_layer: true } : e)));
    assert.deepEqual(after.history!.at(-1), {
      created: CREATED,
      created_by: 'strata squash --from 2',
      comment: `merged 3 layers: ${diffIds.slice(2).join(', ')}`,
    });
    const strip = ({ history: _h, rootfs: _r, ...rest }: typeof before) => rest;
    assert.deepEqual(strip(after), strip(before));
    assert.deepEqual(Object.keys(after), Object.keys(before), 'key order kept');
    assert.equal((await sq.image.manifest()).layers.at(-1)!.size, r.size);
    await validateImage(sq.image);

    const m = await squashImage(images, orig, { from: 0, names: ['sq:msg'], message: 'release build', created: '2025-02-03T04:05:06Z' });
    const cfg = await (await images.resolve('sq:msg')).image.config();
    assert.deepEqual(cfg.history!.at(-1), { created: '2025-02-03T04:05:06Z', created_by: 'strata squash --from 0', comment: `release build; merged 5 layers: ${diffIds.join(', ')}` });
    assert.equal(cfg.history!.filter((e) => !e.empty_layer).length, 1);
    assert.equal(cfg.created, before.created);
    assert.notEqual(m.id, r.id);
  });

  it('passes validateImage for every from, and is deterministic', async () => {
    for (let from = 0; from < LAYERS; from++) {
      const a = await squashImage(images, originalFor(from), { from, names: [`sq:v${from}`] });
      await validateImage((await images.resolve(`sq:v${from}`)).image);
      const b = await squashImage(images, originalFor(from), { from, names: [`sq:v${from}-again`] });
      assert.equal(b.id, a.id);
      assert.equal(b.diffId, a.diffId);
    }
  });

  it('squashing an image whose later layer deletes a big file makes it smaller', async () => {
    const big = Buffer.alloc(BIG_SIZE, 'x');
    const img = await storeImage(images, [[D('etc/'), F('etc/os', 'base')], [D('data/'), F('data/blob', big)], [D('data/'), WH('data/blob'), F('data/small', 's')]], ['big:orig']);
    const size = async (i: StoredImage) => (await i.image.manifest()).layers.reduce((s, l) => s + l.size, 0);
    await squashImage(images, img, { from: 1, names: ['big:squashed'] });
    const sq = await images.resolve('big:squashed');
    assert.ok((await size(sq)) < (await size(img)) - BIG_SIZE + 8192, `${await size(sq)} vs ${await size(img)}`);
    const tree = await mergeTree(await paths(sq), work());
    assert.deepEqual([...tree.keys()].sort(), ['.', 'data', 'data/small', 'etc', 'etc/os']);
  });

  it('refuses a layer index out of range, and a history that does not match the layers', async () => {
    const orig = originalFor(0);
    for (const from of [-1, LAYERS, 1.5]) {
      await assert.rejects(squashImage(images, orig, { from, names: ['sq:bad'] }), (e: unknown) => e instanceof SquashError && /layer/.test(e.message));
    }
    const odd = await storeImage(images, [[F('a', 'a')], [F('b', 'b')]], ['odd:history'], (c) => {
      c.history = [{ created_by: 'only one' }];
    });
    await assert.rejects(squashImage(images, odd, { from: 1, names: ['sq:bad'] }), (e: unknown) => e instanceof SquashError && /history has 1 entries with layers for 2 layers/.test(e.message));
    const none = await storeImage(images, [[F('a', 'a')], [F('b', 'b')]], ['no:history'], (c) => {
      delete c.history;
    });
    await squashImage(images, none, { from: 1, names: ['sq:nohistory'] });
    await validateImage((await images.resolve('sq:nohistory')).image);
    assert.equal(await images.store.getRef('docker.io/library/sq:bad'), undefined);
  });

  it('refuses a damaged squashed layer blob and stores nothing', async () => {
    const store = await ImageStore.open(join(scratch.dir, 'store-damaged'));
    const img = await storeImage(store, [[D('a/'), F('a/x', 'x')], [D('a/'), F('a/y', 'y')]], ['dmg:1']);
    const files = await layerFiles(store, img);
    const body = readFileSync(files[1]!.path);
    body[1024] = body[1024]! ^ 1; // the first byte of a/y's data: same size, same tar structure
    writeFileSync(files[1]!.path, body);
    for (const from of [1, 0]) {
      await assert.rejects(squashImage(store, img, { from, names: ['dmg:bad'] }), (e: unknown) => e instanceof DigestMismatchError && e.message.includes(files[1]!.diffId));
    }
    assert.equal(await store.store.getRef('docker.io/library/dmg:bad'), undefined);
    assert.deepEqual(readdirSync(join(scratch.dir, 'store-damaged', 'tmp')), [], 'no staging left behind');
  });

  it('writes the merged layer tar with the entries a reader expects', async () => {
    const img = await storeImage(images, [[D('d/'), F('d/a', 'a')], [D('d/'), F('d/b', 'b'), WH('d/a')]], ['tiny:1']);
    const r = await squashImage(images, img, { from: 1, names: ['tiny:sq'] });
    const names: string[] = [];
    const tar = await images.store.readBlob(r.diffId);
    for await (const e of readTarEntries(PassThrough.from([tar]), { label: 't', maxEntrySize: 2 ** 40 })) names.push(`${e.name} ${e.type} ${e.mtime}`);
    const t = Date.parse(CREATED) / 1000;
    assert.deepEqual(names, [`d/ dir 1600000000`, `d/.wh.a file ${t}`, `d/b file 1600000000`]);
  });
});
