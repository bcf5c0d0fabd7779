/**
 * The overlay snapshotter: a writable view over an image's layers for one build step, and the
 * commit that turns what the step changed into a layer.
 *
 * Each layer is unpacked once, by diff_id, into `layers/<hex>` and reused read-only as an overlay
 * lower dir by every later build and run. A step writes into a fresh upper dir; its layer is that
 * upper dir as an OCI changeset tar, so a snapshot costs the size of the change, never the size of
 * the rootfs. After the commit the upper dir itself becomes the new layer's unpacked dir (it
 * already is in overlay format), so a built layer is never extracted again.
 *
 * A step can also be prepared *over* an earlier result of the same step (a patch): that layer's
 * dirs sit between the parents and the upper dir, the step only writes what differs, and the
 * commit merges the upper dir's changes into the earlier layer's tar (whose blob must be stored)
 * while the upper dir is kept as a patch layer (LayerStore's `lower`). Patches stack at most
 * MAX_PATCH_DEPTH deep.
 */
import { createWriteStream } from 'node:fs';
import { lstat, mkdir, rename, rm, rmdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { applyLayer } from '../fs/apply-layer.js';
import type { IndexEntry } from '../fs/tar-index.js';
import type { Store } from '../store/store.js';
import { tempName } from '../store/temp.js';
import { captureStubs, writeDiffTar, type DiffResult, type StubRecord } from './diff-tar.js';
import { mergePatchTar } from './patch-tar.js';
import type { Digest } from '../util/digest.js';
import { SnapshotError } from './snapshot-error.js';

/** A writable view prepared for one step. */
export interface ActiveSnapshot {
  /** Private directory holding upper/, work/ and merged/. */
  dir: string;
  upper: string;
  work: string;
  /** Where the overlay is (or will be) mounted. */
  mountpoint: string;
  /** Lower dirs, TOP FIRST (overlayfs order). */
  lowers: string[];
  /** The earlier layer this one is a patch over, when prepared with `over`. */
  over?: Digest;
  /** That layer's tar index, when the caller already made one. */
  overIndex?: readonly IndexEntry[];
}

/** A layer made by commit. */
export interface CommittedLayer {
  diffId: Digest;
  size: number;
  /** The layer holds no whiteouts or opaque dirs, so a later build of its step may patch it. */
  patchable: boolean;
}

/** The overlay option string is limited to one page. */
const MAX_OVERLAY_OPTIONS = 4000;
/** How many patch layers may stack before a step writes a whole layer again (each is one more overlay lower). */
export const MAX_PATCH_DEPTH = 8;

/** Prepares and commits overlay snapshots over the layers in one store. */
export class Snapshotter {
  private readonly unpacking = new Map<string, Promise<string[]>>();

  constructor(private readonly store: Store) {}

  /** The unpacked dirs of a layer, top first: one for a whole layer, more for a patch. Extracts the blob the first time. */
  unpack(diffId: Digest): Promise<string[]> {
    let p = this.unpacking.get(diffId);
    if (!p) {
      p = this.doUnpack(diffId);
      this.unpacking.set(diffId, p);
      p.catch(() => this.unpacking.delete(diffId));
    }
    return p;
  }

  /** The dirs of a stack of layers (base first), top first, as overlayfs takes them. */
  async lowerDirs(layers: readonly Digest[]): Promise<string[]> {
    const dirs = await Promise.all(layers.map((d) => this.unpack(d)));
    return dirs.reverse().flat();
  }

  /** How many patch layers a layer's dirs stack (0 for a whole layer). */
  async patchDepth(diffId: Digest): Promise<number> {
    return (await this.unpack(diffId)).length - 1;
  }

  private async doUnpack(diffId: Digest): Promise<string[]> {
    const dir = this.store.layerDir(diffId);
    if (await this.store.hasLayer(diffId)) {
      const lower = await this.store.layers.lowerOf(diffId);
      if (lower === undefined) return [dir];
      const below = await this.unpack(lower).catch(() => undefined);
      if (below) return [dir, ...below];
      // The patch lost what it stacks on (a damaged store): the blob still holds the whole layer.
      await this.store.layers.removeLayerDir(diffId);
    }
    const prepared = await this.store.prepareLayerDir();
    try {
      await applyLayer(await this.store.openBlob(diffId, { verify: true }), prepared, { mode: 'overlay', label: `layer ${diffId}` });
      await this.store.commitLayerDir(prepared, diffId, { sync: false });
    } catch (e) {
      await rm(prepared, { recursive: true, force: true });
      throw e;
    }
    return [dir];
  }

  /**
   * A fresh upper/work pair over the given layers (base first); with `over`, that layer's dirs
   * go on top of the parents (it must be a result of the same step on the same parents).
   */
  async prepare(parents: readonly Digest[], opts: { over?: Digest; overIndex?: readonly IndexEntry[] } = {}): Promise<ActiveSnapshot> {
    const lowers = await this.lowerDirs(parents);
    if (opts.over !== undefined) lowers.unshift(...(await this.unpack(opts.over)));
    const dir = join(this.store.layout.tmp, tempName('snapshot'));
    const upper = join(dir, 'upper');
    const work = join(dir, 'work');
    const mountpoint = join(dir, 'merged');
    await mkdir(dir, { mode: 0o700 });
    await Promise.all([mkdir(upper, { mode: 0o755 }), mkdir(work, { mode: 0o700 }), mkdir(mountpoint, { mode: 0o755 })]);
    // overlayfs needs at least one lower dir: FROM scratch gets an empty one.
    if (lowers.length === 0) {
      const empty = join(dir, 'empty');
      await mkdir(empty, { mode: 0o755 });
      lowers.push(empty);
    }
    const optionLength = lowers.join(':').length + upper.length + work.length + 40;
    if (optionLength > MAX_OVERLAY_OPTIONS) {
      await rm(dir, { recursive: true, force: true });
      throw new SnapshotError(`image has too many layers (${parents.length}) for one overlay mount (${optionLength} bytes of options)`, {
        hint: 'squash the base image (strata squash) or use a store root with a shorter path (--root)',
      });
    }
    return { dir, upper, work, mountpoint, lowers, ...(opts.over !== undefined ? { over: opts.over } : {}), ...(opts.overIndex ? { overIndex: opts.overIndex } : {}) };
  }

  /** What the step's helper left in the upper dir before the step ran (its mount points). */
  captureStubs(active: ActiveSnapshot): StubRecord[] {
    return captureStubs(active.upper);
  }

  /**
   * Turns the upper dir into a layer: the changeset tar is written to a staged file while it is
   * hashed, moved into the blob store, and the upper dir becomes `layers/<hex>`. Returns undefined
   * when the step changed nothing (no layer). The snapshot is disposed of either way.
   */
  async commit(active: ActiveSnapshot, opts: { stubs?: StubRecord[]; clampMtime?: number } = {}): Promise<CommittedLayer | undefined> {
    try {
      const staged = join(active.dir, 'layer.tar');
      const diffOpts = {
        ...(opts.stubs ? { stubs: opts.stubs } : {}),
        ...(opts.clampMtime !== undefined ? { clampMtime: opts.clampMtime } : {}),
      };
      const result = active.over === undefined
        ? await writeDiffTar(active.upper, createWriteStream(staged, { flags: 'wx', mode: 0o644 }), diffOpts)
        : await this.patchTar(active, staged, diffOpts);
      if (result.empty) return undefined;
      const diffId = result.diffId as Digest;
      await this.store.adoptFile(staged, diffId, result.size);
      if (!(await this.store.hasLayer(diffId))) {
        await removeStubs(active.upper, opts.stubs ?? []);
        const layerTmp = join(this.store.layout.tmp, tempName('layer'));
        await rename(active.upper, layerTmp);
        // The blob is durable; the unpacked dir can always be rebuilt from it, so skip fsyncing every file.
        await this.store.commitLayerDir(layerTmp, diffId, { sync: false, ...(active.over !== undefined ? { lower: active.over } : {}) });
      }
      // A patch's own upper dir is checked by its caller; its tar view could not show markers anyway.
      return { diffId, size: result.size, patchable: result.markers === 0 };
    } finally {
      await this.dispose(active);
    }
  }

  /**
   * The tar of a patch snapshot, the whole layer: the earlier layer's tar merged with the upper
   * dir's own tar (patch-tar.ts), which never reads the unchanged files. Patched layers hold no
   * whiteouts or opaque dirs (checked by the caller), which the merge could not carry over.
   */
  private async patchTar(active: ActiveSnapshot, staged: string, opts: { stubs?: StubRecord[]; clampMtime?: number }): Promise<DiffResult> {
    const over = active.over!;
    const own = join(active.dir, 'patch.tar');
    const result = await writeDiffTar(active.upper, createWriteStream(own, { flags: 'wx', mode: 0o600 }), opts);
    const merged = await mergePatchTar({ base: this.store.blobPath(over), baseDiffId: over, patch: own, out: staged, ...(active.overIndex ? { baseIndex: active.overIndex } : {}) });
    return { ...merged, entries: result.entries, markers: result.markers, empty: false };
  }

  /** Removes a snapshot's private directory (the overlay must no longer be mounted). */
  async dispose(active: ActiveSnapshot): Promise<void> {
    await rm(active.dir, { recursive: true, force: true });
  }
}

/**
 * Deletes the executor's mount-point stubs from an upper dir, so that the dir matches its tar.
 * Only stubs the step left untouched (same inode and ctime, an empty dir or file) go; deepest
 * first, so a stub dir empties before its parent is tried.
 */
async function removeStubs(upper: string, stubs: readonly StubRecord[]): Promise<void> {
  // Decide first, remove second: removing a child changes its parent's ctime.
  const removable: { path: string; dir: boolean }[] = [];
  for (const s of stubs) {
    const p = join(upper, s.path);
    const st = await lstat(p).catch(() => undefined);
    if (!st || st.ino !== s.ino || st.ctimeMs !== s.ctimeMs) continue;
    if (st.isDirectory() || (st.isFile() && st.size === 0)) removable.push({ path: p, dir: st.isDirectory() });
  }
  for (const r of removable.sort((a, b) => b.path.length - a.path.length)) {
    // rmdir refuses a dir the step put something in: it stays, as it must.
    if (r.dir) await rmdir(r.path).catch(() => undefined);
    else await unlink(r.path);
  }
}
