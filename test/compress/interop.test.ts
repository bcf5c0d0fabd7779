/**
 * strata's codecs against the reference CLIs, both ways: what strata writes the CLIs read, and
 * what the CLIs write (in their various modes) strata reads.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { compressStream, decompressStream, openDecompressed } from '../../src/compress/index.js';
import type { Compression } from '../../src/compress/index.js';
import { collect, MiB, rejectsData, semiCompressible, streamOf, tool } from './helpers.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const data = semiCompressible(8 * MiB, 21);

async function strataDecode(packed: Buffer, expect: Compression): Promise<Buffer> {
  const { compression, stream } = await openDecompressed(streamOf(packed));
  assert.equal(compression, expect);
  return collect(stream);
}

describe('strata writes, the CLI reads', () => {
  for (const kind of ['gzip', 'zstd'] as const) {
    for (const [name, input] of [['empty', Buffer.alloc(0)], ['8 MiB', data]] as const) {
      it(`${kind} -dc reads strata's ${kind} (${name})`, async () => {
        const packed = await collect(streamOf(input).pipe(compressStream(kind)));
        tool(kind, ['-t'], packed);
        assert.equal(sha(tool(kind, ['-dc'], packed)), sha(input));
      });
    }
  }
  it('zstd -dc reads strata zstd at level 19', async () => {
    const input = data.subarray(0, MiB);
    const packed = await collect(streamOf(input).pipe(compressStream('zstd', { level: 19 })));
    assert.ok(tool('zstd', ['-dc'], packed).equals(input));
  });
});

describe('the CLI writes, strata reads', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'strata-compress-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('gzip: default, -9, multi-member, trailing zero padding', async () => {
    const a = tool('gzip', ['-c'], data);
    assert.equal(sha(await strataDecode(a, 'gzip')), sha(data));
    assert.equal(sha(await strataDecode(tool('gzip', ['-9', '-c'], data), 'gzip')), sha(data));
    const second = Buffer.from('second member\n');
    const multi = Buffer.concat([a, tool('gzip', ['-c'], second), tool('gzip', ['-c'], Buffer.alloc(0))]);
    assert.equal(sha(await strataDecode(multi, 'gzip')), sha(Buffer.concat([data, second])));
    assert.equal(sha(await strataDecode(Buffer.concat([a, Buffer.alloc(512)]), 'gzip')), sha(data));
  });

  it('zstd: from stdin (checksum, no content size) and from a file (content size in the header)', async () => {
    assert.equal(sha(await strataDecode(tool('zstd', ['-c', '-q'], data), 'zstd')), sha(data));
    const file = join(dir, 'in.bin');
    writeFileSync(file, data);
    assert.equal(sha(await strataDecode(tool('zstd', ['-c', '-q', '--no-check', file], Buffer.alloc(0)), 'zstd')), sha(data));
    writeFileSync(file, 'small');
    assert.equal((await strataDecode(tool('zstd', ['-c', '-q', file], Buffer.alloc(0)), 'zstd')).toString(), 'small');
  });

  it('zstd: concatenated frames, multi-threaded output, pzstd (skippable frames)', async () => {
    const half = data.subarray(0, 4 * MiB);
    const multi = Buffer.concat([tool('zstd', ['-c', '-q', '-1'], half), tool('zstd', ['-c', '-q', '-19'], Buffer.from('x')), tool('zstd', ['-c', '-q'], Buffer.alloc(0))]);
    assert.equal(sha(await strataDecode(multi, 'zstd')), sha(Buffer.concat([half, Buffer.from('x')])));
    assert.equal(sha(await strataDecode(tool('zstd', ['-c', '-q', '-T2', '-3'], data), 'zstd')), sha(data));
    const pz = tool('pzstd', ['-c', '-q', '-p', '2'], data);
    assert.equal(sha(await strataDecode(pz, 'zstd')), sha(data));
  });

  it('zstd: -19 --long=27 (a 128 MiB window) with a match 10 MiB back', async () => {
    const block = semiCompressible(10 * MiB, 5);
    const input = Buffer.concat([block, block]);
    const packed = tool('zstd', ['-c', '-q', '-19', '--long=27'], input);
    assert.ok(packed.length < input.length * 0.4, 'the long match was used');
    assert.equal(sha(await strataDecode(packed, 'zstd')), sha(input));
  });

  it('zstd: --ultra -22 decodes', async () => {
    const input = data.subarray(0, 2 * MiB);
    assert.ok((await strataDecode(tool('zstd', ['-c', '-q', '--ultra', '-22'], input), 'zstd')).equals(input));
  });

  it('zstd: a window over 128 MiB is a typed error with a hint', async () => {
    const packed = tool('zstd', ['-c', '-q', '--long=30'], Buffer.from('needs a big window'));
    const err = await rejectsData(collect(streamOf(packed).pipe(decompressStream('zstd'))), 'zstd', /needs a 1024 MiB window; strata decodes windows up to 128 MiB/);
    assert.match(err.hint ?? '', /--long=27/);
  });

  it('bzip2: single and concatenated streams', async () => {
    const a = tool('bzip2', ['-c', '-1'], data);
    assert.equal(sha(await strataDecode(a, 'bzip2')), sha(data));
    const multi = Buffer.concat([a, tool('bzip2', ['-c'], Buffer.from('more'))]);
    assert.equal(sha(await strataDecode(multi, 'bzip2')), sha(Buffer.concat([data, Buffer.from('more')])));
  });

  it('xz: single, multi-threaded (several blocks) and concatenated streams', async () => {
    assert.equal(sha(await strataDecode(tool('xz', ['-c', '-0'], data), 'xz')), sha(data));
    const mt = tool('xz', ['-c', '-0', '-T2', '--block-size=1MiB'], data);
    assert.equal(sha(await strataDecode(mt, 'xz')), sha(data));
    const multi = Buffer.concat([mt, tool('xz', ['-c'], Buffer.from('more'))]);
    assert.equal(sha(await strataDecode(multi, 'xz')), sha(Buffer.concat([data, Buffer.from('more')])));
  });
});
