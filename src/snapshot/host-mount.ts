/**
 * Overlay mounts in strata's own mount namespace, for the steps Node performs itself (COPY, ADD,
 * reading a stage's files). RUN steps never use these: their overlay lives in the step's private
 * namespace and disappears with it.
 *
 * Every mount is recorded so an interrupted build unmounts what it mounted; mounts left behind by
 * a killed process sit under the store's tmp/ with a dead owner, and the next strata that opens
 * the store unmounts them before deleting the temp dir (store/temp.ts).
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { ExecError } from '../errors.js';

const run = promisify(execFile);
const active = new Set<string>();

/** Mounts an overlay: writable with upper+work, read-only with lowers only. Lowers top first. */
export async function mountOverlay(target: string, lowers: readonly string[], upper?: { upper: string; work: string }): Promise<void> {
  const opts = [`lowerdir=${lowers.join(':')}`];
  if (upper) opts.push(`upperdir=${upper.upper}`, `workdir=${upper.work}`);
  const options = (upper ? '' : 'ro,') + 'nodev,' + opts.join(',');
  try {
    await run('mount', ['-t', 'overlay', 'overlay', '-o', options, target]);
  } catch (e) {
    throw new ExecError(`cannot mount overlay on ${target}: ${(e as { stderr?: string }).stderr?.trim() || (e as Error).message}`, {
      hint: 'strata needs root and overlayfs for builds',
    });
  }
  active.add(target);
}

/** Unmounts (lazily if busy). Safe to call twice. */
export async function unmount(target: string): Promise<void> {
  try {
    await run('umount', [target]);
  } catch {
    await run('umount', ['-l', target]).catch(() => undefined);
  }
  active.delete(target);
}

/** Runs fn with an overlay mounted at target, unmounting afterwards whatever happens. */
export async function withOverlay<T>(target: string, lowers: readonly string[], upper: { upper: string; work: string } | undefined, fn: () => Promise<T>): Promise<T> {
  await mountOverlay(target, lowers, upper);
  try {
    return await fn();
  } finally {
    await unmount(target);
  }
}

/** Unmounts everything this process mounted (called on SIGINT/SIGTERM before exiting). */
export async function unmountAll(): Promise<void> {
  for (const t of [...active]) await unmount(t);
}
