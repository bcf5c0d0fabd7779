/**
 * The real CLI: `strata import`, `save` and `load` (files, stdin/stdout, directories), their output
 * lines, errors and exit codes, and a `load` killed with SIGKILL half-way through.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { before, describe, test } from 'node:test';
import { busyboxRootfsTar, BUSYBOX_MISSING, canBuildBusybox } from '../helpers/base-images.js';
import { runStrata, STRATA_BIN } from '../helpers/cli.js';
import { file, tar } from '../fs/hostile-tars.js';
import { archiveTar, docker25Entries, scratch, storeSnapshot, storeTemp, synthImage } from '../transports/helpers.js';

const root = scratch('cli-transports-');
process.on('exit', () => root.cleanup());
let n = 0;
const newRoot = () => join(root.dir, `store-${n++}`);
const strata = (storeRoot: string, args: string[], opts: Parameters<typeof runStrata>[1] = {}) => runStrata(['--root', storeRoot, ...args], opts);

describe('strata import, save and load', { skip: canBuildBusybox() ? false : BUSYBOX_MISSING }, () => {
  let rootfs: string;
  let src: string;
  let id: string;
  before(async () => {
    rootfs = await busyboxRootfsTar();
    src = newRoot();
    const r = strata(src, ['import', '--change', 'CMD ["sh"]', '--message', 'busybox for tests', rootfs, 'busybox']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^sha256:[0-9a-f]{64}\n$/);
    id = r.stdout.trim();
  });

  test('import with SOURCE_DATE_EPOCH is reproducible', () => {
    const env = { SOURCE_DATE_EPOCH: '1704067200' };
    const a = strata(newRoot(), ['import', rootfs, 'repro:1'], { env });
    const b = strata(newRoot(), ['import', '-', 'repro:1'], { env, input: readFileSync(rootfs) });
    assert.equal(a.code, 0, a.stderr);
    assert.equal(a.stdout, b.stdout);
  });

  test('save -o FILE then load -i FILE prints docker\'s "Loaded image" line', () => {
    const out = join(root.dir, 'bb.tar');
    const s = strata(src, ['save', 'busybox', '-o', out]);
    assert.equal(s.code, 0, s.stderr);
    assert.equal(s.stdout, '');
    const dst = newRoot();
    const l = strata(dst, ['load', '-i', out]);
    assert.equal(l.code, 0, l.stderr);
    assert.equal(l.stdout, 'Loaded image: busybox:latest\n');
    const images = strata(dst, ['images', '-q', '--no-trunc']);
    assert.equal(images.stdout.trim(), id);
  });

  test('load -i DIR reads an OCI layout directory', () => {
    const out = join(root.dir, 'for-dir.tar');
    assert.equal(strata(src, ['save', 'busybox:latest', '-o', out]).code, 0);
    const dir = join(root.dir, 'layout');
    mkdirSync(dir);
    assert.equal(spawnSync('tar', ['-xf', out, '-C', dir, 'oci-layout', 'index.json', 'blobs']).status, 0);
    const l = strata(newRoot(), ['load', '-i', dir + '/']);
    assert.equal(l.code, 0, l.stderr);
    assert.equal(l.stdout, 'Loaded image: busybox:latest\n');
  });

  test('save by ID loads as "Loaded image ID"', () => {
    const out = join(root.dir, 'by-id.tar');
    assert.equal(strata(src, ['save', id.slice(7, 19), '-o', out]).code, 0);
    const l = strata(newRoot(), ['load', '-i', out]);
    assert.equal(l.stdout, `Loaded image ID: ${id}\n`);
  });

  test('save -o - | load (stdout to stdin), zstd-compressed', () => {
    const saved = spawnSync(process.execPath, [STRATA_BIN, '--root', src, 'save', '--compression', 'zstd', 'busybox', '-o', '-'], { maxBuffer: 64 << 20 });
    assert.equal(saved.status, 0, saved.stderr.toString());
    const l = strata(newRoot(), ['load'], { input: saved.stdout });
    assert.equal(l.code, 0, l.stderr);
    assert.equal(l.stdout, 'Loaded image: busybox:latest\n');
  });

  test('usage errors exit 2; bad input exits 1 with one line naming the problem', () => {
    const bad = strata(src, ['save', '--compression', 'lz4', 'busybox', '-o', join(root.dir, 'x.tar')]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /unknown compression "lz4"/);
    const missing = strata(src, ['load', '-i', join(root.dir, 'nope.tar')]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /nope\.tar: no such file/);
    const run = strata(src, ['import', '--change', 'RUN rm -rf /', rootfs]);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /RUN is not a valid change command/);
    const unknown = strata(src, ['save', 'nosuch:image', '-o', join(root.dir, 'y.tar')]);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /nosuch:image.*not found/);
  });

  test('a hostile archive: exit 1, the entry and rule named, the store unchanged', async () => {
    const img = await synthImage([tar(file('../../etc/evil', 'x'))]);
    const before = storeSnapshot(src);
    const l = strata(src, ['load'], { input: archiveTar(docker25Entries([{ img, tags: ['evil:1'] }])) });
    assert.equal(l.code, 1);
    assert.equal(l.stderr.trim().split('\n').length, 1);
    assert.match(l.stderr, /layer "blobs\/sha256\/[0-9a-f]{64}": entry "\.\.\/\.\.\/etc\/evil": path escapes the target/);
    assert.equal(storeSnapshot(src), before);
  });
});

describe('strata load killed with SIGKILL', { skip: canBuildBusybox() ? false : BUSYBOX_MISSING }, () => {
  test('leaves the store consistent, and the next command removes the staging dir', async () => {
    const storeRoot = newRoot();
    assert.equal(strata(storeRoot, ['import', await busyboxRootfsTar(), 'busybox']).code, 0);
    const archive = join(root.dir, 'kill.tar');
    assert.equal(strata(storeRoot, ['save', 'busybox', '-o', archive]).code, 0);
    assert.equal(strata(storeRoot, ['tag', 'busybox', 'other:1']).code, 0);
    assert.equal(strata(storeRoot, ['rmi', 'busybox']).code, 0);
    const before = storeSnapshot(storeRoot);

    const bytes = readFileSync(archive);
    const child = spawn(process.execPath, [STRATA_BIN, '--root', storeRoot, 'load'], { stdio: ['pipe', 'ignore', 'ignore'] });
    const exited = new Promise<NodeJS.Signals | number | null>((resolve) => child.on('exit', (code, sig) => resolve(sig ?? code)));
    child.stdin.on('error', () => undefined);
    child.stdin.write(bytes.subarray(0, Math.floor(bytes.length / 2)));
    // Wait until the staging dir exists and holds data: the load is mid-way, blocked on stdin.
    let staging: string[] = [];
    for (let i = 0; i < 200 && staging.length === 0; i++) {
      await sleep(50);
      staging = storeTemp(storeRoot).filter((name) => name.endsWith('.load'));
    }
    assert.equal(staging.length, 1, 'the load started staging');
    child.kill('SIGKILL');
    assert.equal(await exited, 'SIGKILL');

    assert.equal(storeSnapshot(storeRoot), before, 'no new blob and no new name');
    assert.ok(storeTemp(storeRoot).includes(staging[0]!), 'the dead load left its staging dir');
    const images = strata(storeRoot, ['images']);
    assert.equal(images.code, 0, images.stderr);
    assert.deepEqual(storeTemp(storeRoot), [], 'the next command cleaned it');
    const again = strata(storeRoot, ['load', '-i', archive]);
    assert.equal(again.stdout, 'Loaded image: busybox:latest\n');
  });
});
