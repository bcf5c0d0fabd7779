/**
 * Shared helpers of the progress tests: a Writable that records what was written, a fake TTY,
 * and a short way to emit events.
 */
import { Writable } from 'node:stream';
import type { ProgressEvent, ProgressSink } from '../../src/build/progress.js';

/** A Writable keeping every chunk; `text()` joins them (latin1 keeps bytes exact with `bytes()`). */
export class Capture extends Writable {
  chunks: Buffer[] = [];
  isTTY = false;
  columns: number | undefined;
  rows: number | undefined;

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.chunks.push(chunk);
    cb();
  }

  /** Everything written, as bytes. */
  bytes(): Buffer {
    return Buffer.concat(this.chunks);
  }

  /** Everything written, decoded as UTF-8. */
  text(): string {
    return this.bytes().toString('utf8');
  }
}

/** A Capture that claims to be an 80x24 terminal. */
export function fakeTty(columns = 80, rows = 24): Capture {
  const c = new Capture();
  c.isTTY = true;
  c.columns = columns;
  c.rows = rows;
  return c;
}

/** A clock the test moves by hand. */
export function fakeClock(start = 1_700_000_000_000): { now: () => number; set: (t: number) => void; t0: number } {
  let t = start;
  return { now: () => t, set: (v: number) => (t = start + v), t0: start };
}

/** Event builders relative to `t0` (ms). */
export function events(sink: ProgressSink, t0: number) {
  return {
    start: (id: number, name: string, t: number) => sink.emit({ type: 'step-start', id, name, time: t0 + t }),
    log: (id: number, data: string | Buffer, t: number, stream: 'stdout' | 'stderr' = 'stdout') =>
      sink.emit({ type: 'step-log', id, stream, data: typeof data === 'string' ? Buffer.from(data) : data, time: t0 + t }),
    note: (id: number, text: string, t: number) => sink.emit({ type: 'step-note', id, text, time: t0 + t }),
    done: (id: number, t: number) => sink.emit({ type: 'step-done', id, time: t0 + t }),
    cached: (id: number, t: number) => sink.emit({ type: 'step-cached', id, time: t0 + t }),
    error: (id: number, message: string, t: number, exitCode?: number) => {
      const e: ProgressEvent = { type: 'step-error', id, message, time: t0 + t };
      if (exitCode !== undefined) e.exitCode = exitCode;
      sink.emit(e);
    },
    built: (imageId: string, names: string[], t: number) => sink.emit({ type: 'build-done', imageId, names, time: t0 + t }),
  };
}

/** Removes ANSI escape sequences. */
export function stripAnsi(s: string): string {
  return s.replace(/\x1b\[[0-?]*[ -/]*[@-~]/g, '');
}
