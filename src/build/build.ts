/**
 * `strata build`: Dockerfile + context → an image in the store. The stage graph is pruned to
 * the target; the stages it needs run concurrently, each waiting only for the stages it uses.
 */
import { BuildError, StrataError } from '../errors.js';
import { loadDockerfile } from '../dockerfile/index.js';
import { formatPlatform, hostPlatform, parsePlatform, platformArgs, PROXY_ARGS } from '../dockerfile/scope.js';
import { buildStageGraph, stagesFor, targetIndex } from '../graph/stage-graph.js';
import type { ImageStore } from '../image/image-store.js';
import { squashImage } from '../image/squash.js';
import { Snapshotter } from '../snapshot/snapshotter.js';
import { unmountAll } from '../snapshot/host-mount.js';
import type { Digest } from '../util/digest.js';
import { BuildCache } from './cache.js';
import { BuildContext, memoFileFor, statCacheFileFor } from './context.js';
import { COMPRESSION_ANNOTATION } from '../image/media-types.js';
import type { BuildOptions, BuildServices } from './services.js';
import { runStage, stageLabel } from './stage.js';
import { formatCreated, type StageResult } from './state.js';

/** What a finished build produced. */
export interface BuildResult {
  imageId: Digest;
  manifestDigest: Digest;
  names: string[];
  /** Non-fatal findings (Dockerfile checks, unused build args). */
  warnings: { message: string; line?: number; rule?: string }[];
}

/** Builds the image. Throws BuildError (located at the failing instruction) on failure. */
export async function buildImage(images: ImageStore, opts: BuildOptions): Promise<BuildResult> {
  const host = hostPlatform();
  if (opts.platform !== undefined) {
    const p = parsePlatform(opts.platform);
    if (!p || p.os !== host.os || p.architecture !== host.architecture || (p.variant && p.variant !== host.variant)) {
      throw new BuildError(`--platform ${opts.platform} is not supported: strata builds for ${formatPlatform(host)}, the platform it runs on`, {
        hint: 'drop --platform, or build on a machine of that platform',
      }, 'BUILD_PLATFORM');
    }
  }
  const { dockerfile, ast } = loadDockerfile(opts.dockerfileContent, { file: opts.dockerfilePath });
  const warnings: BuildResult['warnings'] = dockerfile.warnings.map((w) => ({ message: w.message, line: w.line, rule: w.rule }));
  const predefined = platformArgs(host, host);
  const graph = buildStageGraph(dockerfile, { buildArgs: opts.buildArgs, predefined, escapeToken: ast.escapeToken });
  const target = targetIndex(dockerfile, opts.target);
  const order = stagesFor(graph, target);

  let stepIds = 0;
  let contextPromise: Promise<BuildContext> | undefined;
  const results = new Map<number, Promise<StageResult>>();
  const now = Math.floor(Date.now() / 1000);
  const svc: BuildServices = {
    opts,
    store: images.store,
    images,
    snapshotter: new Snapshotter(images.store),
    cache: new BuildCache(images.store),
    progress: opts.progress,
    dockerfile,
    escapeToken: ast.escapeToken,
    platform: host,
    created: opts.timestamp === 'now' ? now : opts.timestamp,
    ...(opts.timestamp === 'now' ? {} : { clampMtime: opts.timestamp }),
    nextStepId: () => ++stepIds,
    context: () => (contextPromise ??= BuildContext.open(opts.contextDir, {
      ...(opts.dockerfilePath.startsWith('<') ? {} : { dockerfilePath: opts.dockerfilePath }),
      statCacheFile: statCacheFileFor(images.store.cacheDir, opts.contextDir),
      memoFile: memoFileFor(images.store.cacheDir, opts.contextDir),
    })),
    stageResult: (i) => {
      const p = results.get(i);
      if (!p) return Promise.reject(new BuildError(`stage ${i} is needed but was not scheduled`));
      return p;
    },
    globalArgs: graph.global,
    usedBuildArgs: new Set(dockerfile.metaArgs.flatMap((a) => a.args.map((d) => d.key))),
  };

  // One controller for the whole build: the first failing stage stops the others.
  const controller = new AbortController();
  const onOuterAbort = () => controller.abort(opts.signal?.reason);
  opts.signal?.addEventListener('abort', onOuterAbort, { once: true });
  const stageSvc: BuildServices = { ...svc, opts: { ...opts, signal: controller.signal } };

  try {
    return await images.store.withLease(async () => {
      for (const i of order) {
        const node = graph.nodes[i]!;
        const p = runStage(stageSvc, node, stageLabel(node, i === dockerfile.stages.length - 1), svc.stageResult);
        p.catch(() => controller.abort());
        results.set(i, p);
      }
      const settled = await Promise.allSettled(order.map((i) => results.get(i)!));
      const failure = pickFailure(settled);
      if (failure) throw failure;
      const final = await results.get(target)!;

      const config = structuredClone(final.config);
      config.created = formatCreated(svc.created);
      if (Object.keys(opts.labels).length > 0) {
        config.config = { ...(config.config ?? {}), Labels: { ...(config.config?.Labels ?? {}), ...opts.labels } };
      }
      const layers = await Promise.all(config.rootfs.diff_ids.map(async (d) => {
        const st = await images.store.statBlob(d);
        if (!st) throw new BuildError(`layer ${d} of the result is missing from the store`);
        return { digest: d, size: st.size };
      }));
      // --squash merges the layers this build added over its base image into one (nothing to do
      // for fewer than two); the unsquashed image is only a step towards it.
      const squash = opts.squash && layers.length - final.baseLayers >= 2;
      let { manifestDigest, id } = await images.commitImage(Buffer.from(JSON.stringify(config)), layers, squash ? [] : opts.tags, {
        keepUnnamed: !squash,
        ...(opts.compression ? { annotations: { [COMPRESSION_ANNOTATION]: opts.compression } } : {}),
      });
      if (squash) ({ manifestDigest, id } = await squashResult(images, manifestDigest, id, final.baseLayers, opts, config.created!));

      for (const k of opts.buildArgs.keys()) {
        if (!svc.usedBuildArgs.has(k) && !PROXY_ARGS.has(k) && !predefined.has(k)) {
          warnings.push({ message: `build-arg ${k} was not consumed by any ARG`, rule: 'UnusedBuildArg' });
        }
      }
      opts.progress.emit({ type: 'build-done', imageId: id, names: opts.tags, time: Date.now() });
      return { imageId: id, manifestDigest, names: opts.tags, warnings };
    });
  } finally {
    opts.signal?.removeEventListener('abort', onOuterAbort);
    await unmountAll();
  }
}

/** Squashes layers `from`.. of the built image into one, named as the build's image (kept when unnamed). */
async function squashResult(images: ImageStore, manifestDigest: Digest, id: Digest, from: number, opts: BuildOptions, created: string): Promise<{ manifestDigest: Digest; id: Digest }> {
  const built = { manifestDigest, id, names: [], image: images.image(manifestDigest) };
  const squashed = await squashImage(images, built, { from, names: opts.tags, created, ...(opts.signal ? { signal: opts.signal } : {}) });
  if (opts.tags.length === 0) {
    const image = images.image(squashed.manifestDigest);
    const layers = (await image.manifest()).layers.map((l) => ({ digest: l.digest, size: l.size }));
    await images.commitImage(await image.rawConfig(), layers, [], { keepUnnamed: true });
  }
  return { manifestDigest: squashed.manifestDigest, id: squashed.id };
}

/** The error to report from settled stages: a real failure rather than the aborts it caused. */
function pickFailure(settled: PromiseSettledResult<StageResult>[]): unknown {
  const errors = settled.filter((s): s is PromiseRejectedResult => s.status === 'rejected').map((s) => s.reason);
  if (errors.length === 0) return undefined;
  return errors.find((e) => !(e instanceof StrataError && e.code === 'BUILD_INTERRUPTED')) ?? errors[0];
}
