/**
 * Streaming zstd on zstd-codec's low-level stream bindings (not its Simple/Streaming helpers,
 * which hold whole inputs and outputs in memory).
 *
 * Compression feeds the ZSTD_CStream 1 MiB at a time and pushes what each call produces. Frames
 * carry no content checksum (the binding cannot enable it); OCI digests cover both the blob and
 * the uncompressed layer. Decompression feeds the ZSTD_DStream one block at a time as cut by
 * ZstdFrameSplitter and, at each frame end, makes it give back every byte it holds (see endFrame()).
 */
import { CompressedDataError, CompressionError } from './errors.js';
import { PacedTransform } from './paced-transform.js';
import { compressHeapBytes, createZstdInstance, decompressHeapBytes, isEmscriptenAbort } from './zstd-wasm.js';
import type { BindingSink, CompressBinding, DecompressBinding, ZstdInstance } from './zstd-wasm.js';
import { ZstdFrameSplitter } from './zstd-frames.js';
import type { FrameStart } from './zstd-frames.js';

/** Lowest zstd level strata accepts (fastest). */
export const ZSTD_MIN_LEVEL = 1;
/** Highest zstd level strata accepts: 19 needs a ~100 MiB heap; 20-22 (--ultra) need 256 MiB+. */
export const ZSTD_MAX_LEVEL = 19;

const FEED = 1 << 20;
/**
 * An empty skippable frame. Fed after a frame's last bytes it forces one more decode call, in
 * which the DStream first flushes any block it decoded but could not yet hand out (it decodes a
 * block before checking for output room and the binding never calls it without input).
 */
const SYNC_FRAME = Buffer.from([0x50, 0x2a, 0x4d, 0x18, 0, 0, 0, 0]);

/** Collects binding output; pushing from inside the wasm call could re-enter user code. */
function collector(): { sink: BindingSink; take(): Uint8Array[]; bytes(): number } {
  let out: Uint8Array[] = [];
  let n = 0;
  return {
    sink: (b) => {
      out.push(b);
      n += b.length;
    },
    take: () => {
      const t = out;
      out = [];
      return t;
    },
    bytes: () => n,
  };
}

/** Compressing Transform: raw bytes in, one zstd frame out. */
export class ZstdCompressStream extends PacedTransform {
  private readonly level: number;
  private binding: CompressBinding | undefined;
  private starting: Promise<CompressBinding | undefined> | undefined;
  private readonly staging = Buffer.allocUnsafe(FEED);
  private staged = 0;
  private readonly out = collector();

  constructor(level: number) {
    super();
    if (!Number.isInteger(level) || level < ZSTD_MIN_LEVEL || level > ZSTD_MAX_LEVEL) {
      throw new CompressionError(`zstd level ${level} is out of range`, { hint: `use a level from ${ZSTD_MIN_LEVEL} to ${ZSTD_MAX_LEVEL}` }, 'COMPRESSION_LEVEL');
    }
    this.level = level;
  }

  protected async work(chunk: Buffer): Promise<void> {
    let pos = 0;
    while (pos < chunk.length) {
      const n = Math.min(FEED - this.staged, chunk.length - pos);
      chunk.copy(this.staging, this.staged, pos, pos + n);
      this.staged += n;
      pos += n;
      if (this.staged === FEED) {
        await this.compressStaged();
        if (this.destroyed) return;
      }
    }
  }

  protected async finish(): Promise<void> {
    if (this.staged > 0) await this.compressStaged();
    const b = await this.start();
    if (!b || this.destroyed) return;
    this.call(() => b.end(this.out.sink));
    await this.pushPaced(this.out.take());
  }

  protected release(): void {
    this.binding?.delete();
    this.binding = undefined;
  }

  private async compressStaged(): Promise<void> {
    const b = await this.start();
    if (!b || this.destroyed) return;
    // The binding copies the input into the wasm heap during the call, so staging is free after.
    this.call(() => b.transform(this.staging.subarray(0, this.staged), this.out.sink));
    this.staged = 0;
    await this.pushPaced(this.out.take());
  }

  private start(): Promise<CompressBinding | undefined> {
    this.starting ??= (async () => {
      const inst = await createZstdInstance(compressHeapBytes(this.level));
      if (this.destroyed) return undefined;
      const b = inst.newCompressor();
      this.binding = b;
      this.call(() => b.begin(this.level));
      return b;
    })();
    return this.starting;
  }

  private call(f: () => boolean): void {
    let ok: boolean;
    try {
      ok = f();
    } catch (e) {
      if (!isEmscriptenAbort(e)) throw e;
      this.binding = undefined; // its heap is gone with the aborted instance
      throw new CompressionError(`zstd level ${this.level}: the codec ran out of memory`, { cause: e, hint: 'use a lower level' });
    }
    if (!ok) throw new CompressionError(`zstd level ${this.level}: the compressor failed`);
  }
}

/** Decompressing Transform: any sequence of zstd frames (and skippable frames) in, bytes out. */
export class ZstdDecompressStream extends PacedTransform {
  private readonly splitter = new ZstdFrameSplitter();
  private instance: ZstdInstance | undefined;
  private binding: DecompressBinding | undefined;
  private bindingWindow = -1;
  private frame: FrameStart | undefined;
  private frameOut = 0;
  private readonly out = collector();

  protected async work(chunk: Buffer): Promise<void> {
    for (const ev of this.splitter.feed(chunk)) {
      if (ev.kind === 'frame') {
        await this.startFrame(ev);
        if (this.destroyed) return;
        this.decode(ev.header, ev.offset);
        continue;
      }
      this.decode(ev.bytes, ev.offset);
      if (ev.kind === 'end') this.endFrame(ev.offset);
      await this.pushPaced(this.out.take());
      if (this.destroyed) return;
    }
  }

  protected async finish(): Promise<void> {
    this.splitter.finish();
  }

  protected release(): void {
    this.binding?.delete();
    this.binding = undefined;
    this.instance = undefined;
  }

  /**
   * Frames are independent, so the DStream can be replaced between them. A new one is made when
   * the window changes (so the heap holds one window's buffers, never an old and a new one), in
   * a new instance when the heap is too small for the window.
   */
  private async startFrame(f: FrameStart): Promise<void> {
    this.frame = f;
    this.frameOut = this.out.bytes();
    if (this.binding && f.windowBytes === this.bindingWindow) return;
    this.binding?.delete();
    this.binding = undefined;
    const heap = decompressHeapBytes(f.windowBytes);
    if (!this.instance || this.instance.heapBytes < heap) {
      this.instance = undefined;
      this.instance = await createZstdInstance(heap);
      if (this.destroyed) return;
    }
    const b = this.instance.newDecompressor();
    this.binding = b;
    this.bindingWindow = f.windowBytes;
    this.call(() => b.begin(), f.offset);
  }

  private decode(bytes: Uint8Array, offset: number): void {
    const b = this.binding;
    if (!b || bytes.length === 0) return;
    this.call(() => b.transform(bytes, this.out.sink), offset);
  }

  /** Gets every decoded byte of the frame out of the DStream, then checks the content size. */
  private endFrame(offset: number): void {
    const b = this.binding;
    if (!b) return;
    this.call(() => b.transform(SYNC_FRAME, this.out.sink) && b.flush(this.out.sink), offset);
    const produced = this.out.bytes() - this.frameOut;
    const expected = this.frame?.contentSize;
    if (expected != null && produced !== expected) {
      throw new CompressedDataError('zstd', `frame at byte ${this.frame?.offset} decoded to ${produced} bytes, its header says ${expected}`);
    }
  }

  private call(f: () => boolean, offset: number): void {
    let ok: boolean;
    try {
      ok = f();
    } catch (e) {
      if (!isEmscriptenAbort(e)) throw e;
      this.binding = undefined;
      this.instance = undefined;
      throw new CompressedDataError('zstd', `the decoder ran out of memory at byte ${offset}`, { cause: e });
    }
    if (!ok) {
      this.binding?.delete();
      this.binding = undefined;
      throw new CompressedDataError('zstd', `corrupt data in the frame at byte ${this.frame?.offset ?? 0} (found at byte ${offset})`, {
        hint: 'the blob is corrupt or truncated; compare its digest with the source',
      });
    }
  }
}
