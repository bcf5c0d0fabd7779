/**
 * Images of a staged OCI image layout: `index.json` points at manifests, or at nested indexes
 * (multi-platform images), of which the host platform's manifest is taken. Names come from the
 * annotations: `io.containerd.image.name` (docker, containerd), else
 * `org.opencontainers.image.ref.name` when it is a full name (podman writes `localhost/x:1`); a bare
 * tag there (`latest`, as skopeo writes) names no repository, so the image is loaded by ID only.
 */
import { ArchiveFormatError, InvalidReferenceError } from '../errors.js';
import { hostPlatform, type Platform } from '../dockerfile/scope.js';
import { isIndexType, MediaType } from '../image/media-types.js';
import { normalizeReference, parseReference } from '../image/reference.js';
import type { Descriptor } from '../image/types.js';
import { parseConfig, parseIndex, parseManifest } from '../image/validate.js';
import { ANNOTATION_IMAGE_NAME, ANNOTATION_REF_NAME, ArchiveFile } from './archive-layout.js';
import { blobFor, layerOf, optionalFile, readJson, type PlannedImage, type StagedArchive, type StagedFile } from './load-plan.js';

const MAX_INDEX_DEPTH = 4;
const MANIFEST_TYPES = new Set<string>([MediaType.ociManifest, MediaType.dockerManifest]);

/** Reads `index.json` (already found) and checks each image it names for this platform. */
export async function ociLayoutImages(a: StagedArchive, indexFile: StagedFile, platform: Platform = hostPlatform()): Promise<PlannedImage[]> {
  const layout = optionalFile(a, ArchiveFile.ociLayout);
  if (layout) {
    const { value } = await readJson(a, layout, ArchiveFile.ociLayout);
    const version = (value as { imageLayoutVersion?: unknown } | null)?.imageLayoutVersion;
    if (typeof version !== 'string') throw new ArchiveFormatError(`${a.label}: ${ArchiveFile.ociLayout}: no imageLayoutVersion`);
  }
  const { raw } = await readJson(a, indexFile, ArchiveFile.index);
  const index = parseIndex(raw, `${a.label}: ${ArchiveFile.index}`);
  const byManifest = new Map<string, PlannedImage>();
  for (let i = 0; i < index.manifests.length; i++) {
    const top = index.manifests[i]!;
    const where = `${ArchiveFile.index} manifests[${i}]`;
    const desc = await pickManifest(a, top, platform, where, 0);
    if (!desc) continue;
    const names = nameOf(top, where, a.label);
    const seen = byManifest.get(desc.digest);
    if (seen) {
      for (const n of names) if (!seen.names.includes(n)) seen.names.push(n);
      continue;
    }
    byManifest.set(desc.digest, { ...(await imageOf(a, desc, where)), names });
  }
  return [...byManifest.values()];
}

/** The manifest descriptor for `platform` under `desc` (itself, or a child of a nested index); undefined to skip. */
async function pickManifest(a: StagedArchive, desc: Descriptor, platform: Platform, where: string, depth: number): Promise<Descriptor | undefined> {
  if (desc.platform && !matches(desc.platform, platform)) return undefined;
  if (MANIFEST_TYPES.has(desc.mediaType)) return desc;
  if (!isIndexType(desc.mediaType)) return undefined; // artifacts, signatures: not images
  if (depth >= MAX_INDEX_DEPTH) throw new ArchiveFormatError(`${a.label}: ${where}: indexes nested too deeply`);
  const f = blobFor(a, desc, where);
  const { raw } = await readJson(a, f, where);
  const child = parseIndex(raw, `${a.label}: entry ${JSON.stringify(f.name)} (${where})`);
  const candidates = child.manifests.filter((m) => (MANIFEST_TYPES.has(m.mediaType) || isIndexType(m.mediaType)) && (!m.platform || matches(m.platform, platform)));
  // Prefer an exact platform entry over one that states none.
  candidates.sort((x, y) => Number(!x.platform) - Number(!y.platform));
  for (const [j, m] of candidates.entries()) {
    const found = await pickManifest(a, m, platform, `${where} → manifests[${j}]`, depth + 1);
    if (found) return found;
  }
  throw new ArchiveFormatError(`${a.label}: ${where}: no image for ${platform.os}/${platform.architecture} in index ${desc.digest}`, {
    hint: 'the archive holds other platforms only',
  });
}

function matches(p: NonNullable<Descriptor['platform']>, want: Platform): boolean {
  if (p.os !== want.os || p.architecture !== want.architecture) return false;
  return want.variant === undefined || p.variant === undefined || p.variant === want.variant;
}

/** Reads and checks one manifest, its config and its layers. */
async function imageOf(a: StagedArchive, desc: Descriptor, where: string): Promise<Omit<PlannedImage, 'names'>> {
  const mf = blobFor(a, desc, where);
  const { raw: rawManifest } = await readJson(a, mf, `${where} manifest`);
  const manifest = parseManifest(rawManifest, `${a.label}: entry ${JSON.stringify(mf.name)} (${where} manifest)`);
  const cf = blobFor(a, manifest.config, `${where} config`);
  const { raw } = await readJson(a, cf, `${where} config`);
  const config = parseConfig(raw, `${a.label}: entry ${JSON.stringify(cf.name)} (${where} config)`);
  const diffIds = config.rootfs.diff_ids;
  if (manifest.layers.length !== diffIds.length) {
    throw new ArchiveFormatError(`${a.label}: entry ${JSON.stringify(mf.name)} (${where} manifest): lists ${manifest.layers.length} layers, but its config has ${diffIds.length} diff_ids`, {
      hint: 'the archive is corrupt',
    });
  }
  const layers = manifest.layers.map((l, j) => layerOf(a, blobFor(a, l, `${where} layers[${j}]`), diffIds[j]!, `${where} layers[${j}]`));
  return { where, rawConfig: raw, id: manifest.config.digest, layers };
}

/** The full name a top-level descriptor gives its image, if any (see the module comment). */
function nameOf(desc: Descriptor, where: string, label: string): string[] {
  const ann = desc.annotations ?? {};
  const full = ann[ANNOTATION_IMAGE_NAME];
  const ref = ann[ANNOTATION_REF_NAME];
  const candidate = full !== undefined && full !== '' ? full : ref !== undefined && /[/:]/.test(ref) ? ref : undefined;
  if (candidate === undefined) return [];
  try {
    const parsed = parseReference(candidate);
    if (parsed.tag === undefined) return []; // a digest-only name is no tag to set
    return [normalizeReference(candidate)];
  } catch (e) {
    if (!(e instanceof InvalidReferenceError)) throw e;
    throw new ArchiveFormatError(`${label}: ${where}: image name annotation ${JSON.stringify(candidate)} is not a valid reference (${e.message})`, { cause: e });
  }
}
