/**
 * Small stream helpers.
 */
import { Writable } from 'node:stream';

/** A Writable that discards everything (for passes that only hash or count). */
export function devNull(): Writable {
  return new Writable({
    write(_chunk, _enc, cb) {
      cb();
    },
  });
}

/** Collects a stream into one buffer, refusing more than `max` bytes. */
export async function readAllCapped(src: NodeJS.ReadableStream, max: number, onTooBig: () => Error): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const chunk of src as AsyncIterable<Buffer>) {
    n += chunk.length;
    if (n > max) throw onTooBig();
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}
