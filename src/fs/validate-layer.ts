/**
 * Validates an untrusted layer tar without writing anything: the entries go through the same
 * reader and the same rules (layer-rules.ts) as applyLayer in 'overlay' mode, against an
 * in-memory model of the tree the layer would create (layer-model.ts). `load` and `import` run it
 * before a layer lands in the store. It streams: file data is skipped, and the model keeps one
 * small record per path.
 *
 * What it cannot see are failures of a real filesystem (no space, names longer than the
 * filesystem allows, xattrs it refuses); those still surface, as typed errors, when the layer is
 * applied. Devices are modelled as a root extraction makes them (the stricter case).
 */
import { DEFAULT_MAX_ENTRY_SIZE } from './apply-layer.js';
import { LayerModel } from './layer-model.js';
import { readTarEntries } from './tar-entries.js';

/** Options of validateLayer. */
export interface ValidateOptions {
  /** Prefix of every message, e.g. `layer sha256:abc…`. */
  label: string;
  /** Aborting rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Largest accepted entry size in bytes (default 1 TiB, as applyLayer). */
  maxEntrySize?: number;
}

/** What validateLayer saw: entries read, file data bytes applyLayer would write, warnings. */
export interface ValidateStats {
  entries: number;
  bytes: number;
  warnings: string[];
}

/**
 * Runs every rule applyLayer (mode 'overlay') enforces, against an in-memory model of what the
 * layer would create; writes nothing. Throws the error applyLayer would throw
 * (UnsafeArchiveError, ArchiveFormatError), with the same message.
 */
export async function validateLayer(tar: NodeJS.ReadableStream, opts: ValidateOptions): Promise<ValidateStats> {
  const { label, signal } = opts;
  const model = new LayerModel({ label });
  let entries = 0;
  let bytes = 0;
  try {
    const reader = readTarEntries(tar, {
      label,
      maxEntrySize: opts.maxEntrySize ?? DEFAULT_MAX_ENTRY_SIZE,
      ...(signal ? { signal } : {}),
    });
    for await (const entry of reader) {
      signal?.throwIfAborted();
      // The reader skips the data we leave unread; its size is what applyLayer would write.
      if (model.apply(entry, entries).op === 'file') bytes += entry.size;
      entries++;
    }
    signal?.throwIfAborted();
  } catch (err) {
    if (signal?.aborted) throw signal.reason;
    throw err;
  }
  return { entries, bytes, warnings: model.warnings };
}
