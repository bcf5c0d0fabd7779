/**
 * The build context, read in place: one walk honouring .dockerignore gives a snapshot of the
 * tree (and, when a step needs it, an in-memory index COPY/ADD sources are selected from); file
 * contents are hashed through the stat cache, so an unchanged context costs a walk and no reads,
 * and a source list already checksummed for the same snapshot costs nothing more (the memo).
 */
import { existsSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { BuildError, NotFoundError } from '../errors.js';
import { compileDockerignore } from '../dockerfile/dockerignore.js';
import type { PatternMatcher } from '../fs/pattern-matcher.js';
import { checksumSelection } from './checksum.js';
import type { ChecksumResult } from './checksum.js';
import { findEntry, indexSnapshot, walkContext } from './context-walk.js';
import type { ContextFile, ContextIndex, ContextSnapshot } from './context-walk.js';
import type { FileSource } from './file-source.js';
import { selectSources } from './select.js';
import type { SelectOptions, Selection } from './select.js';
import { SelectionMemo } from './selection-memo.js';
import { RACY_MS, StatCache } from './stat-cache.js';

export type { ContextFile } from './context-walk.js';
export type { ChecksumResult } from './checksum.js';
export type { Selection, SelectedItem, SelectedEntry, SelectOptions } from './select.js';

/** Options of BuildContext.open. */
export interface ContextOpenOptions {
  /** The Dockerfile; `<Dockerfile>.dockerignore` next to it wins over the context's `.dockerignore`. */
  dockerfilePath?: string;
  /** Where the stat cache lives (see statCacheFileFor); without it every checksum reads every file. */
  statCacheFile?: string;
  /** Where source-list checksums are remembered per context state (see memoFileFor); without it, never. */
  memoFile?: string;
}

/** What a list of sources checksummed to; `resolve` gives the selection and per-path fingerprints when a step needs them. */
export interface SourcesChecksum {
  digest: string;
  /** True when the digest was remembered for this context state, not computed. */
  remembered: boolean;
  resolve(): Promise<{ selection: Selection; files: ReadonlyMap<string, string> }>;
}

/** The stat-cache file for a context directory under a cache dir (one file per context path). */
export function statCacheFileFor(cacheDir: string, contextDir: string): string {
  return join(cacheDir, 'statcache', contextKey(contextDir) + '.bin');
}

/** The selection-memo file for a context directory under a cache dir. */
export function memoFileFor(cacheDir: string, contextDir: string): string {
  return join(cacheDir, 'statcache', contextKey(contextDir) + '.memo');
}

function contextKey(contextDir: string): string {
  let real = contextDir;
  try {
    real = realpathSync(contextDir);
  } catch {
    // a missing context fails later with a better message
  }
  return createHash('sha256').update(real).digest('hex').slice(0, 32);
}

/** A walked build context; it is also the FileSource COPY reads from. */
export class BuildContext implements FileSource {
  readonly keepOwners = false;
  readonly label = 'build context';
  private indexed: ContextIndex | undefined;
  private statCache: StatCache | undefined;
  private selectionMemo: SelectionMemo | undefined;
  private readonly sums = new Map<string, Promise<SourcesChecksum>>();

  private constructor(
    /** The context directory, symlinks resolved. */
    readonly root: string,
    private readonly snapshot: ContextSnapshot,
    /** When the walk began (ms since the epoch). */
    private readonly walkedAt: number,
    /** The ignore file that was applied, if any. */
    readonly ignoreFile: string | undefined,
    private readonly ignore: PatternMatcher | undefined,
    private readonly opts: ContextOpenOptions,
  ) {}

  /**
   * Walks DIR once, honouring `.dockerignore` (or `<Dockerfile>.dockerignore` next to the
   * Dockerfile, which wins, as BuildKit does), never following symlinks, skipping excluded
   * directories entirely when no exception can re-include anything below them.
   */
  static async open(dir: string, opts: ContextOpenOptions = {}): Promise<BuildContext> {
    let root: string;
    try {
      root = realpathSync(dir);
    } catch (e) {
      throw new NotFoundError(`build context ${JSON.stringify(dir)} does not exist`, { cause: e });
    }
    if (!statSync(root).isDirectory()) {
      throw new BuildError(`build context ${JSON.stringify(dir)} is not a directory`, {}, 'CONTEXT_NOT_DIR');
    }
    const ignoreFile = findIgnoreFile(root, opts.dockerfilePath);
    const ignore = ignoreFile === undefined ? undefined : compileDockerignore(readFileSync(ignoreFile), ignoreFile);
    const walkedAt = Date.now();
    const snapshot = walkContext(root, ignore);
    return new BuildContext(root, snapshot, walkedAt, ignoreFile, ignore, opts);
  }

  /** The walked tree's entries, made on first use. */
  private get index(): ContextIndex {
    return (this.indexed ??= indexSnapshot(this.snapshot));
  }

  private get cache(): StatCache {
    return (this.statCache ??= this.opts.statCacheFile === undefined ? StatCache.empty() : StatCache.load(this.opts.statCacheFile));
  }

  /** A digest of the walked state: names, types, modes, owners, sizes, times, inodes, link targets. */
  get stateDigest(): string {
    return this.snapshot.digest;
  }

  /** Number of entries kept (the root included). */
  get size(): number {
    return this.index.all.length;
  }

  /** Every kept entry, parents before children. */
  files(): IterableIterator<ContextFile> {
    return this.index.all.values();
  }

  /** Paths left out because they are sockets, fifos or devices. */
  get skippedSpecial(): readonly string[] {
    return this.snapshot.skippedSpecial;
  }

  /** The entry at a relative path, or undefined when missing or ignored. */
  lookup(path: string): ContextFile | undefined {
    return findEntry(this.index, path);
  }

  /** A directory's kept entries in name order. */
  children(path: string): ContextFile[] {
    return this.index.children.get(path) ?? [];
  }

  /** Why a path is not in the context when it exists on disk (for "not found" errors). */
  explainMissing(path: string): string | undefined {
    if (this.ignore === undefined || !existsSync(join(this.root, path))) return undefined;
    return this.ignore.matches(path) ? `it is excluded by ${this.ignoreFile}` : undefined;
  }

  /**
   * The entries a set of COPY/ADD sources selects, with Docker's rules: Go filepath.Match
   * wildcards per path element, a directory means its contents, a missing or unmatched source is
   * an error naming it, a source climbing out of the context with `..` is an error, `--exclude`
   * patterns and `--parents`.
   */
  async select(sources: string[], opts: SelectOptions = {}): Promise<Selection> {
    return selectSources(this, sources, { ...opts, escapeIsError: true });
  }

  /**
   * A digest over the selected entries' paths, types, modes, link targets and file contents (the
   * cache input of a COPY), plus a fingerprint per path to explain a miss. Files whose stat is
   * unchanged since they were last hashed are not read; the stat cache is saved when it changed.
   */
  async checksum(sel: Selection): Promise<ChecksumResult> {
    const result = await checksumSelection(sel, this.cache);
    // Rewritten in walk order (which also drops files that left the context) when it changed,
    // or when it holds more entries than the context has files (some must be stale).
    const fileCount = this.fileCount();
    if (this.cache.modified || this.cache.size > fileCount) {
      this.cache.save({ order: this.filePaths(), force: true });
    }
    return result;
  }

  /**
   * The checksum of what `sources` select (select + checksum), or the digest remembered for the
   * same sources in the same context state, in which case nothing is selected until `resolve`.
   */
  checksumSources(sources: string[], opts: SelectOptions = {}): Promise<SourcesChecksum> {
    const key = JSON.stringify([sources, opts.exclude ?? [], opts.parents === true, opts.allowEmptyWildcard === true]);
    // Once per build: a RUN's bind mount asks for its key and again for the files it shows.
    let sum = this.sums.get(key);
    if (sum === undefined) {
      sum = this.computeSources(key, sources, opts);
      this.sums.set(key, sum);
    }
    return sum;
  }

  private async computeSources(key: string, sources: string[], opts: SelectOptions): Promise<SourcesChecksum> {
    this.selectionMemo ??= SelectionMemo.load(this.opts.memoFile, this.snapshot.digest);
    const remembered = this.selectionMemo.get(key);
    if (remembered !== undefined) {
      let resolved: Promise<{ selection: Selection; files: ReadonlyMap<string, string> }> | undefined;
      return {
        digest: remembered,
        remembered: true,
        resolve: () => (resolved ??= this.resolveRemembered(sources, opts, remembered)),
      };
    }
    const selection = await this.select(sources, opts);
    const sum = await this.checksum(selection);
    // Only a state settled before the walk began is remembered (see selection-memo.ts).
    if (this.snapshot.newestCtimeMs < this.walkedAt - RACY_MS) {
      this.selectionMemo.set(key, sum.digest);
      this.selectionMemo.save();
    }
    return { digest: sum.digest, remembered: false, resolve: async () => ({ selection, files: sum.files }) };
  }

  private async resolveRemembered(sources: string[], opts: SelectOptions, remembered: string): Promise<{ selection: Selection; files: ReadonlyMap<string, string> }> {
    const selection = await this.select(sources, opts);
    const sum = await this.checksum(selection);
    if (sum.digest !== remembered) {
      throw new BuildError(`build context: files changed while the build was reading them (${sources.join(' ')})`, {
        hint: 'run the build again once nothing is writing into the context',
      }, 'CONTEXT_CHANGED');
    }
    return { selection, files: sum.files };
  }

  private fileCount(): number {
    let n = 0;
    for (const f of this.index.all) if (f.type === 'file') n++;
    return n;
  }

  private *filePaths(): Generator<string> {
    for (const f of this.index.all) if (f.type === 'file') yield f.path;
  }
}

function findIgnoreFile(root: string, dockerfilePath: string | undefined): string | undefined {
  if (dockerfilePath !== undefined) {
    const specific = `${dockerfilePath}.dockerignore`;
    if (existsSync(specific)) return specific;
  }
  const general = join(root, '.dockerignore');
  return existsSync(general) ? general : undefined;
}
