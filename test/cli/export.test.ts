/**
 * `strata export` through the real CLI: the busybox fixture imported and exported gives back the
 * rootfs tar's tree; a hand-built five-layer image (whiteouts, opaque directories, hardlinks,
 * devices...) exports to the kernel's overlay view of its layers; both equal what `umoci unpack`
 * makes of the same image (`strata save`, copied to an OCI layout by skopeo). Also `-o -`,
 * atomic output, and the errors.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ImageStore } from '../../src/image/image-store.js';
import { layerFiles } from '../../src/image/layer-files.js';
import { busyboxRootfsTar, BUSYBOX_MISSING, canBuildBusybox } from '../helpers/base-images.js';
import { runStrata, STRATA_BIN } from '../helpers/cli.js';
import { diffShapes, treeShape } from '../fs/tree-compare.js';
import type { PathShape } from '../fs/tree-compare.js';
import { kernelTree, mergeTree, scenarioLayers, scratchDir, storeImage } from '../image/squash-scenario.js';

const isRoot = process.geteuid?.() === 0;
const have = (cmd: string) => spawnSync(cmd, ['--version'], { encoding: 'utf8' }).status === 0;
const missingTools = ['skopeo', 'umoci'].filter((c) => !have(c));

describe('strata export', () => {
  const scratch = scratchDir('cli-export-');
  const storeRoot = join(scratch.dir, 'store');
  const strata = (args: string[], opts: Parameters<typeof runStrata>[1] = {}) => runStrata(['--root', storeRoot, ...args], opts);
  let n = 0;
  const work = () => join(scratch.dir, `w${n++}`);
  /** The tree a tar file extracts to (merge mode into an empty directory). */
  const extracted = async (tar: string) => mergeTree([tar], work());
  let rootfs = '';
  before(async () => {
    // The multi-layer image goes in through the library (there is no CLI to build it by hand).
    const images = await ImageStore.open(storeRoot);
    await storeImage(images, scenarioLayers(false), ['scenario:plain']);
    if (canBuildBusybox()) {
      rootfs = await busyboxRootfsTar();
      const imp = strata(['import', rootfs, 'busybox:export']);
      assert.equal(imp.code, 0, imp.stderr);
    }
  });
  after(() => scratch.cleanup());

  test('busybox: export of the imported rootfs gives back the rootfs tree; -o - writes the same bytes', { skip: !canBuildBusybox() && BUSYBOX_MISSING }, async () => {
    const out = join(scratch.dir, 'busybox.tar');
    const r = strata(['export', 'busybox:export', '-o', out]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, '');
    const want = await extracted(rootfs);
    const got = await extracted(out);
    assert.deepEqual(diffShapes(want, got, ['rootfs', 'export']), []);
    assert.equal(got.get('bin/busybox')?.type, 'file');
    assert.ok(got.size > 100, 'the comparison covers the whole tree');
    const piped = spawnSync(process.execPath, [STRATA_BIN, '--root', storeRoot, 'export', 'busybox:export', '-o', '-'], { maxBuffer: 64 << 20 });
    assert.equal(piped.status, 0, piped.stderr.toString());
    assert.ok(piped.stdout.equals(readFileSync(out)));
    assert.deepEqual(readdirSync(scratch.dir).filter((f) => f.endsWith('.tmp')), [], 'no temp file left');
  });

  test('a multi-layer image exports to the kernel overlay view of its layers', { skip: !isRoot && 'needs root (overlay mount, devices)' }, async () => {
    const out = join(scratch.dir, 'scenario.tar');
    const r = strata(['export', 'scenario:plain', '-o', out]);
    assert.equal(r.code, 0, r.stderr);
    const images = await ImageStore.open(storeRoot);
    const layers = (await layerFiles(images, await images.resolve('scenario:plain'))).map((l) => l.path);
    const kernel = await kernelTree(layers, work());
    const got = await extracted(out);
    assert.deepEqual(diffShapes(kernel, got, ['kernel', 'export']), []);
    assert.deepEqual(diffShapes(await mergeTree(layers, work()), got, ['merge', 'export']), []);
    // What the comparison covers.
    assert.equal(got.has('etc/gone'), false);
    assert.deepEqual([...got.keys()].filter((p) => p.startsWith('etc/conf.d')), ['etc/conf.d', 'etc/conf.d/c.conf']);
    assert.deepEqual(got.get('bin/tool2-link')?.links, ['bin/tool2-link2']);
    assert.equal(got.get('usr/bin/su')?.mode, '4755');
    assert.equal(got.get('dev/sda')?.type, 'block');
  });

  describe('equals umoci unpack of the same image', { skip: missingTools.length > 0 ? `not installed: ${missingTools.join(', ')} (apt)` : !isRoot && 'umoci keeps owners and devices only as root' }, () => {
    /** `strata save` → skopeo → OCI layout → umoci unpack; the rootfs tree. */
    function umociTree(name: string, tag: string): Map<string, PathShape> {
      const saved = join(scratch.dir, `${tag}-saved.tar`);
      const s = strata(['save', name, '-o', saved]);
      assert.equal(s.code, 0, s.stderr);
      const layout = join(scratch.dir, `${tag}-layout`);
      const tool = (cmd: string, args: string[]) => {
        const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20, timeout: 120_000 });
        assert.equal(r.status, 0, `${cmd} ${args.join(' ')}: ${r.stderr}`);
      };
      tool('skopeo', ['--insecure-policy', 'copy', '-q', `oci-archive:${saved}:${tag}`, `oci:${layout}:${tag}`]);
      const bundle = join(scratch.dir, `${tag}-bundle`);
      tool('umoci', ['unpack', '--image', `${layout}:${tag}`, bundle]);
      return treeShape(join(bundle, 'rootfs'));
    }

    for (const [name, tag] of [['busybox:export', 'export'], ['scenario:plain', 'plain']] as const) {
      test(name, { skip: name.startsWith('busybox') && !canBuildBusybox() && BUSYBOX_MISSING }, async () => {
        const out = join(scratch.dir, `${tag}-export.tar`);
        const r = strata(['export', name, '-o', out]);
        assert.equal(r.code, 0, r.stderr);
        const umoci = umociTree(name, tag);
        const got = await extracted(out);
        assert.ok(umoci.size > 40, `umoci unpacked ${umoci.size} paths`);
        assert.deepEqual(diffShapes(umoci, got, ['umoci', 'export']), []);
      });
    }
  });

  test('errors: unknown image, missing output directory, damaged layer; nothing half-written', async () => {
    const unknown = strata(['export', 'nosuch:image', '-o', join(scratch.dir, 'x.tar')]);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /image "nosuch:image" not found/);
    const noDir = strata(['export', 'scenario:plain', '-o', join(scratch.dir, 'no', 'such', 'dir', 'x.tar')]);
    assert.equal(noDir.code, 1);
    assert.match(noDir.stderr, /its directory does not exist/);

    const images = await ImageStore.open(join(scratch.dir, 'store-damaged'));
    const img = await storeImage(images, scenarioLayers(false).slice(0, 2), ['damaged:1']);
    const file = (await layerFiles(images, img))[1]!;
    const body = readFileSync(file.path);
    body[1024] = body[1024]! ^ 0x20; // inside the first file's data: the tar still parses
    writeFileSync(file.path, body);
    const dir = work();
    mkdirSync(dir);
    const r = runStrata(['--root', join(scratch.dir, 'store-damaged'), 'export', 'damaged:1', '-o', join(dir, 'out.tar')]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(file.diffId));
    assert.deepEqual(readdirSync(dir), [], 'neither the output nor a temp file');
    const piped = spawnSync(process.execPath, [STRATA_BIN, '--root', join(scratch.dir, 'store-damaged'), 'export', 'damaged:1'], { maxBuffer: 64 << 20 });
    assert.equal(piped.status, 1);
    assert.equal(piped.stdout.length, 0, 'nothing reaches stdout before the layers are verified');

  });
});
