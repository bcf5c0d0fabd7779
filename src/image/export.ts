/**
 * `strata export`: the flattened root filesystem of a stored image as one tar (whiteouts applied,
 * hardlinks kept), like `docker export`, to a stream or atomically to a file.
 */
import type { Writable } from 'node:stream';
import { flattenLayers } from '../fs/flatten.js';
import type { FlattenStats } from '../fs/flatten.js';
import { writeOutputFile } from '../util/atomic-output.js';
import type { ImageStore, StoredImage } from './image-store.js';
import { layerFiles, verifyLayerFiles } from './layer-files.js';

/** Options of exportImage. */
export interface ExportOptions {
  signal?: AbortSignal;
}

/**
 * Writes the flattened root filesystem of `image` to `out`. Every layer is verified against its
 * diff_id before anything is written; a lease keeps a concurrent prune from removing the blobs
 * meanwhile. `out` is not ended.
 */
export async function exportImage(images: ImageStore, image: StoredImage, out: Writable, opts: ExportOptions = {}): Promise<FlattenStats> {
  return images.store.withLease(async () => {
    const layers = await layerFiles(images, image);
    await verifyLayerFiles(layers, opts.signal);
    return flattenLayers(layers.map((l) => l.path), out, { labels: layers.map((l) => l.label), ...(opts.signal ? { signal: opts.signal } : {}) });
  });
}

/** exportImage to a file, atomically (the file never holds a partial tar). */
export function exportImageToFile(images: ImageStore, image: StoredImage, path: string, opts: ExportOptions = {}): Promise<FlattenStats> {
  return writeOutputFile(path, 'EXPORT_OUTPUT', (out) => exportImage(images, image, out, opts));
}
