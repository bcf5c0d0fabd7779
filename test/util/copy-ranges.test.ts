/**
 * The copy-ranges helper: outputs made of ranges of several sources, byte for byte; refusals.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { copyRanges, copyRangesHelper } from '../../src/util/copy-ranges.js';
import { repoRoot } from '../helpers/corpus.js';

describe('copyRanges (dist/native/copy-ranges)', () => {
  let dir: string;
  let helper: string;
  before(() => {
    helper = copyRangesHelper()!;
    assert.ok(helper, 'npm run build compiles dist/native/copy-ranges');
    dir = mkdtempSync(join(repoRoot, '.cache', 'tmp', 'copy-ranges-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('writes each output as the concatenation of its ranges, across sources', async () => {
    const a = Buffer.from('0123456789'.repeat(300_000)); // 3 MB: several copy_file_range calls
    const b = Buffer.from('abcdefghij');
    writeFileSync(join(dir, 'a'), a);
    writeFileSync(join(dir, 'b'), b);
    await copyRanges(helper, {
      sources: [join(dir, 'a'), join(dir, 'b')],
      outputs: [
        { path: join(dir, 'x'), ranges: [{ source: 1, offset: 2, length: 3 }, { source: 0, offset: 5, length: 2_500_000 }, { source: 1, offset: 0, length: 1 }] },
        { path: join(dir, 'y'), ranges: [] },
        { path: join(dir, 'z'), ranges: [{ source: 0, offset: 0, length: 0 }, { source: 1, offset: 9, length: 1 }] },
      ],
    });
    assert.deepEqual(readFileSync(join(dir, 'x')), Buffer.concat([b.subarray(2, 5), a.subarray(5, 2_500_005), b.subarray(0, 1)]));
    assert.equal(readFileSync(join(dir, 'y')).length, 0);
    assert.equal(readFileSync(join(dir, 'z'), 'utf8'), 'j');
  });

  it('refuses an existing output and a range past the end of its source', async () => {
    writeFileSync(join(dir, 's'), 'short');
    writeFileSync(join(dir, 'exists'), 'keep me');
    await assert.rejects(copyRanges(helper, { sources: [join(dir, 's')], outputs: [{ path: join(dir, 'exists'), ranges: [] }] }), /creating .*exists: File exists/);
    assert.equal(readFileSync(join(dir, 'exists'), 'utf8'), 'keep me');
    await assert.rejects(copyRanges(helper, { sources: [join(dir, 's')], outputs: [{ path: join(dir, 'past'), ranges: [{ source: 0, offset: 3, length: 10 }] }] }), /unexpected end of|reading/);
    assert.ok(existsSync(join(dir, 'past')), 'the caller removes a partial output');
  });
});
