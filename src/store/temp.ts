/**
 * Temp entries under `<root>/tmp/`. Each name starts with its writer's owner tag, so anything
 * left there by a process that is no longer running (kill -9, power loss) is recognisably
 * garbage, and the next open removes it without racing writers that are still alive.
 */
import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { isOwnerAlive, ownerTag, parseOwnerTag, selfIdentity } from './owner.js';

/** A fresh temp entry name for this process: `<owner>-<random>.<purpose>`. */
export function tempName(purpose: string): string {
  return `${ownerTag(selfIdentity())}-${randomBytes(6).toString('hex')}.${purpose.replace(/[^A-Za-z0-9_-]/g, '_')}`;
}

/** Which of the names in a temp dir belong to writers that are gone (or carry no owner tag). */
export function deadTempEntries(names: Iterable<string>): string[] {
  const dead: string[] = [];
  for (const name of names) {
    const owner = parseOwnerTag(name);
    if (!owner || !isOwnerAlive(owner)) dead.push(name);
  }
  return dead;
}

/** Removes every entry of `tmpDir` whose writer is no longer running; returns the names removed. */
export async function cleanDeadTemp(tmpDir: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(tmpDir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  const dead = deadTempEntries(names);
  if (dead.length === 0) return dead;
  // A killed build may have left overlay mounts under its temp dir: unmount them before
  // deleting, or rm would walk into a mounted view (and fail on the mount points).
  const mounts = mountsUnder(tmpDir);
  for (const name of dead) {
    const dir = join(tmpDir, name);
    for (const m of mounts.filter((p) => p === dir || p.startsWith(dir + '/'))) {
      spawnSync('umount', ['-l', m], { stdio: 'ignore' });
    }
    await rm(dir, { recursive: true, force: true });
  }
  return dead;
}

/** Mount points at or below `dir` (deepest first), from /proc/self/mountinfo. */
export function mountsUnder(dir: string): string[] {
  let info: string;
  try {
    info = readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const line of info.split('\n')) {
    const field = line.split(' ')[4];
    if (!field) continue;
    const path = field.replace(/\\(\d{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));
    if (path === dir || path.startsWith(dir + '/')) out.push(path);
  }
  return out.sort((a, b) => b.length - a.length);
}
