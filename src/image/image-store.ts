/**
 * Images in the local store: names → manifests → config and layer blobs. Layers are stored
 * uncompressed (a layer's blob digest is its diff_id), so the store never pays for compression;
 * `save` and `push` compress on the way out. The image ID is the config digest, as in Docker.
 */
import { PassThrough, type Readable } from 'node:stream';
import { ArchiveFormatError, InvalidReferenceError, NotFoundError, StrataError } from '../errors.js';
import { validateLayer } from '../fs/validate-layer.js';
import { Store } from '../store/store.js';
import { sha256, type Digest } from '../util/digest.js';
import { imageFromManifest, once } from './derive.js';
import type { Image } from './image.js';
import { MediaType } from './media-types.js';
import { familiarReference, idPrefixHex, isFullImageId, normalizeReference, parseReference } from './reference.js';
import type { Manifest } from './types.js';
import { parseManifest } from './validate.js';

/** An image in the store and its names. */
export interface StoredImage {
  /** Digest of the stored manifest. */
  manifestDigest: Digest;
  /** The image ID (config digest). */
  id: Digest;
  /** Full names (`docker.io/library/busybox:latest`), sorted. */
  names: string[];
  image: Image;
}

/** One row of `strata images`. */
export interface ImageSummary {
  id: Digest;
  manifestDigest: Digest;
  names: string[];
  created?: string;
  /** Sum of the (uncompressed) layer sizes. */
  size: number;
}

/** Options of ImageStore.write. */
export interface WriteOptions {
  /** Check every layer with the extraction engine's rules before storing it (default true). */
  validateLayers?: boolean;
  /** Called as each layer is stored (index from 0). */
  onLayer?: (index: number, count: number, diffId: Digest, reused: boolean) => void;
}

/**
 * Images without a name (a load of an unnamed archive, an untagged build) are kept under an
 * internal ref `@sha256:<manifest digest>`, which no user-given name can look like (a reference
 * never starts with "@"). `images` lists them as <none>; naming one removes its internal ref.
 */
const UNNAMED = '@';

/** True for the internal ref of an unnamed image. */
export function isUnnamedRef(name: string): boolean {
  return name.startsWith(UNNAMED);
}

/** The image-level view of a Store. */
export class ImageStore {
  constructor(readonly store: Store) {}

  /** Opens the store at `root` (or the default location). */
  static async open(root?: string): Promise<ImageStore> {
    return new ImageStore(await Store.open(root));
  }

  /** A store-backed Image for a stored manifest. Blobs are verified as they are read. */
  image(manifestDigest: Digest): Image {
    const where = `image ${manifestDigest}`;
    const rawManifest = once(() => this.store.readBlob(manifestDigest, 8 * 1024 * 1024));
    return imageFromManifest(
      {
        rawManifest,
        rawConfig: async () => this.store.readBlob(parseManifest(await rawManifest(), where).config.digest, 8 * 1024 * 1024),
        blob: (d) => this.store.openBlob(d.digest, { verify: true }),
      },
      where,
    );
  }

  /** Every stored image with its names (images without names are not listed). */
  async list(): Promise<ImageSummary[]> {
    const byManifest = new Map<Digest, string[]>();
    for (const ref of await this.store.listRefs()) {
      const names = byManifest.get(ref.digest as Digest) ?? [];
      if (!isUnnamedRef(ref.name)) names.push(ref.name);
      byManifest.set(ref.digest as Digest, names);
    }
    const out: ImageSummary[] = [];
    for (const [manifestDigest, names] of byManifest) {
      const img = this.image(manifestDigest);
      const manifest = await img.manifest();
      const config = await img.config();
      out.push({
        id: manifest.config.digest,
        manifestDigest,
        names: names.sort(),
        ...(config.created ? { created: config.created } : {}),
        size: manifest.layers.reduce((n, l) => n + l.size, 0),
      });
    }
    return out.sort((a, b) => (b.created ?? '').localeCompare(a.created ?? '') || a.id.localeCompare(b.id));
  }

  /**
   * Finds an image the way Docker does: a name (`busybox` = `docker.io/library/busybox:latest`),
   * `name@sha256:…` (the stored manifest digest), a full image ID or manifest digest, or a unique
   * image-ID prefix. Throws NotFoundError with a hint when nothing matches.
   */
  async resolve(text: string): Promise<StoredImage> {
    const refs = await this.store.listRefs();
    const namesOf = (d: string) => refs.filter((r) => r.digest === d && !isUnnamedRef(r.name)).map((r) => r.name).sort();
    const found = async (manifestDigest: Digest): Promise<StoredImage> => {
      const image = this.image(manifestDigest);
      return { manifestDigest, id: await image.configDigest(), names: namesOf(manifestDigest), image };
    };

    let byName: string | undefined;
    try {
      const ref = parseReference(text);
      if (ref.digest) {
        const match = refs.find((r) => r.digest === ref.digest);
        if (match) return found(match.digest as Digest);
      } else {
        byName = normalizeReference(text);
        const match = refs.find((r) => r.name === byName && !isUnnamedRef(r.name));
        if (match) return found(match.digest as Digest);
      }
    } catch (e) {
      if (!(e instanceof InvalidReferenceError) || !idPrefixHex(text)) throw e;
    }
    const hex = idPrefixHex(text);
    if (hex !== undefined) {
      const candidates = new Map<Digest, Digest>(); // manifest → id
      for (const r of refs) {
        const manifestDigest = r.digest as Digest;
        if (candidates.has(manifestDigest)) continue;
        const id = await this.image(manifestDigest).configDigest();
        if (id.slice(7).startsWith(hex) || (isFullImageId(text) && manifestDigest.slice(7) === hex)) candidates.set(manifestDigest, id);
      }
      const ids = new Set(candidates.values());
      if (ids.size > 1) {
        throw new InvalidReferenceError(`image ID prefix "${text}" is ambiguous: it matches ${ids.size} images`, { hint: 'give more digits of the ID' });
      }
      const first = [...candidates.keys()][0];
      if (first) return found(first);
    }
    throw new NotFoundError(`image "${text}" not found in the store${byName ? ` (looked for ${byName})` : ''}`, {
      hint: 'list images with `strata images`; get one with `strata load`, `strata import` or `strata build`',
    });
  }

  /**
   * Stores an image from any source and names it. Layers are decompressed, checked against their
   * diff_ids (and, by default, against the extraction engine's safety rules) and stored
   * uncompressed; layers already present are reused. Blobs go in first and names last, under a
   * lease, so a failure or crash never leaves a name pointing at missing content.
   */
  async write(img: Image, names: readonly string[], opts: WriteOptions = {}): Promise<{ manifestDigest: Digest; id: Digest }> {
    return this.store.withLease(async () => {
      const config = await img.config();
      const rawConfig = await img.rawConfig();
      const layers = await img.layers();
      if (layers.length !== config.rootfs.diff_ids.length) {
        throw new ArchiveFormatError(`image has ${layers.length} layers but its config lists ${config.rootfs.diff_ids.length} diff_ids`);
      }
      const descriptors: Manifest['layers'] = [];
      for (let i = 0; i < layers.length; i++) {
        const diffId = config.rootfs.diff_ids[i]!;
        const stat = await this.store.statBlob(diffId);
        let size: number;
        if (stat) {
          size = stat.size;
          opts.onLayer?.(i, layers.length, diffId, true);
        } else {
          size = await this.ingestLayer(await layers[i]!.uncompressed(), diffId, `layer ${i + 1}/${layers.length} (${diffId})`, opts.validateLayers !== false);
          opts.onLayer?.(i, layers.length, diffId, false);
        }
        descriptors.push({ mediaType: MediaType.ociLayer, digest: diffId, size });
      }
      return this.commitImage(rawConfig, descriptors, names);
    });
  }

  /**
   * The last step of every write: stores the config and an OCI manifest for layers already in the
   * store (uncompressed, digest = diff_id), then points the names at it in one refs transaction.
   * Callers hold a lease from their first blob to this call.
   */
  async commitImage(
    rawConfig: Buffer,
    layers: readonly { digest: Digest; size: number }[],
    names: readonly string[],
    opts: { keepUnnamed?: boolean; annotations?: Record<string, string> } = {},
  ): Promise<{ manifestDigest: Digest; id: Digest }> {
    const configDesc = await this.store.ingest(rawConfig, { digest: sha256(rawConfig) });
    const manifest: Manifest = {
      schemaVersion: 2,
      mediaType: MediaType.ociManifest,
      config: { mediaType: MediaType.ociConfig, digest: configDesc.digest as Digest, size: configDesc.size },
      layers: layers.map((l) => ({ mediaType: MediaType.ociLayer, digest: l.digest, size: l.size })),
      ...(opts.annotations && Object.keys(opts.annotations).length > 0 ? { annotations: opts.annotations } : {}),
    };
    const rawManifest = Buffer.from(JSON.stringify(manifest));
    const manifestDigest = (await this.store.ingest(rawManifest)).digest as Digest;
    const fullNames = names.map((n) => normalizeReference(n));
    if (fullNames.length > 0 || opts.keepUnnamed) {
      await this.store.updateRefs((tx) => {
        const target = { digest: manifestDigest, mediaType: MediaType.ociManifest, size: rawManifest.length };
        for (const name of fullNames) tx.set(name, target);
        if (fullNames.length > 0) tx.delete(UNNAMED + manifestDigest);
        else tx.set(UNNAMED + manifestDigest, target);
      });
    }
    return { manifestDigest, id: configDesc.digest as Digest };
  }

  /** Streams one uncompressed layer into the blob store, checking its digest and (optionally) its entries. */
  private async ingestLayer(tar: Readable, diffId: Digest, label: string, validate: boolean): Promise<number> {
    if (!validate) return (await this.store.ingest(tar, { digest: diffId })).size;
    const toStore = new PassThrough({ highWaterMark: 1 << 20 });
    const toCheck = new PassThrough({ highWaterMark: 1 << 20 });
    tar.pipe(toStore);
    tar.pipe(toCheck);
    const fail = (e: unknown) => {
      toStore.destroy(e as Error);
      toCheck.destroy(e as Error);
      tar.destroy();
    };
    tar.on('error', fail);
    const [stored] = await Promise.all([
      this.store.ingest(toStore, { digest: diffId }).catch((e) => { fail(e); throw e; }),
      validateLayer(toCheck, { label }).catch((e) => { fail(e); throw e; }),
    ]);
    return stored.size;
  }

  /** Adds a name to an existing image. */
  async tag(source: string, target: string): Promise<{ name: string; manifestDigest: Digest }> {
    const src = await this.resolve(source);
    const name = normalizeReference(target);
    if (parseReference(target).digest) throw new InvalidReferenceError(`cannot tag with a digest: ${target}`, { hint: 'give a name[:tag]' });
    const raw = await src.image.rawManifest();
    await this.store.updateRefs((tx) => {
      tx.set(name, { digest: src.manifestDigest, mediaType: MediaType.ociManifest, size: raw.length });
      tx.delete(UNNAMED + src.manifestDigest);
    });
    return { name, manifestDigest: src.manifestDigest };
  }

  /**
   * Removes images by name or ID. A name only loses that name; an ID removes all its names, which
   * needs `force` when there are several (as `docker rmi`). Returns what happened, per argument.
   */
  async remove(texts: readonly string[], force = false): Promise<{ untagged: string[]; deleted: Digest[] }> {
    const untagged: string[] = [];
    const deleted: Digest[] = [];
    for (const text of texts) {
      const found = await this.resolve(text);
      let byName: string | undefined;
      try {
        const ref = parseReference(text);
        if (!ref.digest) byName = normalizeReference(text);
      } catch {
        // an ID prefix
      }
      const viaName = byName !== undefined && found.names.includes(byName);
      const names = viaName ? [byName!] : found.names;
      if (names.length > 1 && !force) {
        throw new StrataError('IMAGE_IN_USE', `image ${found.id.slice(7, 19)} has ${names.length} names (${names.map(familiarReference).join(', ')})`, {
          hint: 'remove the names one by one, or use -f to remove them all',
        });
      }
      await this.store.updateRefs((tx) => {
        for (const n of names) tx.delete(n);
        if (!viaName) tx.delete(UNNAMED + found.manifestDigest);
      });
      untagged.push(...names);
      const left = (await this.store.listRefs()).some((r) => r.digest === found.manifestDigest);
      if (!left) deleted.push(found.id);
    }
    return { untagged, deleted };
  }

  /** What a blob references, for GC: a manifest its config and layers; anything else nothing. */
  private async children(digest: Digest, manifests: ReadonlySet<string>): Promise<string[]> {
    if (!manifests.has(digest)) return [];
    const m = parseManifest(await this.store.readBlob(digest, 8 * 1024 * 1024), `manifest ${digest}`);
    return [m.config.digest, ...m.layers.map((l) => l.digest)];
  }

  /**
   * Removes every blob and unpacked layer no name (or extra root, e.g. the build cache) needs.
   * `lockTimeoutMs` bounds the wait for running builds (which hold leases).
   */
  async prune(opts: { roots?: Iterable<Digest>; dryRun?: boolean; lockTimeoutMs?: number } = {}) {
    const roots = [...(opts.roots ?? [])];
    const manifests = new Set<string>([...(await this.store.listRefs()).map((r) => r.digest), ...roots]);
    return this.store.collectGarbage(roots, {
      children: (d) => this.children(d, manifests),
      ...(opts.dryRun ? { dryRun: true } : {}),
      ...(opts.lockTimeoutMs !== undefined ? { lockTimeoutMs: opts.lockTimeoutMs } : {}),
    });
  }
}
