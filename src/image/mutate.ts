/**
 * Deriving new images from old ones. Every function returns a new Image and leaves its inputs
 * untouched; base layers are reused as they are, never rewritten.
 */
import type { Digest } from '../util/digest.js';
import { encodeConfig, imageFromLayers } from './derive.js';
import type { Image, Layer } from './image.js';
import type { HistoryEntry, ImageConfig } from './types.js';

/** A layer to append with the history entry that describes it. */
export interface Addendum {
  layer?: Layer;
  history: HistoryEntry;
}

/**
 * Appends steps to an image: each adds a history entry and, when it has a layer, the layer and
 * its diff_id. Entries without a layer are marked `empty_layer`.
 */
export async function append(base: Image, steps: readonly Addendum[], edit?: (c: ImageConfig) => ImageConfig): Promise<Image> {
  const cfg = structuredClone(await base.config());
  const layers = [...(await base.layers())];
  cfg.history = [...(cfg.history ?? [])];
  const diffIds: Digest[] = [...cfg.rootfs.diff_ids];
  for (const step of steps) {
    if (step.layer) {
      layers.push(step.layer);
      diffIds.push(await step.layer.diffId());
      const { empty_layer: _drop, ...h } = step.history;
      cfg.history.push(h);
    } else {
      cfg.history.push({ ...step.history, empty_layer: true });
    }
  }
  cfg.rootfs = { type: 'layers', diff_ids: diffIds };
  const final = edit ? edit(cfg) : cfg;
  return fromConfigAndLayers(final, layers);
}

/** Replaces the config (runtime settings, created time...) keeping the layers. */
export async function withConfig(img: Image, edit: (c: ImageConfig) => ImageConfig): Promise<Image> {
  const cfg = edit(structuredClone(await img.config()));
  return fromConfigAndLayers(cfg, await img.layers());
}

/** An image made of a config and layers (the manifest is computed). */
export function fromConfigAndLayers(cfg: ImageConfig, layers: readonly Layer[]): Image {
  const raw = encodeConfig(cfg);
  return imageFromLayers({ rawConfig: async () => raw, layers: async () => [...layers] }, 'image');
}

/** An empty image (FROM scratch) for a platform. */
export function emptyImage(platform: { os: string; architecture: string; variant?: string }): Image {
  const cfg: ImageConfig = {
    architecture: platform.architecture,
    os: platform.os,
    ...(platform.variant ? { variant: platform.variant } : {}),
    config: {},
    rootfs: { type: 'layers', diff_ids: [] },
    history: [],
  };
  return fromConfigAndLayers(cfg, []);
}
