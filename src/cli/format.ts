/**
 * Human-readable values for tables: sizes, ages, short IDs, and borderless tables.
 */
import Table from 'cli-table3';

/** Docker's size format: decimal units, up to 4 significant digits (`7.42MB`, `512B`). */
export function humanSize(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB', 'PB'];
  let v = bytes;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${i === 0 ? v : Number(v.toPrecision(3))}${units[i]}`;
}

/** `3 minutes ago`, `2 days ago`, like docker's CREATED column. */
export function timeAgo(iso: string | undefined, now = Date.now()): string {
  if (!iso) return 'N/A';
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return 'N/A';
  const s = Math.max(0, Math.round((now - t) / 1000));
  const steps: [number, string][] = [[60, 'second'], [60, 'minute'], [24, 'hour'], [7, 'day'], [4.35, 'week'], [12, 'month'], [Infinity, 'year']];
  let v = s;
  for (const [n, unit] of steps) {
    if (v < n) {
      const r = Math.floor(v);
      if (unit === 'second') return r < 1 ? 'Less than a second ago' : `${r} second${r === 1 ? '' : 's'} ago`;
      return r === 1 ? `${unit === 'hour' ? 'An' : 'A'} ${unit} ago` : `${r} ${unit}s ago`;
    }
    v /= n;
  }
  return 'N/A';
}

/** The 12-hex short form of an image ID or digest. */
export function shortId(digest: string): string {
  return digest.replace(/^sha256:/, '').slice(0, 12);
}

/** A borderless, left-aligned table like docker's listings. */
export function renderTable(head: string[], rows: (string | number)[][]): string {
  const none = { top: '', 'top-mid': '', 'top-left': '', 'top-right': '', bottom: '', 'bottom-mid': '', 'bottom-left': '', 'bottom-right': '', left: '', 'left-mid': '', mid: '', 'mid-mid': '', right: '', 'right-mid': '', middle: '   ' };
  const t = new Table({ head, chars: none, style: { head: [], border: [], 'padding-left': 0, 'padding-right': 0 } });
  for (const r of rows) t.push(r.map(String));
  return t.toString().split('\n').map((l) => l.trimEnd()).join('\n') + '\n';
}
