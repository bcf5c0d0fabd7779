/**
 * Reading a file from an image's merged filesystem without mounting it: the unpacked layer dirs
 * are searched top-down with overlay semantics (a whiteout hides the path in lower layers, an
 * opaque directory hides lower contents), and symlinks are resolved inside the view, never on
 * the host. Used for small lookups such as /etc/passwd and /etc/group.
 */
import { lstatSync, readFileSync, readlinkSync, type Stats } from 'node:fs';
import { join, posix } from 'node:path';
import { readXattrsSync, OVERLAY_OPAQUE_XATTR } from '../fs/xattr.js';
import { isOverlayWhiteout } from '../fs/special-files.js';

const MAX_LINKS = 40;

/** What a path is in the merged view: the layer dir that provides it and its stat. */
export interface ViewEntry {
  abs: string;
  stat: Stats;
}

/** A read-only merged view of unpacked layer dirs given top first. */
export class LowerView {
  constructor(private readonly lowersTopFirst: readonly string[]) {}

  /** The entry at a clean relative path (the last component is not followed), or undefined. */
  lookup(rel: string): ViewEntry | undefined {
    const parts = rel.split('/').filter(Boolean);
    for (const layer of this.lowersTopFirst) {
      let opaque = false;
      let blocked = false;
      // Parents first: in this layer a whiteout or a non-directory ends the search; an opaque
      // directory hides the layers below it (after this layer has been looked at).
      for (let i = 1; i < parts.length; i++) {
        const p = join(layer, ...parts.slice(0, i));
        const st = lstatSync(p, { throwIfNoEntry: false });
        if (!st) break;
        if (isOverlayWhiteout(st) || !st.isDirectory()) {
          blocked = true;
          break;
        }
        if (readXattrsSync(p)[OVERLAY_OPAQUE_XATTR]?.toString() === 'y') opaque = true;
      }
      if (blocked) return undefined;
      const abs = join(layer, ...parts);
      const st = lstatSync(abs, { throwIfNoEntry: false });
      if (st) return isOverlayWhiteout(st) ? undefined : { abs, stat: st };
      if (opaque) return undefined;
    }
    return undefined;
  }

  /** Resolves symlinks inside the view (absolute targets are view-rooted; `..` stops at the root). */
  resolve(path: string): string | undefined {
    let pending = path.split('/').filter(Boolean);
    const done: string[] = [];
    let links = 0;
    while (pending.length > 0) {
      const part = pending.shift()!;
      if (part === '.') continue;
      if (part === '..') {
        done.pop();
        continue;
      }
      done.push(part);
      const e = this.lookup(done.join('/'));
      if (!e) return pending.length === 0 ? done.join('/') : undefined;
      if (e.stat.isSymbolicLink()) {
        if (++links > MAX_LINKS) return undefined;
        const target = readlinkSync(e.abs);
        done.pop();
        if (target.startsWith('/')) done.length = 0;
        pending = [...target.split('/').filter(Boolean), ...pending];
      }
    }
    return done.join('/');
  }

  /** A regular file's content (following symlinks inside the view), or undefined when absent. */
  readFile(path: string, maxBytes = 4 * 1024 * 1024): Buffer | undefined {
    const rel = this.resolve(posix.normalize('/' + path));
    if (rel === undefined) return undefined;
    const e = this.lookup(rel);
    if (!e || !e.stat.isFile() || e.stat.size > maxBytes) return undefined;
    return readFileSync(e.abs);
  }
}
