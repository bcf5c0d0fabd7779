/**
 * The one pass of `load` over an archive: every regular file is hashed and written under the
 * staging directory as it streams by. Compressed entries (recognised by their magic bytes, not
 * their media type, which may lie) are decompressed in the same pass and kept only uncompressed,
 * so each layer is written once; content that reads as a tar goes through validateLayer while it
 * streams. Nothing is trusted yet: load-docker.ts / load-oci.ts decide afterwards which entries are
 * layers and raise a layer's problem only if it is used as one. Memory does not grow with entry
 * size: the only buffer is the first tar block of each entry.
 */
import { once } from 'node:events';
import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { decompressStream, sniffStream } from '../compress/index.js';
import { ArchiveFormatError, DigestMismatchError } from '../errors.js';
import { validateLayer } from '../fs/validate-layer.js';
import { isNoSpace, noSpaceError } from '../store/durable.js';
import { HashingStream, newHasher, type Digest } from '../util/digest.js';
import { cleanEntryName } from './archive-path.js';
import type { StagedArchive, StagedFile, StagedLayer } from './load-plan.js';

/** One entry of an archive or layout directory, as the stager sees it. */
export interface SourceEntry {
  name: string;
  type: 'file' | 'dir' | 'symlink' | 'hardlink' | 'other';
  linkname: string;
  size: number;
  data: AsyncIterable<Buffer>;
}

const TAR_BLOCK = 512;
const BLOB_NAME = /^blobs\/sha256\/([a-f0-9]{64})$/;

/**
 * Stages every entry of `entries` under `dir`. Throws UnsafeArchiveError / ArchiveFormatError for
 * entry names and types an image archive must not have (absolute, `..`, duplicates, devices), and
 * DigestMismatchError for a `blobs/sha256/<hex>` entry whose content hashes to something else.
 */
export async function stageEntries(entries: AsyncIterable<SourceEntry>, dir: string, label: string, precopied?: ReadonlyMap<string, string>): Promise<StagedArchive> {
  const staged: StagedArchive = { label, dir, files: new Map(), symlinks: new Map() };
  const seen = new Set<string>();
  let n = 0;
  for await (const e of entries) {
    const name = cleanEntryName(e.name, label);
    if (name === undefined) continue; // the root directory itself
    if (e.type === 'dir') continue;
    if (seen.has(name)) throw new ArchiveFormatError(`${label}: entry ${JSON.stringify(e.name)}: duplicate entry in the archive`, { hint: 'the archive is malformed or hostile; nothing was stored' });
    seen.add(name);
    if (e.type === 'symlink') {
      staged.symlinks.set(name, e.linkname);
    } else if (e.type === 'hardlink') {
      const target = cleanEntryName(e.linkname, label);
      const f = target === undefined ? undefined : staged.files.get(target);
      if (!f) throw new ArchiveFormatError(`${label}: entry ${JSON.stringify(e.name)}: hardlink to ${JSON.stringify(e.linkname)}, which is not an earlier file`);
      staged.files.set(name, { ...f, name });
    } else if (e.type === 'file') {
      const copied = precopied?.get(e.name);
      staged.files.set(name, await stageFile(e, name, copied ?? join(dir, `e${n++}`), label, copied !== undefined));
    } else {
      throw new ArchiveFormatError(`${label}: entry ${JSON.stringify(e.name)}: devices and fifos do not belong in an image archive`, { hint: 'the archive is malformed or hostile; nothing was stored' });
    }
  }
  for (const f of staged.files.values()) {
    const m = BLOB_NAME.exec(f.name);
    if (m && f.digest !== `sha256:${m[1]}`) {
      throw new DigestMismatchError(`${label}: entry ${JSON.stringify(f.name)}: content hashes to ${f.digest}, not the digest its name gives`, {
        hint: 'the archive is corrupt or was tampered with',
      });
    }
  }
  return staged;
}

/** Hashes and stages one file; decompresses and validates it when it is a (compressed) tar. */
async function stageFile(e: SourceEntry, name: string, base: string, label: string, copied: boolean): Promise<StagedFile> {
  const { compression, stream } = await sniffStream(Readable.from(e.data, { objectMode: false }));
  if (copied && compression !== 'none') {
    throw new ArchiveFormatError(`${label}: entry ${JSON.stringify(name)}: compressed, though its first bytes were not`, { hint: 'the archive changed while it was read; load it again' });
  }
  // Uncompressed, the raw bytes are the content: one hash serves as blob digest and diff_id.
  const rawHash = compression === 'none' ? undefined : new HashingStream();
  const content = compression === 'none' ? base : `${base}.tar`;
  let layer: StagedContent;
  try {
    const stages = rawHash === undefined ? [stream] as const : [stream, rawHash, decompressStream(compression as Exclude<typeof compression, 'none'>)] as const;
    layer = await stageContent(stages, content, `${label}: layer ${JSON.stringify(name)}`, { write: !copied });
  } catch (err) {
    if (isNoSpace(err)) throw noSpaceError(`staging ${label} entry ${JSON.stringify(name)}`, err);
    if (err instanceof ArchiveFormatError && compression !== 'none' && !err.message.includes(JSON.stringify(name))) {
      throw new ArchiveFormatError(`${label}: entry ${JSON.stringify(name)}: ${err.message}`, { cause: err });
    }
    throw err;
  }
  const file: StagedFile = rawHash ? { name, size: rawHash.size, digest: rawHash.digest(), compression } : { name, size: layer.size, digest: layer.diffId, compression };
  if (compression === 'none') file.rawPath = content;
  const { isTar, ...staged } = layer;
  if (isTar) file.layer = staged;
  return file;
}

/** What stageContent wrote: the staged file, its sha256 and size, and whether it read as a tar. */
export interface StagedContent extends StagedLayer {
  isTar: boolean;
}

/**
 * Pipes `stages` (a source and transforms) into a new file at `path`, hashing what arrives and,
 * when its first block is a tar header, running validateLayer on it as it streams (`label`
 * prefixes its messages). A validation failure is returned as `problem`, not thrown; stream and
 * file errors are thrown after the partial file is closed.
 */
export async function stageContent(stages: readonly [Readable, ...NodeJS.ReadWriteStream[]], path: string, label: string, opts: { write?: boolean } = {}): Promise<StagedContent> {
  const sink = new ContentSink(path, label, opts.write ?? true);
  await sink.open();
  try {
    const run = pipeline as unknown as (...streams: unknown[]) => Promise<void>;
    await run(...stages, (src: AsyncIterable<Buffer>) => sink.consume(src));
  } catch (err) {
    await sink.abort();
    throw err;
  }
  return sink.finish();
}

/**
 * Writes content to a staged file, hashing it, and (when its first block is a tar header) feeds
 * it to validateLayer with backpressure. A failed validation is kept, not thrown: the entry may
 * not be a layer at all.
 */
class ContentSink {
  private fh?: FileHandle;
  private readonly hash = newHasher();
  private size = 0;
  private head: Buffer[] = [];
  private headLen = 0;
  private decided = false;
  private check?: PassThrough;
  private validation?: Promise<unknown>;
  private settled = false;

  /** With `write` false the bytes are only hashed and checked: someone else writes `path`. */
  constructor(private readonly path: string, private readonly label: string, private readonly write: boolean) {}

  async open(): Promise<void> {
    if (this.write) this.fh = await open(this.path, 'wx', 0o600);
  }

  async consume(src: AsyncIterable<Buffer>): Promise<void> {
    for await (const chunk of src) {
      if (this.fh) await writeAll(this.fh, chunk);
      this.hash.update(chunk);
      this.size += chunk.length;
      if (this.decided) {
        await this.feed(chunk);
      } else {
        this.head.push(chunk);
        this.headLen += chunk.length;
        if (this.headLen >= TAR_BLOCK) await this.decide();
      }
    }
    if (!this.decided) await this.decide();
  }

  /** Closes the file and waits for the validation. */
  async finish(): Promise<StagedContent> {
    await this.fh?.close();
    this.fh = undefined;
    const out: StagedContent = { path: this.path, diffId: `sha256:${this.hash.digest('hex')}` as Digest, size: this.size, isTar: this.check !== undefined };
    if (this.check) {
      if (!this.check.destroyed) this.check.end();
      const problem = await this.validation;
      if (problem !== undefined) out.problem = problem;
    }
    return out;
  }

  async abort(): Promise<void> {
    this.check?.destroy();
    await this.fh?.close().catch(() => undefined);
    this.fh = undefined;
  }

  private async decide(): Promise<void> {
    this.decided = true;
    const head = Buffer.concat(this.head);
    this.head = [];
    if (!looksLikeTar(head)) return;
    this.check = new PassThrough({ highWaterMark: 1 << 20 });
    this.validation = validateLayer(this.check, { label: this.label }).then(
      () => undefined,
      (err: unknown) => err,
    ).finally(() => {
      this.settled = true;
      this.check?.resume(); // a reader that gave up must not stall the copy
    });
    await this.feed(head);
  }

  private async feed(chunk: Buffer): Promise<void> {
    const check = this.check;
    if (!check || this.settled || check.destroyed) return;
    if (check.write(chunk)) return;
    // Wait for the validator to catch up, or to give up (then it reads no more).
    const stop = new AbortController();
    try {
      await Promise.race([once(check, 'drain', { signal: stop.signal }), this.validation]);
    } finally {
      stop.abort();
    }
  }
}

/**
 * True when `head` starts like a tar: a first header block with a valid checksum, or an all-zero
 * block (an empty layer is just the end-of-archive marker).
 */
export function looksLikeTar(head: Buffer): boolean {
  if (head.length < TAR_BLOCK) return false;
  const block = head.subarray(0, TAR_BLOCK);
  if (block.every((b) => b === 0)) return true;
  const field = block.toString('latin1', 148, 156).replace(/[\0 ]+$/, '').trim();
  if (!/^[0-7]+$/.test(field)) return false;
  let sum = 0;
  for (let i = 0; i < TAR_BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : block[i]!;
  return sum === parseInt(field, 8);
}

async function writeAll(fh: FileHandle, data: Buffer): Promise<void> {
  let off = 0;
  while (off < data.length) {
    const { bytesWritten } = await fh.write(data, off, data.length - off);
    off += bytesWritten;
  }
}
