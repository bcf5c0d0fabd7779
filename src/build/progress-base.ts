/**
 * The part every progress sink shares: it tracks steps and their output (bounded), turns events
 * into hooks for the renderer, and writes to the output without ever letting a broken output
 * (a closed pipe) crash the build. On its own it renders nothing: that is `quiet`.
 */
import type { Writable } from 'node:stream';
import type { ProgressEvent, ProgressSink } from './progress.js';
import { StepTable, type LineRun, type StepState } from './progress-steps.js';

/** Resolved options every sink gets. */
export interface SinkOptions {
  now: () => number;
  logLimitBytes: number | undefined;
  frameIntervalMs: number;
  tailLines: number;
  color: boolean;
}

/** A step-log event. */
export type LogEvent = Extract<ProgressEvent, { type: 'step-log' }>;
/** A build-done event. */
export type BuildDoneEvent = Extract<ProgressEvent, { type: 'build-done' }>;

/** Tracks steps and dispatches events to overridable hooks; renders nothing itself (quiet mode). */
export class BaseSink implements ProgressSink {
  protected readonly steps: StepTable;
  protected closed = false;
  private broken = false;
  private readonly onError = (): void => {
    this.broken = true;
  };

  constructor(
    protected readonly out: NodeJS.WriteStream | Writable,
    protected readonly opts: SinkOptions,
  ) {
    this.steps = new StepTable({ logLimitBytes: opts.logLimitBytes });
    if (this.renders()) out.on('error', this.onError);
  }

  /** Dispatches one event to the hooks; events after close() are dropped. */
  emit(e: ProgressEvent): void {
    if (this.closed) return;
    switch (e.type) {
      case 'step-start':
        this.onStart(this.steps.start(e.id, e.name, e.time), e.time);
        break;
      case 'step-log': {
        const s = this.steps.get(e.id, e.time);
        this.onLog(s, e, s.feed(e.stream, e.data, e.time));
        break;
      }
      case 'step-note':
        this.onNote(this.steps.get(e.id, e.time), e.text, e.time);
        break;
      case 'step-cached':
      case 'step-done':
      case 'step-error': {
        const s = this.steps.get(e.id, e.time);
        if (!s.running) break; // a step ends once
        if (e.type === 'step-error') {
          s.message = e.message;
          s.exitCode = e.exitCode;
        }
        const kind = e.type === 'step-cached' ? 'cached' : e.type === 'step-done' ? 'done' : 'error';
        const runs = s.finish(kind, e.time);
        this.onEnd(s, runs);
        break;
      }
      case 'build-done':
        this.onBuildDone(e);
        break;
    }
  }

  /** The last `n` lines of step `id`'s output. */
  lastLines(id: number, n: number): string[] {
    return this.steps.find(id)?.lastLines(n) ?? [];
  }

  /** Resolves when the output has drained (at once when it never filled). */
  drain(): Promise<void> {
    const w = this.out as Writable;
    if (this.broken || !w.writableNeedDrain) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        w.off('drain', done);
        w.off('close', done);
        w.off('error', done);
        resolve();
      };
      w.on('drain', done);
      w.on('close', done);
      w.on('error', done);
    });
  }

  /** Finishes rendering and waits for the output to take it. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.onClose();
    await this.drain();
    if (this.renders()) this.out.off('error', this.onError);
  }

  /** Writes to the output unless it broke. */
  protected write(s: string | Buffer, encoding: BufferEncoding = 'utf8'): void {
    if (this.broken) return;
    try {
      const w = this.out as Writable;
      if (typeof s === 'string') w.write(s, encoding);
      else w.write(s);
    } catch {
      this.broken = true;
    }
  }

  /** False for sinks that never write (quiet): they leave the stream's listeners alone. */
  protected renders(): boolean {
    return false;
  }

  /** A step started (at `_time`, the event's own time). */
  protected onStart(_s: StepState, _time: number): void {}
  /** Output arrived; `runs` are the lines it completed (valid only during the call). */
  protected onLog(_s: StepState, _e: LogEvent, _runs: LineRun[]): void {}
  /** A note about a step (such as why its cache missed). */
  protected onNote(_s: StepState, _text: string, _time: number): void {}
  /** A step ended (status set); `runs` are its flushed partial lines. */
  protected onEnd(_s: StepState, _runs: LineRun[]): void {}
  /** The image is written. */
  protected onBuildDone(_e: BuildDoneEvent): void {}
  /** close() was called: flush and draw the last view. */
  protected onClose(): void {}
}
