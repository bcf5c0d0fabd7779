/**
 * The content-addressed blob store: `blobs/sha256/<hex>`, immutable once written. Writes go to a
 * temp file, are hashed on the way, fsynced, and renamed into place only when the digest and size
 * are what the caller announced; reads re-hash and fail loudly when the disk no longer holds what
 * the name promises.
 */
import { open, readdir, rename, stat, unlink, utimes, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline, Readable, Transform } from 'node:stream';
import { DigestMismatchError, NotFoundError, StoreError } from '../errors.js';
import { digestHex, isHex64, newHasher, parseDigest, type Digest } from '../util/digest.js';
import { fsyncDir, isNoSpace, noSpaceError, removeQuiet } from './durable.js';
import { tempName } from './temp.js';

/** A blob's digest and size in bytes. */
export interface BlobDescriptor {
  digest: Digest;
  size: number;
}

/**
 * What ingest reads: a buffer, a Node Readable, or any async iterable of chunks (tar-stream's
 * streamx entries are not Node Readables but iterate the same way).
 */
export type IngestSource = Readable | Uint8Array | AsyncIterable<Uint8Array | string>;

/** What ingest checks the content against. */
export interface IngestExpect {
  /** `sha256:<hex>` the content must hash to. */
  digest?: string;
  /** Exact size in bytes; the write is aborted as soon as the stream runs past it. */
  size?: number;
}

/** What ingest stored. `created` is false when identical content was already present. */
export interface IngestResult extends BlobDescriptor {
  created: boolean;
}

/** A blob on disk, as listed for GC. */
export interface BlobInfo extends BlobDescriptor {
  mtimeMs: number;
}

/** Runs a commit step while GC is kept out (the store's shared "gc" lock). */
export type CommitGuard = <T>(fn: () => Promise<T>) => Promise<T>;

/** Default cap of readBlobJson: manifests, indexes and configs are far smaller than this. */
export const DEFAULT_JSON_LIMIT = 8 * 1024 * 1024;

/** Reads and writes blobs under one `blobs/sha256` directory. */
export class ContentStore {
  constructor(
    readonly dir: string,
    private readonly tmpDir: string,
    private readonly guard: CommitGuard = (fn) => fn(),
  ) {}

  /** Path of a blob's file (whether or not it exists). Throws InvalidReferenceError on a bad digest. */
  blobPath(digest: string): string {
    return join(this.dir, digestHex(digest));
  }

  /**
   * Stores the bytes of `source`, hashing while writing. Resolves once the blob is durable at its
   * digest (file and directory fsynced). Rejects with DigestMismatchError when `expect` is given
   * and the content differs (a longer stream is cut off as soon as it passes `expect.size`), with
   * NoSpaceError on a full disk; in every failure nothing lands under a final name, the temp file
   * is removed and a stream source is destroyed. Identical content already present is kept (its
   * mtime is refreshed so a grace-period GC sees it as recent) and reported with created=false.
   */
  async ingest(source: IngestSource, expect: IngestExpect = {}): Promise<IngestResult> {
    const wantHex = expect.digest === undefined ? undefined : digestHex(expect.digest);
    if (expect.size !== undefined && !(Number.isSafeInteger(expect.size) && expect.size >= 0)) {
      throw new StoreError(`invalid expected blob size ${expect.size}`);
    }
    const label = expect.digest ?? 'with a digest not yet known';
    if (source instanceof Uint8Array) {
      // Small documents (configs, manifests) are often already stored: then skip the write and fsync.
      const kept = await this.keepExisting(source, wantHex, expect.size);
      if (kept) return kept;
    }
    const tmp = join(this.tmpDir, tempName('blob'));
    const hash = newHasher();
    let size = 0;
    let fh: FileHandle | undefined;
    const tooLong = () =>
      new DigestMismatchError(`blob ${label}: content is longer than the expected ${expect.size} bytes`, {
        hint: 'the source sent more data than announced; it may be corrupt or the wrong blob',
      });
    try {
      fh = await open(tmp, 'wx', 0o644);
      if (source instanceof Uint8Array) {
        size = source.length;
        if (expect.size !== undefined && size > expect.size) throw tooLong();
        hash.update(source);
        await writeAll(fh, source);
      } else {
        for await (const chunk of source) {
          const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
          size += buf.length;
          if (expect.size !== undefined && size > expect.size) throw tooLong();
          hash.update(buf);
          await writeAll(fh, buf);
        }
      }
      await fh.sync();
      await fh.close();
      fh = undefined;
      const hex = hash.digest('hex');
      if (expect.size !== undefined && size !== expect.size) {
        throw new DigestMismatchError(`blob ${label}: got ${size} bytes, expected ${expect.size}`, {
          hint: 'the source ended early; retry the transfer',
        });
      }
      if (wantHex !== undefined && hex !== wantHex) {
        throw new DigestMismatchError(`blob ${label}: content hashes to sha256:${hex}`, {
          hint: 'the source is corrupt or is not the blob it claims to be',
        });
      }
      const created = await this.guard(() => this.commit(tmp, hex, size));
      return { digest: `sha256:${hex}`, size, created };
    } catch (e) {
      await fh?.close().catch(() => undefined);
      await removeQuiet(tmp);
      destroySource(source);
      if (isNoSpace(e)) throw noSpaceError(`writing blob ${label}`, e);
      throw e;
    }
  }

  /** When `data` (matching what is expected of it) is already stored, refreshes that blob's mtime and describes it. */
  private async keepExisting(data: Uint8Array, wantHex: string | undefined, size: number | undefined): Promise<IngestResult | undefined> {
    const hex = newHasher().update(data).digest('hex');
    if ((wantHex !== undefined && hex !== wantHex) || (size !== undefined && size !== data.length)) return undefined; // ingest reports it
    return this.guard(async () => {
      const final = join(this.dir, hex);
      const st = await stat(final).catch(() => undefined);
      if (!st || st.size !== data.length) return undefined;
      const now = new Date();
      await utimes(final, now, now);
      return { digest: `sha256:${hex}`, size: data.length, created: false };
    });
  }

  /**
   * Takes over a file the caller wrote under the store's tmp dir (same filesystem) and already
   * hashed while writing: fsyncs it and renames it to its final name (no copy). The caller vouches
   * for `digest` and `size`; reads still verify, so a wrong claim is caught on the next read.
   * Used by load, which stages and checks a whole archive before anything enters the store.
   */
  async adoptFile(tmpPath: string, digest: string, size: number): Promise<IngestResult> {
    const hex = digestHex(digest);
    try {
      const fh = await open(tmpPath, 'r+');
      try {
        await fh.sync();
      } finally {
        await fh.close();
      }
      const created = await this.guard(() => this.commit(tmpPath, hex, size));
      return { digest: `sha256:${hex}`, size, created };
    } catch (e) {
      if (isNoSpace(e)) throw noSpaceError(`storing blob ${digest}`, e);
      throw e;
    }
  }

  /** Moves a verified, fsynced temp file to its final name (or drops it when already there). */
  private async commit(tmp: string, hex: string, size: number): Promise<boolean> {
    const final = join(this.dir, hex);
    const existing = await stat(final).catch(() => undefined);
    if (existing && existing.size === size) {
      await removeQuiet(tmp);
      const now = new Date();
      await utimes(final, now, now);
      return false;
    }
    // Absent, or present with the wrong size (damaged): an atomic rename puts the good copy there.
    await rename(tmp, final);
    await fsyncDir(this.dir);
    return existing === undefined;
  }

  /**
   * Opens a blob for streaming. With `verify` (the default) the stream re-hashes what it delivers
   * and, when the content no longer matches the digest, ends with a DigestMismatchError instead
   * of 'end' — consumers must not trust the data before the stream finishes cleanly. Rejects
   * with NotFoundError when the blob is absent.
   */
  async openBlob(digest: string, opts: { verify?: boolean } = {}): Promise<Readable> {
    const hex = digestHex(digest);
    const fh = await this.openFile(digest);
    const raw = fh.createReadStream();
    if (opts.verify === false) return raw;
    const hash = newHasher();
    const checked = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        hash.update(chunk);
        cb(null, chunk);
      },
      flush(cb) {
        const got = hash.digest('hex');
        cb(got === hex ? null : corrupt(digest, got));
      },
    });
    pipeline(raw, checked, () => undefined); // errors surface on `checked`; early destroy closes `raw`
    return checked;
  }

  /**
   * Reads a blob through, in large reads, and checks it against its digest without handing the
   * bytes anywhere (for callers that copy the file by other means). Rejects with NotFoundError
   * when absent, DigestMismatchError when corrupt.
   */
  async verifyBlob(digest: string): Promise<void> {
    const hex = digestHex(digest);
    const fh = await this.openFile(digest);
    const hash = newHasher();
    try {
      const buf = Buffer.allocUnsafe(4 << 20);
      for (;;) {
        const { bytesRead } = await fh.read(buf, 0, buf.length, null);
        if (bytesRead === 0) break;
        hash.update(buf.subarray(0, bytesRead));
      }
    } finally {
      await fh.close();
    }
    const got = hash.digest('hex');
    if (got !== hex) throw corrupt(digest, got);
  }

  /**
   * Reads a whole blob and verifies it. Rejects with StoreError (code STORE_BLOB_TOO_LARGE) when
   * it is larger than `maxBytes`, NotFoundError when absent, DigestMismatchError when corrupt.
   */
  async readBlob(digest: string, maxBytes = Number.MAX_SAFE_INTEGER): Promise<Buffer> {
    const hex = digestHex(digest);
    const fh = await this.openFile(digest);
    let data: Buffer;
    try {
      const { size } = await fh.stat();
      if (size > maxBytes) {
        throw new StoreError(`blob ${digest} is ${size} bytes, more than the ${maxBytes} allowed here`, {
          hint: 'the blob is not the small JSON document expected; the image may be malformed',
        }, 'STORE_BLOB_TOO_LARGE');
      }
      data = await fh.readFile();
    } finally {
      await fh.close();
    }
    const got = newHasher().update(data).digest('hex');
    if (got !== hex) throw corrupt(digest, got);
    return data;
  }

  /** Reads, size-caps (default 8 MiB), verifies and parses a JSON blob. Bad JSON is a StoreError. */
  async readBlobJson<T = unknown>(digest: string, maxBytes = DEFAULT_JSON_LIMIT): Promise<T> {
    const data = await this.readBlob(digest, maxBytes);
    try {
      return JSON.parse(data.toString('utf8')) as T;
    } catch (e) {
      throw new StoreError(`blob ${digest} is not valid JSON: ${(e as Error).message}`, { cause: e }, 'STORE_BAD_JSON');
    }
  }

  /** Size and mtime of a blob, or undefined when absent. Does not verify content. */
  async statBlob(digest: string): Promise<BlobInfo | undefined> {
    const st = await stat(this.blobPath(digest)).catch(() => undefined);
    return st?.isFile() ? { digest: parseDigest(digest), size: st.size, mtimeMs: st.mtimeMs } : undefined;
  }

  /** True when a blob file exists at `digest` (content not verified). */
  async hasBlob(digest: string): Promise<boolean> {
    return (await this.statBlob(digest)) !== undefined;
  }

  /** Every blob on disk (names that are not 64-hex are ignored). */
  async listBlobs(): Promise<BlobInfo[]> {
    const out: BlobInfo[] = [];
    for (const name of await readdir(this.dir)) {
      if (!isHex64(name)) continue;
      const info = await this.statBlob(`sha256:${name}`);
      if (info) out.push(info);
    }
    return out;
  }

  /**
   * Unlinks a blob; resolves to the bytes freed (0 when it was absent). Only GC should call this:
   * a ref may still point at the blob. Durable once resolved (directory fsynced) unless
   * `sync: false`, for callers that delete many and fsync the directory once.
   */
  async deleteBlob(digest: string, opts: { sync?: boolean } = {}): Promise<number> {
    const path = this.blobPath(digest);
    const st = await stat(path).catch(() => undefined);
    if (!st) return 0;
    try {
      await unlink(path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return 0;
      throw e;
    }
    if (opts.sync !== false) await fsyncDir(this.dir);
    return st.size;
  }

  private async openFile(digest: string): Promise<FileHandle> {
    try {
      return await open(this.blobPath(digest), 'r');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new NotFoundError(`blob ${digest} not found in the store`, { hint: 'pull or rebuild the image that needs it' });
      }
      throw e;
    }
  }
}

function corrupt(digest: string, gotHex: string): DigestMismatchError {
  return new DigestMismatchError(`blob ${digest} is corrupt: its content now hashes to sha256:${gotHex}`, {
    hint: 'the file under blobs/sha256 was damaged; remove the image and pull or build it again',
  });
}

/** Stops a stream source we gave up on, so its producer does not keep running. */
function destroySource(source: IngestSource): void {
  const s = source as { destroy?: (err?: Error) => void; destroyed?: boolean };
  if (!(source instanceof Uint8Array) && typeof s.destroy === 'function' && s.destroyed !== true) s.destroy();
}

async function writeAll(fh: FileHandle, data: Uint8Array): Promise<void> {
  let off = 0;
  while (off < data.length) {
    const { bytesWritten } = await fh.write(data, off, data.length - off);
    off += bytesWritten;
  }
}
