/**
 * sha256 digests, the one naming scheme for content in strata: `sha256:<64 lower-case hex>`.
 * Parsing, hashing buffers and streams.
 */
import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { InvalidReferenceError } from '../errors.js';

/** A content digest, `sha256:` followed by 64 lower-case hex digits. */
export type Digest = `sha256:${string}`;

const DIGEST = /^sha256:([a-f0-9]{64})$/;

/** True for a well-formed sha256 digest. */
export function isDigest(s: unknown): s is Digest {
  return typeof s === 'string' && DIGEST.test(s);
}

/** Checks a digest read from untrusted input; throws InvalidReferenceError naming where it came from. */
export function parseDigest(s: unknown, where = 'digest'): Digest {
  if (!isDigest(s)) {
    throw new InvalidReferenceError(`${where}: invalid digest ${JSON.stringify(s)}`, {
      hint: 'digests look like sha256:<64 lower-case hex digits>',
    });
  }
  return s;
}

/** The 64 hex digits of a digest; throws InvalidReferenceError when malformed. */
export function digestHex(digest: string): string {
  return parseDigest(digest).slice(7);
}

/** `sha256:<hex>` from a bare 64-char hex string (as found in file and directory names). */
export function digestFromHex(hex: string): Digest {
  return parseDigest(`sha256:${hex}`);
}

/** True for a bare 64-char lower-case hex string. */
export function isHex64(name: string): boolean {
  return /^[a-f0-9]{64}$/.test(name);
}

/** A fresh sha256 hasher. */
export function newHasher(): Hash {
  return createHash('sha256');
}

/** sha256 of a buffer or string. */
export function sha256(data: Uint8Array | string): Digest {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/**
 * A pass-through stream that hashes and counts what flows through it. `digest()` and `size` are
 * final once the stream has ended.
 */
export class HashingStream extends Transform {
  private readonly hash = createHash('sha256');
  private final_: Digest | undefined;
  size = 0;

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.hash.update(chunk);
    this.size += chunk.length;
    cb(null, chunk);
  }

  override _flush(cb: TransformCallback): void {
    this.final_ = `sha256:${this.hash.digest('hex')}`;
    cb();
  }

  /** The digest of everything that passed; throws if the stream has not ended. */
  digest(): Digest {
    if (!this.final_) throw new Error('HashingStream: digest() before the stream ended');
    return this.final_;
  }
}
