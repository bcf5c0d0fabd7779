/**
 * Text helpers shared by the progress renderers: BuildKit-style time stamps, byte sizes, and
 * making arbitrary step output safe to draw on a terminal (control sequences, invalid UTF-8,
 * wide characters, line width).
 */

/** Seconds as BuildKit stamps log lines: 3 decimals below 10 s, 2 below 100 s, then 1. */
export function formatLogTime(ms: number): string {
  const sec = Math.max(0, ms) / 1000;
  return sec.toFixed(sec < 10 ? 3 : sec < 100 ? 2 : 1);
}

/** Seconds with one decimal, as in `#3 DONE 1.2s` and the live view's timers. */
export function formatDuration(ms: number): string {
  return (Math.max(0, ms) / 1000).toFixed(1) + 's';
}

/** `4MiB`, `512KiB`, `100B`: the size named in the clipping note. */
export function formatSize(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB'];
  let v = bytes;
  let i = 0;
  while (v >= 1024 && i < units.length - 1 && v % 1024 === 0) {
    v /= 1024;
    i++;
  }
  return `${v}${units[i]}`;
}

/** The note shown once when a step's kept output had to drop its oldest part. */
export function clipNote(limitBytes: number): string {
  return `[output clipped, log limit ${formatSize(limitBytes)} reached]`;
}

// CSI (ESC [ ... final), OSC (ESC ] ... BEL or ST), and two-character ESC sequences.
const ESCAPES = /\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-Z\\-_]?/g;
// Remaining C0 and C1 controls (tab and the above handled first).
const CONTROLS = /[\x00-\x1f\x7f-\x9f]/g;
// Longest raw text worth cleaning for one terminal line: anything past it is cut anyway.
const MAX_RAW = 4096;

/**
 * One line of step output made safe to draw in a single terminal row: only what follows the
 * last carriage return (progress bars redraw with `\r`), escape sequences and other control
 * characters removed, tabs expanded. Invalid UTF-8 was already replaced by U+FFFD when decoded.
 */
export function sanitizeLine(line: string): string {
  let s = line;
  if (s.endsWith('\r')) s = s.replace(/\r+$/, '');
  const cr = s.lastIndexOf('\r');
  if (cr >= 0) s = s.slice(cr + 1);
  if (s.length > MAX_RAW) s = s.slice(0, MAX_RAW);
  s = s.replace(ESCAPES, '');
  if (s.includes('\t')) s = expandTabs(s);
  return s.replace(CONTROLS, '');
}

/** A step name on one line: newlines and other controls become spaces. */
export function oneLine(name: string): string {
  return name.replace(ESCAPES, '').replace(/[\x00-\x1f\x7f-\x9f]/g, ' ');
}

function expandTabs(s: string): string {
  let out = '';
  for (const ch of s) {
    if (ch === '\t') out += ' '.repeat(8 - (out.length % 8));
    else out += ch;
  }
  return out;
}

/** Columns a code point takes on a terminal: 0 for combining marks, 2 for wide East Asian and emoji. */
export function charWidth(cp: number): number {
  if (
    (cp >= 0x300 && cp <= 0x36f) ||
    (cp >= 0x1ab0 && cp <= 0x1aff) ||
    (cp >= 0x1dc0 && cp <= 0x1dff) ||
    (cp >= 0x200b && cp <= 0x200f) ||
    (cp >= 0x20d0 && cp <= 0x20ff) ||
    (cp >= 0xfe00 && cp <= 0xfe0f) ||
    (cp >= 0xfe20 && cp <= 0xfe2f)
  ) {
    return 0;
  }
  if (
    (cp >= 0x1100 && cp <= 0x115f) ||
    (cp >= 0x2e80 && cp <= 0xa4cf && cp !== 0x303f) ||
    (cp >= 0xac00 && cp <= 0xd7a3) ||
    (cp >= 0xf900 && cp <= 0xfaff) ||
    (cp >= 0xfe30 && cp <= 0xfe4f) ||
    (cp >= 0xff00 && cp <= 0xff60) ||
    (cp >= 0xffe0 && cp <= 0xffe6) ||
    (cp >= 0x1f300 && cp <= 0x1f64f) ||
    (cp >= 0x1f900 && cp <= 0x1f9ff) ||
    (cp >= 0x20000 && cp <= 0x3fffd)
  ) {
    return 2;
  }
  return 1;
}

/** Columns a (sanitized) string takes on a terminal. */
export function textWidth(s: string): number {
  let w = 0;
  for (const ch of s) w += charWidth(ch.codePointAt(0)!);
  return w;
}

/** The longest prefix of `s` that fits in `width` columns (never splits a surrogate pair). */
export function truncateWidth(s: string, width: number): string {
  if (width <= 0) return '';
  // Fast path: ASCII-only strings are one column per code unit.
  if (s.length <= width && /^[\x20-\x7e]*$/.test(s)) return s;
  let w = 0;
  let end = 0;
  for (const ch of s) {
    const cw = charWidth(ch.codePointAt(0)!);
    if (w + cw > width) break;
    w += cw;
    end += ch.length;
  }
  return s.slice(0, end);
}
