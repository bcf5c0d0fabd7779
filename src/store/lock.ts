/**
 * Cross-process locks without flock. Node cannot flock, and a single O_EXCL lock file cannot be
 * taken over safely: two waiters that both judge it stale can each delete it, and the second
 * deletes the fresh lock the first just created. So a lock here is a directory `locks/<name>/`
 * run as Lamport's bakery, where every entry is created O_EXCL under a name no other process will
 * ever use (it embeds the owner's pid, start time, boot id and a random suffix):
 *
 *   c.<owner>-<rand>                 "choosing": present while the owner picks its ticket number
 *   t.<number>.<x|s>.<owner>-<rand>  a ticket; x = exclusive, s = shared
 *
 * To lock: create the choosing flag, list the tickets, create a ticket numbered one above the
 * highest, drop the flag. Then wait until no other choosing flag exists and no conflicting ticket
 * orders before ours ((number, name) order; shared conflicts only with exclusive). To unlock:
 * unlink the ticket. An entry whose owner is dead (kill -9) is simply unlinked by whoever meets
 * it: the name is never reused, so this can never remove a live owner's entry, and removing a dead
 * owner's ticket is exactly what that owner would have done on release. The wait polls with
 * exponential backoff (woken early by a directory watch when the entry in the way goes) and ends
 * in a LockTimeoutError naming the holder's pid.
 */
import { randomBytes } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import { access, mkdir, open, readdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { StoreError } from '../errors.js';
import { isNoSpace, noSpaceError } from './durable.js';
import { isOwnerAlive, ownerTag, parseOwnerTag, selfIdentity, type ProcessIdentity } from './owner.js';

/** Shared holders coexist; an exclusive holder excludes everyone. */
export type LockMode = 'shared' | 'exclusive';

/** Options of one acquisition. */
export interface LockOptions {
  /** Give up after this long (default: the manager's default, 60 s). */
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** A held lock. release() is idempotent. */
export interface LockHandle {
  readonly name: string;
  readonly mode: LockMode;
  release(): Promise<void>;
}

/** One entry found in a lock directory, for diagnostics. */
export interface LockEntry {
  kind: 'choosing' | 'ticket';
  ticket: number;
  mode: LockMode;
  owner: ProcessIdentity;
  /** The unique `<owner>-<rand>` part of the entry name; orders equal ticket numbers. */
  tag: string;
  file: string;
}

/** A lock could not be taken in time; `holderPid` is the process in the way. */
export class LockTimeoutError extends StoreError {
  readonly lockName: string;
  readonly holderPid: number;

  constructor(lockName: string, holder: LockEntry, waitedMs: number) {
    const what = holder.kind === 'choosing' ? 'being taken by' : `held (${holder.mode}) by`;
    super(`timed out after ${(waitedMs / 1000).toFixed(1)}s waiting for the store lock "${lockName}": ${what} pid ${holder.owner.pid}`, {
      hint: `another strata process (pid ${holder.owner.pid}) is using the store; wait for it to finish or stop it`,
    }, 'STORE_LOCKED');
    this.lockName = lockName;
    this.holderPid = holder.owner.pid;
  }
}

const DEFAULT_TIMEOUT_MS = 60_000;
const MAX_POLL_MS = 50;

/** Tail of each lock's in-process queue of exclusive acquirers. */
const localTails = new Map<string, Promise<void>>();

/** In-process shared holds, joined so that nested shared locks never queue behind a waiting writer. */
const sharedHolds = new Map<string, { count: number; ready: Promise<() => Promise<void>> }>();

/** Takes and releases named locks under one `locks/` directory. */
export class LockManager {
  constructor(readonly dir: string, readonly defaultTimeoutMs = DEFAULT_TIMEOUT_MS) {}

  /** The directory of lock `name`. Names are short identifiers (`refs`, `gc`, `layer-<hex>`). */
  lockDir(name: string): string {
    if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/.test(name)) throw new StoreError(`invalid lock name ${JSON.stringify(name)}`);
    return join(this.dir, name);
  }

  /**
   * Waits for lock `name` in `mode` and resolves once it is held. Shared acquisitions of the same
   * lock within one process share a single ticket, so a shared holder can take the lock again
   * (nested) without deadlocking against a writer queued in between.
   */
  async acquire(name: string, mode: LockMode = 'exclusive', opts: LockOptions = {}): Promise<LockHandle> {
    const dir = this.lockDir(name);
    const timeoutMs = opts.timeoutMs ?? this.defaultTimeoutMs;
    if (mode === 'exclusive') {
      // Queue behind this process's own exclusive holders first: handoff within a process is then
      // immediate, and only one of its contenders at a time polls the directory.
      const started = Date.now();
      const turn = await localTurn(dir, timeoutMs, opts.signal);
      try {
        const release = await takeTicket(dir, name, mode, Math.max(0, timeoutMs - (Date.now() - started)), opts.signal);
        return handle(name, mode, async () => {
          try {
            await release();
          } finally {
            turn();
          }
        });
      } catch (e) {
        turn();
        throw e;
      }
    }
    let hold = sharedHolds.get(dir);
    if (!hold) {
      const fresh = { count: 0, ready: takeTicket(dir, name, mode, timeoutMs, opts.signal) };
      fresh.ready.catch(() => {
        if (sharedHolds.get(dir) === fresh) sharedHolds.delete(dir);
      });
      sharedHolds.set(dir, fresh);
      hold = fresh;
    }
    const joined = hold;
    joined.count++;
    let release: () => Promise<void>;
    try {
      release = await joined.ready;
    } catch (e) {
      joined.count--;
      throw e;
    }
    return handle(name, mode, async () => {
      if (--joined.count > 0) return;
      if (sharedHolds.get(dir) === joined) sharedHolds.delete(dir);
      await release();
    });
  }

  /** Runs `fn` while holding lock `name`; releases it however `fn` ends. */
  async withLock<T>(name: string, mode: LockMode, fn: () => Promise<T> | T, opts: LockOptions = {}): Promise<T> {
    const lock = await this.acquire(name, mode, opts);
    try {
      return await fn();
    } finally {
      await lock.release();
    }
  }

  /** The entries currently in lock `name`'s directory (live or not), for diagnostics and tests. */
  async entries(name: string): Promise<LockEntry[]> {
    const dir = this.lockDir(name);
    return (await listDir(dir)).map(parseEntry).filter((e): e is LockEntry => e !== undefined);
  }
}

function handle(name: string, mode: LockMode, release: () => Promise<void>): LockHandle {
  let done = false;
  return {
    name,
    mode,
    release: async () => {
      if (done) return;
      done = true;
      await release();
    },
  };
}

/** Bakery acquisition; resolves to the release function. */
async function takeTicket(dir: string, name: string, mode: LockMode, timeoutMs: number, signal?: AbortSignal): Promise<() => Promise<void>> {
  const tag = `${ownerTag(selfIdentity())}-${randomBytes(4).toString('hex')}`;
  const choosing = join(dir, `c.${tag}`);
  let ticketFile: string;
  let number: number;
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await createEmpty(choosing);
    try {
      number = 1 + Math.max(0, ...(await listDir(dir)).map((n) => parseEntry(n)).filter((e) => e?.kind === 'ticket').map((e) => e!.ticket));
      ticketFile = join(dir, `t.${String(number).padStart(12, '0')}.${mode === 'exclusive' ? 'x' : 's'}.${tag}`);
      await createEmpty(ticketFile);
    } finally {
      await unlinkQuiet(choosing);
    }
  } catch (e) {
    if (isNoSpace(e)) throw noSpaceError(`taking the store lock "${name}"`, e);
    throw e;
  }
  const started = Date.now();
  let delay = 1;
  let watcher: DirWatcher | undefined;
  try {
    for (;;) {
      const blocker = await findBlocker(dir, { ticket: number, tag, mode });
      if (!blocker) break;
      signal?.throwIfAborted();
      const waited = Date.now() - started;
      if (waited >= timeoutMs) throw new LockTimeoutError(name, blocker, waited);
      // Sleep until the entry in our way goes (the watcher reports its unlink at once), or the
      // backoff runs out: polling remains the fallback, since events can be missed and some
      // filesystems send none. Only that entry's name wakes us, so a busy lock does not wake
      // every waiter on every change.
      watcher ??= watchDir(dir);
      await watcher.next(blocker.file, Math.min(delay * (0.5 + Math.random()), timeoutMs - waited + 1));
      delay = Math.min(delay * 2, MAX_POLL_MS);
    }
  } catch (e) {
    await unlinkQuiet(ticketFile);
    throw e;
  } finally {
    watcher?.close();
  }
  return () => unlinkQuiet(ticketFile);
}

/** Waits for this process's earlier exclusive acquirers of `dir`; resolves to "my turn is over". */
async function localTurn(dir: string, timeoutMs: number, signal?: AbortSignal): Promise<() => void> {
  const prev = localTails.get(dir) ?? Promise.resolve();
  let done!: () => void;
  const mine = new Promise<void>((resolve) => (done = resolve));
  const tail = prev.then(() => mine);
  localTails.set(dir, tail);
  const finish = () => {
    done();
    if (localTails.get(dir) === tail) localTails.delete(dir);
  };
  // Waiting here is an optimisation only (the bakery below is what excludes), so on timeout or
  // abort we just stop queueing and let takeTicket report the holder.
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  const giveUp = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, timeoutMs);
    onAbort = () => resolve();
    signal?.addEventListener('abort', onAbort, { once: true });
  });
  await Promise.race([prev, giveUp]);
  clearTimeout(timer);
  if (onAbort) signal?.removeEventListener('abort', onAbort);
  return finish;
}

interface DirWatcher {
  next(file: string, ms: number): Promise<void>;
  close(): void;
}

/** Wakes a waiter when `file` in a lock directory changes, or after `ms` at the latest. */
function watchDir(dir: string): DirWatcher {
  let wanted: string | undefined;
  let wake: (() => void) | undefined;
  let fsw: FSWatcher | undefined;
  try {
    fsw = watch(dir, { persistent: false }, (_event, filename) => {
      if (filename === null || filename === wanted) wake?.();
    });
    fsw.on('error', () => fsw?.close());
  } catch {
    fsw = undefined; // no inotify watches left, or unsupported: plain polling
  }
  return {
    async next(file, ms) {
      wanted = file;
      const ac = new AbortController();
      const woken = new Promise<void>((resolve) => (wake = resolve));
      // The entry may have gone between our listing and arming the watch.
      if (await exists(join(dir, file))) {
        await Promise.race([sleep(ms, undefined, { signal: ac.signal }).catch(() => undefined), woken]);
      }
      ac.abort();
      wake = undefined;
      wanted = undefined;
    },
    close() {
      fsw?.close();
    },
  };
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

/** The first live entry that must go before us, unlinking dead owners' entries on the way. */
async function findBlocker(dir: string, me: { ticket: number; tag: string; mode: LockMode }): Promise<LockEntry | undefined> {
  // Two separate listings, in this order, mirror the bakery's "wait while choosing[j], then read
  // ticket[j]": a ticket missed by the second listing was chosen after our ticket existed and so
  // numbers above ours.
  for (const file of await listDir(dir)) {
    if (!file.startsWith('c.')) continue;
    const e = parseEntry(file);
    if (!e || e.tag === me.tag) continue;
    if (!isOwnerAlive(e.owner)) {
      await unlinkQuiet(join(dir, file));
      continue;
    }
    return e;
  }
  for (const file of await listDir(dir)) {
    const e = parseEntry(file);
    if (!e || e.kind !== 'ticket' || e.tag === me.tag) continue;
    const earlier = e.ticket < me.ticket || (e.ticket === me.ticket && e.tag < me.tag);
    if (!earlier || (e.mode === 'shared' && me.mode === 'shared')) continue;
    if (!isOwnerAlive(e.owner)) {
      await unlinkQuiet(join(dir, file));
      continue;
    }
    return e;
  }
  return undefined;
}

function parseEntry(file: string): LockEntry | undefined {
  let m = /^c\.(.+)$/.exec(file);
  if (m) {
    const owner = parseOwnerTag(m[1]!);
    return owner && { kind: 'choosing', ticket: 0, mode: 'exclusive', owner, tag: m[1]!, file };
  }
  m = /^t\.(\d{12})\.([xs])\.(.+)$/.exec(file);
  if (!m) return undefined;
  const owner = parseOwnerTag(m[3]!);
  return owner && { kind: 'ticket', ticket: Number(m[1]), mode: m[2] === 'x' ? 'exclusive' : 'shared', owner, tag: m[3]!, file };
}

async function createEmpty(path: string): Promise<void> {
  const fh = await open(path, 'wx', 0o600);
  await fh.close();
}

async function listDir(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
}

async function unlinkQuiet(path: string): Promise<void> {
  try {
    await unlink(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
}
