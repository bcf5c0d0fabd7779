/**
 * What commands share: the global options and opening the image store they point at.
 */
import type { Command } from 'commander';
import { ImageStore } from '../image/image-store.js';
import { resolveStoreRoot } from '../store/root.js';
import { UsageError } from '../errors.js';

/** Global options, available to every command. */
export interface GlobalOptions {
  root?: string;
}

/** The global options as seen from a subcommand. */
export function globals(cmd: Command): GlobalOptions {
  return cmd.optsWithGlobals() as GlobalOptions;
}

/** Opens the image store chosen by --root / $STRATA_ROOT / the default location. */
export function openImages(cmd: Command): Promise<ImageStore> {
  const { root } = globals(cmd);
  return ImageStore.open(resolveStoreRoot(root !== undefined ? { root } : {}));
}

/** Checks a `--format` value against the accepted ones (bad usage otherwise). */
export function checkFormat<T extends string>(value: string, accepted: readonly T[]): T {
  if (!(accepted as readonly string[]).includes(value)) {
    throw new UsageError(`unknown format "${value}"`, { hint: `use --format ${accepted.join('|')}` });
  }
  return value as T;
}
