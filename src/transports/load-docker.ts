/**
 * Images of a staged docker-archive: `manifest.json` lists each image's config path, layer paths
 * and RepoTags. Covers docker 1.10–24 (`<id>/layer.tar`, `<hex>.json`), docker 25+ (`blobs/sha256`),
 * and podman/skopeo (`<hex>.tar` plus `<id>/layer.tar` symlinks).
 */
import { ArchiveFormatError, InvalidReferenceError } from '../errors.js';
import { normalizeReference, parseReference } from '../image/reference.js';
import { parseConfig } from '../image/validate.js';
import { sha256 } from '../util/digest.js';
import { checkDocumentPath } from './archive-path.js';
import { ArchiveFile } from './archive-layout.js';
import { fileAt, layerOf, readJson, type PlannedImage, type StagedArchive, type StagedFile } from './load-plan.js';

/** Reads `manifest.json` (already found in the archive) and checks every image it lists. */
export async function dockerArchiveImages(a: StagedArchive, manifestFile: StagedFile): Promise<PlannedImage[]> {
  const { value } = await readJson(a, manifestFile, ArchiveFile.manifest);
  const fail = (what: string) => new ArchiveFormatError(`${a.label}: ${ArchiveFile.manifest}: ${what}`, { hint: 'the archive is corrupt or not a docker-archive' });
  if (!Array.isArray(value)) throw fail('not a JSON array of images');
  const out: PlannedImage[] = [];
  for (let i = 0; i < value.length; i++) {
    const where = `${ArchiveFile.manifest}[${i}]`;
    const item = value[i] as Record<string, unknown> | null;
    if (!item || typeof item !== 'object') throw fail(`item ${i} is not an object`);
    const configPath = checkDocumentPath(item.Config, `${where}.Config`, a.label);
    if (!Array.isArray(item.Layers)) throw fail(`item ${i} has no Layers array`);
    const layerPaths = item.Layers.map((p, j) => checkDocumentPath(p, `${where}.Layers[${j}]`, a.label));
    const names = repoTags(item.RepoTags, where, a.label);

    const configFile = fileAt(a, configPath, `${where}.Config`);
    const { raw } = await readJson(a, configFile, `${where}.Config`);
    const config = parseConfig(raw, `${a.label}: entry ${JSON.stringify(configFile.name)} (${where}.Config)`);
    const diffIds = config.rootfs.diff_ids;
    if (layerPaths.length !== diffIds.length) {
      throw new ArchiveFormatError(`${a.label}: ${where}: lists ${layerPaths.length} layers, but config ${JSON.stringify(configFile.name)} has ${diffIds.length} diff_ids`, {
        hint: 'the archive is corrupt: every layer of the config must be in the archive',
      });
    }
    const layers = layerPaths.map((p, j) => layerOf(a, fileAt(a, p, `${where}.Layers[${j}]`), diffIds[j]!, `${where}.Layers[${j}]`));
    out.push({ where, rawConfig: raw, id: sha256(raw), layers, names });
  }
  return out;
}

/** Docker requires each RepoTag to be a valid name with a tag. */
function repoTags(value: unknown, where: string, label: string): string[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw new ArchiveFormatError(`${label}: ${where}.RepoTags is not an array`);
  return value.map((tag, j) => {
    const field = `${where}.RepoTags[${j}]`;
    if (typeof tag !== 'string') throw new ArchiveFormatError(`${label}: ${field} is not a string`);
    try {
      const ref = parseReference(tag, { defaultTag: false });
      if (ref.tag === undefined || ref.digest !== undefined) throw new InvalidReferenceError('a RepoTag must be name:tag');
      return normalizeReference(tag);
    } catch (e) {
      throw new ArchiveFormatError(`${label}: ${field} ${JSON.stringify(tag)} is not a valid name:tag (${(e as Error).message})`, { cause: e });
    }
  });
}
