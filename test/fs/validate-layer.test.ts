/**
 * validateLayer against applyLayer ('overlay', into an empty directory): every hostile layer of
 * the catalogue gives the same error class and message, every valid one the same counts, and a
 * 20,000-entry layer is validated quickly.
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { describe, it } from 'node:test';
import { StrataError } from '../../src/errors.js';
import { applyLayer } from '../../src/fs/apply-layer.js';
import { LayerModel } from '../../src/fs/layer-model.js';
import type { EntryType } from '../../src/fs/tar-entries.js';
import { validateLayer } from '../../src/fs/validate-layer.js';
import { dir, file, hostileLayers, makeSandbox, snapshotOutside, streamOf, tar, validLayers } from './hostile-tars.js';

const LABEL = 'layer v';

type Outcome = { ok: true; entries: number; bytes: number; warnings: string[] } | { ok: false; cls: string; code?: string; message: string };

async function outcome(run: () => Promise<{ entries: number; bytes: number; warnings: string[] }>): Promise<Outcome> {
  try {
    const { entries, bytes, warnings } = await run();
    // Directory xattr warnings come at the end from applyLayer, at the entry from validateLayer.
    return { ok: true, entries, bytes, warnings: [...warnings].sort() };
  } catch (err) {
    const e = err as Error;
    return { ok: false, cls: e.constructor.name, code: (e as StrataError).code, message: e.message };
  }
}

/** Both outcomes of one layer; applyLayer runs in a fresh sandbox whose outside must stay untouched. */
async function both(buf: Buffer): Promise<{ applied: Outcome; validated: Outcome; written: string[] }> {
  const sb = makeSandbox();
  try {
    const before = snapshotOutside(sb);
    const applied = await outcome(() => applyLayer(streamOf(buf), sb.target, { mode: 'overlay', label: LABEL }));
    assert.deepEqual(snapshotOutside(sb), before, 'applyLayer changed something outside the target');
    const validated = await outcome(() => validateLayer(streamOf(buf), { label: LABEL }));
    return { applied, validated, written: readdirSync(sb.target) };
  } finally {
    sb.cleanup();
  }
}

describe('validateLayer agrees with applyLayer', () => {
  const sbPaths = makeSandbox();
  sbPaths.cleanup(); // only its (absolute, now gone) paths are used to build the layers
  for (const { title, tar: buf } of hostileLayers(sbPaths)) {
    it(`refuses: ${title}`, async () => {
      const { applied, validated } = await both(buf);
      assert.equal(applied.ok, false, `applyLayer accepted a hostile layer (${title})`);
      assert.deepEqual(validated, applied);
      if (!validated.ok) {
        assert.ok(validated.message.startsWith(`${LABEL}: `), validated.message);
        assert.ok(validated.code === 'ARCHIVE_UNSAFE' || validated.code === 'ARCHIVE_INVALID', validated.code);
      }
    });
  }
  for (const { title, tar: buf } of validLayers()) {
    it(`accepts: ${title}`, async () => {
      const { applied, validated } = await both(buf);
      assert.equal(applied.ok, true, applied.ok ? '' : applied.message);
      assert.deepEqual(validated, applied);
    });
  }
});

describe('validateLayer', () => {
  it('writes nothing and reports the warnings applyLayer gives', async () => {
    const v = await validateLayer(streamOf(tar(file('.wh..wh.aufs'), file('.wh..wh.plnk/1'), file('x', 'abc'))), { label: LABEL });
    assert.deepEqual(v, { entries: 3, bytes: 3, warnings: ['layer v: entry ".wh..wh.aufs": AUFS metadata skipped'] });
  });

  it('honours maxEntrySize and abort', async () => {
    await assert.rejects(validateLayer(streamOf(tar(file('big', 'x'.repeat(600)))), { label: LABEL, maxEntrySize: 512 }), /entry "big": size 600 exceeds the limit of 512 bytes/);
    const ac = new AbortController();
    ac.abort(new Error('stop'));
    await assert.rejects(validateLayer(streamOf(tar(file('a'))), { label: LABEL, signal: ac.signal }), /stop/);
  });

  it('validates a 20,000-entry layer quickly', async (ctx) => {
    const parts: Buffer[] = [];
    for (let d = 0; d < 200; d++) {
      parts.push(dir(`usr/share/pkg${d}/`));
      for (let f = 0; f < 100; f++) parts.push(file(`usr/share/pkg${d}/file-${f}.txt`, `content ${d}/${f}\n`.repeat(20)));
    }
    const layer = tar(dir('usr/'), dir('usr/share/'), ...parts);
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    const stats = await validateLayer(streamOf(layer, 1 << 16), { label: LABEL });
    const cpu = process.cpuUsage(cpu0);
    const ms = performance.now() - t0;
    const cpuMs = (cpu.user + cpu.system) / 1000;
    ctx.diagnostic(`20,202 entries (${(layer.length / 1e6).toFixed(1)} MB): ${ms.toFixed(0)} ms wall, ${cpuMs.toFixed(0)} ms CPU`);
    assert.equal(stats.entries, 20_202);
    assert.ok(cpuMs < 1500, `validation used ${cpuMs.toFixed(0)} ms of CPU`);
  });

  it('stays linear when a layer keeps replacing directories', async (ctx) => {
    // Each round replaces a directory by a file. Prefix scans of caches, or deleting and
    // re-adding one Map key (V8 keeps the deleted slots in the key's hash chain), would make this
    // quadratic. The model is driven directly: tar parsing would only dilute the difference.
    const cpuMs = (rounds: number) => {
      const entry = (name: string, type: EntryType) => ({ name, type, linkname: '', devmajor: 0, devminor: 0, xattrs: new Map<string, Buffer>() });
      const entries = [];
      for (let i = 0; i < rounds; i++) entries.push(entry(`d${i}/`, 'dir'), entry(`d${i}/sub/`, 'dir'));
      for (let i = 0; i < rounds; i++) entries.push(entry('x/', 'dir'), entry('x/y', 'file'), entry('x', 'file'));
      const cpu0 = process.cpuUsage();
      const model = new LayerModel({ label: LABEL });
      entries.forEach((e, i) => model.apply(e, i));
      const cpu = process.cpuUsage(cpu0);
      assert.equal(model.get('x')?.kind, 'other');
      return (cpu.user + cpu.system) / 1000;
    };
    cpuMs(2000); // warm up
    const small = cpuMs(10_000);
    const big = cpuMs(40_000);
    ctx.diagnostic(`50,000 entries: ${small.toFixed(0)} ms CPU; 200,000 entries: ${big.toFixed(0)} ms CPU`);
    assert.ok(big < small * 8, `4× the entries took ${(big / small).toFixed(1)}× the time`);
  });
});
