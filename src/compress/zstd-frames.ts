/**
 * Walks the structure of a zstd stream (RFC 8878) without decoding it: frame headers, block
 * headers, checksums, skippable frames. The decoder binding we use reports neither frame ends nor
 * truncation and decodes whatever it is given in one synchronous call, so the stream transform
 * feeds it one block at a time (bounding the output per call to one 128 KiB block, however
 * compressible the input) and learns from here where frames end and whether the input stopped
 * mid-frame. Only headers are parsed; the codec still checks everything inside the blocks.
 */
import { CompressedDataError } from './errors.js';

/** Largest block a zstd frame may contain (and so the most one block decodes to). */
export const BLOCK_MAX = 128 * 1024;
/** Largest window strata decodes: zstd's own default limit (`zstd -d` needs --memory beyond). */
export const WINDOW_MAX = 2 ** 27;

const MAGIC = 0xfd2fb528;
const FRAME_HEADER_MAX = 18;

/** A frame starts: `header` (its raw header bytes) goes to the decoder. */
export interface FrameStart {
  kind: 'frame';
  header: Buffer;
  windowBytes: number;
  /** Frame_Content_Size when the header has it. */
  contentSize: number | null;
  /** Byte offset of the frame in the whole input. */
  offset: number;
}

/** One whole block (3-byte header + content) for the decoder. */
export interface FrameBlock {
  kind: 'block';
  bytes: Buffer;
  offset: number;
}

/** The frame is complete once `bytes` (its checksum, possibly empty) reach the decoder. */
export interface FrameEnd {
  kind: 'end';
  bytes: Buffer;
  offset: number;
}

/** What the splitter yields, in stream order. Skippable frames are consumed silently. */
export type FrameEvent = FrameStart | FrameBlock | FrameEnd;

type State = 'magic' | 'descriptor' | 'header' | 'skip-size' | 'skip-body' | 'block-header' | 'block-body' | 'checksum';

/** Incremental parser: feed() chunks as they arrive, then finish() at end of input. */
export class ZstdFrameSplitter {
  private state: State = 'magic';
  /** The unit being assembled (frame header, block, checksum) and how far it is filled. */
  private unit: Buffer = Buffer.allocUnsafe(FRAME_HEADER_MAX);
  private filled = 0;
  private target = 4;
  private unitOffset = 0;
  private consumed = 0;
  private skipLeft = 0;
  private checksum = false;
  private lastBlock = false;
  private ready: FrameEvent[] = [];

  /** Yields the events completed by `chunk`; throws CompressedDataError on malformed structure. */
  *feed(chunk: Uint8Array): Generator<FrameEvent> {
    let pos = 0;
    while (pos < chunk.length) {
      if (this.state === 'skip-body') {
        const n = Math.min(this.skipLeft, chunk.length - pos);
        pos += n;
        this.consumed += n;
        this.skipLeft -= n;
        if (this.skipLeft === 0) this.nextFrame();
        continue;
      }
      if (this.filled === 0) this.unitOffset = this.consumed;
      const n = Math.min(this.target - this.filled, chunk.length - pos);
      this.unit.set(chunk.subarray(pos, pos + n), this.filled);
      this.filled += n;
      pos += n;
      this.consumed += n;
      if (this.filled < this.target) continue;
      this.step();
      while (this.ready.length > 0) yield this.ready.shift()!;
    }
  }

  /** Checks that the input was not empty and ended on a frame boundary. */
  finish(): void {
    if (this.state !== 'magic' || this.filled !== 0) {
      throw new CompressedDataError('zstd', `unexpected end of input at byte ${this.consumed} (truncated stream)`);
    }
    // Like `zstd -d`: no input at all is an error, skippable frames alone decode to nothing.
    if (this.consumed === 0) throw new CompressedDataError('zstd', 'empty input: no zstd frame');
  }

  /** Total input bytes seen so far. */
  get offset(): number {
    return this.consumed;
  }

  /** Moves to `state`, which needs `target` bytes in the unit; `fresh` starts a new unit. */
  private expect(state: State, target: number, fresh?: Buffer): void {
    this.state = state;
    this.target = target;
    if (fresh) {
      this.unit = fresh;
      this.filled = 0;
    }
  }

  private nextFrame(): void {
    this.expect('magic', 4, Buffer.allocUnsafe(FRAME_HEADER_MAX));
  }

  private error(message: string): CompressedDataError {
    return new CompressedDataError('zstd', `${message} at byte ${this.unitOffset}`, {
      hint: 'the blob is corrupt or not zstd; compare its digest with the source',
    });
  }

  /** Called when the current unit has `target` bytes: parse it, move on, queue events. */
  private step(): void {
    const u = this.unit;
    switch (this.state) {
      case 'magic': {
        const magic = u.readUInt32LE(0);
        if (magic === MAGIC) return this.expect('descriptor', 5);
        if (magic >>> 4 === 0x184d2a5) return this.expect('skip-size', 8);
        if (magic >= 0xfd2fb522 && magic <= 0xfd2fb527) throw this.error('legacy zstd format (v0.7 or older) is not supported');
        throw this.error(`not a zstd frame (magic ${u.subarray(0, 4).toString('hex')})`);
      }
      case 'descriptor': {
        const fhd = u[4];
        if (fhd & 0x08) throw this.error('reserved bit set in zstd frame header');
        const single = (fhd >> 5) & 1;
        const fcsBytes = [single ? 1 : 0, 2, 4, 8][fhd >> 6];
        const dictBytes = [0, 1, 2, 4][fhd & 3];
        this.checksum = ((fhd >> 2) & 1) === 1;
        return this.expect('header', 5 + (single ? 0 : 1) + dictBytes + fcsBytes);
      }
      case 'header':
        this.ready.push(this.frameStart());
        return this.expect('block-header', 3, Buffer.allocUnsafe(3));
      case 'skip-size':
        this.skipLeft = u.readUInt32LE(4);
        if (this.skipLeft === 0) this.nextFrame();
        else this.state = 'skip-body';
        return;
      case 'block-header': {
        const h = u[0] | (u[1] << 8) | (u[2] << 16);
        this.lastBlock = (h & 1) === 1;
        const type = (h >> 1) & 3;
        const size = h >>> 3;
        if (type === 3) throw this.error('reserved zstd block type');
        if (size > BLOCK_MAX) throw this.error(`zstd block of ${size} bytes exceeds the 128 KiB maximum`);
        const body = type === 1 ? 1 : size;
        const unit = Buffer.allocUnsafe(3 + body);
        u.copy(unit, 0, 0, 3);
        this.unit = unit;
        this.expect('block-body', 3 + body);
        // An empty raw block is complete with its header.
        if (body === 0) this.step();
        return;
      }
      case 'block-body':
        this.ready.push({ kind: 'block', bytes: u, offset: this.unitOffset });
        if (!this.lastBlock) return this.expect('block-header', 3, Buffer.allocUnsafe(3));
        if (this.checksum) return this.expect('checksum', 4, Buffer.allocUnsafe(4));
        this.ready.push({ kind: 'end', bytes: Buffer.alloc(0), offset: this.consumed });
        return this.nextFrame();
      case 'checksum':
        this.ready.push({ kind: 'end', bytes: u, offset: this.unitOffset });
        return this.nextFrame();
      case 'skip-body':
        return;
    }
  }

  private frameStart(): FrameStart {
    const u = this.unit;
    const fhd = u[4];
    const single = (fhd >> 5) & 1;
    let p = 5;
    let windowBytes = 0;
    if (!single) {
      const wd = u[p++];
      const base = 2 ** (10 + (wd >> 3));
      windowBytes = base + (base / 8) * (wd & 7);
    }
    const dictBytes = [0, 1, 2, 4][fhd & 3];
    const dictId = readLE(u, p, dictBytes);
    p += dictBytes;
    const fcsFlag = fhd >> 6;
    let contentSize: number | null = null;
    if (fcsFlag !== 0 || single) {
      const v = readLE(u, p, [1, 2, 4, 8][fcsFlag]);
      contentSize = fcsFlag === 1 ? v + 256 : v;
    }
    if (single) windowBytes = contentSize ?? 0;
    if (dictId !== 0) throw this.error(`zstd frame needs dictionary ${dictId}; dictionaries are not supported`);
    if (windowBytes > WINDOW_MAX) {
      const mib = Math.ceil(windowBytes / 2 ** 20);
      throw new CompressedDataError('zstd', `frame at byte ${this.unitOffset} needs a ${mib} MiB window; strata decodes windows up to 128 MiB`, {
        hint: 'recompress with a window of at most 128 MiB (`zstd --long=27` or less)',
      });
    }
    return { kind: 'frame', header: Buffer.from(u.subarray(0, this.target)), windowBytes, contentSize, offset: this.unitOffset };
  }
}

/** Little-endian unsigned integer of `n` bytes (exact up to 2^53). */
function readLE(b: Uint8Array, at: number, n: number): number {
  let v = 0;
  for (let i = 0; i < n; i++) v += b[at + i] * 2 ** (8 * i);
  return v;
}
