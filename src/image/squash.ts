/**
 * `squash`: replaces the layers from index `from` to the top of a stored image with ONE layer
 * that gives the same filesystem over the kept lower layers (squash-plan.ts has the rules), and
 * stores the result as a new image. History stays honest: the squashed layers' history entries
 * are kept, marked `empty_layer`, and one entry is appended for the merged layer, naming the
 * diff_ids it replaces. Everything else in the config is kept as it was.
 *
 * The merged layer is written to a staging file under the store's tmp/, hashed while written,
 * checked against applyLayer's rules, and adopted into the blob store under a lease, so a crash
 * or a failure leaves the store as it was.
 */
import { createWriteStream, closeSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { StrataError } from '../errors.js';
import type { ErrorOptions } from '../errors.js';
import { LayerModel } from '../fs/layer-model.js';
import { squashLayers } from '../fs/squash-layers.js';
import type { SquashStats } from '../fs/squash-layers.js';
import { tarIndexEntries } from '../fs/tar-index.js';
import { DEFAULT_MAX_ENTRY_SIZE } from '../fs/apply-layer.js';
import { isNoSpace, noSpaceError, removeQuiet } from '../store/durable.js';
import { HashingStream } from '../util/digest.js';
import type { Digest } from '../util/digest.js';
import type { ImageStore, StoredImage } from './image-store.js';
import { layerFiles, verifyLayerFiles } from './layer-files.js';
import type { HistoryEntry, ImageConfig } from './types.js';
import { parseConfig } from './validate.js';

/** A squash that cannot be done as asked (layer range, history that does not match the layers). */
export class SquashError extends StrataError {
  constructor(message: string, opts: ErrorOptions = {}) {
    super('SQUASH', message, opts);
  }
}

/** Options of squashImage. */
export interface SquashImageOptions {
  /** Index (0-based) of the first layer to squash; 0 squashes them all. */
  from: number;
  /** Names for the new image. */
  names: string[];
  /** Put before the generated history comment. */
  message?: string;
  /** `created` of the new history entry (RFC 3339); default the image's own. */
  created?: string;
  signal?: AbortSignal;
}

/** What squashImage stored. */
export interface SquashResult {
  manifestDigest: Digest;
  id: Digest;
  /** diff_id (= blob digest) and size of the merged layer. */
  diffId: Digest;
  size: number;
  /** What the merged layer holds (entries, whiteouts kept and dropped...). */
  stats: SquashStats;
}

/**
 * Squashes layers `from`.. of `image` into one and stores the new image under `names`. Throws
 * SquashError when `from` is not a layer index or the history cannot be matched to the layers,
 * DigestMismatchError when a squashed layer's blob is damaged.
 */
export async function squashImage(images: ImageStore, image: StoredImage, opts: SquashImageOptions): Promise<SquashResult> {
  const { from, signal } = opts;
  const rawConfig = await image.image.rawConfig();
  const config = parseConfig(rawConfig, `image ${image.id} config`);
  const count = config.rootfs.diff_ids.length;
  if (!Number.isInteger(from) || from < 0 || from >= count) {
    throw new SquashError(count === 0 ? 'the image has no layers to squash' : `cannot squash from layer ${from}: the image has ${count} layer${count === 1 ? '' : 's'} (0 to ${count - 1})`, {
      hint: 'give --from a layer index; `strata inspect` lists the layers',
    });
  }
  const created = opts.created ?? config.created;
  const markerTime = created !== undefined && Number.isFinite(Date.parse(created)) ? Math.max(0, Math.floor(Date.parse(created) / 1000)) : 0;
  const store = images.store;
  return store.withLease(async () => {
    const layers = await layerFiles(images, image);
    const kept = layers.slice(0, from);
    const merged = layers.slice(from);
    // The squashed layers' content is copied into a new blob: verify it, or damage would be
    // laundered under a fresh digest. The kept layers stay referenced by their own digests.
    await verifyLayerFiles(merged, signal);
    const dir = await store.stagingDir('squash');
    try {
      const path = join(dir, 'layer.tar');
      const hash = new HashingStream();
      const writing = pipeline(hash, createWriteStream(path, { flags: 'wx', mode: 0o644 }));
      let stats: SquashStats;
      try {
        stats = await squashLayers(kept.map((l) => l.path), merged.map((l) => l.path), hash, {
          labels: layers.map((l) => l.label),
          markerTime,
          ...(signal ? { signal } : {}),
        });
        hash.end();
        await writing;
      } catch (e) {
        hash.destroy();
        await writing.catch(() => undefined);
        throw isNoSpace(e) ? noSpaceError('writing the squashed layer', e) : e;
      }
      const diffId = hash.digest();
      checkLayerFile(path, `squashed layer ${diffId.slice(0, 19)}`);
      await store.adoptFile(path, diffId, hash.size);
      const entry: HistoryEntry = {
        ...(created !== undefined ? { created } : {}),
        created_by: `strata squash --from ${from}`,
        comment: mergedComment(merged.map((l) => l.diffId), opts.message),
      };
      const next = squashConfig(config, from, diffId, entry);
      const manifest = await image.image.manifest();
      const descriptors = [...manifest.layers.slice(0, from).map((d) => ({ digest: d.digest, size: d.size })), { digest: diffId, size: hash.size }];
      const { manifestDigest, id } = await images.commitImage(Buffer.from(JSON.stringify(next)), descriptors, opts.names);
      return { manifestDigest, id, diffId, size: hash.size, stats };
    } finally {
      await removeQuiet(dir);
    }
  });
}

/** `merged 3 layers: sha256:…, …`, after the caller's message when there is one. */
export function mergedComment(diffIds: readonly string[], message?: string): string {
  const text = `merged ${diffIds.length} layer${diffIds.length === 1 ? '' : 's'}: ${diffIds.join(', ')}`;
  return message !== undefined && message !== '' ? `${message}; ${text}` : text;
}

/**
 * The config after squashing layers `from`.. into `diffId`: diff_ids = kept + [diffId], the
 * squashed layers' history entries marked empty, `entry` appended; every other field, and the
 * order of keys, as it was.
 */
export function squashConfig(config: ImageConfig, from: number, diffId: Digest, entry: HistoryEntry): ImageConfig {
  const count = config.rootfs.diff_ids.length;
  const next: ImageConfig = { ...config, rootfs: { ...config.rootfs, diff_ids: [...config.rootfs.diff_ids.slice(0, from), diffId] } };
  if (config.history === undefined) {
    // Nothing to keep; one entry per kept layer so that history still matches the layers.
    next.history = [...Array.from({ length: from }, () => ({ comment: 'no history in the source image' })), entry];
    return next;
  }
  const nonEmpty = config.history.filter((h) => h.empty_layer !== true).length;
  if (nonEmpty !== count) {
    throw new SquashError(`the image's history has ${nonEmpty} entries with layers for ${count} layers: cannot tell which entries belong to the squashed layers`, {
      hint: 'the image config is inconsistent; rebuild or re-import the image',
    });
  }
  let layer = 0;
  next.history = config.history.map((h) => {
    if (h.empty_layer === true) return h;
    return layer++ >= from ? { ...h, empty_layer: true } : h;
  });
  next.history.push(entry);
  return next;
}

/** Runs the written layer through applyLayer's rules (headers only): a rule it breaks is a bug here. */
function checkLayerFile(path: string, label: string): void {
  const fd = openSync(path, 'r');
  try {
    const model = new LayerModel({ label });
    let i = 0;
    for (const e of tarIndexEntries(fd, { label, maxEntrySize: DEFAULT_MAX_ENTRY_SIZE })) model.apply(e, i++);
  } finally {
    closeSync(fd);
  }
}
