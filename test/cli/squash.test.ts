/**
 * `strata squash` through the real CLI, on a busybox-based image with two more layers (a base
 * file whited out, a base directory made opaque, a big file added and then deleted): `strata
 * export` of every squashed image equals the export of the original, the result is smaller,
 * `--from-layer` and `--from` agree, history follows SOURCE_DATE_EPOCH/--timestamp, and bad usage
 * exits 2.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ImageStore } from '../../src/image/image-store.js';
import type { ImageConfig } from '../../src/image/types.js';
import type { Digest } from '../../src/util/digest.js';
import { busyboxRootfsTar, BUSYBOX_MISSING, canBuildBusybox } from '../helpers/base-images.js';
import { runStrata } from '../helpers/cli.js';
import { D, F, H, OPQ, WH, tarOf } from '../fs/flatten-layers.js';
import { diffShapes } from '../fs/tree-compare.js';
import { mergeTree, scratchDir } from '../image/squash-scenario.js';

const BIG = Buffer.alloc(4 << 20, 'big file, deleted later ');

describe('strata squash', { skip: !canBuildBusybox() && BUSYBOX_MISSING }, () => {
  const scratch = scratchDir('cli-squash-');
  const storeRoot = join(scratch.dir, 'store');
  const strata = (args: string[], opts: Parameters<typeof runStrata>[1] = {}) => runStrata(['--root', storeRoot, ...args], opts);
  let n = 0;
  let diffIds: Digest[] = [];
  const ok = (args: string[], opts: Parameters<typeof runStrata>[1] = {}) => {
    const r = strata(args, opts);
    assert.equal(r.code, 0, `strata ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  /** The tree `strata export NAME` extracts to. */
  const exported = async (name: string) => {
    const out = join(scratch.dir, `export-${n++}.tar`);
    ok(['export', name, '-o', out]);
    return mergeTree([out], join(scratch.dir, `tree-${n++}`));
  };
  const sizeOf = (name: string) => {
    const rows = JSON.parse(ok(['images', '--format', 'json'])) as Array<{ Repository: string; Tag: string; Size: number }>;
    return rows.find((r) => `${r.Repository}:${r.Tag}` === name)!.Size;
  };

  before(async () => {
    ok(['import', '--change', 'CMD ["sh"]', await busyboxRootfsTar(), 'busybox:base'], { env: { SOURCE_DATE_EPOCH: '1704067200' } });
    // Two layers over busybox, stored by hand (no build here): the image a RUN-heavy build makes.
    const images = await ImageStore.open(storeRoot);
    const base = await images.resolve('busybox:base');
    const config = JSON.parse((await base.image.rawConfig()).toString()) as ImageConfig;
    const l1 = await tarOf([
      D('etc/'), F('etc/app.conf', 'v1'), WH('etc/group'),
      D('opt/'), D('opt/app/'), F('opt/app/big', BIG), F('opt/app/run', '#!/bin/sh\necho hi\n', { mode: 0o755 }), H('opt/app/run-link', 'opt/app/run'),
      D('usr/'), D('usr/bin/'), OPQ('usr/bin'), F('usr/bin/app', 'app', { mode: 0o4755 }),
    ]);
    const l2 = await tarOf([
      D('etc/'), F('etc/app.conf', 'v2'),
      D('opt/'), D('opt/app/'), WH('opt/app/big'), F('opt/app/run', '#!/bin/sh\necho v2\n', { mode: 0o755 }),
      D('home/'), WH('home/app'), F('home/app', 'now a file'),
    ]);
    const descs = [(await base.image.manifest()).layers[0]!];
    for (const t of [l1, l2]) {
      const r = await images.store.ingest(t);
      descs.push({ mediaType: descs[0]!.mediaType, digest: r.digest as Digest, size: r.size });
    }
    diffIds = descs.map((d) => d.digest);
    config.rootfs.diff_ids = diffIds;
    config.history = [...config.history!, { created: config.created!, created_by: 'RUN install' }, { created: config.created!, created_by: 'ENV A=b', empty_layer: true }, { created: config.created!, created_by: 'RUN update' }];
    await images.commitImage(Buffer.from(JSON.stringify(config)), descs, ['app:orig']);
  });
  after(() => scratch.cleanup());

  test('squash --from 1 and squash (all): export equals the original export, and the image shrinks', async () => {
    const want = await exported('app:orig');
    assert.equal(want.get('home/app')?.type, 'file');
    assert.equal(want.has('etc/group'), false);
    assert.equal(want.has('usr/bin/app'), true);
    for (const [args, tag, layers] of [[['--from', '1'], 'app:from1', 2], [[], 'app:all', 1]] as const) {
      const id = ok(['squash', 'app:orig', ...args, '-t', tag]);
      assert.match(id, /^sha256:[0-9a-f]{64}\n$/);
      assert.deepEqual(diffShapes(want, await exported(tag), ['original', tag]), []);
      const inspect = JSON.parse(ok(['inspect', tag]))[0] as { RootFS: { Layers: string[] }; Id: string };
      assert.equal(inspect.RootFS.Layers.length, layers);
      assert.equal(inspect.Id, id.trim());
      assert.ok(sizeOf(tag) < sizeOf('app:orig') - BIG.length, `${tag}: ${sizeOf(tag)} vs ${sizeOf('app:orig')}`);
    }
  });

  test('--from-layer gives the image --from gives; SOURCE_DATE_EPOCH and --timestamp set the new history entry', () => {
    const byIndex = ok(['squash', 'app:orig', '--from', '1', '-t', 'app:a']);
    const byDigest = ok(['squash', 'app:orig', '--from-layer', diffIds[1]!.slice(7, 19), '-t', 'app:b', '-t', 'app:c']);
    assert.equal(byDigest, byIndex);
    const history = (tag: string) => (JSON.parse(ok(['inspect', tag]))[0] as { History: Array<Record<string, unknown>> }).History;
    const h = history('app:b');
    assert.deepEqual(h.at(-1), { created: '2024-01-01T00:00:00Z', created_by: 'strata squash --from 1', comment: `merged 2 layers: ${diffIds[1]}, ${diffIds[2]}` });
    assert.deepEqual(h.slice(0, -1).map((e) => [e.created_by ?? e.comment, e.empty_layer === true]), [['Imported from -', false], ['RUN install', true], ['ENV A=b', true], ['RUN update', true]]);
    ok(['squash', 'app:orig', '-t', 'app:sde', '--message', 'slim'], { env: { SOURCE_DATE_EPOCH: '1700000000' } });
    assert.equal(history('app:sde').at(-1)!.created, '2023-11-14T22:13:20Z');
    assert.match(String(history('app:sde').at(-1)!.comment), /^slim; merged 3 layers: /);
    ok(['squash', 'app:orig', '-t', 'app:ts', '--timestamp', '0'], { env: { SOURCE_DATE_EPOCH: '1700000000' } });
    assert.equal(history('app:ts').at(-1)!.created, '1970-01-01T00:00:00Z');
  });

  test('bad usage exits 2 with a message; a missing image exits 1', () => {
    const cases: Array<[string[], RegExp]> = [
      [['squash', 'app:orig', '--from', '3', '-t', 'x'], /--from 3: the image has 3 layers \(0 to 2\)/],
      [['squash', 'app:orig', '--from', 'two', '-t', 'x'], /not a layer index/],
      [['squash', 'app:orig', '--from', '1', '--from-layer', diffIds[1]!, '-t', 'x'], /not both/],
      [['squash', 'app:orig', '--from-layer', 'sha256:ffff', '-t', 'x'], /no layer of the image has that diff_id/],
      [['squash', 'app:orig', '--timestamp', 'yesterday', '-t', 'x'], /not a number of seconds/],
      [['squash', 'app:orig'], /squash needs a name for the new image \(add -t NAME\)/],
    ];
    for (const [args, message] of cases) {
      const r = strata(args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message);
    }
    const missing = strata(['squash', 'nosuch', '-t', 'x']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /image "nosuch" not found/);
    assert.doesNotMatch(ok(['images']), /\bx\b/);
  });
});
