/**
 * applyLayer as an unprivileged user (a child process running as nobody): device nodes are
 * skipped with a warning, fifos are made, owners and setuid/setgid/sticky bits are dropped.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { repoRoot } from '../helpers/corpus.js';
import { device, dir, fifo, file, tar } from './hostile-tars.js';

const NOBODY = 65534;
const isRoot = process.geteuid?.() === 0;

describe('applyLayer without root', { skip: !isRoot && 'needs root to switch to nobody' }, () => {
  let work: string;
  before(() => {
    work = mkdtempSync(join(tmpdir(), 'strata-nonroot-'));
    chmodSync(work, 0o755);
  });
  after(() => rmSync(work, { recursive: true, force: true }));

  it('skips devices with warnings and drops owners and special bits', () => {
    const target = join(work, 'target');
    mkdirSync(target);
    chownSync(target, NOBODY, NOBODY);
    const layerPath = join(work, 'layer.tar');
    writeFileSync(layerPath, tar(
      dir('dev/'), device('dev/null', 'c', 1, 3), device('dev/sda', 'b', 8, 0), fifo('dev/pipe', { mode: 0o600 }),
      file('su', '#!', { mode: 0o4755, uid: 0, gid: 0 }), dir('tmp/', { mode: 0o1777 }), dir('ro/', { mode: 0o555 }), file('ro/f', 'inside a read-only dir'),
    ));
    const script = join(work, 'run.mjs');
    const mod = pathToFileURL(join(repoRoot, 'dist', 'src', 'fs', 'apply-layer.js')).href;
    writeFileSync(script, `
      import { createReadStream } from 'node:fs';
      import { applyLayer } from ${JSON.stringify(mod)};
      try {
        const stats = await applyLayer(createReadStream(process.argv[2]), process.argv[3], { mode: 'merge', label: 'layer nobody' });
        console.log(JSON.stringify(stats));
      } catch (e) { console.log(JSON.stringify({ error: e.name, message: e.message })); }
    `);
    const r = spawnSync(process.execPath, [script, layerPath, target], { uid: NOBODY, gid: NOBODY, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { warnings?: string[]; error?: string; message?: string; entries?: number };
    assert.equal(out.error, undefined, out.message);
    assert.equal(out.entries, 8);
    assert.deepEqual(out.warnings, [
      'layer nobody: entry "dev/null": character device skipped (creating devices needs root)',
      'layer nobody: entry "dev/sda": block device skipped (creating devices needs root)',
    ]);
    assert.equal(existsSync(join(target, 'dev/null')), false);
    assert.ok(lstatSync(join(target, 'dev/pipe')).isFIFO());
    const su = lstatSync(join(target, 'su'));
    assert.equal(su.uid, NOBODY);
    assert.equal(su.mode & 0o7777, 0o755);
    assert.equal(lstatSync(join(target, 'tmp')).mode & 0o7777, 0o777);
    assert.equal(lstatSync(join(target, 'ro')).mode & 0o7777, 0o555, 'a read-only dir still received its child');
    assert.ok(existsSync(join(target, 'ro/f')));
  });
});
