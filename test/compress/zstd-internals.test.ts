/**
 * The pieces under the zstd streams: the frame splitter, the wasm patch and per-stream heaps,
 * and the compressor's edge sizes.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { compressStream } from '../../src/compress/index.js';
import { ZstdFrameSplitter } from '../../src/compress/zstd-frames.js';
import type { FrameEvent } from '../../src/compress/zstd-frames.js';
import { createZstdInstance, isEmscriptenAbort, raiseMemoryMaximum } from '../../src/compress/zstd-wasm.js';
import { collect, MiB, streamOf, tool } from './helpers.js';

function events(input: Buffer, chunk: number): FrameEvent[] {
  const s = new ZstdFrameSplitter();
  const out: FrameEvent[] = [];
  for (let o = 0; o < input.length; o += chunk) out.push(...s.feed(input.subarray(o, o + chunk)));
  s.finish();
  return out;
}

describe('ZstdFrameSplitter', () => {
  const a = tool('zstd', ['-c', '-q'], randomBytes(300 * 1024)); // raw blocks, checksum
  const b = tool('zstd', ['-c', '-q', '--no-check'], Buffer.alloc(0));
  const skip = Buffer.from([0x5e, 0x2a, 0x4d, 0x18, 3, 0, 0, 0, 1, 2, 3]);
  const input = Buffer.concat([a, skip, b]);

  it('cuts frames into header, whole blocks and end, the same for any chunking', () => {
    const ref = events(input, input.length);
    const kinds = ref.map((e) => e.kind).join(' ');
    assert.equal(kinds, 'frame block block block end frame block end');
    const first = ref[0];
    assert.ok(first.kind === 'frame');
    assert.equal(a[4], 0x04, 'FHD: checksum, no content size, not single-segment');
    assert.equal(first.windowBytes, 2 ** (10 + (a[5] >> 3)) * (1 + (a[5] & 7) / 8));
    assert.equal(first.contentSize, null);
    const second = ref[5];
    assert.ok(second.kind === 'frame');
    assert.equal(second.offset, a.length + skip.length);
    // Every byte except the skippable frame is handed to the decoder exactly once.
    const fed = ref.reduce((n, e) => n + (e.kind === 'frame' ? e.header.length : e.bytes.length), 0);
    assert.equal(fed, input.length - skip.length);
    for (const chunk of [1, 2, 5, 4096]) {
      const got = events(input, chunk);
      assert.deepEqual(got.map((e) => e.kind), ref.map((e) => e.kind), `chunk ${chunk}`);
      assert.deepEqual(got.map((e) => e.offset), ref.map((e) => e.offset), `chunk ${chunk}`);
    }
  });

  it('reads the content size and single-segment window from a file frame', () => {
    const dir = tool('sh', ['-c', 'f=$(mktemp) && printf %0300d 0 > $f && zstd -q -c $f && rm $f'], Buffer.alloc(0));
    const [frame] = events(dir, 7);
    assert.ok(frame.kind === 'frame');
    assert.equal(frame.contentSize, 300);
    assert.equal(frame.windowBytes, 300);
  });

  it('refuses to finish mid-frame', () => {
    const s = new ZstdFrameSplitter();
    [...s.feed(a.subarray(0, a.length - 4))];
    assert.throws(() => s.finish(), /truncated/);
  });
});

describe('zstd wasm instances', () => {
  it('the patched binary declares the new maximum', () => {
    // A minimal module importing env.memory with min 1, max 2.
    const mod = Uint8Array.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 2, 0x10, 1, 3, 0x65, 0x6e, 0x76, 6, 0x6d, 0x65, 0x6d, 0x6f, 0x72, 0x79, 2, 1, 1, 2]);
    const patched = raiseMemoryMaximum(mod, 300);
    assert.deepEqual([...patched.subarray(-3)], [1, 0xac, 0x02], 'limits: flags 1, min 1, max 300 as LEB128');
    assert.equal(patched[9], 0x11, 'section size grew by one byte');
    const Wasm = (globalThis as unknown as { WebAssembly: { Module: { new (b: Uint8Array): object; imports(m: object): { kind: string }[] } } }).WebAssembly;
    assert.deepEqual(Wasm.Module.imports(new Wasm.Module(patched)).map((i) => i.kind), ['memory']);
  });

  it('an out-of-memory abort is contained in its own instance', async () => {
    const small = await createZstdInstance(16 * MiB);
    const frame = tool('sh', ['-c', 'head -c 100000 /dev/urandom | zstd -q -c --zstd=wlog=24'], Buffer.alloc(0));
    const d = small.newDecompressor();
    d.begin();
    let thrown: unknown;
    try {
      d.transform(frame, () => {});
    } catch (e) {
      thrown = e;
    }
    assert.ok(isEmscriptenAbort(thrown), `expected an emscripten abort, got ${String(thrown)}`);
    // Another instance is unaffected, and the stream layer sizes its heap from the header.
    const big = await createZstdInstance(32 * MiB);
    const d2 = big.newDecompressor();
    d2.begin();
    let n = 0;
    assert.equal(d2.transform(frame, (b) => (n += b.length)), true);
    d2.end(() => {});
    d2.delete();
    assert.equal(n, 100000);
  });
});

describe('zstd compressor edge sizes', () => {
  for (const size of [1, 128 * 1024 - 1, 128 * 1024, 128 * 1024 + 1, MiB, MiB + 1, 3 * MiB + 5]) {
    it(`incompressible input of ${size} bytes ends in a valid frame`, async () => {
      const input = randomBytes(size);
      const packed = await collect(streamOf(input, 50_000).pipe(compressStream('zstd')));
      assert.ok(tool('zstd', ['-dc'], packed).equals(input));
    });
  }
});
