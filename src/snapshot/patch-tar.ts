/**
 * The tar of a patched layer, made without walking the patched view: the earlier layer's tar
 * with the patch's own tar merged in, in the order DiffWalker writes (a directory before its
 * contents, names compared component by component in UTF-8 byte order). Where both have a path,
 * the patch's entry wins. The tar writer makes each entry's bytes (PAX header included) depend
 * only on that entry, so an unchanged entry is copied verbatim and the result is byte for byte
 * the tar a walk of the view would give.
 *
 * Both inputs must be tars strata wrote for layers without whiteouts or opaque markers (the
 * caller checks). The earlier tar is read once, front to back, and must hash to its diff_id;
 * any surprise (a bad digest, paths out of order) throws, and the build step then copies everything.
 */
import { createHash } from 'node:crypto';
import { closeSync, fstatSync, openSync, readSync, writeSync } from 'node:fs';
import { tarIndexEntries, type IndexEntry } from '../fs/tar-index.js';
import type { Digest } from '../util/digest.js';
import { copyRanges, copyRangesHelper } from '../util/copy-ranges.js';
import { SnapshotError } from './snapshot-error.js';

/** One entry's bytes in a tar file: [start, end), headers and padding included. */
interface Span {
  path: string;
  start: number;
  end: number;
}

const BLOCK = 512;
const CHUNK = 4 << 20;

/** Spans of every entry of a tar file (from its index), and where its end-of-archive trailer starts. */
function spans(index: Iterable<IndexEntry>): { entries: Span[]; trailer: number } {
  const entries: Span[] = [];
  let start = 0;
  for (const e of index) {
    const data = e.type === 'file' ? Math.ceil(e.size / BLOCK) * BLOCK : 0;
    const end = e.dataOffset + data;
    entries.push({ path: e.path, start, end });
    start = end;
  }
  return { entries, trailer: start };
}

/** DiffWalker's order: component by component in UTF-8 byte order, a directory before its contents. */
export function compareTarOrder(a: string, b: string): number {
  if (a === b) return 0;
  const ca = a.split('/');
  const cb = b.split('/');
  const n = Math.min(ca.length, cb.length);
  for (let i = 0; i < n; i++) {
    const x = ca[i]!;
    const y = cb[i]!;
    if (x === y) continue;
    // UTF-16 order equals UTF-8 byte order except around surrogate pairs; ASCII is the common case.
    if (/^[\x20-\x7e]*$/.test(x) && /^[\x20-\x7e]*$/.test(y)) return x < y ? -1 : 1;
    return Buffer.compare(Buffer.from(x), Buffer.from(y));
  }
  return ca.length - cb.length;
}

/** Reads a file front to back in big chunks, hashing every byte, and hands out ranges of it. */
class SequentialReader {
  private buf = Buffer.allocUnsafe(CHUNK);
  private bufStart = 0;
  private bufEnd = 0;
  private readonly hash = createHash('sha256');
  readonly size: number;

  constructor(private readonly fd: number) {
    this.size = fstatSync(fd).size;
  }

  /** Calls `emit` with the bytes [start, end) in pieces; ranges come in order (what lies between is read and hashed). */
  range(start: number, end: number, emit?: (b: Buffer) => void): void {
    let pos = this.bufEnd;
    if (start < pos && start < this.bufStart) throw new Error(`tar merge: read at ${start} is behind ${this.bufStart}`);
    if (start > pos) {
      while (pos < start) {
        this.fill(pos);
        pos = this.bufEnd;
      }
    }
    pos = start;
    while (pos < end) {
      if (pos >= this.bufEnd) this.fill(this.bufEnd);
      const to = Math.min(end, this.bufEnd);
      emit?.(this.buf.subarray(pos - this.bufStart, to - this.bufStart));
      pos = to;
    }
  }

  private fill(pos: number): void {
    const n = readSync(this.fd, this.buf, 0, Math.min(CHUNK, this.size - pos), pos);
    if (n <= 0) throw new Error(`tar merge: unexpected end of file at ${pos}`);
    this.hash.update(this.buf.subarray(0, n));
    this.bufStart = pos;
    this.bufEnd = pos + n;
  }

  /** Reads whatever is left (so the hash covers the whole file) and returns the file's digest. */
  finish(): string {
    while (this.bufEnd < this.size) this.fill(this.bufEnd);
    return 'sha256:' + this.hash.digest('hex');
  }
}

/** A run of bytes of the merged tar, taken from the base or the patch tar. */
interface Piece {
  from: 'b' | 'p';
  start: number;
  end: number;
}

/** The merged tar as pieces of the two inputs, in output order, adjacent runs joined. */
function planMerge(b: { entries: Span[] }, p: { entries: Span[]; trailer: number }, patchSize: number): Piece[] {
  const pieces: Piece[] = [];
  const add = (from: 'b' | 'p', start: number, end: number) => {
    const last = pieces[pieces.length - 1];
    if (last && last.from === from && last.end === start) last.end = end;
    else if (end > start) pieces.push({ from, start, end });
  };
  let i = 0;
  let j = 0;
  let last: string | undefined;
  while (i < b.entries.length || j < p.entries.length) {
    const be = b.entries[i];
    const pe = p.entries[j];
    const order = be === undefined ? 1 : pe === undefined ? -1 : compareTarOrder(be.path, pe.path);
    const next = order < 0 ? be! : pe!;
    if (last !== undefined && compareTarOrder(last, next.path) >= 0) {
      throw new SnapshotError(`patched layer: ${JSON.stringify(next.path)} is out of order after ${JSON.stringify(last)}`);
    }
    last = next.path;
    if (order <= 0) i++; // on a tie the patch's entry replaces the base's
    if (order < 0) add('b', be!.start, be!.end);
    else {
      add('p', pe!.start, pe!.end);
      j++;
    }
  }
  add('p', p.trailer, patchSize);
  return pieces;
}

/**
 * Writes `base` (the earlier layer's tar, which must hash to `baseDiffId`) merged with `patch`
 * to the new file `out`. Returns the merged tar's digest and size. The bytes are copied inside
 * the kernel by the copy-ranges helper while this process reads and hashes the same bytes (the
 * base must be read anyway to check its digest); without the helper (or with `inKernel: false`)
 * they are written from here.
 */
export async function mergePatchTar(opts: {
  base: string;
  baseDiffId: string;
  patch: string;
  out: string;
  /** The base tar's index, when the caller already made one. */
  baseIndex?: readonly IndexEntry[];
  inKernel?: boolean;
}): Promise<{ diffId: Digest; size: number }> {
  const baseFd = openSync(opts.base, 'r');
  const patchFd = openSync(opts.patch, 'r');
  let outFd: number | undefined;
  let copying: Promise<void> | undefined;
  try {
    const index = (fd: number, label: string) => tarIndexEntries(fd, { label, maxEntrySize: Number.MAX_SAFE_INTEGER });
    const base = spans(opts.baseIndex ?? index(baseFd, `layer ${opts.baseDiffId}`));
    const pieces = planMerge(base, spans(index(patchFd, 'patch layer')), fstatSync(patchFd).size);
    const helper = opts.inKernel === false ? undefined : copyRangesHelper();
    if (helper) {
      const ranges = pieces.map((x) => ({ source: x.from === 'b' ? 0 : 1, offset: x.start, length: x.end - x.start }));
      copying = copyRanges(helper, { sources: [opts.base, opts.patch], outputs: [{ path: opts.out, ranges }] }).catch((e: Error) => {
        throw new SnapshotError(`writing the patched layer: ${e.message}`, { cause: e });
      });
      copying.catch(() => undefined); // awaited below; a rejection must not go unhandled meanwhile
    } else outFd = openSync(opts.out, 'wx', 0o644);
    const out = outFd === undefined ? undefined : new FileOutput(outFd);
    const hash = createHash('sha256');
    let size = 0;
    const emit = (x: Buffer) => {
      hash.update(x);
      size += x.length;
      out?.write(x);
    };
    const baseRead = new SequentialReader(baseFd);
    const patchRead = new SequentialReader(patchFd);
    for (const piece of pieces) (piece.from === 'b' ? baseRead : patchRead).range(piece.start, piece.end, emit);
    out?.flush();
    const baseDigest = baseRead.finish();
    if (copying) await copying;
    if (baseDigest !== opts.baseDiffId) {
      throw new SnapshotError(`layer ${opts.baseDiffId}: its blob hashes to ${baseDigest}`, { hint: 'the store is damaged; `strata prune` and rebuild' });
    }
    return { diffId: ('sha256:' + hash.digest('hex')) as Digest, size };
  } catch (e) {
    await copying?.catch(() => undefined);
    throw e;
  } finally {
    closeSync(baseFd);
    closeSync(patchFd);
    if (outFd !== undefined) closeSync(outFd);
  }
}

/** Buffers writes to a file into big ones. */
class FileOutput {
  private readonly buf = Buffer.allocUnsafe(CHUNK);
  private used = 0;

  constructor(private readonly fd: number) {}

  write(b: Buffer): void {
    if (this.used + b.length > this.buf.length) this.flush();
    if (b.length >= this.buf.length) {
      writeAll(this.fd, b);
      return;
    }
    b.copy(this.buf, this.used);
    this.used += b.length;
  }

  flush(): void {
    if (this.used > 0) writeAll(this.fd, this.buf.subarray(0, this.used));
    this.used = 0;
  }
}

function writeAll(fd: number, b: Buffer): void {
  for (let off = 0; off < b.length; ) off += writeSync(fd, b, off, b.length - off);
}
