/**
 * Build progress: the typed events the builder emits and the sinks that render them — a live
 * terminal view (`tty`), BuildKit-style lines (`plain`), one JSON object per event (`json`) or
 * nothing (`quiet`). Every sink keeps a bounded tail of each step's output so the builder can
 * quote the last lines of a failed step (`lastLines`).
 *
 * Times are milliseconds on one clock (Date.now() by default); only differences are shown.
 */
import type { Writable } from 'node:stream';
import { BaseSink, type SinkOptions } from './progress-base.js';
import { PlainSink } from './progress-plain.js';
import { TtySink } from './progress-tty.js';
import { JsonSink } from './progress-json.js';

/** One thing that happened during a build. `id` numbers a step (BuildKit's `#3`). */
export type ProgressEvent =
  | { type: 'step-start'; id: number; name: string; time: number }
  | { type: 'step-cached'; id: number; time: number }
  | { type: 'step-log'; id: number; stream: 'stdout' | 'stderr'; data: Buffer; time: number }
  | { type: 'step-note'; id: number; text: string; time: number }
  | { type: 'step-done'; id: number; time: number }
  | { type: 'step-error'; id: number; message: string; exitCode?: number; time: number }
  | { type: 'build-done'; imageId: string; names: string[]; time: number };

/** Receives a build's events and renders them. */
export interface ProgressSink {
  /** Takes one event; never throws for a broken output (rendering just stops). */
  emit(e: ProgressEvent): void;
  /** Flushes partial lines, draws the final view and waits until the output took it all. */
  close(): Promise<void>;
  /** The last `n` lines of a step's output (kept in every mode, `quiet` too), oldest first. */
  lastLines(id: number, n: number): string[];
  /** Resolves once the output stream has room again: await it to slow a chatty step down. */
  drain?(): Promise<void>;
}

/** How progress is shown: `auto` is `tty` on a terminal, `plain` elsewhere. */
export type ProgressMode = 'auto' | 'tty' | 'plain' | 'quiet' | 'json';

/** The modes `--progress` accepts. */
export const PROGRESS_MODES: readonly ProgressMode[] = ['auto', 'tty', 'plain', 'quiet', 'json'];

/** Tuning knobs, mostly for tests. */
export interface ProgressOptions {
  /** The clock for elapsed times in the live view (ms); default Date.now. */
  now?: () => number;
  /** Output bytes kept in memory per running step (default 4 MiB). */
  logLimitBytes?: number;
  /** Least time between two frames of the live view (default 100 ms, ~10 fps). */
  frameIntervalMs?: number;
  /** Lines of output shown under each running step in the live view (default 6). */
  tailLines?: number;
  /** ANSI colours in the live view (default: unless NO_COLOR is set). */
  color?: boolean;
}

/** Creates the sink for `mode` writing to `out`. */
export function createProgress(
  mode: ProgressMode,
  out: NodeJS.WriteStream | Writable,
  opts: ProgressOptions = {},
): ProgressSink {
  const o: SinkOptions = {
    now: opts.now ?? Date.now,
    logLimitBytes: opts.logLimitBytes,
    frameIntervalMs: opts.frameIntervalMs ?? 100,
    tailLines: opts.tailLines ?? 6,
    color: opts.color ?? !process.env['NO_COLOR'],
  };
  switch (resolveMode(mode, out)) {
    case 'tty':
      return new TtySink(out, o);
    case 'plain':
      return new PlainSink(out, o);
    case 'json':
      return new JsonSink(out, o);
    default:
      return new BaseSink(out, o);
  }
}

/** The concrete mode `auto` stands for on `out`: `tty` for a terminal (not TERM=dumb), else `plain`. */
export function resolveMode(mode: ProgressMode, out: NodeJS.WriteStream | Writable): Exclude<ProgressMode, 'auto'> {
  if (mode !== 'auto') return mode;
  const isTty = (out as { isTTY?: boolean }).isTTY === true;
  return isTty && process.env['TERM'] !== 'dumb' ? 'tty' : 'plain';
}
