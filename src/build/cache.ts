/**
 * The build cache: a step is reused when its inputs are the same — the state it starts from (a
 * chain key), the instruction after expansion, the environment it sees, and the content of the
 * files it copies. Records live in the store (`cache/`) and survive across runs.
 *
 * Each record keeps its inputs, so when a step misses, the cache can say which input changed
 * compared with the last build of the same step on the same parent state.
 */
import type { Store } from '../store/store.js';
import { sha256, type Digest } from '../util/digest.js';

/** What a step depends on. */
export interface StepInputs {
  /** The instruction after expansion, as text (`RUN /bin/sh -c make`, `COPY a b /dst/`). */
  instruction: string;
  /** The environment a RUN sees, and the other runtime settings (user, workdir, shell, network). */
  env?: string[];
  /** Digest over the copied files; `files` lists each path's digest for explanations. */
  filesDigest?: string;
  files?: [string, string][];
  /**
   * The build's `--timestamp` / SOURCE_DATE_EPOCH (or `now`): it sets the step's created time
   * and clamps its files' mtimes, so a result made with another one is not the same result.
   */
  timestamp?: string;
}

/** A stored result of one step. */
export interface CacheRecord {
  version: 1;
  key: string;
  parent: string;
  inputs: StepInputs;
  /** The image state after the step (an unnamed image in the store). */
  manifestDigest: Digest;
  created: string;
  /** When the step started running (ISO time). */
  started?: string;
  /** The step's layer holds no whiteouts or opaque dirs: a rebuild of the step may patch it. */
  patchable?: boolean;
}

/** What a layer-making step is told: its progress id, and the earlier result of the same step (on a miss). */
export interface StepContext {
  id: number;
  previous?: CacheRecord;
}

/** What a layer-making step made: its layer, if any, and whether a rebuild may patch that layer. */
export interface StepOutcome {
  diffId?: string;
  patchable?: boolean;
}

const MAX_SIBLINGS = 16;

/** Computes a step's chain key from its parent's key and its inputs. */
export function stepKey(parent: string, inputs: StepInputs): string {
  const parts: unknown[] = [parent, inputs.instruction, inputs.env ?? null, inputs.filesDigest ?? null];
  if (inputs.timestamp !== undefined) parts.push(inputs.timestamp);
  return sha256(JSON.stringify(parts)).slice(7);
}

/** Chains a key through a step that has no cached result (metadata instructions). */
export function chainKey(parent: string, text: string): string {
  return sha256(JSON.stringify([parent, text])).slice(7);
}

/** Reads and writes cache records, and explains misses. */
export class BuildCache {
  constructor(private readonly store: Store) {}

  /** The record for a key, if its image state is still in the store. */
  async get(key: string): Promise<CacheRecord | undefined> {
    const r = await this.store.cache.readRecord<CacheRecord>(`step-${key}`);
    if (!r || r.version !== 1 || !(await this.store.hasBlob(r.manifestDigest))) return undefined;
    return r;
  }

  /** Stores a step's result and remembers it among its parent's children (for explanations). */
  async put(record: CacheRecord): Promise<void> {
    await this.store.cache.writeRecord(`step-${record.key}`, record);
    const idxKey = `children-${record.parent}`;
    const siblings = (await this.store.cache.readRecord<string[]>(idxKey)) ?? [];
    const next = [record.key, ...siblings.filter((k) => k !== record.key)].slice(0, MAX_SIBLINGS);
    await this.store.cache.writeRecord(idxKey, next);
  }

  /**
   * Why a step missed: compares its inputs with the most recent earlier build of a step of the
   * same kind on the same parent state. Undefined when there is nothing to compare with.
   */
  async explainMiss(parent: string, inputs: StepInputs): Promise<string | undefined> {
    const siblings = (await this.store.cache.readRecord<string[]>(`children-${parent}`)) ?? [];
    const kind = inputs.instruction.split(' ')[0];
    let sameKind: CacheRecord | undefined;
    for (const key of siblings) {
      const r = await this.store.cache.readRecord<CacheRecord>(`step-${key}`);
      if (!r || r.inputs.instruction.split(' ')[0] !== kind) continue;
      // The same instruction explains best (two stages may start from one parent); else the latest of its kind.
      if (r.inputs.instruction === inputs.instruction) return describeChange(r.inputs, inputs);
      sameKind ??= r;
    }
    return sameKind && describeChange(sameKind.inputs, inputs);
  }

  /**
   * The most recent earlier result of the same step on the same parent state whose inputs
   * differ only in the copied files (same instruction, environment and timestamp), if its image
   * state is still in the store: what a rebuilt COPY can patch instead of starting over.
   */
  async previous(parent: string, inputs: StepInputs): Promise<CacheRecord | undefined> {
    const siblings = (await this.store.cache.readRecord<string[]>(`children-${parent}`)) ?? [];
    const env = JSON.stringify(inputs.env ?? null);
    for (const key of siblings) {
      const r = await this.store.cache.readRecord<CacheRecord>(`step-${key}`);
      if (!r || r.version !== 1 || r.inputs.instruction !== inputs.instruction) continue;
      if (JSON.stringify(r.inputs.env ?? null) !== env || r.inputs.timestamp !== inputs.timestamp) continue;
      return (await this.store.hasBlob(r.manifestDigest)) ? r : undefined;
    }
    return undefined;
  }

  /** Manifests the cache keeps alive (roots for `prune`). */
  async roots(): Promise<Digest[]> {
    const out: Digest[] = [];
    for (const key of await this.store.cache.listKeys()) {
      if (!key.startsWith('step-')) continue;
      const r = await this.store.cache.readRecord<CacheRecord>(key);
      if (r?.manifestDigest) out.push(r.manifestDigest);
    }
    return out;
  }

  /** Drops every record (for `prune --cache`). */
  async clear(): Promise<number> {
    const keys = await this.store.cache.listKeys();
    for (const k of keys) await this.store.cache.deleteRecord(k);
    return keys.length;
  }
}

/** Says what differs between two sets of inputs, briefly. */
export function describeChange(before: StepInputs, after: StepInputs): string {
  if (before.instruction !== after.instruction) return `instruction changed (was: ${clip(before.instruction)})`;
  if (before.timestamp !== after.timestamp) return `timestamp changed (was: ${before.timestamp ?? 'unset'}; set by --timestamp or SOURCE_DATE_EPOCH)`;
  const envBefore = new Set(before.env ?? []);
  const envAfter = new Set(after.env ?? []);
  const added = [...envAfter].filter((e) => !envBefore.has(e));
  const removed = [...envBefore].filter((e) => !envAfter.has(e));
  if (added.length || removed.length) {
    const names = [...new Set([...added, ...removed].map((e) => e.split('=')[0]))];
    return `environment changed: ${names.slice(0, 5).join(', ')}${names.length > 5 ? ` (+${names.length - 5} more)` : ''}`;
  }
  if (before.filesDigest !== after.filesDigest) {
    const a = new Map(before.files ?? []);
    const b = new Map(after.files ?? []);
    const changed = [...b].filter(([p, d]) => a.has(p) && a.get(p) !== d).map(([p]) => p);
    const addedFiles = [...b.keys()].filter((p) => !a.has(p));
    const removedFiles = [...a.keys()].filter((p) => !b.has(p));
    const parts: string[] = [];
    const list = (ps: string[]) => ps.slice(0, 3).join(', ') + (ps.length > 3 ? `, … (+${ps.length - 3} more)` : '');
    if (changed.length) parts.push(`${changed.length} file${changed.length === 1 ? '' : 's'} changed: ${list(changed)}`);
    if (addedFiles.length) parts.push(`${addedFiles.length} added: ${list(addedFiles)}`);
    if (removedFiles.length) parts.push(`${removedFiles.length} removed: ${list(removedFiles)}`);
    if (parts.length) return parts.join('; ');
    return after.instruction.startsWith('RUN ') ? 'files its --mount=type=bind shows changed' : 'copied files changed (metadata)';
  }
  return 'inputs unchanged, but the earlier result is gone from the store (pruned)';
}

function clip(s: string): string {
  return s.length > 80 ? s.slice(0, 77) + '...' : s;
}
