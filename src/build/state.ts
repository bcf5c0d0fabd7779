/**
 * The state a build stage carries from step to step: the image config (with history and
 * diff_ids), the variables in scope, and the cache chain key.
 */
import type { StageScope } from '../dockerfile/scope.js';
import { newApplyState, type ApplyState } from '../image/apply-instruction.js';
import type { HistoryEntry, ImageConfig } from '../image/types.js';
import type { Digest } from '../util/digest.js';

/** Docker's PATH for images that set none. */
export const DEFAULT_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** A stage's state between steps. */
export interface StageState {
  config: ImageConfig;
  scope: StageScope;
  apply: ApplyState;
  /** Cache chain key of this state. */
  key: string;
  /** Layers of the image the stage chain started from (what `--squash` keeps). */
  baseLayers: number;
}

/** The finished result of a stage (what FROM <stage> and COPY --from=<stage> start from). */
export interface StageResult {
  config: ImageConfig;
  key: string;
  baseLayers: number;
}

/** The layers of a state, base first. */
export function layersOf(s: { config: ImageConfig }): Digest[] {
  return s.config.rootfs.diff_ids;
}

/** A config for FROM scratch. */
export function scratchConfig(platform: { os: string; architecture: string; variant?: string }): ImageConfig {
  return {
    architecture: platform.architecture,
    os: platform.os,
    ...(platform.variant ? { variant: platform.variant } : {}),
    config: { Env: [DEFAULT_PATH] },
    rootfs: { type: 'layers', diff_ids: [] },
    history: [],
  };
}

/** Timestamps as Go writes them (`1970-01-01T00:00:00Z`: no fractional zeros). */
export function formatCreated(epochSeconds: number): string {
  return new Date(epochSeconds * 1000).toISOString().replace('.000Z', 'Z');
}

/** Returns a config with one history entry (and, when given, one layer) appended. */
export function appendHistory(config: ImageConfig, entry: HistoryEntry, layer?: Digest): ImageConfig {
  const out = structuredClone(config);
  out.history = [...(out.history ?? []), layer ? entry : { ...entry, empty_layer: true }];
  if (layer) out.rootfs = { type: 'layers', diff_ids: [...out.rootfs.diff_ids, layer] };
  return out;
}

/** A fresh state (FROM) with the given config and scope. */
export function initialState(config: ImageConfig, scope: StageScope, key: string, baseLayers: number): StageState {
  const apply: ApplyState = newApplyState();
  return { config, scope, apply, key, baseLayers };
}
