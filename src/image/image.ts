/**
 * The one read-only Image/Layer abstraction that every format produces or consumes: the local
 * store, docker-archive, OCI layout, flat rootfs tars and (later) registries. Mutations return new
 * images; nothing here edits its inputs.
 */
import type { Readable } from 'node:stream';
import type { Digest } from '../util/digest.js';
import type { ImageConfig, Manifest } from './types.js';

/** A layer: a changeset tar, possibly compressed. */
export interface Layer {
  /** sha256 of the uncompressed tar (what the config's rootfs.diff_ids lists). */
  diffId(): Promise<Digest>;
  /** sha256 of the blob as stored or sent (equals diffId when uncompressed). */
  digest(): Promise<Digest>;
  /** Size of the blob in bytes. */
  size(): Promise<number>;
  mediaType(): Promise<string>;
  /** The blob bytes. */
  compressed(): Promise<Readable>;
  /** The uncompressed tar. */
  uncompressed(): Promise<Readable>;
}

/** A single-platform image. */
export interface Image {
  /** The manifest bytes (the image digest is their sha256). */
  rawManifest(): Promise<Buffer>;
  manifest(): Promise<Manifest>;
  /** sha256 of the manifest. */
  digest(): Promise<Digest>;
  rawConfig(): Promise<Buffer>;
  config(): Promise<ImageConfig>;
  /** sha256 of the config: Docker's image ID. */
  configDigest(): Promise<Digest>;
  /** Layers, base first. */
  layers(): Promise<Layer[]>;
}
