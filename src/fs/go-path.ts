/**
 * Slash-path and whitespace helpers that behave like Go's `path/filepath` and `strings` on Unix.
 * `.dockerignore` files are read and matched by Go code upstream, so the exact results of
 * Clean/Dir/TrimSpace decide which files end up in a build context.
 */

/** Lexically cleans a slash path like Go's `filepath.Clean`: no `//`, no `.`, `..` resolved, `"."` for empty. */
export function cleanPath(path: string): string {
  if (path === '') return '.';
  const rooted = path.charCodeAt(0) === 47;
  // Fast path: already clean paths (the common case for a walker) need no rebuilding.
  if (isClean(path, rooted)) return path;
  const out: string[] = [];
  let dotdots = 0; // leading '..' segments of a relative path, which cannot be popped
  for (const seg of path.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') {
      if (out.length > dotdots) out.pop();
      else if (!rooted) {
        out.push('..');
        dotdots++;
      }
      continue;
    }
    out.push(seg);
  }
  const body = out.join('/');
  if (rooted) return '/' + body;
  return body === '' ? '.' : body;
}

function isClean(path: string, rooted: boolean): boolean {
  if (path === '/') return true;
  const n = path.length;
  // Scan segment by segment without slicing; a segment starts at `start`.
  let seenName = false; // a '..' after a real name can still be resolved
  for (let start = rooted ? 1 : 0; ; ) {
    let end = start;
    while (end < n && path.charCodeAt(end) !== 47) end++;
    const len = end - start;
    if (len === 0) return false; // '//' or a trailing '/'
    const dot1 = path.charCodeAt(start) === 46;
    if (dot1 && len === 1) return false;
    if (dot1 && len === 2 && path.charCodeAt(start + 1) === 46) {
      if (rooted || seenName) return false;
    } else seenName = true;
    if (end === n) return true;
    start = end + 1;
  }
}

/** Everything but the last element, cleaned, like Go's `filepath.Dir` (`"."` when there is no slash). */
export function dirPath(path: string): string {
  const i = path.lastIndexOf('/');
  return cleanPath(path.slice(0, i + 1));
}

/** True for the characters Go's `unicode.IsSpace` accepts (JS `trim` differs on U+FEFF and U+0085). */
export function isGoSpace(c: number): boolean {
  if (c <= 0xff) return c === 0x20 || (c >= 0x09 && c <= 0x0d) || c === 0x85 || c === 0xa0;
  return c === 0x1680 || (c >= 0x2000 && c <= 0x200a) || c === 0x2028 || c === 0x2029 || c === 0x202f || c === 0x205f || c === 0x3000;
}

/** Trims leading and trailing whitespace as Go's `strings.TrimSpace` does. */
export function trimGoSpace(s: string): string {
  let a = 0;
  let b = s.length;
  while (a < b && isGoSpace(s.charCodeAt(a))) a++;
  while (b > a && isGoSpace(s.charCodeAt(b - 1))) b--;
  return a === 0 && b === s.length ? s : s.slice(a, b);
}
