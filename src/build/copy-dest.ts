/**
 * Destination paths inside a root filesystem. A container path is resolved component by
 * component against the tree under rootDir as if rootDir were `/`: an absolute symlink target
 * restarts at rootDir, `..` stops at it, so an image symlink such as `/data -> /../../etc` leads
 * to rootDir/etc and never to the host's /etc (the securejoin rule). Directories are then created
 * one component at a time with lstat checks, so nothing is created through a symlink.
 */
import { chmodSync, lchownSync, lstatSync, mkdirSync, readlinkSync } from 'node:fs';
import { BuildError } from '../errors.js';

const MAX_LINKS = 255;

/** Host path of a rootDir-relative path (`''` is rootDir). */
export function inRoot(rootDir: string, rel: string): string {
  return rel === '' ? rootDir : `${rootDir}/${rel}`;
}

/**
 * Resolves a container path (absolute or relative to `/`) inside `rootDir`; returns the clean
 * relative path (`''` for the root). Existing symlinks are followed (the final one only with
 * `followFinal`); once a component is missing the rest is taken literally.
 */
export function resolveInRoot(rootDir: string, path: string, followFinal = true): string {
  const todo = path.split('/').reverse();
  const done: string[] = [];
  let missing = false;
  let hops = 0;
  while (todo.length > 0) {
    const part = todo.pop()!;
    if (part === '' || part === '.') continue;
    if (part === '..') {
      done.pop();
      continue;
    }
    done.push(part);
    if (missing) continue;
    const isLast = !todo.some((p) => p !== '' && p !== '.');
    if (isLast && !followFinal) break;
    const st = lstatSync(inRoot(rootDir, done.join('/')), { throwIfNoEntry: false });
    if (st === undefined) {
      missing = true;
      continue;
    }
    if (!st.isSymbolicLink()) continue;
    if (++hops > MAX_LINKS) {
      throw new BuildError(`too many levels of symbolic links resolving ${JSON.stringify(path)} in the image`, {}, 'COPY_SYMLINK_LOOP');
    }
    const target = readlinkSync(inRoot(rootDir, done.join('/')));
    done.pop();
    if (target.startsWith('/')) done.length = 0;
    for (const t of target.split('/').reverse()) todo.push(t);
  }
  return done.join('/');
}

/** How directories created on the way to a destination look. */
export interface MkdirOptions {
  mode: number;
  /** Owner of created directories (they are made by the current user otherwise). */
  owner?: { uid: number; gid: number };
}

/**
 * Creates every missing directory of `rel` (a path resolveInRoot returned), outermost first;
 * returns the created ones. An existing component that is not a directory is an error.
 */
export function mkdirAllInRoot(rootDir: string, rel: string, opts: MkdirOptions, containerPath = '/' + rel): string[] {
  const created: string[] = [];
  if (rel === '') return created;
  let cur = '';
  for (const part of rel.split('/')) {
    cur = cur === '' ? part : `${cur}/${part}`;
    const abs = inRoot(rootDir, cur);
    const st = lstatSync(abs, { throwIfNoEntry: false });
    if (st !== undefined) {
      if (st.isDirectory()) continue;
      throw new BuildError(`cannot create directory ${JSON.stringify(containerPath)}: /${cur} exists and is not a directory`, {}, 'COPY_NOT_A_DIRECTORY');
    }
    mkdirSync(abs, opts.mode);
    chmodSync(abs, opts.mode); // umask-proof; just created, so no symlink
    if (opts.owner) lchownSync(abs, opts.owner.uid, opts.owner.gid);
    created.push(cur);
  }
  return created;
}
