/**
 * Which entries a COPY/ADD source list selects from a FileSource, with Docker's rules:
 * - a source path is relative to the source root (a leading `/` is dropped); in the build context
 *   one that climbs out with `..` is an error, elsewhere `..` stops at the root;
 * - wildcards (`*`, `?`, `[...]`, Go filepath.Match) apply per path element, from the first
 *   element that holds one; they never cross into symlinked directories;
 * - the source itself is followed when it is a symlink (inside the source: absolute targets start
 *   at its root, `..` stops there), while symlinks below a selected directory are copied as links;
 * - a directory means its contents; `--exclude` patterns (.dockerignore syntax) are matched
 *   against paths relative to the selected directory;
 * - `--parents` keeps each path relative to the source root, or to a `/./` pivot in the source,
 *   and its pattern may use `**` (patterns are matched like .dockerignore lines).
 * A source that does not exist, or a wildcard that matches nothing, is an error naming it.
 */
import { BuildError } from '../errors.js';
import { cleanPath } from '../fs/go-path.js';
import { CompiledPattern } from '../fs/pattern-compile.js';
import { PatternMatcher } from '../fs/pattern-matcher.js';
import type { MatchInfo } from '../fs/pattern-matcher.js';
import { GoGlob, hasWildcards } from './go-match.js';
import { joinPath } from './file-source.js';
import type { FileSource, SourceEntry } from './file-source.js';

/** One selected entry and where it goes relative to the item's destination. */
export interface SelectedEntry {
  /** Path under the item's destination, slash-separated; `''` is the item root. */
  rel: string;
  entry: SourceEntry;
  /** A directory selected only as the parent of selected entries (excluded, or a `--parents` ancestor). */
  implied?: boolean;
}

/** What one source (or one wildcard match of it) selected. */
export interface SelectedItem {
  /** The source as written. */
  source: string;
  /** Name used when the item lands in a destination directory (the matched path's last element). */
  name: string;
  /** The source after following symlinks. A directory root means "its contents". */
  root: SourceEntry;
  /** entries[0] is the root (rel `''`); then, for a directory, its selected descendants, parents first. */
  entries: SelectedEntry[];
}

/** The result of a selection: what to copy and from where. */
export interface Selection {
  source: FileSource;
  items: SelectedItem[];
  /** Selected with `--parents`: each item is a directory copied as contents. */
  parents: boolean;
}

/** Options of a selection. */
export interface SelectOptions {
  /** `--exclude` patterns. */
  exclude?: string[];
  /** `--parents`. */
  parents?: boolean;
  /** A wildcard matching nothing selects nothing instead of failing (BuildKit's behaviour). */
  allowEmptyWildcard?: boolean;
  /** A source climbing out of the root with `..` is an error (the build context) rather than clamped. */
  escapeIsError?: boolean;
}

const MAX_LINKS = 255;

/** Selects the entries `sources` name in `src`. */
export function selectSources(src: FileSource, sources: string[], opts: SelectOptions = {}): Selection {
  const exclude = opts.exclude && opts.exclude.length > 0 ? new PatternMatcher(opts.exclude, { file: '--exclude' }) : undefined;
  const items: SelectedItem[] = [];
  for (const s of sources) {
    if (opts.parents) items.push(...selectWithParents(src, s, exclude, opts));
    else items.push(...selectPlain(src, s, exclude, opts));
  }
  return { source: src, items, parents: opts.parents === true };
}

/** Follows `path` inside the source, element by element; undefined when some element is missing. */
export function resolveSource(src: FileSource, path: string, followFinal = true, what = path): SourceEntry | undefined {
  const todo = path === '' ? [] : path.split('/').reverse();
  const done: string[] = [];
  let hops = 0;
  let entry = src.lookup('');
  while (todo.length > 0) {
    const part = todo.pop()!;
    if (part === '' || part === '.') continue;
    if (part === '..') {
      done.pop();
      entry = undefined;
      continue;
    }
    const cur = done.length === 0 ? part : `${done.join('/')}/${part}`;
    const e = src.lookup(cur);
    if (e === undefined) return undefined;
    if (e.type === 'symlink' && (todo.length > 0 || followFinal)) {
      if (++hops > MAX_LINKS) {
        throw new BuildError(`${src.label}: too many levels of symbolic links resolving ${JSON.stringify(what)}`, {}, 'COPY_SYMLINK_LOOP');
      }
      const target = e.linkTarget ?? '';
      if (target.startsWith('/')) done.length = 0;
      entry = undefined;
      for (const t of target.split('/').reverse()) todo.push(t);
      continue;
    }
    if (todo.length > 0 && e.type !== 'dir') return undefined;
    done.push(part);
    entry = e;
  }
  return entry ?? src.lookup(done.join('/'));
}

function normalize(src: FileSource, s: string, opts: SelectOptions): string {
  const rel = cleanPath(s.replace(/^\/+/, ''));
  if (rel === '..' || rel.startsWith('../')) {
    if (opts.escapeIsError) {
      throw new BuildError(`COPY source ${JSON.stringify(s)} is outside the ${src.label}`, {
        hint: `sources are relative to the ${src.label}; move the file into it or use a different context`,
      }, 'COPY_OUTSIDE_CONTEXT');
    }
    return cleanPath('/' + s).slice(1);
  }
  return rel === '.' ? '' : rel;
}

function notFound(src: FileSource, s: string, path: string): BuildError {
  const why = (src as { explainMissing?: (p: string) => string | undefined }).explainMissing?.(path);
  return new BuildError(`COPY source ${JSON.stringify(s)} not found in the ${src.label}${why ? ` (${why})` : ''}`, {
    hint: why ? 'remove the matching .dockerignore line or add an exception (!path)' : `check the path: sources are relative to the ${src.label}`,
  }, 'COPY_SOURCE_NOT_FOUND');
}

function noMatch(src: FileSource, s: string): BuildError {
  return new BuildError(`COPY source ${JSON.stringify(s)} matches no files in the ${src.label}`, {
    hint: 'check the pattern (Go filepath.Match: * and ? stay within one path element) and .dockerignore',
  }, 'COPY_SOURCE_NOT_FOUND');
}

function baseName(path: string): string {
  return path === '' ? '.' : path.slice(path.lastIndexOf('/') + 1);
}

/** Matches `globs` element by element below directory `dir`; only real directories are descended. */
function expandGlobs(src: FileSource, dir: string, globs: GoGlob[]): SourceEntry[] {
  const out: SourceEntry[] = [];
  const level = (path: string, k: number): void => {
    for (const c of src.children(path)) {
      if (!globs[k]!.test(baseName(c.path))) continue;
      if (k === globs.length - 1) out.push(c);
      else if (c.type === 'dir') level(c.path, k + 1);
    }
  };
  level(dir, 0);
  return out;
}

/** The entries a possibly-wildcarded relative path selects, each followed when a symlink. */
function expand(src: FileSource, s: string, rel: string, opts: SelectOptions): Array<{ name: string; root: SourceEntry }> {
  const parts = rel === '' ? [] : rel.split('/');
  const k = parts.findIndex(hasWildcards);
  if (k < 0) {
    const root = resolveSource(src, rel, true, s);
    if (root === undefined) throw notFound(src, s, rel);
    return [{ name: baseName(rel), root }];
  }
  const globs = parts.slice(k).map((p) => new GoGlob(p));
  const base = resolveSource(src, parts.slice(0, k).join('/'), true, s);
  const matches = base?.type === 'dir' ? expandGlobs(src, base.path, globs) : [];
  if (matches.length === 0) {
    if (opts.allowEmptyWildcard) return [];
    throw noMatch(src, s);
  }
  return matches.map((m) => {
    const root = m.type === 'symlink' ? resolveSource(src, m.path, true, s) : m;
    if (root === undefined) throw notFound(src, s, m.path);
    return { name: baseName(m.path), root };
  });
}

function selectPlain(src: FileSource, s: string, exclude: PatternMatcher | undefined, opts: SelectOptions): SelectedItem[] {
  return expand(src, s, normalize(src, s, opts), opts).map(({ name, root }) => {
    const entries: SelectedEntry[] = [{ rel: '', entry: root }];
    if (root.type === 'dir') collect(src, root.path, root.path === '' ? 0 : root.path.length + 1, exclude, exclude?.match('.').info, entries);
    return { source: s, name, root, entries };
  });
}

/**
 * Adds the descendants of `dir` to `out`, parents first, leaving out what `exclude` excludes.
 * Entry paths all start with the item root's path, so `rel` is a slice of it (`cut` = its length + 1).
 */
function collect(src: FileSource, dir: string, cut: number, exclude: PatternMatcher | undefined, info: MatchInfo | undefined, out: SelectedEntry[]): void {
  for (const c of src.children(dir)) {
    const rel = cut === 0 ? c.path : c.path.slice(cut);
    let childInfo = info;
    if (exclude !== undefined) {
      const m = exclude.match(rel, info);
      childInfo = m.info;
      if (m.excluded) {
        if (c.type !== 'dir' || exclude.canSkipDir(rel, m.info)) continue;
        // An exception may re-include something below: keep the directory only if it does.
        const at = out.length;
        out.push({ rel, entry: c, implied: true });
        collect(src, c.path, cut, exclude, m.info, out);
        if (out.length === at + 1) out.pop();
        continue;
      }
    }
    out.push({ rel, entry: c });
    if (c.type === 'dir') collect(src, c.path, cut, exclude, childInfo, out);
  }
}

function selectWithParents(src: FileSource, s: string, exclude: PatternMatcher | undefined, opts: SelectOptions): SelectedItem[] {
  const cut = s.indexOf('/./');
  const parentStr = cut >= 0 ? s.slice(0, cut) : '/';
  const patternStr = cut >= 0 ? s.slice(cut + 3) : s;
  const parentRel = normalize(src, parentStr, opts);
  const pattern = normalize(src, patternStr, opts);
  // Nothing after the pivot: the pivot directory's whole contents.
  if (pattern === '') return selectPlain(src, parentStr, exclude, opts).map((item) => ({ ...item, source: s }));
  const literal = !hasWildcards(parentStr) && !hasWildcards(patternStr);
  if (literal && resolveSource(src, joinPath(parentRel, pattern), false, s) === undefined) {
    throw notFound(src, s, joinPath(parentRel, pattern));
  }
  const roots = expand(src, s, parentRel, opts).map((r) => r.root);
  const include = new PatternMatcher([pattern], { file: 'COPY --parents' });
  const prune = new CompiledPattern(include.patterns[0] ?? '.');
  const items: SelectedItem[] = [];
  let selected = 0;
  for (const root of roots) {
    if (root.type !== 'dir') throw new BuildError(`COPY --parents: ${JSON.stringify(s)}: ${JSON.stringify(root.path)} is not a directory`, {}, 'COPY_NOT_A_DIRECTORY');
    const entries: SelectedEntry[] = [{ rel: '', entry: root }];
    const pending: Array<{ sel: SelectedEntry; emitted: boolean }> = [];
    const walk = (dir: string, prefix: string, incInfo: MatchInfo, exInfo: MatchInfo | undefined): void => {
      for (const c of src.children(dir)) {
        const rel = joinPath(prefix, baseName(c.path));
        const inc = include.match(rel, incInfo);
        const ex = exclude?.match(rel, exInfo);
        const excluded = ex?.excluded === true;
        if (inc.excluded && !excluded) {
          for (const p of pending) {
            if (!p.emitted) {
              entries.push(p.sel);
              p.emitted = true;
            }
          }
          entries.push({ rel, entry: c });
          selected++;
          if (c.type === 'dir') {
            pending.push({ sel: { rel, entry: c }, emitted: true });
            walk(c.path, rel, inc.info, ex?.info);
            pending.pop();
          }
        } else if (c.type === 'dir') {
          if (!inc.excluded && !prune.canMatchUnder(rel + '/')) continue;
          if (excluded && exclude!.canSkipDir(rel, ex!.info)) continue;
          pending.push({ sel: { rel, entry: c, implied: true }, emitted: false });
          walk(c.path, rel, inc.info, ex?.info);
          pending.pop();
        }
      }
    };
    walk(root.path, '', include.match('.').info, exclude?.match('.').info);
    items.push({ source: s, name: '.', root, entries });
  }
  if (selected === 0 && !literal && !opts.allowEmptyWildcard) throw noMatch(src, s);
  return items;
}
