/**
 * mergePatchTar: the tar of a base layer merged with a patch's tar must be byte for byte the tar
 * writeDiffTar makes of the two trees stacked, whether the bytes are copied in the kernel or from
 * Node; a base that does not hash to its diff_id is refused.
 */
import assert from 'node:assert/strict';
import { cpSync, createWriteStream, mkdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setXattrSync } from '../../src/fs/xattr.js';
import { writeDiffTar } from '../../src/snapshot/diff-tar.js';
import { compareTarOrder, mergePatchTar } from '../../src/snapshot/patch-tar.js';
import { SnapshotError } from '../../src/snapshot/snapshot-error.js';
import { scratchDir } from './fixture.js';

const LONG = 'a-name-longer-than-the-hundred-bytes-a-ustar-header-holds-'.repeat(3);

/** Writes files (path → content) under `root`, all with one fixed mtime. */
function tree(root: string, files: Record<string, string>): void {
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), content);
  }
}

async function tarOf(dir: string, out: string): Promise<string> {
  return (await writeDiffTar(dir, createWriteStream(out), { clampMtime: 1_700_000_000 })).diffId;
}

describe('mergePatchTar', () => {
  let work: string;
  before(() => {
    work = scratchDir('strata-patchtar');
  });
  after(() => rmSync(work, { recursive: true, force: true }));

  it('orders paths as DiffWalker does: parents first, then components by UTF-8 bytes', () => {
    const sorted = ['a', 'a/b', 'a/b/c', 'a-b', 'a.b', 'ab', 'z', 'é', '\u{1F600}', '\uFFFD'];
    const shuffled = [...sorted].reverse();
    shuffled.sort(compareTarOrder);
    // U+FFFD sorts after U+1F600 in UTF-16 but before it in UTF-8.
    assert.deepEqual(shuffled, ['a', 'a/b', 'a/b/c', 'a-b', 'a.b', 'ab', 'z', 'é', '\uFFFD', '\u{1F600}']);
  });

  for (const inKernel of [true, false]) {
    it(`gives the bytes of the stacked tree's own tar (${inKernel ? 'copy-ranges helper' : 'written from Node'})`, async () => {
      const dir = join(work, `case-${inKernel}`);
      const base = join(dir, 'base');
      const patch = join(dir, 'patch');
      const whole = join(dir, 'whole');
      const files: Record<string, string> = { 'top.txt': 'top', 'é/ü.txt': 'umlaut', [`deep/${LONG}`]: 'long name', 'deep/x/y.txt': 'y', 'zz/big.bin': 'z'.repeat(300_000) };
      for (let i = 0; i < 200; i++) files[`many/f${String(i).padStart(3, '0')}`] = `file ${i}`.repeat(i % 7);
      tree(base, files);
      setXattrSync(join(base, 'top.txt'), 'user.note', 'kept verbatim');
      // The patch: a changed file, a new file between old ones, a new directory, a changed long name.
      const changes = { 'many/f100': 'changed', 'many/f100a': 'added', 'new-dir/n.txt': 'n', [`deep/${LONG}`]: 'long name, changed', '\u{1F600}.txt': 'emoji' };
      tree(patch, changes);
      cpSync(base, whole, { recursive: true, preserveTimestamps: true });
      tree(whole, changes);
      setXattrSync(join(whole, 'top.txt'), 'user.note', 'kept verbatim'); // cpSync does not copy xattrs
      // Directories the patch holds carry its metadata, as in an overlay upper dir.
      for (const d of ['many', 'deep', '']) {
        utimesSync(join(patch, d), 1_600_000_000, 1_600_000_000);
        utimesSync(join(whole, d), 1_600_000_000, 1_600_000_000);
      }
      const baseDiffId = await tarOf(base, join(dir, 'base.tar'));
      await tarOf(patch, join(dir, 'patch.tar'));
      const wholeDiffId = await tarOf(whole, join(dir, 'whole.tar'));
      const merged = await mergePatchTar({ base: join(dir, 'base.tar'), baseDiffId, patch: join(dir, 'patch.tar'), out: join(dir, 'merged.tar'), inKernel });
      assert.equal(merged.diffId, wholeDiffId);
      assert.deepEqual(readFileSync(join(dir, 'merged.tar')), readFileSync(join(dir, 'whole.tar')));
      assert.equal(merged.size, readFileSync(join(dir, 'whole.tar')).length);
    });
  }

  it('refuses a base whose bytes do not hash to its diff_id', async () => {
    const dir = join(work, 'bad');
    tree(join(dir, 'base'), { 'a.txt': 'aaaa', 'b.txt': 'bbbb' });
    tree(join(dir, 'patch'), { 'a.txt': 'AAAA' });
    const baseDiffId = await tarOf(join(dir, 'base'), join(dir, 'base.tar'));
    await tarOf(join(dir, 'patch'), join(dir, 'patch.tar'));
    const bytes = readFileSync(join(dir, 'base.tar'));
    bytes[bytes.indexOf('bbbb')] = 0x42; // same size, different content
    writeFileSync(join(dir, 'base.tar'), bytes);
    await assert.rejects(
      mergePatchTar({ base: join(dir, 'base.tar'), baseDiffId, patch: join(dir, 'patch.tar'), out: join(dir, 'merged.tar') }),
      (e: unknown) => e instanceof SnapshotError && /hashes to sha256:/.test(e.message),
    );
  });
});
