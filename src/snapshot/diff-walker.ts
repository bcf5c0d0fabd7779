/**
 * The walk behind writeDiffTar: visits an upper dir depth first in tar order and writes one tar
 * entry per change. The loop is synchronous for everything held in memory (headers, small
 * files) and awaits only when the output asks to wait or a large file is streamed, so a
 * 20,000-file layer costs no promise per entry.
 */
import { once } from 'node:events';
import { open } from 'node:fs/promises';
import { addAbortSignal } from 'node:stream';
import type { Readable } from 'node:stream';
import type { Stats } from 'node:fs';
import { devMajor, devMinor, isOverlayWhiteout } from '../fs/special-files.js';
import type { TarWriteHeader, TarWriter } from '../fs/tar-writer.js';
import { OPAQUE_MARKER, isWhiteoutName, whiteoutPath } from '../fs/whiteout.js';
import type { HashingSink } from './hashing-sink.js';
import { SnapshotError } from './snapshot-error.js';
import type { StubMatcher } from './stubs.js';
import { READ_FLAGS, UpperReader } from './upper-read.js';
import type { UpperEntry } from './upper-read.js';

/** Files up to this size are read in one synchronous read; larger ones are streamed in chunks of this size. */
const SMALL_FILE = 1 << 20;

/** Settings of one walk. */
export interface WalkOptions {
  stubs: StubMatcher;
  clampMtime?: number;
  signal?: AbortSignal;
}

/** A directory being written: its children in output order, and, for a stub, its held-back headers. */
interface Frame {
  items: Array<{ whiteout: boolean; e: UpperEntry }>;
  next: number;
  /** Headers of an unchanged stub directory, written only if something inside it is. */
  held?: TarWriteHeader[];
}

/** Walks one upper dir into a TarWriter; `entries` counts what was written. */
export class DiffWalker {
  entries = 0;
  /** Whiteouts and opaque markers written. */
  markers = 0;
  private readonly reader: UpperReader;
  /** `dev:ino` of regular files with several links → the path written first. */
  private readonly links = new Map<string, string>();
  private readonly stack: Frame[] = [];
  /** Frames on the stack whose held headers are not written yet. */
  private holding = 0;

  constructor(root: string, private readonly tar: TarWriter, private readonly sink: HashingSink, private readonly o: WalkOptions) {
    this.reader = new UpperReader(root);
  }

  /** Writes every entry and the end-of-archive marker. */
  async run(): Promise<void> {
    const root = this.reader.root;
    const rootEntry: UpperEntry = { name: '', rel: '', abs: root, st: this.reader.lstat(root, '') };
    if (!rootEntry.st.isDirectory()) throw new SnapshotError(`diff ${root}: not a directory`);
    // The root itself is never an entry, but an opaque root still hides all lower content.
    const wait = this.reader.xattrs(rootEntry).opaque ? this.emit([this.marker(OPAQUE_MARKER, rootEntry.st)]) : undefined;
    this.stack.push(this.frame(rootEntry));
    if (wait) await wait;
    while (this.stack.length > 0 && !this.sink.failure) {
      this.o.signal?.throwIfAborted();
      const f = this.stack[this.stack.length - 1]!;
      const item = f.items[f.next++];
      if (item === undefined) {
        this.stack.pop();
        if (f.held) this.holding--;
        continue;
      }
      const w = item.whiteout ? this.emit([this.marker(whiteoutPath(item.e.rel), item.e.st)]) : this.visit(item.e);
      if (w) await w;
    }
    await this.tar.finish();
  }

  /** Writes one non-whiteout entry (pushing a frame for a directory); a promise only when it must wait. */
  private visit(e: UpperEntry): Promise<void> | undefined {
    const { st } = e;
    if (st.isDirectory()) return this.directory(e);
    if (this.o.stubs.unchanged(e.rel, st)) return undefined;
    const base = this.header(e, this.reader.xattrs(e).xattrs);
    if (st.isFile()) return this.file(e, base);
    if (st.isSymbolicLink()) return this.emit([{ ...base, type: 'symlink', linkname: this.reader.readlink(e) }]);
    if (st.isFIFO()) return this.emit([{ ...base, type: 'fifo' }]);
    if (st.isCharacterDevice() || st.isBlockDevice()) {
      return this.emit([{ ...base, type: st.isCharacterDevice() ? 'char' : 'block', devmajor: devMajor(st.rdev), devminor: devMinor(st.rdev) }]);
    }
    throw new SnapshotError(`diff ${this.reader.root}: ${JSON.stringify(e.rel)}: a socket cannot be stored in a layer`, {
      hint: 'remove the socket at the end of the RUN step',
    });
  }

  private directory(e: UpperEntry): Promise<void> | undefined {
    const { xattrs, opaque } = this.reader.xattrs(e);
    const headers: TarWriteHeader[] = [{ ...this.header(e, xattrs), type: 'dir' }];
    if (opaque) headers.push(this.marker(`${e.rel}/${OPAQUE_MARKER}`, e.st));
    const held = this.o.stubs.unchanged(e.rel, e.st);
    const wait = held ? undefined : this.emit(headers);
    const f = this.frame(e);
    if (held) {
      f.held = headers;
      this.holding++;
    }
    this.stack.push(f);
    return wait;
  }

  private file(e: UpperEntry, base: TarWriteHeader): Promise<void> | undefined {
    const { st } = e;
    if (st.nlink > 1) {
      const key = `${st.dev}:${st.ino}`;
      const first = this.links.get(key);
      if (first !== undefined) return this.emit([{ ...base, type: 'hardlink', linkname: first }]);
      this.links.set(key, e.rel);
    }
    const h: TarWriteHeader = { ...base, type: 'file', size: st.size };
    if (st.size <= SMALL_FILE) return this.emit([h], st.size > 0 ? this.reader.readSmall(e) : undefined);
    return this.stream(e, h);
  }

  private async stream(e: UpperEntry, h: TarWriteHeader): Promise<void> {
    this.release();
    this.entries++;
    let data: Readable | undefined;
    try {
      const fh = await open(e.abs, READ_FLAGS);
      data = fh.createReadStream({ highWaterMark: SMALL_FILE });
      if (this.o.signal) addAbortSignal(this.o.signal, data);
      await this.tar.entry(h, data);
    } catch (err) {
      if (this.o.signal?.aborted) throw this.o.signal.reason;
      throw this.reader.failure(err, e.rel, 'read');
    } finally {
      data?.destroy();
    }
  }

  /** Writes entries (after any held-back stub directories above them); a promise when the output asks to wait. */
  private emit(headers: TarWriteHeader[], data?: Buffer): Promise<void> | undefined {
    let ok = this.release();
    for (let i = 0; i < headers.length; i++) {
      this.entries++;
      ok = this.tar.writeEntry(headers[i]!, i === headers.length - 1 ? data : undefined) && ok;
    }
    return ok ? undefined : this.drained();
  }

  /** Writes the headers of held stub directories on the stack, outermost first. */
  private release(): boolean {
    let ok = true;
    if (this.holding === 0) return ok;
    for (const f of this.stack) {
      if (!f.held) continue;
      for (const h of f.held) {
        this.entries++;
        ok = this.tar.writeEntry(h) && ok;
      }
      f.held = undefined;
      this.holding--;
    }
    return ok;
  }

  private async drained(): Promise<void> {
    await once(this.sink, 'drain', this.o.signal ? { signal: this.o.signal } : {});
  }

  /** The children of a directory in output order: whiteouts first, then the rest, each by name. */
  private frame(dir: UpperEntry): Frame {
    const whiteouts: Frame['items'] = [];
    const rest: Frame['items'] = [];
    for (const e of this.reader.list(dir.abs, dir.rel)) {
      if (isOverlayWhiteout(e.st)) whiteouts.push({ whiteout: true, e });
      else if (isWhiteoutName(e.name)) {
        throw new SnapshotError(`diff ${this.reader.root}: ${JSON.stringify(e.rel)}: a name starting with ".wh." cannot be stored in an OCI layer`, {
          hint: 'layer tars use the .wh. prefix for deletions; give the file another name',
        });
      } else rest.push({ whiteout: false, e });
    }
    return { items: whiteouts.concat(rest), next: 0 };
  }

  private header(e: UpperEntry, xattrs: Record<string, Buffer> | undefined): TarWriteHeader {
    const { st } = e;
    const h: TarWriteHeader = { name: e.rel, type: 'file', mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, size: 0, mtime: this.mtime(st) };
    if (xattrs) h.xattrs = xattrs;
    return h;
  }

  /** A whiteout or opaque marker: an empty regular file, mode 0, owner 0:0 (as containerd writes them). */
  private marker(name: string, st: Stats): TarWriteHeader {
    this.markers++;
    return { name, type: 'file', mode: 0, uid: 0, gid: 0, size: 0, mtime: this.mtime(st) };
  }

  private mtime(st: Stats): number {
    const s = Math.floor(st.mtimeMs / 1000);
    const clamp = this.o.clampMtime;
    return clamp !== undefined && s > clamp ? clamp : s;
  }
}
