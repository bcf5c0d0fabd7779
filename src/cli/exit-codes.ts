/**
 * Process exit codes and how errors map to them. Pure: the entry point applies them.
 */
import { StrataError, UsageError } from '../errors.js';

/** 0 success, 1 the operation failed, 2 the command line was wrong, 130 interrupted, 141 output closed (128 + SIGPIPE, as a shell reports a program SIGPIPE ended). */
export const ExitCode = { ok: 0, failure: 1, usage: 2, interrupted: 130, brokenPipe: 141 } as const;

/** The exit code for an error that ended a command. */
export function exitCodeFor(e: unknown): number {
  if (e instanceof UsageError) return ExitCode.usage;
  if (e instanceof StrataError && e.code === 'BUILD_INTERRUPTED') return ExitCode.interrupted;
  return ExitCode.failure;
}

/** True when the error is ours (a one-line message suffices) rather than a bug. */
export function isExpected(e: unknown): e is StrataError {
  return e instanceof StrataError;
}
