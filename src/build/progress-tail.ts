/**
 * The bounded memory of one step's output: its most recent complete lines, at most `maxBytes`,
 * in a byte ring that is allocated once (growing up to the cap) and then overwritten in place —
 * so a chatty step costs a fixed amount of memory and no allocation per chunk, however much it
 * prints. A run whose bytes get overwritten is dropped whole; dropping anything marks it clipped.
 */

/** Complete lines (each ending in `\n`) that arrived together, with the time the first began. */
export interface LineRun {
  data: Buffer;
  time: number;
}

/** Where a run sits in the ring: absolute byte offsets in the step's output. */
interface Seg {
  at: number;
  len: number;
  time: number;
}

const NL = 0x0a;
const FIRST_CAPACITY = 64 * 1024;

/** A byte-capped ring of a step's most recent output lines. */
export class TailBuffer {
  private ring: Buffer = Buffer.alloc(0);
  private segs: Seg[] = [];
  private head = 0;
  /** Absolute offset just past the newest byte. */
  private end = 0;
  /** True once some output was dropped to stay under the cap. */
  clipped = false;

  constructor(private maxBytes: number) {}

  /** Bytes held now. */
  get bytes(): number {
    const first = this.segs[this.head];
    return first ? this.end - first.at : 0;
  }

  /** Keeps a copy of `run` (complete lines); drops the oldest lines past the cap. Returns true when this push clipped for the first time. */
  push(run: LineRun): boolean {
    let data = run.data;
    if (data.length === 0 || this.maxBytes <= 0) return false;
    const wasClipped = this.clipped;
    if (data.length > this.maxBytes) {
      // Keep only whole lines from the last maxBytes of this run.
      const cut = data.indexOf(NL, data.length - this.maxBytes - 1) + 1;
      data = data.subarray(cut);
      this.clipped = true;
      if (data.length === 0) return !wasClipped;
    }
    this.reserve(data.length);
    this.dropBefore(this.end + data.length - this.ring.length);
    this.writeAt(this.end, data);
    this.segs.push({ at: this.end, len: data.length, time: run.time });
    this.end += data.length;
    return this.clipped && !wasClipped;
  }

  /** Lowers the cap and frees the rest of the ring (a finished step needs only a short tail; this is not "clipping"). */
  trim(maxBytes: number): void {
    if (maxBytes >= this.maxBytes) return;
    this.maxBytes = maxBytes;
    const runs = this.lastRuns(Infinity);
    const kept: { line: Buffer; time: number }[] = [];
    let size = 0;
    for (let i = runs.length - 1; i >= 0 && size + runs[i]!.line.length + 1 <= maxBytes; i--) {
      size += runs[i]!.line.length + 1;
      kept.push(runs[i]!);
    }
    const ring = Buffer.allocUnsafe(size);
    const segs: Seg[] = [];
    let at = 0;
    for (const r of kept.reverse()) {
      r.line.copy(ring, at);
      ring[at + r.line.length] = NL;
      segs.push({ at, len: r.line.length + 1, time: r.time });
      at += r.line.length + 1;
    }
    this.ring = ring;
    this.segs = segs;
    this.head = 0;
    this.end = at;
  }

  /** The last `n` kept lines, oldest first, each with the time its run arrived; without `\n`. */
  lastRuns(n: number): { line: Buffer; time: number }[] {
    const out: { line: Buffer; time: number }[] = [];
    for (let i = this.segs.length - 1; i >= this.head && out.length < n; i--) {
      const seg = this.segs[i]!;
      const data = this.readAt(seg.at, seg.len);
      // data ends with '\n': walk back line by line.
      let end = data.length - 1;
      while (end >= 0 && out.length < n) {
        const start = end === 0 ? 0 : data.lastIndexOf(NL, end - 1) + 1;
        out.push({ line: data.subarray(start, end), time: seg.time });
        end = start - 1;
      }
    }
    return out.reverse();
  }

  /** Grows the ring (up to the cap) so that `len` more bytes fit beside what is kept, if allowed. */
  private reserve(len: number): void {
    const cap = this.ring.length;
    if (cap >= this.maxBytes || this.bytes + len <= cap) return;
    const next = Math.min(this.maxBytes, Math.max(cap * 2, FIRST_CAPACITY, this.bytes + len));
    const first = this.segs[this.head];
    const kept = first ? this.readAt(first.at, this.end - first.at) : Buffer.alloc(0);
    const old = first?.at ?? this.end;
    this.ring = Buffer.allocUnsafe(next);
    this.writeAt(old, kept);
  }

  /** Forgets every run that starts before absolute offset `at` (its bytes are about to be overwritten). */
  private dropBefore(at: number): void {
    while (this.head < this.segs.length && this.segs[this.head]!.at < at) {
      this.head++;
      this.clipped = true;
    }
    // Compact now and then so the dropped slots do not accumulate.
    if (this.head > 1024 && this.head * 2 > this.segs.length) {
      this.segs = this.segs.slice(this.head);
      this.head = 0;
    }
  }

  private writeAt(abs: number, data: Buffer): void {
    const cap = this.ring.length;
    const pos = abs % cap;
    const first = Math.min(data.length, cap - pos);
    data.copy(this.ring, pos, 0, first);
    if (first < data.length) data.copy(this.ring, 0, first);
  }

  private readAt(abs: number, len: number): Buffer {
    const cap = this.ring.length;
    if (len === 0 || cap === 0) return Buffer.alloc(0);
    const pos = abs % cap;
    if (pos + len <= cap) return this.ring.subarray(pos, pos + len);
    return Buffer.concat([this.ring.subarray(pos), this.ring.subarray(0, pos + len - cap)]);
  }
}
