/**
 * Mount-point stubs: what the executor itself leaves in a step's overlay upper dir.
 *
 * To mount /proc, /dev, /etc/resolv.conf… into the rootfs the executor must create the mount
 * points in the merged view when the image lacks them, and overlayfs records those (and the
 * parent directories it copies up for them) in the upper dir. They are not the step's work and
 * must not reach the layer, but the step may really write at the same paths (`echo … >
 * /etc/hosts` after the mount is gone, `chmod 700 /etc`), and that must not be hidden.
 *
 * The rule: right after making its mount points and before the step's process starts, the
 * executor calls `captureStubs(upperDir)`. The upper dir is fresh, so everything in it then is a
 * stub; each is recorded as (path, inode, ctime) read from the upper dir itself (the merged view
 * reports other inode numbers). When the diff is taken, a recorded path is left out only while it
 * is still the same inode with the same ctime, and is a directory or an empty regular file: any
 * write, chmod, chown, xattr or utime changes the ctime, a replaced file has another inode, and a
 * file written within the same clock tick still has a size. (Since Linux 6.13 a ctime that was
 * read is followed by a fine-grained one, so even a chmod right after the capture shows; before,
 * the tens of milliseconds the executor takes to start the step separate them.) A directory left
 * out this way still has its children judged one by one, and is written after all when one of
 * them is, as it is in the upper dir (a layer lists the parents of what it changes, as
 * overlayfs' copy-up does); its mtime is then the one the stubs' creation gave it.
 */
import { lstatSync, readdirSync } from 'node:fs';
import type { Stats } from 'node:fs';
import { SnapshotError } from './snapshot-error.js';

/** One stub as the executor found it in the upper dir before the step ran. */
export interface StubRecord {
  /** Relative to the upper dir, no leading slash (`etc/resolv.conf`). */
  path: string;
  ino: number;
  ctimeMs: number;
}

/**
 * Records every entry of `upperDir` (which must hold only the executor's mount-point stubs and
 * the directories copied up for them) so a later diff can leave them out while unchanged.
 */
export function captureStubs(upperDir: string): StubRecord[] {
  const out: StubRecord[] = [];
  const walk = (abs: string, rel: string): void => {
    for (const name of readdirSync(abs).sort()) {
      const childAbs = `${abs}/${name}`;
      const childRel = rel === '' ? name : `${rel}/${name}`;
      const st = lstatSync(childAbs);
      out.push({ path: childRel, ino: st.ino, ctimeMs: st.ctimeMs });
      if (st.isDirectory()) walk(childAbs, childRel);
    }
  };
  try {
    walk(upperDir, '');
  } catch (err) {
    throw new SnapshotError(`capture stubs in ${upperDir}: ${(err as Error).message}`, { cause: err });
  }
  return out;
}

/** Answers "is this entry an unchanged stub?" for one diff. */
export class StubMatcher {
  private readonly byPath = new Map<string, StubRecord>();

  constructor(stubs: ReadonlyArray<StubRecord> | undefined) {
    for (const s of stubs ?? []) this.byPath.set(s.path.replace(/^\/+|\/+$/g, ''), s);
  }

  /** True when `rel` was recorded as a stub and is still that same untouched directory or empty file. */
  unchanged(rel: string, st: Stats): boolean {
    if (this.byPath.size === 0) return false;
    const s = this.byPath.get(rel);
    if (s === undefined || s.ino !== st.ino || s.ctimeMs !== st.ctimeMs) return false;
    return st.isDirectory() || (st.isFile() && st.size === 0);
  }
}
