/**
 * `--progress json`: one JSON object per event, one per line, for scripts. Times are in ms on
 * the builder's clock (Date.now()); `durationMs` is the step's run time.
 *
 *     {"type":"step-start","id":3,"name":"[build 2/5] RUN make","time":1732000000000}
 *     {"type":"step-log","id":3,"stream":"stdout","text":"cc -c main.c\n","time":1732000000512}
 *     {"type":"step-log","id":3,"stream":"stderr","data":"/w==","time":1732000000600}
 *     {"type":"step-note","id":3,"text":"cache miss: ...","time":1732000000000}
 *     {"type":"step-cached","id":4,"time":1732000000000,"durationMs":0}
 *     {"type":"step-done","id":3,"time":1732000001200,"durationMs":1200}
 *     {"type":"step-error","id":5,"message":"...","exitCode":2,"time":1732000002000,"durationMs":800}
 *     {"type":"build-done","imageId":"sha256:...","names":["demo:latest"],"time":1732000002100}
 *
 * A log record has `text` when its bytes are valid UTF-8 and `data` (base64) otherwise. A
 * multi-byte character cut between two chunks is held back and sent with the next chunk of the
 * same stream, so text records stay text; concatenating a stream's records in order (decoding
 * `data`) gives exactly the bytes the step wrote. Nothing is clipped: every byte is written.
 */
import { isUtf8 } from 'node:buffer';
import type { BuildDoneEvent, LogEvent } from './progress-base.js';
import { BaseSink } from './progress-base.js';
import type { StepState } from './progress-steps.js';

/** Writes every event as a line of JSON. */
export class JsonSink extends BaseSink {
  /** Bytes of an unfinished UTF-8 character, by `id:stream`. */
  private carry = new Map<string, Buffer>();

  protected override renders(): boolean {
    return true;
  }

  protected override onStart(s: StepState, time: number): void {
    this.record({ type: 'step-start', id: s.id, name: s.name, time });
  }

  protected override onLog(s: StepState, e: LogEvent): void {
    const key = `${s.id}:${e.stream}`;
    const held = this.carry.get(key);
    const data = held ? Buffer.concat([held, e.data]) : e.data;
    const cut = data.length - incompleteTail(data);
    if (cut < data.length) this.carry.set(key, Buffer.from(data.subarray(cut)));
    else if (held) this.carry.delete(key);
    if (cut > 0) this.logRecord(s.id, e.stream, data.subarray(0, cut), e.time);
  }

  protected override onNote(s: StepState, text: string, time: number): void {
    this.record({ type: 'step-note', id: s.id, text, time });
  }

  protected override onEnd(s: StepState): void {
    const time = s.end!;
    this.flushCarry(s.id, time);
    const durationMs = s.status === 'cached' ? 0 : time - s.start;
    if (s.status === 'error') {
      this.record({ type: 'step-error', id: s.id, message: s.message, exitCode: s.exitCode, time, durationMs });
    } else {
      this.record({ type: s.status === 'cached' ? 'step-cached' : 'step-done', id: s.id, time, durationMs });
    }
  }

  protected override onBuildDone(e: BuildDoneEvent): void {
    this.record({ type: 'build-done', imageId: e.imageId, names: e.names, time: e.time });
  }

  protected override onClose(): void {
    for (const key of [...this.carry.keys()]) this.flushCarry(Number(key.split(':')[0]), this.opts.now());
  }

  private flushCarry(id: number, time: number): void {
    for (const stream of ['stdout', 'stderr'] as const) {
      const key = `${id}:${stream}`;
      const held = this.carry.get(key);
      if (!held) continue;
      this.carry.delete(key);
      this.logRecord(id, stream, held, time);
    }
  }

  private logRecord(id: number, stream: 'stdout' | 'stderr', data: Buffer, time: number): void {
    if (isUtf8(data)) this.record({ type: 'step-log', id, stream, text: data.toString('utf8'), time });
    else this.record({ type: 'step-log', id, stream, data: data.toString('base64'), time });
  }

  private record(o: Record<string, unknown>): void {
    this.write(JSON.stringify(o) + '\n');
  }
}

/** How many bytes at the end of `b` start a UTF-8 character that the next chunk may complete. */
export function incompleteTail(b: Buffer): number {
  const n = b.length;
  for (let i = 1; i <= Math.min(3, n); i++) {
    const c = b[n - i]!;
    if ((c & 0xc0) === 0x80) continue; // continuation byte: look further back
    const need = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
    return need > i ? i : 0;
  }
  return 0;
}
