/**
 * Building a full Image from the little a format knows. A format supplies either
 *  - a ManifestCore (raw manifest, raw config, blobs by digest): registries, OCI layouts, the store;
 *  - or a LayersCore (raw config and one Layer per diff_id): docker-archives, builds, mutations;
 * and these helpers derive the rest lazily and once.
 */
import { Readable } from 'node:stream';
import { ArchiveFormatError } from '../errors.js';
import { decompressStream } from '../compress/index.js';
import { sha256, type Digest } from '../util/digest.js';
import type { Image, Layer } from './image.js';
import { layerCompression, MediaType } from './media-types.js';
import type { Descriptor, ImageConfig, Manifest } from './types.js';
import { parseConfig, parseManifest } from './validate.js';

/** Memoises an async getter. */
export function once<T>(fn: () => Promise<T>): () => Promise<T> {
  let p: Promise<T> | undefined;
  return () => (p ??= fn());
}

/** What a manifest-addressed format provides. */
export interface ManifestCore {
  rawManifest(): Promise<Buffer>;
  rawConfig(): Promise<Buffer>;
  /** The blob with this digest (a layer). */
  blob(descriptor: Descriptor): Promise<Readable>;
}

/** An Image from a manifest-addressed source. Layer diff_ids come from the config, by position. */
export function imageFromManifest(core: ManifestCore, where: string): Image {
  const rawManifest = once(core.rawManifest);
  const manifest = once(async () => parseManifest(await rawManifest(), where));
  const rawConfig = once(core.rawConfig);
  const config = once(async () => parseConfig(await rawConfig(), where));
  return {
    rawManifest,
    manifest,
    digest: once(async () => sha256(await rawManifest())),
    rawConfig,
    config,
    configDigest: once(async () => (await manifest()).config.digest),
    layers: once(async () => {
      const m = await manifest();
      const c = await config();
      if (m.layers.length !== c.rootfs.diff_ids.length) {
        throw new ArchiveFormatError(`${where}: manifest lists ${m.layers.length} layers but the config has ${c.rootfs.diff_ids.length} diff_ids`, {
          hint: 'the image is corrupt; re-export it from its source',
        });
      }
      return m.layers.map((d, i) => layerFromBlob(d, c.rootfs.diff_ids[i]!, () => core.blob(d), where));
    }),
  };
}

/** A Layer whose blob is fetched on demand and decompressed according to its media type. */
export function layerFromBlob(desc: Descriptor, diffId: Digest, open: () => Promise<Readable>, where: string): Layer {
  const compression = layerCompression(desc.mediaType);
  if (compression === undefined) {
    throw new ArchiveFormatError(`${where}: layer ${desc.digest} has unsupported media type ${desc.mediaType}`, {
      hint: 'strata reads tar, tar+gzip and tar+zstd layers',
    });
  }
  return {
    diffId: async () => diffId,
    digest: async () => desc.digest,
    size: async () => desc.size,
    mediaType: async () => desc.mediaType,
    compressed: open,
    uncompressed: async () => {
      const blob = await open();
      return compression === 'none' ? blob : blob.pipe(decompressStream(compression));
    },
  };
}

/** What a layers-addressed format provides. */
export interface LayersCore {
  rawConfig(): Promise<Buffer>;
  layers(): Promise<Layer[]>;
  /** Manifest media type to produce (default OCI). */
  manifestMediaType?: string;
}

/** An Image whose manifest is computed from its config and layers. */
export function imageFromLayers(core: LayersCore, where: string): Image {
  const rawConfig = once(core.rawConfig);
  const config = once(async () => parseConfig(await rawConfig(), where));
  const layers = once(core.layers);
  const docker = core.manifestMediaType === MediaType.dockerManifest;
  const rawManifest = once(async () => {
    const raw = await rawConfig();
    const ls = await layers();
    const m: Manifest = {
      schemaVersion: 2,
      mediaType: docker ? MediaType.dockerManifest : MediaType.ociManifest,
      config: { mediaType: docker ? MediaType.dockerConfig : MediaType.ociConfig, digest: sha256(raw), size: raw.length },
      layers: await Promise.all(ls.map(async (l) => ({ mediaType: await l.mediaType(), digest: await l.digest(), size: await l.size() }))),
    };
    return Buffer.from(JSON.stringify(m));
  });
  const manifest = once(async () => JSON.parse((await rawManifest()).toString('utf8')) as Manifest);
  return {
    rawManifest,
    manifest,
    digest: once(async () => sha256(await rawManifest())),
    rawConfig,
    config,
    configDigest: once(async () => sha256(await rawConfig())),
    layers,
  };
}

/** Serialises a config the way strata writes every JSON document: compact, stable key order as given. */
export function encodeConfig(config: ImageConfig): Buffer {
  return Buffer.from(JSON.stringify(config));
}

/** A Readable over a buffer (for in-memory blobs). */
export function bufferStream(b: Buffer): Readable {
  return Readable.from([b]);
}
