/**
 * Rendering shared by commands: errors and warnings as one line each, JSON output.
 */
import { formatLocation, StrataError } from '../errors.js';

/**
 * One line: `Dockerfile:12:5: unknown instruction "COPPY" (did you mean COPY?)` when the error has
 * a location, `strata: <message> (<hint>)` otherwise.
 */
export function renderError(e: StrataError): string {
  return (e.location ? '' : 'strata: ') + e.describe() + (e.hint ? ` (${e.hint})` : '');
}

/** An unexpected failure: a bug. Says so, and shows the stack only when STRATA_DEBUG is set. */
export function renderInternalError(e: unknown): string {
  const err = e instanceof Error ? e : new Error(String(e));
  const detail = process.env.STRATA_DEBUG ? '\n' + (err.stack ?? '') : ' (set STRATA_DEBUG=1 for details)';
  return `internal error: ${err.message}${detail}`;
}

/** `Dockerfile:3: warning: <message> [Rule]` */
export function renderWarning(file: string, line: number, message: string, rule: string): string {
  return `${formatLocation({ file, line })}: warning: ${message} [${rule}]`;
}

/** Stable, pretty JSON for `--format json`. */
export function renderJson(value: unknown): string {
  return JSON.stringify(value, null, 2) + '\n';
}
