/**
 * Go-style durations (`30s`, `1m30s`, `1.5h`, `250ms`), as HEALTHCHECK flags take them and image
 * configs store them (integer nanoseconds).
 */

const UNITS: Record<string, number> = { ns: 1, us: 1e3, 'µs': 1e3, 'μs': 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };
const PART = /^([0-9]*(?:\.[0-9]*)?)(ns|us|µs|μs|ms|s|m|h)/;

/** Parses a duration into nanoseconds; undefined when the text is not a valid duration. */
export function parseDuration(text: string): number | undefined {
  let s = text;
  let sign = 1;
  if (s.startsWith('-') || s.startsWith('+')) {
    if (s[0] === '-') sign = -1;
    s = s.slice(1);
  }
  if (s === '0') return 0;
  if (s === '') return undefined;
  let total = 0;
  while (s !== '') {
    const m = PART.exec(s);
    if (!m || m[1] === '' || m[1] === '.') return undefined;
    total += Number(m[1]) * UNITS[m[2]!]!;
    s = s.slice(m[0].length);
  }
  const ns = Math.round(total) * sign;
  return Number.isSafeInteger(ns) ? ns : undefined;
}

/** Renders nanoseconds the way Go prints a time.Duration (`1m30s`, `500ms`, `0s`). */
export function formatDuration(ns: number): string {
  if (ns === 0) return '0s';
  const sign = ns < 0 ? '-' : '';
  let v = Math.abs(ns);
  if (v < 1e3) return `${sign}${v}ns`;
  if (v < 1e6) return `${sign}${trimZeros(v / 1e3)}µs`;
  if (v < 1e9) return `${sign}${trimZeros(v / 1e6)}ms`;
  const h = Math.floor(v / 3600e9);
  v -= h * 3600e9;
  const m = Math.floor(v / 60e9);
  v -= m * 60e9;
  const s = `${trimZeros(v / 1e9)}s`;
  return sign + (h ? `${h}h${m}m${s}` : m ? `${m}m${s}` : s);
}

function trimZeros(n: number): string {
  return String(Number(n.toFixed(9)));
}
