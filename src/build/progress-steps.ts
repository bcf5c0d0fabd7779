/**
 * What every renderer needs to know about the steps of a build: their names, start and end
 * times, outcome, and their output cut into complete lines (a partial line waits for its newline
 * or the end of the step) with a bounded tail kept for display and error messages.
 */
import { TailBuffer, type LineRun } from './progress-tail.js';
import { clipNote } from './progress-text.js';

export type { LineRun } from './progress-tail.js';

/** Where a step stands. */
export type StepStatus = 'running' | 'done' | 'cached' | 'error';

/** Caps on what is held in memory per step. */
export interface StepLimits {
  /** Bytes of output kept per step while it runs (default 4 MiB). */
  logLimitBytes: number;
  /** Bytes kept once a step succeeded (default 64 KiB). */
  doneLimitBytes: number;
  /** Longest partial line held before it is passed on as a line anyway (default 256 KiB). */
  maxLineBytes: number;
}

/** The default caps. */
export const DEFAULT_LIMITS: StepLimits = {
  logLimitBytes: 4 * 1024 * 1024,
  doneLimitBytes: 64 * 1024,
  maxLineBytes: 256 * 1024,
};

const NL = 0x0a;

/** Cuts one output stream into runs of complete lines, holding back a trailing partial line. */
export class LineSplitter {
  private parts: Buffer[] = [];
  private len = 0;
  private time = 0;

  constructor(private maxLine: number) {}

  /** True while a partial line is held. */
  get pending(): boolean {
    return this.len > 0;
  }

  /** The held partial line (for a live view), without copying when possible. */
  partial(): Buffer {
    if (this.parts.length > 1) this.parts = [Buffer.concat(this.parts, this.len)];
    return this.parts[0] ?? Buffer.alloc(0);
  }

  /** Splits `chunk`; returns 0–3 runs, each ending in a newline. */
  feed(chunk: Buffer, time: number): LineRun[] {
    const runs: LineRun[] = [];
    let pos = 0;
    if (this.len > 0) {
      const nl = chunk.indexOf(NL);
      if (nl < 0) {
        this.hold(Buffer.from(chunk), this.time);
        if (this.len >= this.maxLine) runs.push(this.flush()!);
        return runs;
      }
      this.parts.push(chunk.subarray(0, nl + 1));
      this.len += nl + 1;
      runs.push(this.take());
      pos = nl + 1;
    }
    const last = chunk.lastIndexOf(NL);
    if (last >= pos) {
      runs.push({ data: chunk.subarray(pos, last + 1), time });
      pos = last + 1;
    }
    if (pos < chunk.length) {
      // Copied: the caller may reuse its buffer, and a short tail must not pin a large chunk.
      this.hold(Buffer.from(chunk.subarray(pos)), time);
      if (this.len >= this.maxLine) runs.push(this.flush()!);
    }
    return runs;
  }

  /** The held partial line as a run ending in a newline, or undefined. */
  flush(): LineRun | undefined {
    if (this.len === 0) return undefined;
    this.parts.push(Buffer.from('\n'));
    this.len++;
    return this.take();
  }

  private hold(b: Buffer, time: number): void {
    if (this.len === 0) this.time = time;
    this.parts.push(b);
    this.len += b.length;
  }

  private take(): LineRun {
    const run = { data: this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts, this.len), time: this.time };
    this.parts = [];
    this.len = 0;
    return run;
  }
}

/** One step of the build as the renderers see it. */
export class StepState {
  name: string;
  /** False when the step was only ever seen through later events (no step-start). */
  started = false;
  start: number;
  end: number | undefined;
  status: StepStatus = 'running';
  message: string | undefined;
  exitCode: number | undefined;
  readonly tail: TailBuffer;
  private out: { stdout?: LineSplitter; stderr?: LineSplitter } = {};

  constructor(
    readonly id: number,
    time: number,
    private limits: StepLimits,
  ) {
    this.name = `step ${id}`;
    this.start = time;
    this.tail = new TailBuffer(limits.logLimitBytes);
  }

  /** True until done, cached or failed. */
  get running(): boolean {
    return this.status === 'running';
  }

  /** Takes a chunk of output; returns the complete lines it finished (already kept in the tail). */
  feed(stream: 'stdout' | 'stderr', data: Buffer, time: number): LineRun[] {
    const sp = (this.out[stream] ??= new LineSplitter(this.limits.maxLineBytes));
    const runs = sp.feed(data, time);
    for (const r of runs) this.tail.push(r);
    return runs;
  }

  /** Ends the step: flushes partial lines (returned, in stream order) and shrinks what is kept. */
  finish(status: Exclude<StepStatus, 'running'>, time: number): LineRun[] {
    const runs = this.flush();
    this.status = status;
    this.end = time;
    if (status !== 'error') this.tail.trim(this.limits.doneLimitBytes);
    return runs;
  }

  /** Passes on the partial lines still held (at the step's end or when the build stops). */
  flush(): LineRun[] {
    const runs: LineRun[] = [];
    for (const sp of [this.out.stdout, this.out.stderr]) {
      const r = sp?.flush();
      if (r) {
        this.tail.push(r);
        runs.push(r);
      }
    }
    return runs;
  }

  /** The last `n` lines of output (partial lines included), oldest first, as text. */
  lastLines(n: number): string[] {
    if (n <= 0) return [];
    const partials: string[] = [];
    for (const sp of [this.out.stdout, this.out.stderr]) {
      if (sp?.pending) partials.push(stripCr(sp.partial().toString('utf8')));
    }
    const want = Math.max(0, n - partials.length);
    const kept = this.tail.lastRuns(want).map((r) => stripCr(r.line.toString('utf8')));
    const lines = [...kept, ...partials].slice(-n);
    if (this.tail.clipped && kept.length < want) lines.unshift(clipNote(this.limits.logLimitBytes));
    return lines;
  }
}

function stripCr(s: string): string {
  return s.endsWith('\r') ? s.slice(0, -1) : s;
}

/** All steps of one build, by id, in the order they were first seen. */
export class StepTable {
  private byId = new Map<number, StepState>();
  private limits: StepLimits;

  constructor(limits: Partial<StepLimits> = {}) {
    this.limits = { ...DEFAULT_LIMITS, ...definedOnly(limits) };
  }

  /** The step `id`, created (as started at `time`) when first seen. */
  get(id: number, time: number): StepState {
    let s = this.byId.get(id);
    if (!s) {
      s = new StepState(id, time, this.limits);
      this.byId.set(id, s);
    }
    return s;
  }

  /** The step `id` if it was seen. */
  find(id: number): StepState | undefined {
    return this.byId.get(id);
  }

  /** Records a step-start: the step's name and start time. */
  start(id: number, name: string, time: number): StepState {
    const s = this.get(id, time);
    s.name = name;
    if (!s.started) {
      s.started = true;
      s.start = time;
    }
    return s;
  }

  /** Every step, first seen first. */
  all(): StepState[] {
    return [...this.byId.values()];
  }

  /** The largest id seen (0 when none). */
  maxId(): number {
    let m = 0;
    for (const id of this.byId.keys()) m = Math.max(m, id);
    return m;
  }
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
