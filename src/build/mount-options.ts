/**
 * The options every kind of `RUN --mount` reads the same way: where it lands (relative targets
 * are under the working directory, as in BuildKit) and, for the files strata makes for a mount
 * (secrets, ssh sockets), their owner and mode.
 */
import { posix } from 'node:path';
import type { MountSpec } from '../dockerfile/instructions.js';

/** The mount's target in the step's root. */
export function mountTarget(m: MountSpec, workdir: string): string {
  return posix.isAbsolute(m.target!) ? m.target! : posix.join(workdir || '/', m.target!);
}

/** `uid`, `gid` (default root) and `mode` (octal, default `defaultMode`) of a file made for the mount. */
export function mountOwner(m: MountSpec, defaultMode: number): { uid: number; gid: number; mode: number } {
  return { uid: Number(m.uid ?? 0), gid: Number(m.gid ?? 0), mode: m.mode !== undefined ? parseInt(m.mode, 8) : defaultMode };
}
