/**
 * Build-cache records, `cache/<key>.json`: small JSON documents other modules write through this
 * API. Each write is atomic and durable; a record that cannot be read is reported as a miss,
 * because cache content can always be recomputed.
 */
import { readdir, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { StoreError } from '../errors.js';
import { writeFileAtomic } from './durable.js';

const KEY = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,199}$/;

/** Reads and writes JSON records under one `cache/` directory. */
export class CacheStore {
  constructor(
    readonly dir: string,
    private readonly tmpDir: string,
  ) {}

  /** Path of the record for `key` (letters, digits, `_ . : -`; up to 200 chars). */
  recordPath(key: string): string {
    if (!KEY.test(key)) throw new StoreError(`invalid cache key ${JSON.stringify(key)}`);
    return join(this.dir, `${key}.json`);
  }

  /** Atomically replaces the record for `key`; resolves once it is durable. NoSpaceError on a full disk. */
  async writeRecord(key: string, value: unknown): Promise<void> {
    await writeFileAtomic(this.tmpDir, this.recordPath(key), JSON.stringify(value) + '\n', `writing cache record ${key}`, 0o600);
  }

  /** The record for `key`, or undefined when absent or unreadable (a miss). */
  async readRecord<T = unknown>(key: string): Promise<T | undefined> {
    try {
      return JSON.parse(await readFile(this.recordPath(key), 'utf8')) as T;
    } catch (e) {
      if (e instanceof StoreError) throw e;
      return undefined;
    }
  }

  /** Removes the record for `key`; true when there was one. */
  async deleteRecord(key: string): Promise<boolean> {
    try {
      await unlink(this.recordPath(key));
      return true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw e;
    }
  }

  /** Keys of every record, sorted. */
  async listKeys(): Promise<string[]> {
    return (await readdir(this.dir)).filter((n) => n.endsWith('.json')).map((n) => n.slice(0, -5)).filter((k) => KEY.test(k)).sort();
  }
}
