/**
 * The overlay snapshotter: a writable view over an image's layers for one build step, and the
 * commit that turns what the step changed into a layer.
 *
 * Each layer is unpacked once, by diff_id, into `layers/<hex>` and reused read-only as an overlay
 * lower dir by every later build and run. A step writes into a fresh upper dir; its layer is that
 * upper dir as an OCI changeset tar, so a snapshot costs the size of the change, never the size of
 * the rootfs. After the commit the upper dir itself becomes the new layer's unpacked dir (it
 * already is in overlay format), so a built layer is never extracted again.
 */
import { createWriteStream } from 'node:fs';
import { lstat, mkdir, rename, rm, rmdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { applyLayer } from '../fs/apply-layer.js';
import type { Store } from '../store/store.js';
import { tempName } from '../store/temp.js';
import { captureStubs, writeDiffTar, type StubRecord } from './diff-tar.js';
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
}

/** A layer made by commit. */
export interface CommittedLayer {
  diffId: Digest;
  size: number;
}

/** The overlay option string is limited to one page. */
const MAX_OVERLAY_OPTIONS = 4000;

/** Prepares and commits overlay snapshots over the layers in one store. */
export class Snapshotter {
  private readonly unpacking = new Map<string, Promise<string>>();

  constructor(private readonly store: Store) {}

  /** The unpacked dir of a layer, extracting its blob (safely, in overlay format) the first time. */
  unpack(diffId: Digest): Promise<string> {
    let p = this.unpacking.get(diffId);
    if (!p) {
      p = this.doUnpack(diffId);
      this.unpacking.set(diffId, p);
      p.catch(() => this.unpacking.delete(diffId));
    }
    return p;
  }

  private async doUnpack(diffId: Digest): Promise<string> {
    const dir = this.store.layerDir(diffId);
    if (await this.store.hasLayer(diffId)) return dir;
    const prepared = await this.store.prepareLayerDir();
    try {
      await applyLayer(await this.store.openBlob(diffId, { verify: true }), prepared, { mode: 'overlay', label: `layer ${diffId}` });
      await this.store.commitLayerDir(prepared, diffId, { sync: false });
    } catch (e) {
      await rm(prepared, { recursive: true, force: true });
      throw e;
    }
    return dir;
  }

  /** A fresh upper/work pair over the given layers (base first). */
  async prepare(parents: readonly Digest[]): Promise<ActiveSnapshot> {
    const lowersBaseFirst = await Promise.all(parents.map((d) => this.unpack(d)));
    const dir = join(this.store.layout.tmp, tempName('snapshot'));
    const upper = join(dir, 'upper');
    const work = join(dir, 'work');
    const mountpoint = join(dir, 'merged');
    await mkdir(dir, { mode: 0o700 });
    await Promise.all([mkdir(upper, { mode: 0o755 }), mkdir(work, { mode: 0o700 }), mkdir(mountpoint, { mode: 0o755 })]);
    const lowers = lowersBaseFirst.reverse();
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
    return { dir, upper, work, mountpoint, lowers };
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
      const out = createWriteStream(staged, { flags: 'wx', mode: 0o644 });
      const result = await writeDiffTar(active.upper, out, {
        ...(opts.stubs ? { stubs: opts.stubs } : {}),
        ...(opts.clampMtime !== undefined ? { clampMtime: opts.clampMtime } : {}),
      });
      if (result.empty) return undefined;
      const diffId = result.diffId as Digest;
      await this.store.adoptFile(staged, diffId, result.size);
      if (!(await this.store.hasLayer(diffId))) {
        await removeStubs(active.upper, opts.stubs ?? []);
        const layerTmp = join(this.store.layout.tmp, tempName('layer'));
        await rename(active.upper, layerTmp);
        // The blob is durable; the unpacked dir can always be rebuilt from it, so skip fsyncing every file.
        await this.store.commitLayerDir(layerTmp, diffId, { sync: false });
      }
      return { diffId, size: result.size };
    } finally {
      await this.dispose(active);
    }
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
