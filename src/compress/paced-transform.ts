/**
 * A Transform whose work runs in async steps that wait for the reader between outputs.
 *
 * Node's Transform only applies backpressure between input chunks: everything one _transform
 * call pushes is buffered, however much that is. A decompressor can turn one small input chunk
 * into gigabytes, so our codecs push one bounded piece at a time and, when push() reports the
 * readable side full, wait until _read() is called before producing more.
 */
import { Transform } from 'node:stream';
import type { TransformCallback, TransformOptions } from 'node:stream';

/** Base class: implement work() and finish(); use pushPaced() for output. */
export abstract class PacedTransform extends Transform {
  private wake: (() => void) | null = null;

  constructor(opts: TransformOptions = {}) {
    super({ readableHighWaterMark: 256 * 1024, ...opts });
  }

  /** Handles one input chunk. */
  protected abstract work(chunk: Buffer): Promise<void>;
  /** Called once at end of input, after the last work(). */
  protected abstract finish(): Promise<void>;
  /** Releases resources; called once on destroy (normal end included). */
  protected abstract release(): void;

  /**
   * Pushes `chunks`, then resolves once the reader wants more. Resolves too when the stream is
   * destroyed meanwhile, so callers check `this.destroyed` after awaiting.
   */
  protected async pushPaced(chunks: readonly Uint8Array[]): Promise<void> {
    let full = false;
    for (const c of chunks) {
      if (c.length === 0 || this.destroyed) continue;
      const buf = Buffer.isBuffer(c) ? c : Buffer.from(c.buffer, c.byteOffset, c.length);
      if (!this.push(buf)) full = true;
    }
    if (full && !this.destroyed) await new Promise<void>((resolve) => (this.wake = resolve));
  }

  override _transform(chunk: Buffer | string, encoding: BufferEncoding, callback: TransformCallback): void {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk, encoding) : chunk;
    this.work(buf).then(
      () => callback(),
      (err: unknown) => callback(this.destroyed ? undefined : (err as Error)),
    );
  }

  override _flush(callback: TransformCallback): void {
    this.finish().then(
      () => callback(),
      (err: unknown) => callback(this.destroyed ? undefined : (err as Error)),
    );
  }

  override _read(size: number): void {
    this.wakeUp();
    super._read(size);
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    this.wakeUp();
    try {
      this.release();
    } finally {
      callback(err);
    }
  }

  private wakeUp(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }
}
