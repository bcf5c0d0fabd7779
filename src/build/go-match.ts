/**
 * Go's `filepath.Match` for one path element, which is how COPY/ADD sources are globbed: `*` is
 * any run of characters, `?` one character, `[...]` a class (`^` negates, `a-z` ranges, `\`
 * escapes) and `\x` a literal `x`. A malformed pattern is an error, as Go reports ErrBadPattern.
 * Matching walks code points (Go walks runes), so `?` matches one non-ASCII character.
 */
import { BuildError } from '../errors.js';

type Tok =
  | { t: 'lit'; c: number }
  | { t: 'any' } // ?
  | { t: 'star' }
  | { t: 'class'; neg: boolean; ranges: number[] };

/** A compiled single-element glob. */
export class GoGlob {
  private readonly toks: Tok[];

  /** Compiles `pattern`; throws BuildError (code COPY_BAD_PATTERN) when Go would return ErrBadPattern. */
  constructor(readonly pattern: string) {
    this.toks = compile(pattern);
  }

  /** True when `name` (one path element) matches the whole pattern. */
  test(name: string): boolean {
    return matchFrom(this.toks, 0, Array.from(name, (ch) => ch.codePointAt(0)!), 0);
  }
}

/** True when the text (a path element, or a whole path) holds an unescaped `*`, `?` or `[`: the test Docker uses to find wildcards. */
export function hasWildcards(element: string): boolean {
  for (let i = 0; i < element.length; i++) {
    const c = element[i];
    if (c === '\\') i++;
    else if (c === '*' || c === '?' || c === '[') return true;
  }
  return false;
}

function bad(pattern: string, why: string): BuildError {
  return new BuildError(`invalid source pattern ${JSON.stringify(pattern)}: ${why}`, {
    hint: 'wildcards follow Go filepath.Match: escape a literal "[", "*", "?" or "\\" with a backslash',
  }, 'COPY_BAD_PATTERN');
}

function compile(pattern: string): Tok[] {
  const cps = Array.from(pattern, (ch) => ch.codePointAt(0)!);
  const out: Tok[] = [];
  let i = 0;
  // One escaped-or-plain character inside a class; `-` and `]` must be escaped there.
  const classChar = (): number => {
    const c = cps[i];
    if (c === undefined || c === 0x2d /* - */ || c === 0x5d /* ] */) throw bad(pattern, 'malformed character class');
    if (c === 0x5c /* \ */) {
      i++;
      if (i >= cps.length) throw bad(pattern, 'trailing backslash in character class');
    }
    return cps[i++]!;
  };
  while (i < cps.length) {
    const c = cps[i]!;
    if (c === 0x2a /* * */) {
      i++;
      if (out[out.length - 1]?.t !== 'star') out.push({ t: 'star' });
    } else if (c === 0x3f /* ? */) {
      i++;
      out.push({ t: 'any' });
    } else if (c === 0x5c /* \ */) {
      i++;
      if (i >= cps.length) throw bad(pattern, 'trailing backslash');
      out.push({ t: 'lit', c: cps[i++]! });
    } else if (c === 0x5b /* [ */) {
      i++;
      let neg = false;
      if (cps[i] === 0x5e /* ^ */) {
        neg = true;
        i++;
      }
      const ranges: number[] = [];
      for (;;) {
        if (cps[i] === 0x5d && ranges.length > 0) {
          i++;
          break;
        }
        const lo = classChar();
        let hi = lo;
        if (cps[i] === 0x2d) {
          i++;
          hi = classChar();
          if (hi < lo) throw bad(pattern, 'character range is out of order');
        }
        ranges.push(lo, hi);
      }
      out.push({ t: 'class', neg, ranges });
    } else {
      i++;
      out.push({ t: 'lit', c });
    }
  }
  return out;
}

function matchOne(tok: Tok, c: number): boolean {
  switch (tok.t) {
    case 'lit':
      return tok.c === c;
    case 'any':
      return c !== 0x2f;
    case 'class': {
      let hit = false;
      for (let k = 0; k < tok.ranges.length; k += 2) {
        if (c >= tok.ranges[k]! && c <= tok.ranges[k + 1]!) {
          hit = true;
          break;
        }
      }
      return hit !== tok.neg;
    }
    default:
      return false;
  }
}

// Backtracking only at stars; consecutive stars were merged, so this stays linear-ish for names.
function matchFrom(toks: Tok[], ti: number, s: number[], si: number): boolean {
  while (ti < toks.length) {
    const tok = toks[ti]!;
    if (tok.t === 'star') {
      if (ti === toks.length - 1) return !s.slice(si).includes(0x2f);
      for (let k = si; k <= s.length; k++) {
        if (matchFrom(toks, ti + 1, s, k)) return true;
        if (k < s.length && s[k] === 0x2f) return false;
      }
      return false;
    }
    if (si >= s.length || !matchOne(tok, s[si]!)) return false;
    ti++;
    si++;
  }
  return si === s.length;
}
