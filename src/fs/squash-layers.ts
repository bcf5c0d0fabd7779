/**
 * Squashes layer tars into one: the layer that, applied over the kept lower layers, gives the
 * same filesystem as the squashed layers did (squash-plan.ts decides what goes in). Layers are
 * the store's uncompressed tar files; file data is copied from them by offset. The output is
 * deterministic: the same layers and marker time always give the same bytes.
 *
 * Whiteouts, opaque markers and made directories carry no content of their own; they are written
 * root-owned with the caller's `markerTime`, so that nothing host- or time-specific gets in.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { open } from 'node:fs/promises';
import type { Writable } from 'node:stream';
import { LayerApplyError } from './apply-errors.js';
import { copyHeader, linkHeader } from './flatten.js';
import { planSquash } from './squash-plan.js';
import type { SquashCounts, SquashItem, SquashPlan } from './squash-plan.js';
import { GuardedOutput } from './guarded-output.js';
import { TarWriter } from './tar-writer.js';
import type { TarWriteHeader } from './tar-writer.js';
import { opaqueMarkerPath, whiteoutPath } from './whiteout.js';

/** Options of squashLayers. */
export interface SquashLayersOptions {
  /** Message prefix per layer, kept layers first, then squashed ones. */
  labels?: string[];
  /** Aborting rejects with the signal's reason. */
  signal?: AbortSignal;
  /** mtime (seconds) of whiteouts, opaque markers and made directories; default 0. */
  markerTime?: number;
}

/** What squashLayers wrote: entries, bytes (end-of-archive marker included) and what the plan decided. */
export interface SquashStats extends SquashCounts {
  entries: number;
  bytes: number;
}

/** Files up to this size are read with one synchronous positional read and written without a promise. */
const SMALL = 1 << 20;
/** Wait for 'drain' only once this much is queued (as flatten does). */
const QUEUED = 4 << 20;

/**
 * Writes the one layer that replaces `squashed` over `kept` (uncompressed layer tars, base first)
 * to `out`, end-of-archive marker included; `out` is not ended. Layers that break applyLayer's
 * rules are refused with applyLayer's error before anything is written.
 */
export async function squashLayers(kept: readonly string[], squashed: readonly string[], out: Writable, opts: SquashLayersOptions = {}): Promise<SquashStats> {
  const { signal } = opts;
  signal?.throwIfAborted();
  const plan = planSquash(kept, squashed, { ...(opts.labels ? { labels: opts.labels } : {}), ...(signal ? { signal } : {}) });
  const guard = new GuardedOutput(out, signal, 'layer');
  const tar = new TarWriter(out, { signal: guard.signal });
  const files = new LayerFiles(plan);
  const time = opts.markerTime ?? 0;
  try {
    for (const item of plan.items) {
      guard.signal.throwIfAborted();
      const pending = writeItem(tar, plan, item, files, time);
      if (pending) await pending;
      await guard.pace(QUEUED);
    }
    await tar.finish();
  } catch (err) {
    throw guard.cause(err);
  } finally {
    await files.close();
    guard.dispose();
  }
  return { ...plan.counts, entries: plan.items.length, bytes: tar.bytes };
}

/** Writes one item; returns a promise only for a large file. */
function writeItem(tar: TarWriter, plan: SquashPlan, item: SquashItem, files: LayerFiles, time: number): Promise<void> | undefined {
  const name = item.path === '' ? '.' : item.path;
  const marker = (path: string): TarWriteHeader => ({ name: path, type: 'file', mode: 0o644, uid: 0, gid: 0, size: 0, mtime: time });
  switch (item.kind) {
    case 'whiteout':
      tar.writeEntry(marker(whiteoutPath(item.path)));
      return;
    case 'opaque':
      tar.writeEntry(marker(opaqueMarkerPath(item.path)));
      return;
    case 'dir':
      tar.writeEntry({ name, type: 'dir', mode: 0o755, uid: 0, gid: 0, size: 0, mtime: time });
      return;
    case 'link':
      tar.writeEntry(linkHeader(name, plan.entries[item.layer]![item.entry]!, item.leader));
      return;
    case 'copy': {
      const src = plan.entries[item.layer]![item.entry]!;
      const h = copyHeader(name, src);
      if (src.type !== 'file' || src.size === 0) {
        tar.writeEntry(h);
        return;
      }
      h.size = src.size;
      if (src.size <= SMALL) {
        tar.writeEntry(h, files.readSmall(item.layer, src.dataOffset, src.size, src.name));
        return;
      }
      return files.handle(item.layer).then((fh) => tar.entry(h, chunks(fh, plan.labels[item.layer]!, src.dataOffset, src.size, src.name)));
    }
  }
}

/** The squashed layer files, opened on first use and closed at the end. */
class LayerFiles {
  private readonly fds = new Map<number, number>();
  private readonly handles = new Map<number, FileHandle>();

  constructor(private readonly plan: SquashPlan) {}

  /** `size` bytes at `offset` of layer `layer`, read synchronously into a fresh buffer. */
  readSmall(layer: number, offset: number, size: number, name: string): Buffer {
    const label = this.plan.labels[layer]!;
    let fd = this.fds.get(layer);
    try {
      if (fd === undefined) {
        fd = openSync(this.plan.paths[layer]!, 'r');
        this.fds.set(layer, fd);
      }
      const buf = Buffer.allocUnsafe(size);
      let got = 0;
      while (got < size) {
        const n = readSync(fd, buf, got, size - got, offset + got);
        if (n === 0) break;
        got += n;
      }
      if (got < size) throw shortRead(label, name);
      return buf;
    } catch (err) {
      throw err instanceof LayerApplyError ? err : readFailure(label, err);
    }
  }

  /** An async handle on layer `layer`, for large files. */
  async handle(layer: number): Promise<FileHandle> {
    let fh = this.handles.get(layer);
    if (fh === undefined) {
      try {
        fh = await open(this.plan.paths[layer]!, 'r');
      } catch (err) {
        throw readFailure(this.plan.labels[layer]!, err);
      }
      this.handles.set(layer, fh);
    }
    return fh;
  }

  async close(): Promise<void> {
    for (const fd of this.fds.values()) closeSync(fd);
    for (const fh of this.handles.values()) await fh.close();
  }
}

/** `size` bytes at `offset`, in 1 MiB chunks (a fresh buffer each: the output may still hold the last). */
async function* chunks(fh: FileHandle, label: string, offset: number, size: number, name: string): AsyncGenerator<Buffer> {
  for (let done = 0; done < size; ) {
    const want = Math.min(SMALL, size - done);
    const buf = Buffer.allocUnsafe(want);
    let got = 0;
    try {
      while (got < want) {
        const { bytesRead } = await fh.read(buf, got, want - got, offset + done + got);
        if (bytesRead === 0) break;
        got += bytesRead;
      }
    } catch (err) {
      throw readFailure(label, err);
    }
    if (got < want) throw shortRead(label, name);
    yield buf;
    done += want;
  }
}

function shortRead(label: string, name: string): LayerApplyError {
  return new LayerApplyError(`${label}: entry ${JSON.stringify(name)}: the layer file ends inside its data (was it changed?)`);
}

function readFailure(label: string, err: unknown): LayerApplyError {
  const code = (err as NodeJS.ErrnoException).code;
  return new LayerApplyError(`${label}: reading the layer file failed: ${(err as Error).message}`, { cause: err, ...(code ? { errno: code } : {}) });
}
