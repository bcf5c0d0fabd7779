/**
 * A cross-process lock file and a build-once cache on top of it, for fixtures that several test
 * processes may ask for at the same moment (node:test runs each test file in its own process).
 */
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, linkSync, mkdirSync, openSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/** How long to wait for another process's lock, and how often to look. */
export interface LockOptions {
  timeoutMs: number;
  pollMs?: number;
  /** What the lock protects, for the timeout message (e.g. "the Debian rootfs fixture"). */
  what: string;
}

/** True while a process with this pid exists (EPERM still means it exists). */
export function pidAlive(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false; // kill(0 or -1) would address process groups
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The pid written in a lock file, or undefined when the file is gone or unreadable. */
function readHolder(lockPath: string): { raw: string; pid: number } | undefined {
  let raw: string;
  try {
    raw = readFileSync(lockPath, 'utf8');
  } catch {
    return undefined;
  }
  const pid = Number.parseInt(raw, 10);
  return { raw, pid: Number.isSafeInteger(pid) && pid > 0 ? pid : -1 };
}

function errno(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException).code;
}

/**
 * Takes the lock or returns undefined if someone holds it. link(2) fails with EEXIST atomically,
 * like an O_EXCL create, and the lock file is complete (pid already written) the instant it
 * appears, so a waiter never reads a half-written lock.
 */
function tryAcquire(lockPath: string, token: string): boolean {
  const tmp = `${lockPath}.new-${process.pid}-${randomBytes(4).toString('hex')}`;
  writeFileSync(tmp, token);
  try {
    linkSync(tmp, lockPath);
    return true;
  } catch (e) {
    if (errno(e) === 'EEXIST') return false;
    throw e;
  } finally {
    rmSync(tmp, { force: true });
  }
}

/**
 * Removes a lock whose holder died. It is first renamed away (atomic) and checked, so two waiters
 * breaking the same stale lock cannot delete a fresh lock a third process took in between.
 */
function breakStale(lockPath: string, staleRaw: string): void {
  const aside = `${lockPath}.stale-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    renameSync(lockPath, aside);
  } catch (e) {
    if (errno(e) === 'ENOENT') return; // another waiter broke it first
    throw e;
  }
  try {
    if (readFileSync(aside, 'utf8') !== staleRaw) {
      // We moved a live lock taken after our read: put it back unless someone already re-locked.
      try {
        linkSync(aside, lockPath);
      } catch (e) {
        if (errno(e) !== 'EEXIST') throw e;
      }
    }
  } finally {
    rmSync(aside, { force: true });
  }
}

/** Runs `fn` while holding `lockPath`; waits for a live holder, breaks a dead holder's lock. */
export async function withFileLock<T>(lockPath: string, opts: LockOptions, fn: () => Promise<T>): Promise<T> {
  const token = `${process.pid}\n${randomBytes(8).toString('hex')}\n`;
  const deadline = Date.now() + opts.timeoutMs;
  for (;;) {
    if (tryAcquire(lockPath, token)) break;
    const holder = readHolder(lockPath);
    if (holder === undefined) continue; // released between our attempt and our read
    if (!pidAlive(holder.pid)) {
      breakStale(lockPath, holder.raw);
      continue;
    }
    if (Date.now() >= deadline) {
      throw new Error(
        `timed out after ${Math.round(opts.timeoutMs / 1000)} s waiting for ${opts.what}: ` +
          `lock ${lockPath} is held by pid ${holder.pid}${describePid(holder.pid)}. ` +
          `If that process is stuck, kill it (the lock is then treated as stale) or delete the lock file.`,
      );
    }
    await sleep(opts.pollMs ?? 200);
  }
  try {
    return await fn();
  } finally {
    // Only remove our own lock: if it was (wrongly) broken and re-taken, leave the new holder's.
    if (readHolder(lockPath)?.raw === token) rmSync(lockPath, { force: true });
  }
}

/** ` (node foo.js …)` from /proc, so a timeout names what holds the lock; empty if unknown. */
function describePid(pid: number): string {
  try {
    const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ');
    return cmd ? ` (${cmd.length > 120 ? cmd.slice(0, 117) + '...' : cmd})` : '';
  } catch {
    return '';
  }
}

/** Deletes `<name>.tmp-<pid>-*` leftovers of builders that died mid-build. */
function sweepDeadTemps(finalPath: string): void {
  const prefix = basename(finalPath) + '.tmp-';
  for (const name of readdirSync(dirname(finalPath))) {
    if (!name.startsWith(prefix)) continue;
    const pid = Number.parseInt(name.slice(prefix.length), 10);
    if (Number.isSafeInteger(pid) && !pidAlive(pid)) rmSync(join(dirname(finalPath), name), { force: true, recursive: true });
  }
}

const inProcess = new Map<string, Promise<string>>();

/**
 * Returns `finalPath`, building it first if it does not exist. `build` writes a temp path in the
 * same directory, which is fsynced and renamed into place, so readers only ever see a complete
 * file; the lock keeps concurrent processes from building it twice (calls in one process share
 * one promise). Correctness does not rest on the lock: two builders would just both rename.
 */
export function buildCached(finalPath: string, opts: LockOptions, build: (tmpPath: string) => Promise<void>): Promise<string> {
  if (existsSync(finalPath)) return Promise.resolve(finalPath);
  let p = inProcess.get(finalPath);
  if (!p) {
    p = buildLocked(finalPath, opts, build).finally(() => inProcess.delete(finalPath));
    inProcess.set(finalPath, p);
  }
  return p;
}

async function buildLocked(finalPath: string, opts: LockOptions, build: (tmpPath: string) => Promise<void>): Promise<string> {
  mkdirSync(dirname(finalPath), { recursive: true });
  return withFileLock(finalPath + '.lock', opts, async () => {
    if (existsSync(finalPath)) return finalPath; // the previous holder built it while we waited
    sweepDeadTemps(finalPath);
    const tmp = `${finalPath}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
    try {
      await build(tmp);
      const fd = openSync(tmp, 'r');
      try {
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      renameSync(tmp, finalPath);
    } catch (e) {
      rmSync(tmp, { force: true, recursive: true });
      throw e;
    }
    return finalPath;
  });
}
