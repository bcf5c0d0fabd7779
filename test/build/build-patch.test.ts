/**
 * `strata build` rebuilding a COPY whose context barely changed: the step patches the layer of
 * its previous build instead of copying every file again. Whatever the path, the image must be
 * the one a `--no-cache` build makes, and the layer dirs it stacks on must survive `rmi` + `prune`.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runStrata } from '../helpers/cli.js';
import { skipReason } from '../exec/sandbox.js';
import { MAX_PATCH_DEPTH } from '../../src/snapshot/snapshotter.js';
import { BUSYBOX, makeContext, plainSteps, stepTitled, storeWithBusybox } from './cli-build.js';
import { rmTemp } from './helpers.js';

const DOCKERFILE = `FROM ${BUSYBOX}\nCOPY data/ /data/\nRUN cat /data/a.txt /data/sub/b.txt > /joined\n`;

/** A context of `n` small files under data/, plus two known ones. */
function contextFiles(n: number): Record<string, string> {
  const files: Record<string, string> = { Dockerfile: DOCKERFILE, 'data/a.txt': 'alpha\n', 'data/sub/b.txt': 'beta\n' };
  for (let i = 0; i < n; i++) files[`data/d${i % 7}/f${i}.txt`] = `file ${i}\n`.repeat(1 + (i % 13));
  return files;
}

describe('strata build (CLI): patching the previous layer of a COPY', { skip: skipReason(), timeout: 10 * 60_000 }, () => {
  let root: string;
  let ctx: string;
  const strata = (...args: string[]) => runStrata(['--root', root, ...args]);
  /** Builds with plain progress; returns the image ID and the COPY step's lines. */
  const build = (tag: string, ...extra: string[]): { id: string; copy: string[] } => {
    const r = strata('build', '--progress', 'plain', '-t', tag, ...extra, ctx);
    assert.equal(r.code, 0, r.stderr);
    const id = r.stdout.trim().split('\n').pop()!;
    return { id, copy: stepTitled(plainSteps(r.stderr), /COPY data\//) };
  };
  const fresh = (tag: string) => build(tag, '--no-cache').id;
  const patched = (lines: string[]) => lines.some((l) => l.includes("patched the previous build's layer"));

  before(async () => {
    root = await storeWithBusybox();
    ctx = makeContext(contextFiles(300));
  });
  after(() => {
    if (ctx) rmTemp(ctx);
    if (root) rmTemp(root);
  });

  it('one changed file: the step says it patched, and the image equals a --no-cache build', () => {
    const first = build('app:1');
    assert.ok(!patched(first.copy), first.copy.join('\n'));
    writeFileSync(join(ctx, 'data/d3/f10.txt'), 'changed content of a different length\n');
    const second = build('app:2');
    assert.ok(patched(second.copy), second.copy.join('\n'));
    assert.match(second.copy.join('\n'), /310 of 311 entries unchanged/);
    assert.notEqual(second.id, first.id);
    // The RUN after the COPY read the patched tree (layer dirs stacked as overlay lowers), so
    // equal image IDs cover what it saw too.
    assert.equal(fresh('app:fresh'), second.id);
  });

  it('an added file patches too; a removed file makes a whole copy; both equal --no-cache builds', () => {
    writeFileSync(join(ctx, 'data/sub/new.txt'), 'new\n');
    const added = build('app:3');
    assert.ok(patched(added.copy), added.copy.join('\n'));
    assert.equal(fresh('app:fresh'), added.id);

    unlinkSync(join(ctx, 'data/d1/f1.txt'));
    const removed = build('app:4');
    assert.ok(!patched(removed.copy), 'a removed file cannot be patched away');
    assert.equal(fresh('app:fresh'), removed.id);
  });

  it(`patches stack at most ${MAX_PATCH_DEPTH} deep, then the step writes a whole layer again`, () => {
    build('app:base'); // the current state, cached
    const seen: boolean[] = [];
    for (let i = 0; i <= MAX_PATCH_DEPTH; i++) {
      writeFileSync(join(ctx, 'data/a.txt'), `alpha ${i}\n`);
      const r = build(`app:chain${i}`);
      seen.push(patched(r.copy));
      if (i === MAX_PATCH_DEPTH) assert.equal(fresh('app:fresh'), r.id);
    }
    // The first rebuild after a whole copy may patch; the last one must start over.
    assert.equal(seen.at(-1), false, `patched: ${seen.join(',')}`);
    assert.ok(seen.slice(0, -1).some(Boolean), `patched: ${seen.join(',')}`);
  });

  it('rmi of the earlier images and prune keep what a patched image stacks on; a lost lower dir is re-extracted', () => {
    writeFileSync(join(ctx, 'data/sub/b.txt'), 'beta two\n');
    const last = build('app:last');
    assert.ok(patched(last.copy), last.copy.join('\n'));
    const tags = strata('images', '--format', 'json');
    assert.equal(tags.code, 0, tags.stderr);
    for (const img of JSON.parse(tags.stdout) as { Repository: string; Tag: string }[]) {
      if (/(^|\/)app$/.test(img.Repository) && img.Tag !== 'last') assert.equal(strata('rmi', `app:${img.Tag}`).code, 0);
    }
    const prune = strata('prune', '--cache');
    assert.equal(prune.code, 0, prune.stderr);
    // Every patch layer dir still has the dir it stacks on, though that one's image is gone.
    const layers = join(root, 'layers');
    const lowerFiles = readdirSync(layers).filter((n) => n.endsWith('.lower'));
    assert.ok(lowerFiles.length > 0, 'app:last is a patch layer');
    for (const f of lowerFiles) {
      const lower = readFileSync(join(layers, f), 'utf8').trim();
      assert.ok(existsSync(join(layers, f.slice(0, -'.lower'.length))), `${f} without its layer dir`);
      assert.ok(existsSync(join(layers, lower)), `${f}: lower ${lower} was removed`);
    }
    // A RUN on top of the patched image reads its files through the stacked layer dirs.
    const next = makeContext({ Dockerfile: 'FROM app:last\nRUN cat /data/sub/b.txt /data/d3/f10.txt > /check\n' });
    try {
      const r = strata('build', '-q', '-t', 'check', next);
      assert.equal(r.code, 0, r.stderr);
      // Damage the store: drop every whole layer dir; patch layers must fall back to their blobs.
      for (const name of readdirSync(layers)) {
        if (!name.endsWith('.lower') && !readdirSync(layers).includes(`${name}.lower`)) rmSync(join(layers, name), { recursive: true, force: true });
      }
      const again = strata('build', '-q', '--no-cache', '-t', 'check2', next);
      assert.equal(again.code, 0, again.stderr);
      assert.equal(again.stdout.trim(), r.stdout.trim());
    } finally {
      rmTemp(next);
    }
  });
});
