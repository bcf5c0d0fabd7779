/**
 * Resolving `USER name[:group]` / `uid[:gid]` to numeric ids with the image's own /etc/passwd and
 * /etc/group, the way runc does for docker: a name must exist; a number need not; supplementary
 * groups come from /etc/group when only the user is given.
 */
import { BuildError } from '../errors.js';

/** Numeric identity of a process. */
export interface ResolvedUser {
  uid: number;
  gid: number;
  groups: number[];
  /** Home directory from passwd (for HOME), when known. */
  home?: string;
}

/** Largest id strata accepts: ids must fit the kernel's (signed) range and never wrap to 0. */
export const MAX_ID = 2 ** 31 - 1;

interface PasswdEntry { name: string; uid: number; gid: number; home: string }
interface GroupEntry { name: string; gid: number; members: string[] }

function parsePasswd(text: string | undefined): PasswdEntry[] {
  if (!text) return [];
  const out: PasswdEntry[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f.length < 7 || line.startsWith('#')) continue;
    const uid = Number(f[2]);
    const gid = Number(f[3]);
    if (!Number.isInteger(uid) || !Number.isInteger(gid)) continue;
    out.push({ name: f[0]!, uid, gid, home: f[5]! });
  }
  return out;
}

function parseGroup(text: string | undefined): GroupEntry[] {
  if (!text) return [];
  const out: GroupEntry[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f.length < 4 || line.startsWith('#')) continue;
    const gid = Number(f[2]);
    if (!Number.isInteger(gid)) continue;
    out.push({ name: f[0]!, gid, members: f[3]!.split(',').map((m) => m.trim()).filter(Boolean) });
  }
  return out;
}

function numericId(text: string, what: string, spec: string): number | undefined {
  if (!/^\d+$/.test(text)) return undefined;
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n > MAX_ID) {
    throw new BuildError(`${what} ${text} in USER "${spec}" is out of range (0-${MAX_ID})`, {
      hint: 'give a smaller numeric id, or a user name from the image',
    }, 'BUILD_USER');
  }
  return n;
}

/**
 * Rejects a USER whose numeric uid or gid does not fit when the instruction is met, so the image
 * never records one (a runtime could wrap it to 0); names are resolved when a RUN needs them.
 */
export function checkUserSpec(spec: string): void {
  const colon = spec.indexOf(':');
  numericId(colon < 0 ? spec : spec.slice(0, colon), 'uid', spec);
  if (colon >= 0) numericId(spec.slice(colon + 1), 'gid', spec);
}

/** Resolves a USER value against the image's passwd and group files (absent files are empty). */
export function resolveUser(spec: string, passwdText: string | undefined, groupText: string | undefined): ResolvedUser {
  const value = spec === '' ? 'root' : spec;
  const colon = value.indexOf(':');
  const userPart = colon < 0 ? value : value.slice(0, colon);
  const groupPart = colon < 0 ? undefined : value.slice(colon + 1);
  const passwd = parsePasswd(passwdText);
  const groups = parseGroup(groupText);

  const uidNum = numericId(userPart, 'uid', spec);
  const entry = uidNum === undefined ? passwd.find((p) => p.name === userPart) : passwd.find((p) => p.uid === uidNum);
  if (uidNum === undefined && !entry) {
    throw new BuildError(`unable to find user ${userPart}: no matching entries in passwd file`, {
      hint: 'create the user in an earlier RUN (adduser/useradd) or use a numeric uid',
    }, 'BUILD_USER');
  }
  const uid = uidNum ?? entry!.uid;
  let gid = entry?.gid ?? 0;
  let supplementary: number[] = [];
  if (groupPart !== undefined && groupPart !== '') {
    const gidNum = numericId(groupPart, 'gid', spec);
    if (gidNum !== undefined) gid = gidNum;
    else {
      const g = groups.find((x) => x.name === groupPart);
      if (!g) {
        throw new BuildError(`unable to find group ${groupPart}: no matching entries in group file`, {
          hint: 'create the group in an earlier RUN (addgroup/groupadd) or use a numeric gid',
        }, 'BUILD_USER');
      }
      gid = g.gid;
    }
  } else if (entry) {
    supplementary = groups.filter((g) => g.members.includes(entry.name) && g.gid !== gid).map((g) => g.gid);
  }
  const out: ResolvedUser = { uid, gid, groups: [gid, ...supplementary.filter((g, i, a) => a.indexOf(g) === i)] };
  if (entry?.home) out.home = entry.home;
  return out;
}
