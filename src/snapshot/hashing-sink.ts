/**
 * The stream a diff tar is written into: it hashes and counts every byte, gathers the many small
 * writes of a tar (512-byte headers, small files, padding) into 1 MiB chunks, and forwards them
 * to the caller's stream with backpressure (up to 8 MiB in flight, so the thread pool writing it
 * is never starved). Large chunks go through uncopied.
 *
 * A failure of the destination never errors this stream (a writer waiting for 'drain' on an
 * errored stream would wait forever); it is kept in `failure`, later writes are dropped, and the
 * producer checks `failure` after each entry.
 */
import { createHash } from 'node:crypto';
import { WriteStream } from 'node:fs';
import { Writable } from 'node:stream';
import type { Digest } from '../util/digest.js';

const BATCH = 1 << 20;
/** Chunks at least this big are forwarded as they are rather than copied into the batch. */
const DIRECT = 64 << 10;
/** Bytes written to the destination but not yet confirmed before we wait for it. */
const QUEUED = 8 << 20;
/** Written batch buffers kept for reuse. */
const SPARES = 4;

/** Hashes, batches and forwards to `out`; `end()` flushes and, when `endOut`, ends `out` and waits for its 'finish'. */
export class HashingSink extends Writable {
  /** Bytes written so far. */
  bytes = 0;
  /** Set when the destination failed or closed early; nothing more reaches it. */
  failure: Error | undefined;
  private readonly hash = createHash('sha256');
  private readonly batches = new WeakSet<ArrayBufferLike>();
  private batch: Buffer = this.newBatch();
  private readonly spare: Buffer[] = [];
  private readonly recycle: boolean;
  private used = 0;
  private inFlight = 0;
  private waiter: (() => void) | undefined;
  private waitLimit = 0;
  private readonly onOutError = (err: Error): void => {
    this.fail(err);
    this.wake();
  };
  private readonly onOutClose = (): void => {
    if (!this.out.writableFinished) this.fail(new Error('the output stream was closed before the layer was written'));
    this.wake();
  };

  constructor(private readonly out: Writable, private readonly endOut: boolean) {
    super({ highWaterMark: BATCH });
    // A file stream is done with a buffer once its write callback runs; other streams (a
    // PassThrough, a hashing Transform) may still hand it on, so their buffers are never reused.
    this.recycle = out instanceof WriteStream;
    out.on('error', this.onOutError);
    out.on('close', this.onOutClose);
  }

  /** sha256 of everything written (call once, after `end()` completed). */
  digest(): Digest {
    return `sha256:${this.hash.digest('hex')}`;
  }

  /** Stops listening to the destination (after the diff, success or not). */
  detach(): void {
    this.out.off('error', this.onOutError);
    this.out.off('close', this.onOutClose);
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.bytes += chunk.length;
    if (this.failure) return cb();
    if (chunk.length >= DIRECT) return this.send(this.used > 0 ? [this.take(), chunk] : [chunk], cb);
    if (this.used + chunk.length > BATCH) {
      const full = this.take();
      chunk.copy(this.batch, 0);
      this.used = chunk.length;
      return this.send([full], cb);
    }
    chunk.copy(this.batch, this.used);
    this.used += chunk.length;
    cb();
  }

  override _final(cb: (err?: Error | null) => void): void {
    const done = (): void => {
      if (this.failure) return cb();
      if (!this.endOut) return this.whenWritten(0, cb);
      this.out.end();
      this.waitFor('finish', cb);
    };
    if (this.used > 0 && !this.failure) this.send([this.take()], done);
    else done();
  }

  /**
   * Hands out the filled part of the batch and starts the next one. Batch buffers written to a
   * file are recycled: fresh memory costs a page fault per 4 KiB, in a VM dearer than the copy.
   */
  private take(): Buffer {
    const b = this.batch.subarray(0, this.used);
    this.batch = this.spare.pop() ?? this.newBatch();
    this.used = 0;
    return b;
  }

  /**
   * Writes to the destination and calls `cb` at once while at most QUEUED bytes are in flight, or
   * else once half of them are written: the destination always has work queued and we rarely
   * wait. Write callbacks, not 'drain', tell the progress ('drain' waits for an empty queue).
   */
  private send(parts: Buffer[], cb: () => void): void {
    for (const p of parts) {
      this.hash.update(p); // whole batches: far fewer calls than one per tar block
      this.inFlight += p.length;
      this.out.write(p, (err) => {
        this.inFlight -= p.length;
        if (this.recycle && this.batches.has(p.buffer) && this.spare.length < SPARES) this.spare.push(Buffer.from(p.buffer));
        if (err) this.fail(err);
        this.wake();
      });
    }
    if (this.inFlight <= QUEUED) cb();
    else this.whenWritten(QUEUED / 2, cb);
  }

  /** Calls `cb` once at most `limit` bytes are in flight (or the destination failed). */
  private whenWritten(limit: number, cb: () => void): void {
    this.waitLimit = limit;
    this.waiter = cb;
    this.wake();
  }

  private wake(): void {
    const w = this.waiter;
    if (w === undefined || (this.inFlight > this.waitLimit && !this.failure)) return;
    this.waiter = undefined;
    w();
  }

  /** Calls `cb` on `event` of the destination, or at once when it fails or closes first. */
  private waitFor(event: 'finish', cb: () => void): void {
    const out = this.out;
    if (out.destroyed) {
      this.fail(new Error('the output stream was closed before the layer was written'));
      return cb();
    }
    const settle = (): void => {
      out.off(event, onEvent);
      out.off('close', onClose);
      out.off('error', onError);
      cb();
    };
    const onEvent = (): void => settle();
    const onClose = (): void => {
      this.fail(new Error('the output stream was closed before the layer was written'));
      settle();
    };
    const onError = (): void => settle(); // `failure` is set by onOutError
    out.once(event, onEvent);
    out.once('close', onClose);
    out.once('error', onError);
  }

  private newBatch(): Buffer {
    const b = Buffer.allocUnsafeSlow(BATCH);
    this.batches.add(b.buffer);
    return b;
  }

  private fail(err: Error): void {
    this.failure ??= err;
  }
}
