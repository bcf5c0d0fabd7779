/**
 * `strata inspect`: an image described the way `docker image inspect` does, so scripts written
 * for docker's JSON keep working.
 */
import type { StoredImage } from '../image/image-store.js';
import { familiarReference, parseReference, repositoryName } from '../image/reference.js';
import type { ContainerConfig } from '../image/types.js';

/** The fields of `docker image inspect` strata fills in. */
export interface ImageInspect {
  Id: string;
  RepoTags: string[];
  RepoDigests: string[];
  Parent: string;
  Comment: string;
  Created: string;
  DockerVersion: string;
  Author: string;
  Config: ContainerConfig;
  Architecture: string;
  Variant?: string;
  Os: string;
  Size: number;
  GraphDriver: { Name: string; Data: Record<string, string> | null };
  RootFS: { Type: string; Layers: string[] };
  Metadata: { LastTagTime: string };
  /** strata's own: the stored manifest, and the history entries. */
  Descriptor: { mediaType: string; digest: string; size: number };
  History: { created?: string; created_by?: string; comment?: string; empty_layer?: boolean }[];
}

/** Builds the inspect document for a stored image. */
export async function describeImage(s: StoredImage): Promise<ImageInspect> {
  const cfg = await s.image.config();
  const manifest = await s.image.manifest();
  const rawManifest = await s.image.rawManifest();
  const tags = s.names.filter((n) => parseReference(n).tag !== undefined).map(familiarReference);
  const repos = [...new Set(s.names.map((n) => familiarReference(repositoryName(parseReference(n)))))];
  const history = cfg.history ?? [];
  return {
    Id: s.id,
    RepoTags: tags,
    RepoDigests: repos.map((r) => `${r}@${s.manifestDigest}`),
    Parent: '',
    Comment: history.at(-1)?.comment ?? '',
    Created: cfg.created ?? '',
    DockerVersion: '',
    Author: cfg.author ?? '',
    Config: cfg.config ?? {},
    Architecture: cfg.architecture,
    ...(cfg.variant ? { Variant: cfg.variant } : {}),
    Os: cfg.os,
    Size: manifest.layers.reduce((n, l) => n + l.size, 0),
    GraphDriver: { Name: 'strata', Data: null },
    RootFS: { Type: 'layers', Layers: [...cfg.rootfs.diff_ids] },
    Metadata: { LastTagTime: '0001-01-01T00:00:00Z' },
    Descriptor: { mediaType: manifest.mediaType ?? '', digest: s.manifestDigest, size: rawManifest.length },
    History: history,
  };
}
