/**
 * Errors of the compression layer. Corrupt input is a CompressedDataError (an ArchiveFormatError,
 * so callers that already handle malformed archives handle it too); failures that are not the
 * input's fault (a missing tool, a codec that cannot start) are a CompressionError.
 */
import { ArchiveFormatError, StrataError } from '../errors.js';
import type { ErrorOptions } from '../errors.js';
import type { Compression } from './detect.js';

/** Compressed input is corrupt, truncated or uses a feature strata cannot decode. */
export class CompressedDataError extends ArchiveFormatError {
  /** The compression being decoded when the problem was found. */
  readonly compression: Compression;

  constructor(compression: Compression, message: string, opts: ErrorOptions = {}) {
    super(`${compression} data: ${message}`, opts);
    this.compression = compression;
  }
}

/** A codec could not run: tool missing (`COMPRESSION_TOOL_MISSING`), bad level, internal failure. */
export class CompressionError extends StrataError {
  constructor(message: string, opts: ErrorOptions = {}, code = 'COMPRESSION') {
    super(code, message, opts);
  }
}
