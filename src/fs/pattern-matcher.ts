/**
 * Docker's ignore-pattern matcher: decides which context paths a `.dockerignore` (or
 * `COPY --exclude`) leaves out. The last pattern that matches a path or one of its parent
 * directories decides; a `!pattern` re-includes.
 */
import { IgnorePatternError, StrataError } from '../errors.js';
import { cleanPath, dirPath, trimGoSpace } from './go-path.js';
import { CompiledPattern } from './pattern-compile.js';

/**
 * Per-pattern results for one directory ("this pattern matched the directory or an ancestor"),
 * returned by `PatternMatcher.match` and handed back for the directory's children so a walker
 * never re-matches ancestors. Treat it as opaque.
 */
export interface MatchInfo {
  readonly matched: Uint8Array;
}

/** The outcome of `PatternMatcher.match`. */
export interface MatchResult {
  excluded: boolean;
  info: MatchInfo;
}

/** Where the patterns came from, for error locations. `lines[i]` is the line of `patterns[i]`. */
export interface PatternSource {
  file: string;
  lines?: number[];
}

/** A compiled, ordered list of ignore patterns. Not safe to share between concurrent callers (scratch buffers). */
export class PatternMatcher {
  /** True when at least one `!pattern` exists (so an excluded directory may hold re-included files). */
  readonly hasExclusions: boolean;
  /** The cleaned patterns in order, `!` kept on exceptions; empty entries are dropped. */
  readonly patterns: readonly string[];
  private readonly compiled: CompiledPattern[] = [];
  private readonly exclusion: boolean[] = [];

  /** Compiles patterns; throws IgnorePatternError naming the bad pattern (and `source` file/line when given). */
  constructor(patterns: readonly string[], source?: PatternSource) {
    const kept: string[] = [];
    patterns.forEach((raw, index) => {
      let p = trimGoSpace(raw);
      if (p === '') return;
      p = cleanPath(p);
      const exclusion = p.charCodeAt(0) === 33; /* ! */
      try {
        if (exclusion && p.length === 1) {
          throw new IgnorePatternError('invalid ignore pattern "!": "!" must be followed by a pattern', {
            hint: 'write "!path" to re-include a path, or remove the line',
          });
        }
        this.compiled.push(new CompiledPattern(exclusion ? p.slice(1) : p));
      } catch (e) {
        if (!(e instanceof StrataError) || source === undefined) throw e;
        const line = source.lines?.[index];
        throw new IgnorePatternError(e.message, {
          hint: e.hint,
          location: line === undefined ? { file: source.file } : { file: source.file, line },
        });
      }
      this.exclusion.push(exclusion);
      kept.push(p);
    });
    this.patterns = kept;
    this.hasExclusions = this.exclusion.includes(true);
  }

  /** True when the slash-separated relative path is excluded (last matching pattern wins; a pattern matching a parent dir matches the path). */
  matches(relPath: string): boolean {
    const file = cleanPath(relPath);
    if (file === '.') return false; // the context root itself is never excluded
    // Walking from the last pattern, the first hit decides; earlier patterns cannot change it.
    for (let i = this.compiled.length - 1; i >= 0; i--) {
      if (this.matchesOrParent(i, file)) return !this.exclusion[i];
    }
    return false;
  }

  /**
   * Like `matches`, but also returns per-pattern results to pass as `parent` when matching the
   * entries of this directory. With `parent` (the info of `relPath`'s parent directory), only
   * `relPath` itself is tested against each pattern, not its ancestors again; the result equals
   * `matches(relPath)`. Without it, ancestors are checked as in `matches`.
   */
  match(relPath: string, parent?: MatchInfo): MatchResult {
    const file = cleanPath(relPath);
    const n = this.compiled.length;
    const bits = new Uint8Array(n);
    if (file === '.') return { excluded: false, info: { matched: bits } };
    if (parent !== undefined && parent.matched.length !== n) {
      throw new RangeError(`MatchInfo holds ${parent.matched.length} results, the matcher has ${n} patterns`);
    }
    let last = -1;
    for (let i = 0; i < n; i++) {
      const hit = parent !== undefined ? parent.matched[i] === 1 || this.compiled[i]!.test(file) : this.matchesOrParent(i, file);
      if (hit) {
        bits[i] = 1;
        last = i;
      }
    }
    return { excluded: last >= 0 && !this.exclusion[last], info: { matched: bits } };
  }

  /**
   * True when a directory is excluded AND no exception pattern could re-include anything under it,
   * so a walker may skip it entirely. Pass the directory's own `info` (from `match`) to avoid
   * re-matching it. Conservative: false whenever a later `!pattern` might match below it.
   */
  canSkipDir(relDir: string, info?: MatchInfo): boolean {
    const dir = cleanPath(relDir);
    if (dir === '.') return false;
    // The last pattern matching the directory (or an ancestor) decides, and it must exclude.
    let last = -1;
    for (let i = this.compiled.length - 1; i >= 0; i--) {
      if (info !== undefined ? info.matched[i] === 1 : this.matchesOrParent(i, dir)) {
        last = i;
        break;
      }
    }
    if (last < 0 || this.exclusion[last]) return false;
    // Patterns before `last` cannot outrank it; later inclusions only exclude more. Only a later
    // exception that could match some path below the directory can bring something back.
    const under = dir === '/' ? '/' : dir + '/';
    for (let i = last + 1; i < this.compiled.length; i++) {
      if (this.exclusion[i] && this.compiled[i]!.canMatchUnder(under)) return false;
    }
    return true;
  }

  /** Does pattern `i` match the cleaned path or one of its parents (upstream's parent rule)? */
  private matchesOrParent(i: number, file: string): boolean {
    const p = this.compiled[i]!;
    if (file.charCodeAt(0) !== 47) return p.testWithParents(file);
    // Absolute paths (never produced by a walker) take the literal route: the path, then each
    // prefix of its parent directory split at '/', where "/x" has the parents "" and "/".
    if (p.test(file)) return true;
    const parent = dirPath(file);
    if (parent === '.') return false;
    const parts = parent.split('/');
    for (let k = 1; k <= parts.length; k++) {
      if (p.test(parts.slice(0, k).join('/'))) return true;
    }
    return false;
  }
}
