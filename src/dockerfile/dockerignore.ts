/**
 * Reading `.dockerignore` files into the cleaned pattern list the matcher takes, with the same
 * line handling as Docker: a BOM is dropped, `#` comments count only in column 0, whitespace is
 * trimmed, paths are cleaned and made relative to the context root.
 */
import { cleanPath, trimGoSpace } from '../fs/go-path.js';
import { PatternMatcher } from '../fs/pattern-matcher.js';
import { decodeSource } from './source.js';

/** One pattern of a `.dockerignore` with the (1-based) line it came from. */
export interface DockerignoreEntry {
  pattern: string;
  line: number;
}

/** Parses `.dockerignore` text into patterns with their line numbers. */
export function readDockerignoreEntries(text: string | Uint8Array): DockerignoreEntry[] {
  let src = decodeSource(text);
  if (src.charCodeAt(0) === 0xfeff) src = src.slice(1);
  const lines = src.split('\n');
  // A final newline ends the last line rather than starting an empty one.
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  const out: DockerignoreEntry[] = [];
  lines.forEach((raw, i) => {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line.startsWith('#')) return; // only an unindented '#' starts a comment
    let pattern = trimGoSpace(line);
    if (pattern === '') return;
    const invert = pattern.startsWith('!');
    if (invert) pattern = trimGoSpace(pattern.slice(1));
    if (pattern !== '') {
      pattern = cleanPath(pattern);
      // Absolute paths mean "from the context root".
      if (pattern.length > 1 && pattern.startsWith('/')) pattern = pattern.slice(1);
    }
    // A lone '!' is kept so the matcher can report it with its line.
    out.push({ pattern: invert ? '!' + pattern : pattern, line: i + 1 });
  });
  return out;
}

/** Parses .dockerignore text into cleaned patterns (BOM, comments, trimming, filepath.Clean, leading '/', '!'). */
export function readDockerignore(text: string | Uint8Array): string[] {
  return readDockerignoreEntries(text).map((e) => e.pattern);
}

/** Reads a `.dockerignore` and compiles it; errors point at `file` and the offending line. */
export function compileDockerignore(text: string | Uint8Array, file = '.dockerignore'): PatternMatcher {
  const entries = readDockerignoreEntries(text);
  return new PatternMatcher(
    entries.map((e) => e.pattern),
    { file, lines: entries.map((e) => e.line) },
  );
}
