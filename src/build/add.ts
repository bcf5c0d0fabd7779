/**
 * ADD of local sources: COPY, except that a source that is a local tar archive (plain, gzip,
 * bzip2, xz or zstd, recognised by content) is unpacked into the destination directory instead
 * of copied. As in BuildKit, the destination of an archive is always a directory (created 0755,
 * owned by the --chown user), --chown applies to the unpacked entries and --chmod does not.
 * URLs are in add-url.ts.
 */
import { lstatSync, realpathSync } from 'node:fs';
import { BuildError } from '../errors.js';
import { copyInto, destinationPath } from './copy.js';
import type { CopyRequest, CopyResult } from './copy.js';
import { inRoot, mkdirAllInRoot, resolveInRoot } from './copy-dest.js';
import { hostPath, sameStat } from './file-source.js';
import { isTarArchive, unpackArchive } from './add-archive.js';

export { isTarArchive, isTarHeader, unpackArchive } from './add-archive.js';

/** An ADD of local sources. */
export interface AddRequest extends CopyRequest {
  /** `--unpack`: unpack local tar archives (default true). */
  unpack?: boolean;
}

/** What addInto wrote. */
export interface AddResult extends CopyResult {
  /** Sources (as written) that were unpacked as archives. */
  unpacked: string[];
}

/** Adds a selection into `rootDir`: archives unpacked, everything else copied as COPY would. */
export async function addInto(rootDir: string, req: AddRequest): Promise<AddResult> {
  const sel = req.selection;
  const dest = destinationPath(req.dest, req.workdir);
  const intoDir = dest.isDir || sel.items.length > 1 || sel.parents;
  // Items go one by one (archives interleaved with copies, in order); the multi-source rule must hold for each.
  const copyDest = intoDir ? `${dest.path}/` : dest.path;
  const total: AddResult = { files: 0, dirs: 0, bytes: 0, warnings: [], unpacked: [] };
  for (const item of sel.items) {
    const archive = req.unpack !== false && item.root.type === 'file' ? hostPath(sel.source, item.root.path) : undefined;
    if (archive !== undefined && (await isTarArchive(archive))) {
      const root = realpathSync(rootDir);
      const destRel = resolveInRoot(root, dest.path);
      mkdirAllInRoot(root, destRel, { mode: 0o755, ...(req.chown ? { owner: req.chown } : {}) }, dest.path);
      const r = await unpackArchive(archive, inRoot(root, destRel), {
        label: `ADD ${item.source}`,
        ...(req.chown ? { chown: req.chown } : {}),
      });
      // What was unpacked must be what was selected (and hashed for the cache key).
      if (req.verifySources !== false && !sameStat(item.root, lstatSync(archive, { throwIfNoEntry: false }))) {
        throw new BuildError(`${sel.source.label}: ${JSON.stringify(item.root.path)} changed while it was being unpacked`, {
          hint: 'run the build again once nothing is writing into the source',
        }, 'CONTEXT_CHANGED');
      }
      total.files += r.entries;
      total.bytes += r.bytes;
      total.warnings.push(...r.warnings);
      total.unpacked.push(item.source);
      continue;
    }
    const r = await copyInto(rootDir, { ...req, selection: { ...sel, items: [item] }, dest: copyDest });
    total.files += r.files;
    total.dirs += r.dirs;
    total.bytes += r.bytes;
    total.warnings.push(...r.warnings);
  }
  return total;
}
