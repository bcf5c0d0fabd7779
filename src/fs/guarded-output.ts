/**
 * Watching an output stream for the length of one write job (flatten, squash): an error or an
 * early close of the output, or the caller's abort, aborts the job's own signal — a write waiting
 * for 'drain' on a failed stream would otherwise wait forever — and the job then reports the
 * first real cause rather than the abort it triggered.
 */
import { once } from 'node:events';
import type { Writable } from 'node:stream';

/** Guards `out` until dispose(). */
export class GuardedOutput {
  private readonly stop = new AbortController();
  private outError: unknown;
  private readonly onError = (err: unknown): void => {
    this.outError ??= err;
    this.stop.abort(err);
  };
  private readonly onClose = (): void => this.onError(new Error(`the output was closed before the ${this.what} was complete`));
  private readonly onAbort = (): void => this.stop.abort(this.caller!.reason);

  constructor(private readonly out: Writable, private readonly caller: AbortSignal | undefined, private readonly what: string) {
    out.on('error', this.onError);
    out.on('close', this.onClose);
    caller?.addEventListener('abort', this.onAbort, { once: true });
  }

  /** Aborted when the output fails or the caller aborts; pass it to the writer. */
  get signal(): AbortSignal {
    return this.stop.signal;
  }

  /** Waits for 'drain' once at least `queued` bytes are buffered (one wait per batch, not per write). */
  async pace(queued: number): Promise<void> {
    if ((this.out.writableNeedDrain ?? true) && this.out.writableLength >= queued) await once(this.out, 'drain', { signal: this.stop.signal });
  }

  /** The error to report for a failure of the job: the caller's abort reason, the output's error, or `err`. */
  cause(err: unknown): unknown {
    if (this.caller?.aborted) return this.caller.reason;
    return this.outError !== undefined ? this.outError : err;
  }

  /** Stops watching. */
  dispose(): void {
    this.out.removeListener('error', this.onError);
    this.out.removeListener('close', this.onClose);
    this.caller?.removeEventListener('abort', this.onAbort);
  }
}
