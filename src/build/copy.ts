/**
 * COPY into a root filesystem (the merged overlay directory of a step) with Docker's semantics:
 * - a destination ending in `/` (or `.`), or more than one source item, is a directory;
 * - a single non-directory source to a path that is not an existing directory becomes that path;
 *   to an existing directory, a file of the source's name inside it;
 * - a directory source copies its contents; a relative destination is relative to WORKDIR;
 * - missing directories on the way are created 0755 (an octal --chmod's bits instead) and owned
 *   by the --chown user, else root (BuildKit's rule);
 * - owners default to 0:0 for the build context and are kept for other sources; --chown and
 *   --chmod apply to every copied entry, directories included; modes, mtimes, symlinks (target
 *   verbatim), hardlinks within one source, and xattrs are kept otherwise;
 * - the destination is resolved inside rootDir (symlinks in the image are followed but can never
 *   lead out of it), and entries below it never follow a symlink.
 */
import { lstatSync, realpathSync, statSync } from 'node:fs';
import { posix } from 'node:path';
import { BuildError } from '../errors.js';
import { cleanPath } from '../fs/go-path.js';
import { createdDirMode, parseChmod } from './copy-mode.js';
import type { ChmodSpec } from './copy-mode.js';
import { inRoot, mkdirAllInRoot, resolveInRoot } from './copy-dest.js';
import { TreeCopier, type Reuse } from './copy-write.js';
import type { Selection } from './select.js';

export type { ChmodSpec } from './copy-mode.js';
export { parseChmod, applyChmod } from './copy-mode.js';

/** What to copy where. */
export interface CopyRequest {
  /** What BuildContext.select (or selectSources on any FileSource) returned. */
  selection: Selection;
  /** Destination as written (after variable expansion); relative means relative to `workdir`. */
  dest: string;
  /** The image's WORKDIR (default `/`). */
  workdir?: string;
  chown?: { uid: number; gid: number };
  /** `--chmod`: octal number or string, or symbolic notation (`u+x`), or a parsed spec. */
  chmod?: number | string | ChmodSpec;
  /** `--parents` (also implied by a selection made with it). */
  parents?: boolean;
  /** Copy extended attributes (default true). */
  xattrs?: boolean;
  /** Fail when a source file changed since it was selected or hashed (default true). */
  verifySources?: boolean;
  /** Unchanged source files that may be left in place when already at the destination (see TreeCopier). */
  reuse?: Reuse;
}

/** What copyInto wrote. */
export interface CopyResult {
  /** Non-directory entries written (files, symlinks, hardlinks, nodes). */
  files: number;
  /** Directories created or updated. */
  dirs: number;
  /** File data bytes copied. */
  bytes: number;
  /** Non-fatal problems (xattrs the target filesystem refused). */
  warnings: string[];
  /** Files already in place at the destination (counted in `files` too). */
  reused?: number;
}

/** The absolute container path of a destination and whether it names a directory (`/` or `.` at the end). */
export function destinationPath(dest: string, workdir = '/'): { path: string; isDir: boolean } {
  const isDir = dest === '' || dest === '.' || dest.endsWith('/') || dest.endsWith('/.');
  const base = workdir.startsWith('/') ? workdir : '/' + workdir;
  const abs = dest.startsWith('/') ? dest : posix.join(base, dest);
  return { path: cleanPath(abs), isDir };
}

/** Copies a selection into `rootDir` with Docker's COPY semantics; never writes outside rootDir. */
export async function copyInto(rootDir: string, req: CopyRequest): Promise<CopyResult> {
  const root = openRoot(rootDir);
  if (req.selection.items.length === 0) return { files: 0, dirs: 0, bytes: 0, warnings: [] }; // an empty wildcard creates nothing
  const spec = req.chmod === undefined ? undefined : typeof req.chmod === 'object' ? req.chmod : parseChmod(req.chmod);
  const sel = req.selection;
  const dest = destinationPath(req.dest, req.workdir);
  const intoDir = dest.isDir || sel.items.length > 1 || sel.parents || req.parents === true;
  const mk = { mode: createdDirMode(spec), ...(req.chown ? { owner: req.chown } : {}) };

  // The destination's parent (or the destination itself when it is a directory) must exist.
  const ensure = intoDir ? dest.path : posix.dirname(dest.path);
  mkdirAllInRoot(root, resolveInRoot(root, ensure), mk, ensure);
  const destRel = resolveInRoot(root, dest.path);

  const w = new TreeCopier(root, sel.source, {
    ...(spec ? { chmod: spec } : {}),
    ...(req.chown ? { chown: req.chown } : {}),
    xattrs: req.xattrs ?? true,
    verify: req.verifySources ?? true,
    ...(req.reuse ? { reuse: req.reuse } : {}),
  });
  for (const item of sel.items) {
    w.newItem();
    if (item.root.type === 'dir') {
      // Contents into the destination directory, which keeps its own mode and owner but takes the source's mtime.
      mkdirAllInRoot(root, destRel, mk, dest.path);
      w.touchDir(destRel, item.root.mtimeMs);
      for (let i = 1; i < item.entries.length; i++) {
        const { rel, entry, implied } = item.entries[i]!;
        const to = destRel === '' ? rel : `${destRel}/${rel}`;
        if (entry.type === 'dir') w.dir(entry, to, implied === true);
        else await w.entry(entry, to);
      }
    } else {
      const st = lstatSync(inRoot(root, destRel), { throwIfNoEntry: false });
      const to = st?.isDirectory() ? (destRel === '' ? item.name : `${destRel}/${item.name}`) : destRel;
      if (to === '') throw new BuildError(`cannot copy ${JSON.stringify(item.source)} over the root directory`, {}, 'COPY_TARGET_IS_DIR');
      await w.entry(item.root, to);
    }
    w.finish();
  }
  return { files: w.files, dirs: w.dirs, bytes: w.bytes, warnings: w.warnings, ...(req.reuse ? { reused: w.reused } : {}) };
}

function openRoot(rootDir: string): string {
  let root: string;
  try {
    root = realpathSync(rootDir);
  } catch (e) {
    throw new BuildError(`root filesystem ${JSON.stringify(rootDir)} does not exist`, { cause: e }, 'COPY_NO_ROOT');
  }
  if (!statSync(root).isDirectory()) throw new BuildError(`root filesystem ${JSON.stringify(rootDir)} is not a directory`, {}, 'COPY_NO_ROOT');
  return root;
}
