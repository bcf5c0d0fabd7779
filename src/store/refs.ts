/**
 * The names index, `refs.json`: which digest each name (`docker.io/library/busybox:latest`)
 * points at. Readers read the file without locking (it is only ever replaced by rename, so any
 * read sees one whole version). Writers run a read-modify-write transaction under the exclusive
 * "refs" lock, inside a shared hold of the "gc" lock so that GC cannot sweep a blob between the
 * check that it exists and the ref that keeps it.
 */
import { readFile } from 'node:fs/promises';
import { NotFoundError, StoreError } from '../errors.js';
import type { BlobInfo } from './content.js';
import { digestHex, type Digest } from '../util/digest.js';
import { writeFileAtomic } from './durable.js';
import type { LockManager } from './lock.js';

/** What a name points at: a blob (normally a manifest or index) with its media type and size. */
export interface RefTarget {
  digest: Digest;
  mediaType: string;
  size: number;
}

/** One index entry: the target plus when the name was set (ISO 8601). */
export interface RefEntry extends RefTarget {
  created: string;
}

/** An entry with its name, as listRefs returns it. */
export interface NamedRef extends RefEntry {
  name: string;
}

/** The mutable view of the index inside updateRefs. Changes apply only if the callback succeeds. */
export interface RefsTransaction {
  get(name: string): RefEntry | undefined;
  has(name: string): boolean;
  /** Points `name` at `target` (created defaults to now; kept when the target is unchanged). */
  set(name: string, target: RefTarget & { created?: string }): void;
  delete(name: string): boolean;
  names(): string[];
}

/** Lock names the store uses; shared with gc.ts. */
export const REFS_LOCK = 'refs';
/** GC takes this exclusively; anything that must not race a sweep holds it shared. */
export const GC_LOCK = 'gc';

const MAX_INDEX_BYTES = 64 * 1024 * 1024;

/** Reads and updates one refs.json. */
export class RefStore {
  constructor(
    readonly path: string,
    private readonly tmpDir: string,
    private readonly locks: LockManager,
    private readonly statBlob: (digest: string) => Promise<BlobInfo | undefined>,
    private readonly lockTimeoutMs?: number,
  ) {}

  /** The whole index as of now (no lock; always one consistent version). */
  async readAll(): Promise<Map<string, RefEntry>> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return new Map();
      throw e;
    }
    if (text.length > MAX_INDEX_BYTES) throw this.corrupt('file is too large');
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch (e) {
      throw this.corrupt((e as Error).message);
    }
    if (typeof doc !== 'object' || doc === null) throw this.corrupt('not a JSON object');
    const { version, refs } = doc as { version?: unknown; refs?: unknown };
    if (version !== 1) throw this.corrupt(`unsupported version ${JSON.stringify(version)}`);
    if (typeof refs !== 'object' || refs === null || Array.isArray(refs)) throw this.corrupt('"refs" is not an object');
    const out = new Map<string, RefEntry>();
    for (const [name, raw] of Object.entries(refs)) {
      const e = raw as Partial<RefEntry>;
      if (typeof e !== 'object' || e === null || typeof e.digest !== 'string' || typeof e.mediaType !== 'string' ||
          typeof e.size !== 'number' || typeof e.created !== 'string') {
        throw this.corrupt(`bad entry for ${JSON.stringify(name)}`);
      }
      out.set(name, { digest: e.digest, mediaType: e.mediaType, size: e.size, created: e.created });
    }
    return out;
  }

  /** The entry for `name`, or undefined. */
  async getRef(name: string): Promise<RefEntry | undefined> {
    return (await this.readAll()).get(name);
  }

  /** Every entry, sorted by name. */
  async listRefs(): Promise<NamedRef[]> {
    return [...(await this.readAll())].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([name, e]) => ({ name, ...e }));
  }

  /**
   * Points `name` at `target` and resolves once refs.json is durable. Rejects with NotFoundError
   * when the target blob is not in the store (write blobs first, refs last), and StoreError when
   * its size differs. Resolves to the previous entry, if any.
   */
  async setRef(name: string, target: RefTarget): Promise<RefEntry | undefined> {
    return this.updateRefs((tx) => {
      const old = tx.get(name);
      tx.set(name, target);
      return old;
    });
  }

  /** Removes `name`; resolves to the removed entry (undefined when there was none). Durable once resolved. */
  async deleteRef(name: string): Promise<RefEntry | undefined> {
    return this.updateRefs((tx) => {
      const old = tx.get(name);
      tx.delete(name);
      return old;
    });
  }

  /**
   * Runs `fn` on the current index under the locks and atomically writes the result (only if it
   * changed). If `fn` throws, or a name it set points at a blob that is absent, nothing is
   * written and the error propagates. Never call from inside another updateRefs or while holding
   * the store's "refs" lock: the lock is not reentrant.
   */
  async updateRefs<T>(fn: (tx: RefsTransaction) => T | Promise<T>): Promise<T> {
    const opts = { timeoutMs: this.lockTimeoutMs };
    return this.locks.withLock(GC_LOCK, 'shared', () =>
      this.locks.withLock(REFS_LOCK, 'exclusive', async () => {
        const before = await this.readAll();
        const draft = new Map(before);
        const touched = new Set<string>();
        const tx: RefsTransaction = {
          get: (name) => draft.get(name),
          has: (name) => draft.has(name),
          set: (name, target) => {
            checkName(name);
            const entry = checkTarget(name, target);
            const old = draft.get(name);
            if (old && old.digest === entry.digest && old.mediaType === entry.mediaType && old.size === entry.size && target.created === undefined) return;
            draft.set(name, entry);
            touched.add(name);
          },
          delete: (name) => draft.delete(name),
          names: () => [...draft.keys()].sort(),
        };
        const result = await fn(tx);
        for (const name of touched) {
          const entry = draft.get(name);
          if (entry) await this.checkBlob(name, entry);
        }
        if (!sameIndex(before, draft)) await this.write(draft);
        return result;
      }, opts), opts);
  }

  private async checkBlob(name: string, entry: RefEntry): Promise<void> {
    const blob = await this.statBlob(entry.digest);
    if (!blob) {
      throw new NotFoundError(`cannot tag ${name}: blob ${entry.digest} is not in the store`, {
        hint: 'write the manifest blob (and everything it references) before setting a name',
      });
    }
    if (blob.size !== entry.size) {
      throw new StoreError(`cannot tag ${name}: blob ${entry.digest} is ${blob.size} bytes, not ${entry.size}`);
    }
  }

  private async write(index: Map<string, RefEntry>): Promise<void> {
    const refs: Record<string, RefEntry> = {};
    for (const name of [...index.keys()].sort()) refs[name] = index.get(name)!;
    await writeFileAtomic(this.tmpDir, this.path, JSON.stringify({ version: 1, refs }, null, 2) + '\n', 'updating refs.json', 0o600);
  }

  private corrupt(why: string): StoreError {
    return new StoreError(`the names index ${this.path} is corrupt: ${why}`, {
      hint: 'restore refs.json from a backup, or move it away to start with no names (blobs are kept)',
    }, 'STORE_CORRUPT');
  }
}

function checkName(name: string): void {
  if (typeof name !== 'string' || name.length === 0 || name.length > 1024 || /[\s\x00-\x1f\x7f]/.test(name)) {
    throw new StoreError(`invalid ref name ${JSON.stringify(name)}`);
  }
}

function checkTarget(name: string, t: RefTarget & { created?: string }): RefEntry {
  digestHex(t.digest);
  if (!Number.isSafeInteger(t.size) || t.size < 0) throw new StoreError(`ref ${name}: invalid size ${t.size}`);
  if (typeof t.mediaType !== 'string') throw new StoreError(`ref ${name}: invalid media type`);
  return { digest: t.digest, mediaType: t.mediaType, size: t.size, created: t.created ?? new Date().toISOString() };
}

function sameIndex(a: Map<string, RefEntry>, b: Map<string, RefEntry>): boolean {
  if (a.size !== b.size) return false;
  for (const [name, e] of a) {
    const f = b.get(name);
    if (!f || f.digest !== e.digest || f.mediaType !== e.mediaType || f.size !== e.size || f.created !== e.created) return false;
  }
  return true;
}
