/**
 * strata's typed errors. Every error the library throws on purpose is a StrataError: it carries a
 * stable `code` for scripts, a `location` (file, line, column) where there is one, and a `hint`
 * that tells the user what to do. The CLI renders them as one line; nothing here prints.
 */

/** Where in a source file an error points. Lines and columns are 1-based. */
export interface SourceLocation {
  file: string;
  line?: number;
  column?: number;
  endLine?: number;
}

/** Options shared by every StrataError constructor. */
export interface ErrorOptions {
  hint?: string;
  location?: SourceLocation;
  cause?: unknown;
}

/** Base class of every deliberate strata error. */
export class StrataError extends Error {
  readonly code: string;
  readonly hint?: string;
  location?: SourceLocation;

  constructor(code: string, message: string, opts: ErrorOptions = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = new.target.name;
    this.code = code;
    if (opts.hint !== undefined) this.hint = opts.hint;
    if (opts.location !== undefined) this.location = opts.location;
  }

  /** Sets the location when the error has none yet (errors raised deep inside know no file). */
  at(location: SourceLocation): this {
    if (!this.location) this.location = location;
    return this;
  }

  /** `file:line:col: message`, the one-line form users see. */
  describe(): string {
    const loc = this.location ? formatLocation(this.location) + ': ' : '';
    return loc + this.message;
  }
}

/** `Dockerfile:12:5` (line and column only when known). */
export function formatLocation(loc: SourceLocation): string {
  let s = loc.file;
  if (loc.line !== undefined) {
    s += `:${loc.line}`;
    if (loc.column !== undefined) s += `:${loc.column}`;
  }
  return s;
}

/** The Dockerfile text cannot be parsed (first stage: lines, directives, heredocs, JSON). */
export class DockerfileSyntaxError extends StrataError {
  constructor(message: string, opts: ErrorOptions = {}) {
    super('DOCKERFILE_SYNTAX', message, opts);
  }
}

/** An instruction parsed but is invalid (second stage: arity, flags, values, ONBUILD rules). */
export class InstructionError extends StrataError {
  constructor(message: string, opts: ErrorOptions = {}) {
    super('DOCKERFILE_INSTRUCTION', message, opts);
  }
}

/** Variable expansion failed (`${X:?msg}`, bad substitution, unterminated quote). */
export class ExpansionError extends StrataError {
  constructor(message: string, opts: ErrorOptions = {}) {
    super('DOCKERFILE_EXPANSION', message, opts);
  }
}

/** A `.dockerignore` (or `--exclude`) pattern is malformed. */
export class IgnorePatternError extends StrataError {
  constructor(message: string, opts: ErrorOptions = {}) {
    super('IGNORE_PATTERN', message, opts);
  }
}

/** The command line itself is wrong (unknown option, missing argument). Exit code 2. */
export class UsageError extends StrataError {
  constructor(message: string, opts: ErrorOptions = {}) {
    super('USAGE', message, opts);
  }
}

/** Something the user named does not exist (image, stage, file). */
export class NotFoundError extends StrataError {
  constructor(message: string, opts: ErrorOptions = {}) {
    super('NOT_FOUND', message, opts);
  }
}

/** True for errors strata threw on purpose (as opposed to bugs). */
export function isStrataError(e: unknown): e is StrataError {
  return e instanceof StrataError;
}

/** An archive or tar entry would write outside its target, or breaks a safety rule. */
export class UnsafeArchiveError extends StrataError {
  constructor(message: string, opts: ErrorOptions = {}) {
    super('ARCHIVE_UNSAFE', message, opts);
  }
}

/** An archive is malformed: bad JSON, missing blobs, layer count or digest mismatch. */
export class ArchiveFormatError extends StrataError {
  constructor(message: string, opts: ErrorOptions = {}) {
    super('ARCHIVE_INVALID', message, opts);
  }
}

/** Content did not hash to the digest it was stored or announced under. */
export class DigestMismatchError extends StrataError {
  constructor(message: string, opts: ErrorOptions = {}) {
    super('DIGEST_MISMATCH', message, opts);
  }
}

/** The image store cannot do what was asked (corrupt index, lock held, I/O failure). */
export class StoreError extends StrataError {
  constructor(message: string, opts: ErrorOptions = {}, code = 'STORE') {
    super(code, message, opts);
  }
}

/** The disk is full. Raised instead of a raw ENOSPC so the user knows nothing was lost. */
export class NoSpaceError extends StrataError {
  constructor(message: string, opts: ErrorOptions = {}) {
    super('NO_SPACE', message, opts);
  }
}

/** An image reference (`name:tag`, `@sha256:…`, ID prefix) is malformed or ambiguous. */
export class InvalidReferenceError extends StrataError {
  constructor(message: string, opts: ErrorOptions = {}) {
    super('REFERENCE_INVALID', message, opts);
  }
}

/** A build failed: a step exited non-zero, a source is missing, a stage is unknown. */
export class BuildError extends StrataError {
  constructor(message: string, opts: ErrorOptions = {}, code = 'BUILD') {
    super(code, message, opts);
  }
}

/** Starting or isolating a process failed (namespaces, mounts, pivot_root). */
export class ExecError extends StrataError {
  constructor(message: string, opts: ErrorOptions = {}) {
    super('EXEC', message, opts);
  }
}
