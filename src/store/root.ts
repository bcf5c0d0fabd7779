/**
 * Where the store lives and how its directory is laid out. The layout is fixed; other parts of
 * strata (and older strata versions) rely on it:
 *
 *   blobs/sha256/<hex>  content-addressed blobs        refs.json  names index
 *   layers/<hex>/       unpacked layers by diff_id     cache/     build-cache records
 *   tmp/                in-flight writes               locks/     lock entries
 */
import { chmod, mkdir, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { StoreError } from '../errors.js';

/** Inputs of resolveStoreRoot; env, uid and home default to this process's. */
export interface StoreRootOptions {
  root?: string;
  env?: NodeJS.ProcessEnv;
  uid?: number;
  home?: string;
}

/**
 * The store root: `--root`, else `$STRATA_ROOT`, else `/var/lib/strata` for root, else
 * `$XDG_DATA_HOME/strata` or `~/.local/share/strata`. Always absolute; nothing is created.
 */
export function resolveStoreRoot(opts: StoreRootOptions = {}): string {
  const env = opts.env ?? process.env;
  if (opts.root) return resolve(opts.root);
  if (env.STRATA_ROOT) return resolve(env.STRATA_ROOT);
  const uid = opts.uid ?? (process.getuid ? process.getuid() : -1);
  if (uid === 0) return '/var/lib/strata';
  if (env.XDG_DATA_HOME && env.XDG_DATA_HOME.startsWith('/')) return join(env.XDG_DATA_HOME, 'strata');
  return join(opts.home ?? homedir(), '.local', 'share', 'strata');
}

/** Absolute paths of the fixed store layout under one root. */
export interface StoreLayout {
  root: string;
  blobs: string;
  refs: string;
  layers: string;
  cache: string;
  tmp: string;
  locks: string;
}

/** The layout paths under `root` (pure; touches nothing). */
export function storeLayout(root: string): StoreLayout {
  const r = resolve(root);
  return {
    root: r,
    blobs: join(r, 'blobs', 'sha256'),
    refs: join(r, 'refs.json'),
    layers: join(r, 'layers'),
    cache: join(r, 'cache'),
    tmp: join(r, 'tmp'),
    locks: join(r, 'locks'),
  };
}

/**
 * Creates the layout if missing. The root is made mode 0700 when this call creates it: unpacked
 * layers may hold setuid binaries that other users must not reach. An existing root keeps its mode.
 */
export async function ensureStoreLayout(layout: StoreLayout): Promise<void> {
  try {
    const created = await mkdir(layout.root, { recursive: true, mode: 0o700 });
    // mkdir's mode is filtered by the umask; a umask of 077 or looser still yields 0700, stricter
    // ones would lock us out, so set it explicitly.
    if (created !== undefined) await chmod(layout.root, 0o700);
    const st = await stat(layout.root);
    if (!st.isDirectory()) throw new StoreError(`store root ${layout.root} is not a directory`);
    for (const dir of [layout.blobs, layout.layers, layout.cache, layout.tmp, layout.locks]) {
      await mkdir(dir, { recursive: true, mode: 0o700 });
    }
  } catch (e) {
    if (e instanceof StoreError) throw e;
    throw new StoreError(`cannot create the store at ${layout.root}: ${(e as Error).message}`, {
      cause: e,
      hint: 'pass --root or set STRATA_ROOT to a writable directory',
    });
  }
}
