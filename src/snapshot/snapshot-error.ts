/**
 * The error the snapshotter raises when a layer cannot be made from a directory: unreadable
 * files, names no OCI layer can hold, overlay features whose upper dir is not self-contained.
 */
import { StrataError } from '../errors.js';
import type { ErrorOptions } from '../errors.js';

/** Turning a directory (an overlay upper dir) into a layer failed; the message names the path. */
export class SnapshotError extends StrataError {
  constructor(message: string, opts: ErrorOptions = {}) {
    super('SNAPSHOT', message, opts);
  }
}
