/**
 * The files of an image archive that is at once a docker-archive and an OCI image layout, as
 * Docker 25+ writes it with `docker save`: `blobs/sha256/<hex>`, `oci-layout`, `index.json`
 * (one manifest descriptor per name, annotated with the full name and the tag), `manifest.json`
 * (docker's list of {Config, RepoTags, Layers, LayerSources}) and the legacy `repositories`.
 * One deliberate difference: RepoTags hold full names (see archiveDockerManifest).
 * Pure functions from image facts to bytes; the writer and the loader share the names.
 */
import { familiarName, parseReference } from '../image/reference.js';
import { MediaType } from '../image/media-types.js';
import type { Descriptor, ImageIndex, Manifest } from '../image/types.js';
import { digestHex, type Digest } from '../util/digest.js';

/** Entry names at the archive root. */
export const ArchiveFile = {
  ociLayout: 'oci-layout',
  index: 'index.json',
  manifest: 'manifest.json',
  repositories: 'repositories',
  blobsDir: 'blobs',
} as const;

/** Annotation with the image's full name (containerd, docker). */
export const ANNOTATION_IMAGE_NAME = 'io.containerd.image.name';
/** OCI's ref name annotation (docker writes the tag; podman the full name). */
export const ANNOTATION_REF_NAME = 'org.opencontainers.image.ref.name';

/** The `oci-layout` file, byte for byte as docker writes it. */
export const OCI_LAYOUT_CONTENT = '{"imageLayoutVersion": "1.0.0"}';

/** `blobs/sha256/<hex>`: where a blob lives in the archive. */
export function blobEntryName(digest: string): string {
  return `${ArchiveFile.blobsDir}/sha256/${digestHex(digest)}`;
}

/** One image as it goes into the archive. */
export interface ArchivedImage {
  /** The image ID (config digest). */
  configDigest: Digest;
  configSize: number;
  /** Layer blobs as written (compressed or not), base first. */
  layers: Descriptor[];
  /** The config's diff_ids, base first (same length as layers). */
  diffIds: Digest[];
  /** Full tagged names (`docker.io/library/busybox:latest`); may be empty. */
  names: string[];
}

/** The OCI manifest stored as a blob for an archived image. */
export function archiveManifest(img: ArchivedImage): Buffer {
  const m: Manifest = {
    schemaVersion: 2,
    mediaType: MediaType.ociManifest,
    config: { mediaType: MediaType.ociConfig, digest: img.configDigest, size: img.configSize },
    layers: img.layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })),
  };
  return Buffer.from(JSON.stringify(m));
}

/** `index.json`: one descriptor per name (full name + tag annotations), or one bare descriptor for an unnamed image. */
export function archiveIndex(images: readonly { manifest: Descriptor; names: readonly string[] }[]): Buffer {
  const manifests: Descriptor[] = [];
  for (const { manifest, names } of images) {
    const bare: Descriptor = { mediaType: manifest.mediaType, digest: manifest.digest, size: manifest.size };
    if (names.length === 0) manifests.push(bare);
    for (const name of names) {
      const tag = parseReference(name).tag ?? 'latest';
      manifests.push({ ...bare, annotations: { [ANNOTATION_IMAGE_NAME]: name, [ANNOTATION_REF_NAME]: tag } });
    }
  }
  const index: ImageIndex = { schemaVersion: 2, mediaType: MediaType.ociIndex, manifests };
  return Buffer.from(JSON.stringify(index));
}

/** One item of docker's `manifest.json`. */
export interface DockerManifestItem {
  Config: string;
  RepoTags: string[] | null;
  Layers: string[];
  Parent?: string;
  LayerSources?: Record<string, { mediaType: string; size: number; digest: string }>;
}

/** `manifest.json` (with the trailing newline of Go's JSON encoder, as docker writes it). */
export function archiveDockerManifest(images: readonly ArchivedImage[]): Buffer {
  const items: DockerManifestItem[] = images.map((img) => {
    const sources: NonNullable<DockerManifestItem['LayerSources']> = {};
    const order = img.layers.map((l, i) => ({ l, diffId: img.diffIds[i]! })).sort((a, b) => (a.diffId < b.diffId ? -1 : a.diffId > b.diffId ? 1 : 0));
    for (const { l, diffId } of order) sources[diffId] = { mediaType: l.mediaType, size: l.size, digest: l.digest };
    const item: DockerManifestItem = {
      Config: blobEntryName(img.configDigest),
      // Full names, where docker writes the short form (`busybox:latest`): docker and skopeo read
      // either, but podman qualifies a short name with `localhost/` and would misname the image.
      RepoTags: img.names.length > 0 ? [...img.names] : null,
      Layers: img.layers.map((l) => blobEntryName(l.digest)),
    };
    if (img.layers.length > 0) item.LayerSources = sources;
    return item;
  });
  return Buffer.from(JSON.stringify(items) + '\n');
}

/**
 * The legacy `repositories` file: familiar repository → tag → hex of the top layer's diff_id, or
 * undefined when no image has a name (docker then leaves the file out).
 */
export function archiveRepositories(images: readonly ArchivedImage[]): Buffer | undefined {
  const repos: Record<string, Record<string, string>> = {};
  for (const img of images) {
    const top = img.diffIds[img.diffIds.length - 1];
    if (top === undefined) continue;
    for (const name of img.names) {
      const ref = parseReference(name);
      const repo = familiarName(ref);
      (repos[repo] ??= {})[ref.tag ?? 'latest'] = digestHex(top);
    }
  }
  if (Object.keys(repos).length === 0) return undefined;
  // Go sorts map keys when encoding; do the same so the bytes match docker's.
  const sorted = Object.fromEntries(Object.keys(repos).sort().map((k) => [k, Object.fromEntries(Object.entries(repos[k]!).sort(([a], [b]) => (a < b ? -1 : 1)))]));
  return Buffer.from(JSON.stringify(sorted) + '\n');
}
