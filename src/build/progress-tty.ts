/**
 * `--progress tty`: a live view redrawn in place, at most ~10 times a second.
 *
 *     [+] Building 4.1s (3/5)
 *      => [internal] load metadata for busybox              0.1s
 *      => CACHED [build 1/5] FROM busybox                    0.0s
 *      => [build 2/5] RUN make                               3.4s
 *      => => # cc -c main.c
 *
 * A running step shows its last few lines of output under it; a finished one is a single line.
 * Lines are cut to the terminal's width (so the cursor arithmetic holds), output is cleaned of
 * escape sequences and control characters, and the view is limited to the terminal's height.
 * close() draws a final static summary with every step on one line.
 */
import { performance } from 'node:perf_hooks';
import type { BuildDoneEvent } from './progress-base.js';
import { BaseSink } from './progress-base.js';
import type { StepState } from './progress-steps.js';
import { formatDuration, oneLine, sanitizeLine, textWidth, truncateWidth } from './progress-text.js';

const ESC = '\x1b[';
const BLUE = `${ESC}34m`;
const RED = `${ESC}31m`;
const YELLOW = `${ESC}33m`;
const FAINT = `${ESC}2m`;
const RESET = `${ESC}0m`;

/** The live terminal view. */
export class TtySink extends BaseSink {
  private timer: NodeJS.Timeout | undefined;
  private lastDraw = -Infinity;
  /** Lines drawn by the previous frame, which the next one overwrites. */
  private drawn = 0;
  private firstTime: number | undefined;
  private result: BuildDoneEvent | undefined;

  protected override renders(): boolean {
    return true;
  }

  protected override onStart(s: StepState): void {
    this.touch(s.start);
  }

  protected override onLog(s: StepState): void {
    this.touch(s.start);
  }

  protected override onNote(s: StepState): void {
    this.touch(s.start);
  }

  protected override onEnd(s: StepState): void {
    this.touch(s.start);
  }

  protected override onBuildDone(e: BuildDoneEvent): void {
    this.result = e;
    this.touch(e.time);
  }

  protected override onClose(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.draw(true);
  }

  /** Draws a frame now (the throttled timer calls this; tests call it directly). */
  renderNow(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.closed) return;
    this.draw(false);
    // Keep the timers of running steps ticking.
    if (this.steps.all().some((s) => s.running)) this.schedule();
  }

  private touch(time: number): void {
    if (this.firstTime === undefined || time < this.firstTime) this.firstTime = time;
    this.schedule();
  }

  private schedule(): void {
    if (this.timer || this.closed) return;
    const wait = Math.max(0, this.lastDraw + this.opts.frameIntervalMs - performance.now());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.renderNow();
    }, wait);
    // A forgotten close() must not keep the process alive.
    this.timer.unref();
  }

  private draw(final: boolean): void {
    this.lastDraw = performance.now();
    const lines = this.frame(final);
    let s = `${ESC}?25l`;
    if (this.drawn > 0) s += `${ESC}${this.drawn}A\r`;
    for (const l of lines) s += `${l}${ESC}K\n`;
    s += `${ESC}J${ESC}?25h`;
    this.write(s);
    this.drawn = final ? 0 : lines.length;
  }

  /** The lines of one frame, already cut to the terminal's width. */
  frame(final: boolean): string[] {
    const width = Math.max(20, ((this.out as { columns?: number }).columns || 80) - 1);
    const height = Math.max(4, (this.out as { rows?: number }).rows || 24);
    const now = this.opts.now();
    const steps = this.steps.all();
    const ended = steps.filter((s) => !s.running).length;
    const failed = steps.some((s) => s.status === 'error');

    const total = this.firstTime === undefined ? 0 : now - this.firstTime;
    let header = `[+] Building ${formatDuration(total)} (${ended}/${steps.length})`;
    if (final && !failed && ended === steps.length && steps.length > 0) header += ' FINISHED';
    const out = [truncateWidth(header, width)];

    // Output under running steps, fewer lines when the terminal is short.
    const tails = new Map<number, string[]>();
    if (!final) {
      for (const s of steps) if (s.running) tails.set(s.id, this.tailOf(s, width));
    }
    const budget = height - 2;
    let per = this.opts.tailLines;
    let shown = steps;
    const count = (): number => {
      let n = shown.length;
      for (const s of shown) n += Math.min(per, tails.get(s.id)?.length ?? 0);
      return n;
    };
    if (!final) {
      // Too tall: finished steps go first (oldest first), then output lines, then old running steps.
      while (count() > budget && shown.some((s) => !s.running)) {
        const i = shown.findIndex((s) => !s.running);
        shown = shown.slice(0, i).concat(shown.slice(i + 1));
      }
      while (per > 0 && count() > budget) per--;
      while (count() > budget && shown.length > 0) shown = shown.slice(1);
    }

    for (const s of shown) {
      out.push(this.stepLine(s, final, now, width));
      const tail = tails.get(s.id);
      if (tail && per > 0) for (const l of tail.slice(-per)) out.push(this.paint(l, FAINT));
    }
    if (final && this.result) {
      out.push(truncateWidth(` => writing image ${this.result.imageId}`, width));
      for (const n of this.result.names) out.push(truncateWidth(` => naming to ${oneLine(n)}`, width));
    }
    return out;
  }

  private stepLine(s: StepState, final: boolean, now: number, width: number): string {
    const canceled = final && s.running;
    let tag = '';
    if (s.status === 'cached') tag = 'CACHED ';
    else if (s.status === 'error') tag = 'ERROR ';
    else if (canceled) tag = 'CANCELED ';
    const end = s.end ?? now;
    let ms = s.status === 'cached' ? 0 : end - s.start;
    if (ms < 50) ms = 0;
    const timer = ` ${formatDuration(ms)}`;
    const left = ' => ';
    const room = width - left.length - timer.length - 1;
    const name = sanitizeLine(oneLine(tag + s.name));
    let line: string;
    if (room < 12) {
      line = truncateWidth(left + name, width);
    } else {
      const n = truncateWidth(name, room);
      line = left + n + ' '.repeat(room - textWidth(n) + 1) + timer;
    }
    if (canceled) return this.paint(line, YELLOW);
    if (s.status === 'error') return this.paint(line, RED);
    if (!s.running) return this.paint(line, BLUE);
    return line;
  }

  /** The last lines of a running step's output, cleaned and cut to width. */
  private tailOf(s: StepState, width: number): string[] {
    const prefix = ' => => # ';
    const out: string[] = [];
    for (const raw of s.lastLines(this.opts.tailLines)) {
      const l = sanitizeLine(raw);
      if (l.trim() === '') continue;
      out.push(truncateWidth(prefix + l, width));
    }
    return out;
  }

  private paint(s: string, color: string): string {
    return this.opts.color ? color + s + RESET : s;
  }
}
