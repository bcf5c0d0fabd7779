/**
 * The embedded store's public surface: open a Store, and the types its methods use.
 */
export { Store, type StoreOpenOptions } from './store.js';
export { resolveStoreRoot, storeLayout, type StoreLayout, type StoreRootOptions } from './root.js';
export { ContentStore, DEFAULT_JSON_LIMIT, type BlobDescriptor, type BlobInfo, type IngestExpect, type IngestResult, type IngestSource } from './content.js';
export { RefStore, type NamedRef, type RefEntry, type RefsTransaction, type RefTarget } from './refs.js';
export { LayerStore, type LayerCommit, type LayerDirInfo } from './layers.js';
export { CacheStore } from './cache.js';
export { LockManager, LockTimeoutError, type LockEntry, type LockHandle, type LockMode, type LockOptions } from './lock.js';
export type { GcOptions, GcReport } from './gc.js';
export { digestHex, isDigest, sha256, type Digest } from '../util/digest.js';
