/**
 * The embedded image store: one directory shared by every strata process on the machine, with no
 * daemon. `Store` composes the content store, the names index, unpacked layer dirs, cache records,
 * locks and GC; each lives in its own module and is also reachable as a property.
 *
 * Crash safety rests on ordering: blobs are durable before any ref names them (setRef checks), a
 * blob or layer appears under its final name only complete (temp + fsync + rename), refs.json is
 * replaced whole, and a killed writer's temp files and lock entries are recognised as dead by
 * owner identity and cleaned by whoever meets them next.
 */
import type { Readable } from 'node:stream';
import { CacheStore } from './cache.js';
import { ContentStore, type BlobInfo, type IngestExpect, type IngestResult, type IngestSource } from './content.js';
import { collectGarbage, type GcOptions, type GcReport } from './gc.js';
import { LayerStore, type LayerCommit } from './layers.js';
import { LockManager, type LockHandle, type LockMode, type LockOptions } from './lock.js';
import { GC_LOCK, RefStore, type NamedRef, type RefEntry, type RefsTransaction, type RefTarget } from './refs.js';
import { ensureStoreLayout, resolveStoreRoot, storeLayout, type StoreLayout } from './root.js';
import { cleanDeadTemp, tempName } from './temp.js';
import { mkdir } from 'node:fs/promises';
import type { Digest } from '../util/digest.js';
import { join } from 'node:path';

/** Options of Store.open. */
export interface StoreOpenOptions {
  /** Default wait for store locks before a LockTimeoutError (ms; default 60 000). */
  lockTimeoutMs?: number;
}

/** An open store. Cheap to open; holds no file descriptors or locks between calls. */
export class Store {
  readonly layout: StoreLayout;
  readonly locks: LockManager;
  readonly content: ContentStore;
  readonly refs: RefStore;
  readonly layers: LayerStore;
  readonly cache: CacheStore;

  private constructor(layout: StoreLayout, opts: StoreOpenOptions) {
    this.layout = layout;
    this.locks = new LockManager(layout.locks, opts.lockTimeoutMs);
    const guard = <T>(fn: () => Promise<T>) => this.locks.withLock(GC_LOCK, 'shared', fn);
    this.content = new ContentStore(layout.blobs, layout.tmp, guard);
    this.refs = new RefStore(layout.refs, layout.tmp, this.locks, (d) => this.content.statBlob(d), opts.lockTimeoutMs);
    this.layers = new LayerStore(layout.layers, layout.tmp, guard, (name, fn) => this.locks.withLock(name, 'exclusive', fn));
    this.cache = new CacheStore(layout.cache, layout.tmp);
  }

  /**
   * Opens (creating on first use, root mode 0700) the store at `root`, or at resolveStoreRoot()
   * when omitted, and removes temp entries left by writers that are no longer running.
   */
  static async open(root?: string, opts: StoreOpenOptions = {}): Promise<Store> {
    const layout = storeLayout(root ?? resolveStoreRoot());
    await ensureStoreLayout(layout);
    await cleanDeadTemp(layout.tmp);
    return new Store(layout, opts);
  }

  /** Absolute path of the store root. */
  get root(): string {
    return this.layout.root;
  }

  // ---- blobs (see ContentStore for the full semantics)

  /** Stores content; resolves once durable at its digest. See ContentStore.ingest. */
  ingest(source: IngestSource, expect?: IngestExpect): Promise<IngestResult> {
    return this.content.ingest(source, expect);
  }

  /** Moves a staged, already-hashed file from the tmp dir into the blob store. See ContentStore.adoptFile. */
  adoptFile(tmpPath: string, digest: string, size: number): Promise<IngestResult> {
    return this.content.adoptFile(tmpPath, digest, size);
  }

  /** A fresh private directory under tmp/ for staging work; removed by the next open if its owner dies. */
  async stagingDir(purpose: string): Promise<string> {
    const dir = join(this.layout.tmp, tempName(purpose));
    await mkdir(dir, { mode: 0o700 });
    return dir;
  }

  /** A stream of a blob that errors at the end if the content no longer matches. See ContentStore.openBlob. */
  openBlob(digest: string, opts?: { verify?: boolean }): Promise<Readable> {
    return this.content.openBlob(digest, opts);
  }

  /** Reads a blob through and checks its digest. See ContentStore.verifyBlob. */
  verifyBlob(digest: string): Promise<void> {
    return this.content.verifyBlob(digest);
  }

  /** A whole, verified blob, size-capped. See ContentStore.readBlob. */
  readBlob(digest: string, maxBytes?: number): Promise<Buffer> {
    return this.content.readBlob(digest, maxBytes);
  }

  /** A verified, size-capped JSON blob. See ContentStore.readBlobJson. */
  readBlobJson<T = unknown>(digest: string, maxBytes?: number): Promise<T> {
    return this.content.readBlobJson<T>(digest, maxBytes);
  }

  /** True when the blob exists (content not verified). */
  hasBlob(digest: string): Promise<boolean> {
    return this.content.hasBlob(digest);
  }

  /** Size and mtime of a blob, or undefined. */
  statBlob(digest: string): Promise<BlobInfo | undefined> {
    return this.content.statBlob(digest);
  }

  /** Path of a blob's file, for tools that must hand a path to another program. Treat as read-only. */
  blobPath(digest: string): string {
    return this.content.blobPath(digest);
  }

  // ---- names (see RefStore)

  /** The entry for a name, or undefined. */
  getRef(name: string): Promise<RefEntry | undefined> {
    return this.refs.getRef(name);
  }

  /** Points a name at an existing blob; durable once resolved. See RefStore.setRef. */
  setRef(name: string, target: RefTarget): Promise<RefEntry | undefined> {
    return this.refs.setRef(name, target);
  }

  /** Removes a name; resolves to the removed entry. */
  deleteRef(name: string): Promise<RefEntry | undefined> {
    return this.refs.deleteRef(name);
  }

  /** All names, sorted. */
  listRefs(): Promise<NamedRef[]> {
    return this.refs.listRefs();
  }

  /** A read-modify-write transaction on the names index. See RefStore.updateRefs. */
  updateRefs<T>(fn: (tx: RefsTransaction) => T | Promise<T>): Promise<T> {
    return this.refs.updateRefs(fn);
  }

  // ---- unpacked layers (see LayerStore)

  /** `layers/<hex>` for a diff_id. */
  layerDir(diffId: string): string {
    return this.layers.layerDir(diffId);
  }

  /** True when the layer is unpacked. */
  hasLayer(diffId: string): Promise<boolean> {
    return this.layers.hasLayer(diffId);
  }

  /** A fresh temp dir to unpack a layer into before commitLayerDir. */
  prepareLayerDir(): Promise<string> {
    return this.layers.prepareLayerDir();
  }

  /** Atomically moves a prepared dir to `layers/<hex>`; tolerates a concurrent identical commit. */
  commitLayerDir(prepared: string, diffId: string, opts?: { sync?: boolean; lower?: Digest }): Promise<LayerCommit> {
    return this.layers.commitLayerDir(prepared, diffId, opts);
  }

  // ---- cache records (see CacheStore)

  /** The `cache/` directory. */
  get cacheDir(): string {
    return this.layout.cache;
  }

  // ---- locks, leases, GC

  /** Runs `fn` holding a store lock (named, shared or exclusive). See LockManager. */
  withLock<T>(name: string, mode: LockMode, fn: () => Promise<T> | T, opts?: LockOptions): Promise<T> {
    return this.locks.withLock(name, mode, fn, opts);
  }

  /**
   * Takes a lease: until released, GC does not run, so blobs and layers written under it survive
   * until the caller names them. Hold one from the first blob of a build to its final setRef.
   * Never call collectGarbage while holding a lease in the same process (it would wait for itself).
   */
  acquireLease(opts?: LockOptions): Promise<LockHandle> {
    return this.locks.acquire(GC_LOCK, 'shared', opts);
  }

  /** Runs `fn` under a lease (see acquireLease). */
  withLease<T>(fn: () => Promise<T> | T, opts?: LockOptions): Promise<T> {
    return this.locks.withLock(GC_LOCK, 'shared', fn, opts);
  }

  /** Mark-and-sweep GC from refs plus `roots`. See gc.ts for the race rules. */
  collectGarbage(roots: Iterable<string> = [], opts: GcOptions = {}): Promise<GcReport> {
    return collectGarbage({ content: this.content, refs: this.refs, layers: this.layers, locks: this.locks, tmpDir: this.layout.tmp }, roots, {
      ...opts,
      lockTimeoutMs: opts.lockTimeoutMs ?? this.locks.defaultTimeoutMs,
    });
  }
}
