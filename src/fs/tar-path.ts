/**
 * Cleaning and validation of tar entry names and hardlink targets. Names are untrusted: the
 * result is a relative path with no empty, `.` or `..` components, or a reason for refusing it.
 * Cleaning is purely lexical; whether a component is a symlink is checked against the disk by the
 * extractor.
 */

/** A cleaned relative path (`''` is the target root itself) or why the name is refused. */
export type CleanedPath = { ok: true; path: string } | { ok: false; reason: string };

/** Normalises a tar name (`./a`, `a//b`, `a/` → `a`, `a/b/../c` → `a/c`); refuses NUL, absolute names and `..` that climbs above the root. */
export function cleanTarPath(name: string): CleanedPath {
  if (name.length === 0) return { ok: false, reason: 'empty name' };
  if (name.includes('\0')) return { ok: false, reason: 'name contains a NUL byte' };
  if (name.startsWith('/')) return { ok: false, reason: 'absolute path escapes the target' };
  // Fast path: the common `usr/bin/x` shape needs no rebuilding.
  if (!/(^|\/)\.{1,2}(\/|$)|\/\/|\/$/.test(name)) return { ok: true, path: name };
  const out: string[] = [];
  for (const part of name.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (out.length === 0) return { ok: false, reason: 'path escapes the target' };
      out.pop();
      continue;
    }
    out.push(part);
  }
  return { ok: true, path: out.join('/') };
}

/** Parent of a cleaned relative path (`a/b` → `a`, `a` → `''`). */
export function parentOf(rel: string): string {
  const i = rel.lastIndexOf('/');
  return i < 0 ? '' : rel.slice(0, i);
}

/** Last component of a cleaned relative path. */
export function baseOf(rel: string): string {
  return rel.slice(rel.lastIndexOf('/') + 1);
}

/** Joins a cleaned parent and one component. */
export function joinRel(parent: string, base: string): string {
  return parent === '' ? base : `${parent}/${base}`;
}

/** Every proper ancestor of a cleaned path, outermost first (`a/b/c` → `a`, `a/b`). */
export function ancestorsOf(rel: string): string[] {
  const out: string[] = [];
  for (let i = rel.indexOf('/'); i >= 0; i = rel.indexOf('/', i + 1)) out.push(rel.slice(0, i));
  return out;
}

/** Quotes an untrusted name for an error message (control characters escaped). */
export function quoteName(name: string): string {
  return JSON.stringify(name);
}
