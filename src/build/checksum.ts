/**
 * The cache input of a COPY: one digest over what a selection would write (paths, types, modes,
 * link targets, file contents; owners too when the source keeps them), and a fingerprint per
 * source path so a cache miss can name the files that changed. File contents are hashed once:
 * through the stat cache when there is one, and remembered on the entry.
 */
import { closeSync, constants, openSync, readSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { BuildError } from '../errors.js';
import { hostPath } from './file-source.js';
import type { FileSource, SourceEntry } from './file-source.js';
import type { Selection } from './select.js';
import type { StatCache, StatKey } from './stat-cache.js';

/** The digest of a selection and each source path's fingerprint (equal fingerprints = unchanged entry). */
export interface ChecksumResult {
  digest: string;
  files: Map<string, string>;
  /** Files read and hashed by this call (the rest came from the stat cache or an earlier call). */
  hashed: number;
  /** Bytes read by this call. */
  hashedBytes: number;
}

/** How two fingerprint maps differ. */
export interface FileChanges {
  changed: string[];
  added: string[];
  removed: string[];
}

const CHUNK = 1 << 20;
const YIELD_MS = 25;
let readBuffer: Buffer | undefined;

/** Computes the checksum of a selection, hashing file contents not yet known (through `cache` when given). */
export async function checksumSelection(sel: Selection, cache?: StatCache): Promise<ChecksumResult> {
  const src = sel.source;
  let lastYield = performance.now();
  let hashed = 0;
  let hashedBytes = 0;
  for (const item of sel.items) {
    for (const { entry } of item.entries) {
      if (entry.type !== 'file' || entry.digest !== undefined) continue;
      const known = cache !== undefined && hasStatKey(entry) ? cache.lookup(entry.path, entry) : undefined;
      if (known !== undefined) {
        entry.digest = known;
        continue;
      }
      hashEntry(src, entry, cache);
      hashed++;
      hashedBytes += entry.size;
      // Hashing is synchronous (a promise per file would cost more than the read); let the event loop breathe.
      if (performance.now() - lastYield > YIELD_MS) {
        await new Promise((resolve) => setImmediate(resolve));
        lastYield = performance.now();
      }
    }
  }
  const keepOwners = src.keepOwners;
  const out = new DigestWriter();
  for (const item of sel.items) {
    out.byte(1);
    out.text(item.source);
    out.text(item.name);
    out.text(item.root.path);
    for (const { rel, entry } of item.entries) {
      // The destination path is only spelled out where it differs from the source path.
      if (rel === entry.path) {
        out.byte(2);
        out.text(rel);
      } else {
        out.byte(3);
        out.text(rel);
        out.text(entry.path);
      }
      out.entry(entry, keepOwners);
    }
  }
  const digest = out.digest();
  // The per-path fingerprints only explain a cache miss; they are made on first use.
  let files: Map<string, string> | undefined;
  return {
    digest,
    hashed,
    hashedBytes,
    get files(): Map<string, string> {
      if (files === undefined) {
        files = new Map();
        for (const item of sel.items) for (const { entry } of item.entries) files.set(entry.path, fingerprint(entry, keepOwners));
      }
      return files;
    },
  };
}

const TYPE_CODE: Record<SourceEntry['type'], number> = { file: 0x66, dir: 0x64, symlink: 0x6c, fifo: 0x70, char: 0x63, block: 0x62 };

/**
 * Feeds the digest of a selection without building a string per entry: fields are written into
 * one buffer (text NUL-terminated, numbers fixed-width, content digests as 32 raw bytes) that is
 * hashed whenever it fills. What the checksum covers is exactly what `fingerprint` shows.
 */
class DigestWriter {
  private buf = Buffer.allocUnsafe(1 << 16);
  private off = 0;
  private readonly hash = createHash('sha256');

  byte(b: number): void {
    this.room(1);
    this.buf[this.off++] = b;
  }

  text(s: string): void {
    this.room(s.length * 3 + 1);
    this.off += this.buf.write(s, this.off, 'utf8');
    this.buf[this.off++] = 0;
  }

  entry(e: SourceEntry, keepOwners: boolean): void {
    this.room(64);
    const b = this.buf;
    b[this.off] = TYPE_CODE[e.type];
    b.writeUInt16LE(e.mode & 0o7777, this.off + 1);
    this.off += 3;
    if (keepOwners) {
      b.writeUInt32LE(e.uid >>> 0, this.off);
      b.writeUInt32LE(e.gid >>> 0, this.off + 4);
      this.off += 8;
    }
    if (e.type === 'file') this.off += b.write(e.digest!.slice(7), this.off, 32, 'hex');
    else if (e.type === 'symlink') this.text(e.linkTarget ?? '');
    else if (e.type === 'char' || e.type === 'block') {
      b.writeDoubleLE(e.rdev ?? 0, this.off);
      this.off += 8;
    }
  }

  digest(): string {
    this.flush();
    return `sha256:${this.hash.digest('hex')}`;
  }

  private room(n: number): void {
    if (this.off + n <= this.buf.length) return;
    this.flush();
    if (n > this.buf.length) this.buf = Buffer.allocUnsafe(n);
  }

  private flush(): void {
    if (this.off > 0) this.hash.update(this.buf.subarray(0, this.off));
    this.off = 0;
  }
}

/** A short string that changes whenever the entry's copy would (type, mode, target or content, owners when kept). */
export function fingerprint(e: SourceEntry, keepOwners: boolean): string {
  const owner = keepOwners ? `:${e.uid}:${e.gid}` : '';
  const mode = e.mode.toString(8);
  switch (e.type) {
    case 'file':
      return `f${mode}${owner}:${e.digest!.slice(7)}`;
    case 'dir':
      return `d${mode}${owner}`;
    case 'symlink':
      return `l${owner}:${e.linkTarget ?? ''}`;
    case 'fifo':
      return `p${mode}${owner}`;
    default:
      return `${e.type === 'char' ? 'c' : 'b'}${mode}${owner}:${e.rdev ?? 0}`;
  }
}

/** Which paths differ between two fingerprint maps (each list sorted). */
export function diffFingerprints(before: ReadonlyMap<string, string>, after: ReadonlyMap<string, string>): FileChanges {
  const changed: string[] = [];
  const added: string[] = [];
  const removed: string[] = [];
  for (const [path, fp] of after) {
    const old = before.get(path);
    if (old === undefined) added.push(path);
    else if (old !== fp) changed.push(path);
  }
  for (const path of before.keys()) if (!after.has(path)) removed.push(path);
  return { changed: changed.sort(), added: added.sort(), removed: removed.sort() };
}

/** One line for a cache miss, e.g. `4 files changed: a.txt, b/c.txt, d.txt, … (+1); 1 file added: e`, at most `max` paths per kind. */
export function describeChanges(c: FileChanges, max = 3): string {
  const part = (list: string[], verb: string): string | undefined => {
    if (list.length === 0) return undefined;
    const shown = list.slice(0, max).map((p) => (p === '' ? '.' : p)).join(', ');
    const more = list.length > max ? `, … (+${list.length - max})` : '';
    return `${list.length} ${list.length === 1 ? 'file' : 'files'} ${verb}: ${shown}${more}`;
  };
  const parts = [part(c.changed, 'changed'), part(c.added, 'added'), part(c.removed, 'removed')].filter((p) => p !== undefined);
  return parts.length === 0 ? 'no file changed' : parts.join('; ');
}

function hasStatKey(e: SourceEntry): e is SourceEntry & StatKey {
  return e.ctimeMs !== undefined && e.ino !== undefined && e.dev !== undefined;
}

/**
 * Reads and hashes one file, keyed in the cache by the stat the walk saw. If the file changes
 * after that stat, the copy's own check (the stat must still match) fails the build, and the
 * next build sees a new stat; so a cache entry can never vouch for content it did not hash.
 * O_NOFOLLOW refuses a file swapped for a symlink, O_NONBLOCK keeps a swapped-in fifo from
 * hanging the read, and a byte count other than the stat's size is reported at once.
 */
function hashEntry(src: FileSource, entry: SourceEntry, cache: StatCache | undefined): void {
  const abs = hostPath(src, entry.path);
  const startedAt = Date.now();
  let fd: number;
  try {
    fd = openSync(abs, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (e) {
    throw changedError(src, entry, e);
  }
  const h = createHash('sha256');
  let total = 0;
  try {
    readBuffer ??= Buffer.allocUnsafe(CHUNK);
    let n: number;
    while ((n = readSync(fd, readBuffer, 0, CHUNK, null)) > 0) {
      h.update(readBuffer.subarray(0, n));
      total += n;
      // A short read of a regular file is its end: spares small files a second read.
      if (n < CHUNK && total >= entry.size) break;
    }
  } catch (e) {
    throw changedError(src, entry, e);
  } finally {
    closeSync(fd);
  }
  if (total !== entry.size) throw changedError(src, entry);
  entry.digest = `sha256:${h.digest('hex')}`;
  if (hasStatKey(entry)) cache?.record(entry.path, entry, entry.digest, startedAt);
}

function changedError(src: FileSource, entry: SourceEntry, cause?: unknown): BuildError {
  return new BuildError(`${src.label}: ${JSON.stringify(entry.path)} changed or disappeared while the build was reading it`, {
    hint: 'run the build again once nothing is writing into the context',
    cause,
  }, 'CONTEXT_CHANGED');
}
