/**
 * `strata history`: an image's steps, newest first, each with the layer it added (like
 * `docker history`). History entries marked empty_layer made no layer; the others match the
 * layers in order.
 */
import type { StoredImage } from '../image/image-store.js';
import { ArchiveFormatError } from '../errors.js';

/** One row of the history. */
export interface HistoryRow {
  /** The layer's diff_id, or undefined for a step that made no layer. */
  layer?: string;
  created?: string;
  createdBy: string;
  /** Bytes of the layer (uncompressed), 0 for steps without one. */
  size: number;
  comment: string;
}

/** The image's history, newest first. Throws when history and layers disagree. */
export async function imageHistory(s: StoredImage): Promise<HistoryRow[]> {
  const cfg = await s.image.config();
  const manifest = await s.image.manifest();
  const history = cfg.history ?? [];
  const layers = manifest.layers;
  const rows: HistoryRow[] = [];
  let next = 0;
  for (const h of history) {
    const row: HistoryRow = { createdBy: h.created_by ?? '', size: 0, comment: h.comment ?? '' };
    if (h.created) row.created = h.created;
    if (!h.empty_layer) {
      const l = layers[next];
      if (!l) throw new ArchiveFormatError(`image ${s.id}: history has more non-empty steps than the image has layers`);
      row.layer = cfg.rootfs.diff_ids[next];
      row.size = l.size;
      next++;
    }
    rows.push(row);
  }
  // Images without history (some imports) still list their layers.
  for (; next < layers.length; next++) rows.push({ layer: cfg.rootfs.diff_ids[next], createdBy: '', size: layers[next]!.size, comment: '' });
  return rows.reverse();
}
