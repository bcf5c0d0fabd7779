/**
 * Recognising a compression by its magic bytes, on a buffer or at the head of a stream.
 */
import { Readable } from 'node:stream';

/** The compressions strata can read (`none` = plain bytes). */
export type Compression = 'none' | 'gzip' | 'zstd' | 'bzip2' | 'xz';

/** Longest magic we look at (xz: fd 37 7a 58 5a 00). */
export const SNIFF_BYTES = 6;

/**
 * Sniffs magic bytes: gzip 1f 8b, zstd 28 b5 2f fd (or a zstd skippable frame, which is how
 * pzstd output starts), bzip2 "BZh" + block size digit, xz fd 37 7a 58 5a 00. 'none' otherwise,
 * including for heads too short to tell.
 */
export function detectCompression(head: Uint8Array): Compression {
  const b = (i: number) => (i < head.length ? head[i] : -1);
  if (b(0) === 0x1f && b(1) === 0x8b) return 'gzip';
  if (b(0) === 0x28 && b(1) === 0xb5 && b(2) === 0x2f && b(3) === 0xfd) return 'zstd';
  // Skippable frame magic is 0x184D2A5? little-endian: 5? 2a 4d 18.
  if ((b(0) & 0xf0) === 0x50 && b(1) === 0x2a && b(2) === 0x4d && b(3) === 0x18) return 'zstd';
  // 'BZh' then the block size '1'..'9': the digit keeps a tar member named "BZh..." from matching.
  if (b(0) === 0x42 && b(1) === 0x5a && b(2) === 0x68 && b(3) >= 0x31 && b(3) <= 0x39) return 'bzip2';
  if (b(0) === 0xfd && b(1) === 0x37 && b(2) === 0x7a && b(3) === 0x58 && b(4) === 0x5a && b(5) === 0x00) return 'xz';
  return 'none';
}

/**
 * Peeks at the first bytes of `src` without losing them: resolves once SNIFF_BYTES are seen (or
 * the stream ends) with the detected kind and a byte stream yielding the whole original content.
 * Errors of `src` surface on the returned stream (or reject the promise if they come first);
 * destroying the returned stream destroys `src`.
 */
export async function sniffStream(src: Readable): Promise<{ compression: Compression; stream: Readable }> {
  const it = src[Symbol.asyncIterator]() as AsyncIterator<Buffer | string>;
  const head: Buffer[] = [];
  let have = 0;
  let done = false;
  while (have < SNIFF_BYTES) {
    const r = await it.next();
    if (r.done) {
      done = true;
      break;
    }
    const chunk = typeof r.value === 'string' ? Buffer.from(r.value) : r.value;
    if (chunk.length === 0) continue;
    head.push(chunk);
    have += chunk.length;
  }
  const first = head.length === 1 ? head[0] : Buffer.concat(head);
  const compression = detectCompression(first);
  async function* replay(): AsyncGenerator<Buffer> {
    try {
      if (first.length > 0) yield first;
      if (done) return;
      for (;;) {
        const r = await it.next();
        if (r.done) {
          done = true;
          return;
        }
        yield typeof r.value === 'string' ? Buffer.from(r.value) : r.value;
      }
    } finally {
      // The consumer stopped early (destroy): release src.
      if (!done) await it.return?.();
    }
  }
  const stream = Readable.from(replay(), { objectMode: false });
  // A generator that never started ignores return(), so tear src down here as well.
  stream.once('close', () => {
    if (!done && !src.destroyed) src.destroy();
  });
  return { compression, stream };
}
