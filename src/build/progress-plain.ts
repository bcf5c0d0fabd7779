/**
 * `--progress plain`: BuildKit's plain text format. A step's lines are grouped in blocks
 * introduced by `#<id> <name>` and separated by a blank line; when another step's lines cut
 * in, the interrupted block ends with `#<id> ...` and its header is repeated when it resumes.
 *
 *     #3 [build 2/5] RUN make
 *     #3 0.512 cc -c main.c          (seconds since the step started)
 *     #3 DONE 1.2s                   (or `#3 CACHED`, `#3 ERROR: <message>`, `#3 CANCELED`)
 *
 * Output is streamed as it arrives, every byte of it; only partial lines wait for their newline
 * (or the step's end) so that each line carries its step's prefix.
 */
import type { BuildDoneEvent, LogEvent } from './progress-base.js';
import { BaseSink } from './progress-base.js';
import type { LineRun, StepState } from './progress-steps.js';
import { formatDuration, formatLogTime } from './progress-text.js';

/** Renders events as BuildKit-style plain lines. */
export class PlainSink extends BaseSink {
  /** The step whose block is open, if any. */
  private current: number | undefined;
  private first = true;

  protected override renders(): boolean {
    return true;
  }

  protected override onStart(s: StepState): void {
    this.enter(s);
  }

  protected override onLog(s: StepState, _e: LogEvent, runs: LineRun[]): void {
    if (runs.length > 0) this.lines(s, runs);
  }

  protected override onNote(s: StepState, text: string): void {
    this.enter(s);
    this.write(prefixLines(`#${s.id} `, text));
  }

  protected override onEnd(s: StepState, runs: LineRun[]): void {
    this.lines(s, runs);
    this.enter(s);
    this.write(`#${s.id} ${endWord(s)}\n`);
    this.current = undefined;
  }

  protected override onBuildDone(e: BuildDoneEvent): void {
    // A block of its own, numbered after the last step, like BuildKit's export step.
    const id = this.steps.maxId() + 1;
    this.leave();
    this.separate();
    let text = `#${id} writing image ${e.imageId} done\n`;
    for (const name of e.names) text += `#${id} naming to ${name} done\n`;
    this.write(text);
  }

  protected override onClose(): void {
    // Steps still running when the build stopped: their last partial lines, then CANCELED.
    for (const s of this.steps.all()) {
      if (!s.running) continue;
      this.lines(s, s.flush());
      this.enter(s);
      this.write(`#${s.id} CANCELED\n`);
      this.current = undefined;
    }
  }

  /** Writes complete lines with the `#id <seconds> ` prefix. */
  private lines(s: StepState, runs: LineRun[]): void {
    if (runs.length === 0) return;
    this.enter(s);
    for (const run of runs) {
      const prefix = `#${s.id} ${formatLogTime(run.time - s.start)} `;
      // latin1 maps bytes 1:1 to chars and back, so any output (even invalid UTF-8) passes
      // through unchanged, and the per-line prefix is one native replaceAll per chunk.
      const body = run.data.toString('latin1', 0, run.data.length - 1);
      this.write(prefix + body.replaceAll('\n', '\n' + prefix) + '\n', 'latin1');
    }
  }

  /** Opens the block of step `s` unless it is the open one. */
  private enter(s: StepState): void {
    if (this.current === s.id) return;
    this.leave();
    this.separate();
    this.write(`#${s.id} ${oneLine(s.name)}\n`);
    this.current = s.id;
  }

  /** Ends the open block with `#id ...` when its step is still running. */
  private leave(): void {
    if (this.current === undefined) return;
    const prev = this.steps.find(this.current);
    if (prev?.running) this.write(`#${prev.id} ...\n`);
    this.current = undefined;
  }

  private separate(): void {
    if (!this.first) this.write('\n');
    this.first = false;
  }
}

function endWord(s: StepState): string {
  switch (s.status) {
    case 'cached':
      return 'CACHED';
    case 'error':
      return `ERROR: ${oneLine(errorText(s))}`;
    default:
      return s.started && s.end !== undefined ? `DONE ${formatDuration(s.end - s.start)}` : 'DONE';
  }
}

/** The error message with the exit code appended (BuildKit's wording) unless it is already there. */
function errorText(s: { message?: string | undefined; exitCode?: number | undefined }): string {
  const msg = s.message ?? 'failed';
  if (s.exitCode === undefined || /exit code/i.test(msg)) return msg;
  return `${msg}: exit code: ${s.exitCode}`;
}

function prefixLines(prefix: string, text: string): string {
  const t = text.endsWith('\n') ? text.slice(0, -1) : text;
  return t
    .split('\n')
    .map((l) => prefix + l + '\n')
    .join('');
}

/** Names are written on one line: line breaks become spaces. */
function oneLine(s: string): string {
  return s.replace(/[\r\n]+/g, ' ');
}
