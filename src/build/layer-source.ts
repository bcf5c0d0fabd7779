/**
 * What `COPY --from=` and `RUN --mount=from=` name: an earlier stage (by name or index) or an
 * image in the store, as the layers whose merged view is read.
 */
import { BuildError } from '../errors.js';
import { stageByName } from '../graph/stage-graph.js';
import type { Digest } from '../util/digest.js';
import type { BuildServices } from './services.js';

/** The layers of `from`; `option` names the flag in errors (`--from`, `--mount from`). */
export async function layerSource(svc: BuildServices, from: string, option: string): Promise<{ label: string; layers: Digest[] }> {
  const current = svc.dockerfile.stages.length;
  const index = stageByName(svc.dockerfile, from, current, true);
  if (index !== undefined) {
    const result = await svc.stageResult(index);
    return { label: `stage ${JSON.stringify(from)}`, layers: result.config.rootfs.diff_ids };
  }
  let stored;
  try {
    stored = await svc.images.resolve(from);
  } catch (e) {
    throw new BuildError(`${option}=${from}: no stage of that name, and no such image in the store`, {
      hint: 'name a stage defined above, or load/build the image first',
      cause: e,
    });
  }
  return { label: `image ${from}`, layers: (await stored.image.config()).rootfs.diff_ids };
}
