/**
 * The stat cache: what a context file hashed to, keyed by what lstat said about it (size, mtime,
 * ctime, inode, device). A file whose stat is unchanged is not read again, which is what makes an
 * unchanged 20,000-file context cost one walk instead of 130 MB of hashing.
 *
 * Times are kept as the float milliseconds Node's lstat gives (sub-microsecond resolution at
 * today's epoch) and compared for equality only. A file changed within the same timestamp tick as
 * it was hashed would keep its stat (git's "racy" problem), so an entry whose mtime or ctime is
 * within RACY_MS of the moment it was hashed is stored as racy and never trusted: the next build
 * hashes it again, and then it is old enough.
 *
 * Entries are saved in the order the caller gives (the context's walk order), so a build asking
 * in that same order finds each entry at the next slot: no hash-map lookups, which at 20,000
 * scattered string keys cost more than everything else a cached checksum does. The path → slot
 * map is only built when a lookup is out of order or a file is recorded.
 *
 * Persisted as one compact binary file, replaced atomically (temp file + rename); a torn or
 * foreign file is ignored, since losing the cache only costs re-hashing.
 *   magic "STRSTAT1" | u32 count | u32 pathBytes | paths (NUL-separated UTF-8, padded to 8)
 *   | f64 × 5 × count (size, mtimeMs, ctimeMs, ino, dev) | 32-byte digests × count
 *   | u8 racy × count | sha256 of all the above
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

/** The stat fields a cache entry is valid for. */
export interface StatKey {
  size: number;
  mtimeMs: number;
  ctimeMs: number;
  ino: number;
  dev: number;
}

/** Entries changed this close (ms) to the moment they were hashed are not trusted later. */
export const RACY_MS = 100;

const MAGIC = Buffer.from('STRSTAT1', 'latin1');
const FIELDS = 5;
const HEADER = 16;

/** path → (stat, digest) with load/save. Not safe for concurrent writers in one process. */
export class StatCache {
  /** Slot → path (undefined once pruned). */
  private keys: Array<string | undefined> = [];
  private map: Map<string, number> | undefined;
  private nums: Float64Array;
  private digests: Buffer;
  private racy: Uint8Array;
  private live = 0;
  private cursor = 0;
  private dirty = false;
  /** Hex of every digest in the loaded file (one conversion; lookups slice it, which is O(1)). */
  private loadedHex = '';
  /** Digests recorded since load, by slot. */
  private readonly recorded = new Map<number, string>();

  private constructor(readonly file: string | undefined, capacity = 1024) {
    this.nums = new Float64Array(capacity * FIELDS);
    this.digests = Buffer.alloc(capacity * 32);
    this.racy = new Uint8Array(capacity);
  }

  /** An empty cache; with `file`, `save` writes it there. */
  static empty(file?: string): StatCache {
    return new StatCache(file);
  }

  /** Reads `file`; a missing, torn or foreign file gives an empty cache (that saves to `file`). */
  static load(file: string): StatCache {
    let buf: Buffer;
    try {
      buf = readFileSync(file);
    } catch {
      return new StatCache(file);
    }
    return StatCache.parse(file, buf) ?? new StatCache(file);
  }

  /** Number of entries. */
  get size(): number {
    return this.live;
  }

  /** True when entries were added, changed or pruned since load/save. */
  get modified(): boolean {
    return this.dirty;
  }

  /** The digest recorded for `path` when its stat still equals `st` and the entry is not racy. */
  lookup(path: string, st: StatKey): string | undefined {
    let i: number | undefined = this.cursor;
    if (this.keys[i] !== path) i = this.slots().get(path);
    if (i === undefined) return undefined;
    this.cursor = i + 1;
    const o = i * FIELDS;
    const n = this.nums;
    if (this.racy[i] === 1 || n[o] !== st.size || n[o + 1] !== st.mtimeMs || n[o + 2] !== st.ctimeMs || n[o + 3] !== st.ino || n[o + 4] !== st.dev) {
      return undefined;
    }
    const fresh = this.recorded.size > 0 ? this.recorded.get(i) : undefined;
    return fresh ?? 'sha256:' + this.loadedHex.slice(i * 64, i * 64 + 64);
  }

  /**
   * Records that `path`, with stat `st`, hashed to `digest` (`sha256:<hex>`). `hashedAtMs` is the
   * wall-clock time reading began; entries changed less than RACY_MS before it are marked racy.
   */
  record(path: string, st: StatKey, digest: string, hashedAtMs: number): void {
    const slots = this.slots();
    let i = slots.get(path);
    if (i === undefined) {
      i = this.keys.length;
      this.grow(i + 1);
      this.keys.push(path);
      slots.set(path, i);
      this.live++;
    }
    const o = i * FIELDS;
    this.nums[o] = st.size;
    this.nums[o + 1] = st.mtimeMs;
    this.nums[o + 2] = st.ctimeMs;
    this.nums[o + 3] = st.ino;
    this.nums[o + 4] = st.dev;
    this.digests.write(digest.slice(7), i * 32, 32, 'hex');
    this.recorded.set(i, digest);
    this.racy[i] = hashedAtMs - Math.max(st.mtimeMs, st.ctimeMs) < RACY_MS ? 1 : 0;
    this.dirty = true;
  }

  /** Drops every entry whose path `keep` rejects (files that left the context). */
  prune(keep: (path: string) => boolean): void {
    const slots = this.slots();
    for (const [path, i] of slots) {
      if (keep(path)) continue;
      slots.delete(path);
      this.keys[i] = undefined;
      this.live--;
      this.dirty = true;
    }
  }

  /**
   * Writes the cache atomically when it changed (or always with `force`); a no-op without a file.
   * With `order`, exactly the entries for those paths are kept, in that order (others are pruned).
   */
  save(opts: { order?: Iterable<string>; force?: boolean } = {}): void {
    if (this.file === undefined || (!this.dirty && !opts.force)) return;
    const buf = this.serialize(opts.order);
    mkdirSync(dirname(this.file), { recursive: true });
    const tmp = `${this.file}.${process.pid}-${randomBytes(4).toString('hex')}.tmp`;
    try {
      writeFileSync(tmp, buf, { mode: 0o600 });
      renameSync(tmp, this.file);
    } catch (e) {
      rmSync(tmp, { force: true });
      throw e;
    }
    this.dirty = false;
  }

  private slots(): Map<string, number> {
    if (this.map === undefined) {
      this.map = new Map();
      this.keys.forEach((k, i) => {
        if (k !== undefined) this.map!.set(k, i);
      });
    }
    return this.map;
  }

  private grow(n: number): void {
    if (n <= this.racy.length) return;
    const cap = Math.max(n, this.racy.length * 2);
    const nums = new Float64Array(cap * FIELDS);
    nums.set(this.nums);
    const digests = Buffer.alloc(cap * 32);
    this.digests.copy(digests);
    const racy = new Uint8Array(cap);
    racy.set(this.racy);
    this.nums = nums;
    this.digests = digests;
    this.racy = racy;
  }

  private serialize(order: Iterable<string> | undefined): Buffer {
    const live: Array<[string, number]> = [];
    if (order === undefined) {
      this.keys.forEach((k, i) => {
        if (k !== undefined) live.push([k, i]);
      });
    } else {
      const slots = this.slots();
      for (const p of order) {
        const i = slots.get(p);
        if (i !== undefined) live.push([p, i]);
      }
    }
    const n = live.length;
    const paths = Buffer.from(live.map(([p]) => p).join('\0'), 'utf8');
    const pathsLen = pad8(paths.length);
    const total = HEADER + pathsLen + n * FIELDS * 8 + n * 32 + n + 32;
    const buf = Buffer.alloc(total);
    MAGIC.copy(buf, 0);
    buf.writeUInt32LE(n, 8);
    buf.writeUInt32LE(paths.length, 12);
    paths.copy(buf, HEADER);
    let off = HEADER + pathsLen;
    const nums = new Float64Array(n * FIELDS);
    live.forEach(([, i], k) => nums.set(this.nums.subarray(i * FIELDS, i * FIELDS + FIELDS), k * FIELDS));
    Buffer.from(nums.buffer, nums.byteOffset, nums.byteLength).copy(buf, off);
    off += n * FIELDS * 8;
    live.forEach(([, i], k) => this.digests.copy(buf, off + k * 32, i * 32, i * 32 + 32));
    off += n * 32;
    live.forEach(([, i], k) => (buf[off + k] = this.racy[i]!));
    off += n;
    createHash('sha256').update(buf.subarray(0, off)).digest().copy(buf, off);
    return buf;
  }

  private static parse(file: string, buf: Buffer): StatCache | undefined {
    if (buf.length < HEADER + 32 || !buf.subarray(0, 8).equals(MAGIC)) return undefined;
    const n = buf.readUInt32LE(8);
    const pathBytes = buf.readUInt32LE(12);
    const numsAt = HEADER + pad8(pathBytes);
    const digestsAt = numsAt + n * FIELDS * 8;
    const racyAt = digestsAt + n * 32;
    const end = racyAt + n;
    if (buf.length !== end + 32) return undefined;
    const sum = createHash('sha256').update(buf.subarray(0, end)).digest();
    if (!sum.equals(buf.subarray(end))) return undefined;
    const keys = n === 0 ? [] : buf.toString('utf8', HEADER, HEADER + pathBytes).split('\0');
    if (keys.length !== n) return undefined;
    const c = new StatCache(file, Math.max(n, 16));
    // Copy into aligned storage: a Buffer from readFileSync may start at any offset.
    c.nums.set(new Float64Array(buf.buffer.slice(buf.byteOffset + numsAt, buf.byteOffset + digestsAt)));
    buf.copy(c.digests, 0, digestsAt, racyAt);
    c.racy.set(buf.subarray(racyAt, end));
    c.keys = keys;
    c.live = n;
    c.loadedHex = buf.toString('hex', digestsAt, racyAt);
    return c;
  }
}

function pad8(n: number): number {
  return (n + 7) & ~7;
}
