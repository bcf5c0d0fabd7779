/**
 * `import`: a single-layer image from a root filesystem tar (plain, gzip, zstd, bzip2 or xz), like
 * `docker import`. The tar is checked with the extraction engine's rules while it is staged, stored
 * uncompressed, and described by a config for the host platform with one history entry;
 * `--change` instructions set the runtime config (apply-changes.ts).
 */
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { openDecompressed } from '../compress/index.js';
import { hostPlatform, type Platform } from '../dockerfile/scope.js';
import { ArchiveFormatError } from '../errors.js';
import { applyChanges } from '../image/apply-changes.js';
import { goTimestamp, orderContainerConfig } from '../image/apply-instruction.js';
import type { ImageStore } from '../image/image-store.js';
import { normalizeReference } from '../image/reference.js';
import type { ImageConfig } from '../image/types.js';
import { isNoSpace, noSpaceError, removeQuiet } from '../store/durable.js';
import type { Digest } from '../util/digest.js';
import { stageContent } from './load-stage.js';

/** Options of importRootfs. */
export interface ImportOptions {
  /** Dockerfile instructions applied to the config (`CMD ["sh"]`, `ENV A=b`...). */
  changes?: readonly string[];
  /** History comment; default `Imported from -`, as docker writes for files and stdin. */
  message?: string;
  /** Creation time (default now); the CLI passes SOURCE_DATE_EPOCH here. */
  created?: Date;
  /** Default: the host's. */
  platform?: Platform;
  /** Names the input in messages (`rootfs.tar`, `stdin`). */
  label?: string;
}

/** What importRootfs stored. */
export interface ImportResult {
  id: Digest;
  manifestDigest: Digest;
  diffId: Digest;
  /** The full name set, if a reference was given. */
  names: string[];
}

/**
 * Imports `input` as a one-layer image named `ref` (optional). The reference and the changes are
 * checked before any input is read. Rejects with UnsafeArchiveError / ArchiveFormatError naming
 * the entry and rule for a bad tar, and then nothing is stored.
 */
export async function importRootfs(images: ImageStore, input: Readable, ref: string | undefined, opts: ImportOptions = {}): Promise<ImportResult> {
  const names = ref === undefined ? [] : [normalizeReference(ref)];
  const runtime = applyChanges({ architecture: '', os: '', config: {}, rootfs: { type: 'layers', diff_ids: [] } }, opts.changes ?? []).config ?? {};
  const label = opts.label ?? 'import';
  const store = images.store;
  const dir = await store.stagingDir('import');
  try {
    const { stream } = await openDecompressed(input);
    let staged;
    try {
      staged = await stageContent([stream], join(dir, 'layer.tar'), `${label}: rootfs`);
    } catch (e) {
      if (isNoSpace(e)) throw noSpaceError(`staging ${label}`, e);
      throw e;
    }
    if (!staged.isTar) {
      throw new ArchiveFormatError(`${label}: not a tar archive (the first 512 bytes are no tar header)`, {
        hint: 'import takes a root filesystem as a tar, optionally gzip, zstd, bzip2 or xz compressed',
      });
    }
    if (staged.problem !== undefined) throw staged.problem;
    const platform = opts.platform ?? hostPlatform();
    const created = goTimestamp(opts.created ?? new Date());
    const config: ImageConfig = {
      created,
      architecture: platform.architecture,
      ...(platform.variant ? { variant: platform.variant } : {}),
      os: platform.os,
      config: orderContainerConfig(runtime),
      rootfs: { type: 'layers', diff_ids: [staged.diffId] },
      history: [{ created, comment: opts.message ?? 'Imported from -' }],
    };
    const rawConfig = Buffer.from(JSON.stringify(config));
    const { id, manifestDigest } = await store.withLease(async () => {
      const have = await store.statBlob(staged.diffId);
      if (have?.size !== staged.size) await store.adoptFile(staged.path, staged.diffId, staged.size);
      return images.commitImage(rawConfig, [{ digest: staged.diffId, size: staged.size }], names, { keepUnnamed: true });
    });
    return { id, manifestDigest, diffId: staged.diffId, names };
  } finally {
    await removeQuiet(dir);
  }
}
