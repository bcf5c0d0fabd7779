/**
 * Process identity for lock entries and temp files. A pid alone is not an identity: after a
 * kill -9 the pid can be reused by an unrelated process. So an owner is the pid plus the process
 * start time (field 22 of /proc/<pid>/stat, in clock ticks since boot), the boot id (start times
 * restart at every boot) and the pid namespace (pids mean nothing across namespaces).
 */
import { readFileSync, readlinkSync } from 'node:fs';

/** Who created a lock entry or temp file. */
export interface ProcessIdentity {
  pid: number;
  /** Start time in clock ticks since boot, as a decimal string ('0' when /proc is unavailable). */
  start: string;
  /** First 8 hex chars of the kernel boot id ('0' when unknown). */
  boot: string;
  /** Pid namespace inode number ('0' when unknown). */
  pidns: string;
}

/** What /proc says about a pid: start time and state letter; undefined when the pid is gone. */
export function readProcStat(pid: number): { start: string; state: string } | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // comm (field 2) may hold spaces and parentheses, so split after the last ')'.
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const state = rest[0];
  const start = rest[19];
  if (state === undefined || start === undefined) return undefined;
  return { start, state };
}

function readBootId(): string {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').replace(/[^a-f0-9]/g, '').slice(0, 8) || '0';
  } catch {
    return '0';
  }
}

function readPidNs(): string {
  try {
    return /\[(\d+)\]/.exec(readlinkSync('/proc/self/ns/pid'))?.[1] ?? '0';
  } catch {
    return '0';
  }
}

let self: ProcessIdentity | undefined;

/** This process's identity (computed once). */
export function selfIdentity(): ProcessIdentity {
  if (!self || self.pid !== process.pid) {
    self = { pid: process.pid, start: readProcStat(process.pid)?.start ?? '0', boot: readBootId(), pidns: readPidNs() };
  }
  return self;
}

/**
 * Whether the process that wrote `owner` may still be running. Answers true when it cannot tell
 * (another pid namespace, no /proc): a lock wrongly judged dead would be broken under a live
 * holder, while one wrongly judged alive only makes a waiter time out with the holder's pid.
 */
export function isOwnerAlive(owner: ProcessIdentity): boolean {
  const me = selfIdentity();
  if (owner.boot !== me.boot && owner.boot !== '0' && me.boot !== '0') return false;
  if (owner.pidns !== me.pidns) return true;
  if (me.start === '0') return pidExists(owner.pid);
  const stat = readProcStat(owner.pid);
  if (!stat) return false;
  if (stat.start !== owner.start) return false; // the pid was reused
  return stat.state !== 'Z' && stat.state !== 'X'; // a zombie can no longer touch the store
}

function pidExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Renders an identity as a file-name-safe tag, `pid-start-boot-pidns`. */
export function ownerTag(owner: ProcessIdentity): string {
  return `${owner.pid}-${owner.start}-${owner.boot}-${owner.pidns}`;
}

/** Parses the owner tag at the start of a name (`pid-start-boot-pidns…`); undefined if absent. */
export function parseOwnerTag(name: string): ProcessIdentity | undefined {
  const m = /^(\d+)-(\d+)-([a-f0-9]+)-(\d+)(?:$|[-.])/.exec(name);
  if (!m) return undefined;
  return { pid: Number(m[1]), start: m[2]!, boot: m[3]!, pidns: m[4]! };
}
