/**
 * Streaming compression for layer blobs. strata stores layers uncompressed and compresses on the
 * way out (save, push) with gzip or zstd; it reads gzip, zstd, bzip2, xz or plain input (load,
 * ADD). Every codec is a Node Transform with bounded buffers that honours backpressure, so memory
 * does not grow with layer size. Corrupt input fails with CompressedDataError (an
 * ArchiveFormatError naming the compression).
 *
 * Limits: zstd compression levels 1-19; zstd decoding accepts windows up to 128 MiB (`zstd
 * --long=27`; zstd's own default limit) and no dictionaries; zstd output has no content
 * checksum. bzip2 and xz are decode-only and need the `bzip2` / `xz` programs.
 */
import { PassThrough, pipeline } from 'node:stream';
import type { Readable, Transform } from 'node:stream';
import { sniffStream } from './detect.js';
import type { Compression } from './detect.js';
import { externalDecompressStream } from './external.js';
import { DEFAULT_GZIP_LEVEL, gzipCompressStream, gzipDecompressStream } from './gzip.js';
import { ZstdCompressStream, ZstdDecompressStream } from './zstd-stream.js';

export type { Compression } from './detect.js';
export { detectCompression, sniffStream } from './detect.js';
export { CompressedDataError, CompressionError } from './errors.js';
export { DEFAULT_GZIP_LEVEL } from './gzip.js';
export { ZSTD_MAX_LEVEL, ZSTD_MIN_LEVEL } from './zstd-stream.js';

/** zstd's own default level (what `zstd` and containerd use): ~3× gzip-6 speed, smaller output. */
export const DEFAULT_ZSTD_LEVEL = 3;

/** Options of compressStream. */
export interface CompressOptions {
  /** gzip 0-9 (default 6), zstd 1-19 (default 3). */
  level?: number;
}

/** A compressing Transform. Throws CompressionError (code COMPRESSION_LEVEL) for a bad level. */
export function compressStream(kind: 'gzip' | 'zstd', opts: CompressOptions = {}): Transform {
  if (kind === 'gzip') return gzipCompressStream(opts.level ?? DEFAULT_GZIP_LEVEL);
  return new ZstdCompressStream(opts.level ?? DEFAULT_ZSTD_LEVEL);
}

/**
 * A decompressing Transform ('none' = passthrough). For bzip2/xz throws CompressionError (code
 * COMPRESSION_TOOL_MISSING) at once when the program is not installed.
 */
export function decompressStream(kind: Compression): Transform {
  switch (kind) {
    case 'none':
      return new PassThrough();
    case 'gzip':
      return gzipDecompressStream();
    case 'zstd':
      return new ZstdDecompressStream();
    case 'bzip2':
    case 'xz':
      return externalDecompressStream(kind);
  }
}

/**
 * Sniffs `src` and returns its decompressed content. Errors of `src` and of the codec both
 * surface on the returned stream; destroying it tears down `src` too.
 */
export async function openDecompressed(src: Readable): Promise<{ compression: Compression; stream: Readable }> {
  const { compression, stream } = await sniffStream(src);
  if (compression === 'none') return { compression, stream };
  let dec: Transform;
  try {
    dec = decompressStream(compression);
  } catch (e) {
    stream.destroy();
    throw e;
  }
  // pipeline destroys the last stream with the first error, which is how the consumer sees it.
  pipeline(stream, dec, () => {});
  return { compression, stream: dec };
}
