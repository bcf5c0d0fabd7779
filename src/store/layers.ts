/**
 * Unpacked layers, `layers/<diff_id hex>/`: each layer extracted once and reused read-only (as an
 * overlay lower dir) by every build and run. A layer is prepared in a temp dir under `tmp/` (same
 * filesystem) and committed by one rename, so `layers/<hex>` is either absent or complete; removal
 * renames it back into `tmp/` first for the same reason.
 *
 * A layer dir can also be a patch over another layer's dir: `layers/<hex>.lower` then names the
 * diff_id below it, and the layer's tree is the two stacked (overlay order). A rebuilt COPY step
 * whose files barely changed is stored that way, so the unchanged files are not copied again.
 * The lower file is written before the dir is renamed into place and removed after the dir is
 * gone, so a dir never exists without the lower file it needs.
 */
import { lstat, mkdir, open, opendir, readdir, readFile, rename, stat, utimes } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { constants } from 'node:fs';
import { StoreError } from '../errors.js';
import { digestFromHex, digestHex, isHex64, type Digest } from '../util/digest.js';
import { fsyncDir, isNoSpace, noSpaceError, removeQuiet, writeFileAtomic } from './durable.js';
import type { CommitGuard } from './content.js';
import { tempName } from './temp.js';

/** An unpacked layer directory on disk. */
export interface LayerDirInfo {
  diffId: Digest;
  path: string;
  mtimeMs: number;
  /** For a patch layer: the diff_id of the layer dir it stacks on. */
  lower?: Digest;
}

/** What commitLayerDir did: `committed` is false when an identical commit got there first. */
export interface LayerCommit {
  path: string;
  committed: boolean;
}

/** Paths and atomic commits of unpacked layers under one `layers/` directory. */
export class LayerStore {
  constructor(
    readonly dir: string,
    private readonly tmpDir: string,
    private readonly guard: CommitGuard = (fn) => fn(),
    /** Runs `fn` holding the exclusive layer-commit lock (two commits of one diff_id take turns). */
    private readonly exclusive: (name: string, fn: () => Promise<LayerCommit>) => Promise<LayerCommit> = (_n, fn) => fn(),
  ) {}

  /** `layers/<hex>` for a diff_id (whether or not it exists). Throws on a malformed digest. */
  layerDir(diffId: string): string {
    return join(this.dir, digestHex(diffId));
  }

  /** True when the layer is unpacked (a committed directory exists). */
  async hasLayer(diffId: string): Promise<boolean> {
    const st = await stat(this.layerDir(diffId)).catch(() => undefined);
    return st?.isDirectory() ?? false;
  }

  /**
   * Creates an empty directory under `tmp/` to unpack a layer into, then hand to commitLayerDir.
   * If the process dies first, the next store open removes it.
   */
  async prepareLayerDir(): Promise<string> {
    const path = join(this.tmpDir, tempName('layer'));
    await mkdir(path, { mode: 0o755 });
    return path;
  }

  /**
   * Moves a prepared directory (from prepareLayerDir) to `layers/<hex>` in one rename. With `sync`
   * (the default) every regular file and directory in it is fsynced first, so a committed layer
   * survives power loss complete. When the layer is already there (another process unpacked the
   * same diff_id concurrently) the prepared dir is deleted and `committed` is false. The layer's
   * content is the caller's responsibility; the store does not re-hash unpacked trees.
   */
  async commitLayerDir(prepared: string, diffId: string, opts: { sync?: boolean; lower?: Digest } = {}): Promise<LayerCommit> {
    const final = this.layerDir(diffId);
    const src = resolve(prepared);
    if (dirname(src) !== resolve(this.tmpDir) || !(await stat(src).catch(() => undefined))?.isDirectory()) {
      throw new StoreError(`cannot commit layer ${diffId}: ${prepared} is not a directory made by prepareLayerDir`);
    }
    if (await this.hasLayer(diffId)) {
      await removeQuiet(src);
      return { path: final, committed: false };
    }
    try {
      if (opts.sync !== false) await syncTree(src);
      return await this.guard(() => this.exclusive(`layer-commit`, async () => {
        if (await this.hasLayer(diffId)) {
          await removeQuiet(src);
          return { path: final, committed: false };
        }
        // The lower file goes first (the dir is useless without it); a stale one left by a
        // removed patch layer must not make a whole layer look like a patch.
        if (opts.lower !== undefined) await writeFileAtomic(this.tmpDir, this.lowerFile(diffId), digestHex(opts.lower) + '\n', `recording the lower of layer ${diffId}`);
        else await removeQuiet(this.lowerFile(diffId));
        await rename(src, final);
        await fsyncDir(this.dir);
        const now = new Date();
        await utimes(final, now, now); // a fresh mtime keeps a grace-period GC off it
        return { path: final, committed: true };
      }));
    } catch (e) {
      if (isNoSpace(e)) {
        await removeQuiet(src);
        throw noSpaceError(`committing layer ${diffId}`, e);
      }
      throw e;
    }
  }

  /**
   * Removes an unpacked layer; resolves to the bytes its regular files held (0 when absent). The
   * directory leaves its final name in one rename before deletion starts. Only GC should call this.
   */
  async removeLayerDir(diffId: string): Promise<number> {
    const path = this.layerDir(diffId);
    const size = await treeSize(path);
    const doomed = join(this.tmpDir, tempName('rm-layer'));
    try {
      await rename(path, doomed);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return 0;
      throw e;
    }
    await fsyncDir(this.dir);
    await removeQuiet(this.lowerFile(diffId));
    await removeQuiet(doomed);
    return size;
  }

  /** `layers/<hex>.lower`: where a patch layer names the layer it stacks on. */
  private lowerFile(diffId: string): string {
    return join(this.dir, `${digestHex(diffId)}.lower`);
  }

  /** The diff_id a patch layer stacks on; undefined for a whole layer (or an unreadable record). */
  async lowerOf(diffId: string): Promise<Digest | undefined> {
    const text = await readFile(this.lowerFile(diffId), 'utf8').catch(() => undefined);
    const hex = text?.trim();
    return hex !== undefined && isHex64(hex) ? digestFromHex(hex) : undefined;
  }

  /** Every committed layer directory (names that are not 64-hex are ignored). */
  async listLayers(): Promise<LayerDirInfo[]> {
    const out: LayerDirInfo[] = [];
    for (const name of await readdir(this.dir)) {
      if (!isHex64(name)) continue;
      const st = await stat(join(this.dir, name)).catch(() => undefined);
      if (!st?.isDirectory()) continue;
      const diffId = digestFromHex(name);
      const lower = await this.lowerOf(diffId);
      out.push({ diffId, path: join(this.dir, name), mtimeMs: st.mtimeMs, ...(lower ? { lower } : {}) });
    }
    return out;
  }
}

/** fsyncs every regular file and directory under `root` (children before parents). */
export async function syncTree(root: string): Promise<void> {
  const files: string[] = [];
  const dir = await opendir(root);
  for await (const ent of dir) {
    const p = join(root, ent.name);
    if (ent.isDirectory()) await syncTree(p);
    else if (ent.isFile()) files.push(p);
  }
  for (let i = 0; i < files.length; i += 32) {
    await Promise.all(files.slice(i, i + 32).map((f) => syncPath(f)));
  }
  await syncPath(root);
}

async function syncPath(path: string): Promise<void> {
  // O_NOFOLLOW: never fsync through a symlink a layer placed where a file was listed.
  const fh = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Sum of regular file sizes under `root`, hard links counted once; 0 when absent. */
export async function treeSize(root: string): Promise<number> {
  const seen = new Set<string>();
  let total = 0;
  const walk = async (p: string): Promise<void> => {
    const st = await lstat(p).catch(() => undefined);
    if (!st) return;
    if (st.isDirectory()) {
      for (const name of await readdir(p).catch(() => [] as string[])) await walk(join(p, name));
    } else if (st.isFile()) {
      const key = `${st.dev}:${st.ino}`;
      if (!seen.has(key)) {
        seen.add(key);
        total += st.size;
      }
    }
  };
  await walk(root);
  return total;
}

