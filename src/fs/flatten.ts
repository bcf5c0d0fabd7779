/**
 * Flattens an image's layers into one root filesystem tar, like `docker export`: whiteouts
 * applied, no `.wh.` entries, hardlinks kept, every type, mode, owner, mtime, xattr and device
 * number kept. Layers are the store's uncompressed tar files.
 *
 * Pass 1 (flatten-plan.ts, synchronous reads of headers only), top layer down, decides which
 * entries are visible. Pass 2, base layer first, writes them with TarWriter, copying file data
 * from the layer files by offset: large positional reads through a 1 MiB window (a fresh buffer
 * per read, since the output may still hold the previous one). Backpressure is respected in
 * coarse steps: small entries are handed over without a promise each, and the copy waits for
 * 'drain' whenever the output asked for it and holds 4 MiB or more.
 *
 * Hardlinks: hardlinks only ever join names of one layer. The names of one inode that are still
 * visible form a group; the first one written carries the inode (its type, metadata and data,
 * from the entry that made it) and the rest become hardlinks to it. So a link whose target is
 * visible stays a link to it, and a link whose target was overwritten or hidden by an upper layer
 * becomes a regular file with the target's (lower) content, the other visible links to the same
 * inode pointing at it.
 *
 * Directories are written before the children of their own layer and of every upper layer (at
 * their lowest entry, with the topmost entry's metadata); a directory with no entry in any layer
 * (only ever made as a parent) is not synthesised: extraction makes it (0755). Other choices are
 * listed in flatten-plan.ts.
 */
import type { FileHandle } from 'node:fs/promises';
import { open } from 'node:fs/promises';
import type { Writable } from 'node:stream';
import { LayerApplyError } from './apply-errors.js';
import { planFlatten } from './flatten-plan.js';
import type { Slot } from './flatten-plan.js';
import { isOverlayXattr } from './layer-rules.js';
import type { IndexEntry } from './tar-index.js';
import { GuardedOutput } from './guarded-output.js';
import { TarWriter } from './tar-writer.js';
import type { TarWriteHeader } from './tar-writer.js';

/** Options of flattenLayers. */
export interface FlattenOptions {
  /** Aborting rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Message prefix per layer (default `layer 2/5 (file name)`). */
  labels?: string[];
}

/** What flattenLayers wrote: output entries, and bytes of tar (the end-of-archive marker included). */
export interface FlattenStats {
  entries: number;
  bytes: number;
}

const WINDOW = 1 << 20;
/**
 * Wait for 'drain' only once this much is queued. Entries of small files are handed over without
 * a promise each; waiting whenever the output asks (a file stream asks at 16 KiB) would mean a
 * round trip to the thread pool every other entry.
 */
const QUEUED = 4 << 20;

/**
 * Writes the merged root filesystem of `layerTarPaths` (uncompressed layer tars, base first) to
 * `out` as one tar with its end-of-archive marker. `out` is not ended: the caller ends it. Layers
 * are checked with applyLayer's rules as they are indexed; a layer that breaks one is refused
 * with the error applyLayer would give, before anything is written.
 */
export async function flattenLayers(layerTarPaths: string[], out: Writable, opts: FlattenOptions = {}): Promise<FlattenStats> {
  const { signal } = opts;
  signal?.throwIfAborted();
  const plan = planFlatten(layerTarPaths, { ...(opts.labels ? { labels: opts.labels } : {}), ...(signal ? { signal } : {}) });
  const guard = new GuardedOutput(out, signal, 'archive');
  const tar = new TarWriter(out, { signal: guard.signal });
  const leaders = new Map<string, string>();
  let entries = 0;
  try {
    for (let layer = 0; layer < plan.slots.length; layer++) {
      const slots = plan.slots[layer]!;
      if (slots.length === 0) continue;
      const data = await LayerData.open(plan.paths[layer]!, plan.labels[layer]!);
      try {
        for (const slot of slots) {
          guard.signal.throwIfAborted();
          const src = plan.entries[slot.layer]![slot.entry]!;
          const pending = writeSlot(tar, slot, src, leaders, data);
          if (pending) await pending;
          entries++;
          await guard.pace(QUEUED);
        }
      } finally {
        await data.close();
      }
    }
    await tar.finish();
  } catch (err) {
    throw guard.cause(err);
  } finally {
    guard.dispose();
  }
  return { entries, bytes: tar.bytes };
}

/** Writes one slot; returns a promise only when it has to wait (data to read, a large file). */
function writeSlot(tar: TarWriter, slot: Slot, src: IndexEntry, leaders: Map<string, string>, data: LayerData): Promise<void> | undefined {
  const name = slot.path === '' ? '.' : slot.path;
  if (slot.group !== undefined) {
    const leader = leaders.get(slot.group);
    if (leader !== undefined) {
      tar.writeEntry(linkHeader(name, src, leader));
      return;
    }
    leaders.set(slot.group, name);
  }
  const h = copyHeader(name, src);
  if (src.type !== 'file' || src.size === 0) {
    tar.writeEntry(h);
    return;
  }
  h.size = src.size;
  if (src.size > WINDOW) return tar.entry(h, data.chunks(src.dataOffset, src.size, src.name));
  const inWindow = data.cached(src.dataOffset, src.size);
  if (inWindow) {
    tar.writeEntry(h, inWindow);
    return;
  }
  return data.load(src.dataOffset, src.size, src.name).then((buf) => {
    tar.writeEntry(h, buf);
  });
}

/**
 * The header that re-creates `src` at `name`: type, mode, owner, exact mtime, link target, device
 * numbers and xattrs (overlay xattrs dropped); `size` is 0, set it when writing data.
 */
export function copyHeader(name: string, src: IndexEntry): TarWriteHeader {
  const h: TarWriteHeader = { name, type: src.type, mode: src.mode, uid: src.uid, gid: src.gid, size: 0, mtime: src.mtime };
  if (src.paxMtime !== undefined) h.paxMtime = src.paxMtime;
  if (src.type === 'symlink') h.linkname = src.linkname;
  if (src.type === 'char' || src.type === 'block') {
    h.devmajor = src.devmajor;
    h.devminor = src.devminor;
  }
  const xattrs = [...src.xattrs].filter(([k]) => !isOverlayXattr(k));
  if (xattrs.length > 0) h.xattrs = new Map(xattrs);
  return h;
}

/** A hardlink at `name` to the already written `leader`, with the inode entry `src`'s owner and times. */
export function linkHeader(name: string, src: IndexEntry, leader: string): TarWriteHeader {
  const h: TarWriteHeader = { name, type: 'hardlink', linkname: leader, mode: src.mode, uid: src.uid, gid: src.gid, size: 0, mtime: src.mtime };
  if (src.paxMtime !== undefined) h.paxMtime = src.paxMtime;
  return h;
}

/** File data of one layer, read by offset through a window. */
class LayerData {
  private buf: Buffer = Buffer.alloc(0);
  private start = 0;

  private constructor(private readonly fh: FileHandle, private readonly label: string) {}

  static async open(path: string, label: string): Promise<LayerData> {
    try {
      return new LayerData(await open(path, 'r'), label);
    } catch (err) {
      throw readFailure(label, err);
    }
  }

  close(): Promise<void> {
    return this.fh.close();
  }

  /** `size` bytes at `offset` when the window holds them. */
  cached(offset: number, size: number): Buffer | undefined {
    if (offset < this.start || offset + size > this.start + this.buf.length) return undefined;
    return this.buf.subarray(offset - this.start, offset - this.start + size);
  }

  /** Reads a new window at `offset` and returns its first `size` (at most a window) bytes. */
  async load(offset: number, size: number, name: string): Promise<Buffer> {
    this.buf = await this.read(offset, WINDOW, size, name);
    this.start = offset;
    return this.buf.subarray(0, size);
  }

  /** `size` bytes at `offset`, in window-sized chunks read one after another. */
  async *chunks(offset: number, size: number, name: string): AsyncGenerator<Buffer> {
    for (let done = 0; done < size; ) {
      const want = Math.min(WINDOW, size - done);
      yield await this.read(offset + done, want, want, name);
      done += want;
    }
  }

  /** Reads up to `len` bytes at `pos`; fewer than `need` means the layer file changed. */
  private async read(pos: number, len: number, need: number, name: string): Promise<Buffer> {
    const buf = Buffer.allocUnsafe(len);
    let got = 0;
    try {
      while (got < len) {
        const { bytesRead } = await this.fh.read(buf, got, len - got, pos + got);
        if (bytesRead === 0) break;
        got += bytesRead;
      }
    } catch (err) {
      throw readFailure(this.label, err);
    }
    if (got < need) throw new LayerApplyError(`${this.label}: entry ${JSON.stringify(name)}: the layer file ends inside its data (was it changed?)`);
    return buf.subarray(0, got);
  }
}

function readFailure(label: string, err: unknown): LayerApplyError {
  const code = (err as NodeJS.ErrnoException).code;
  return new LayerApplyError(`${label}: reading the layer file failed: ${(err as Error).message}`, { cause: err, ...(code ? { errno: code } : {}) });
}
