/**
 * Paths inside an image archive. Names that documents give (manifest.json's Config and Layers)
 * must be relative and must not climb (`..`); symlinks inside the archive (podman and skopeo write
 * `<id>/layer.tar -> ../<hex>.tar`) are followed, but only within the archive.
 */
import { ArchiveFormatError, UnsafeArchiveError } from '../errors.js';

const MAX_LINK_HOPS = 40;

/**
 * Normalises an entry name of the archive itself (`./a//b/` → `a/b`); undefined for the root.
 * Throws UnsafeArchiveError for absolute names, `..` components and NUL bytes.
 */
export function cleanEntryName(name: string, label: string): string | undefined {
  const bad = (rule: string) => new UnsafeArchiveError(`${label}: entry ${JSON.stringify(name)}: ${rule}`, {
    hint: 'the archive is malformed or hostile; nothing was stored',
  });
  if (name.includes('\0')) throw bad('name contains a NUL byte');
  if (name.startsWith('/')) throw bad('absolute entry names are not allowed in an image archive');
  const parts = name.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) throw bad('".." is not allowed in entry names of an image archive');
  return parts.length === 0 ? undefined : parts.join('/');
}

/**
 * Checks a path that an archive document names (`field` says which, e.g. `manifest.json[0].Layers[1]`)
 * and returns it cleaned. Absolute paths and `..` components are refused with UnsafeArchiveError.
 */
export function checkDocumentPath(path: unknown, field: string, label: string): string {
  if (typeof path !== 'string' || path === '') {
    throw new ArchiveFormatError(`${label}: ${field} is not a path: ${JSON.stringify(path)}`, { hint: 'the archive is corrupt or not an image archive' });
  }
  const bad = (rule: string) => new UnsafeArchiveError(`${label}: ${field} ${JSON.stringify(path)}: ${rule}`, {
    hint: 'the archive is malformed or hostile; nothing was stored',
  });
  if (path.includes('\0')) throw bad('path contains a NUL byte');
  if (path.startsWith('/')) throw bad('absolute paths must not appear in an image archive');
  const parts = path.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) throw bad('paths must stay inside the archive (".." is not allowed)');
  if (parts.length === 0) throw bad('path names the archive root');
  return parts.join('/');
}

/**
 * Follows symlinks (in any component) of a cleaned archive path, staying inside the archive:
 * absolute targets are taken from the archive root, and a target that climbs above the root is
 * refused with UnsafeArchiveError, as is a loop.
 */
export function resolveInArchive(path: string, symlinks: ReadonlyMap<string, string>, where: string, label: string): string {
  const queue = path.split('/');
  const out: string[] = [];
  let hops = 0;
  while (queue.length > 0) {
    const part = queue.shift()!;
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (out.length === 0) {
        throw new UnsafeArchiveError(`${label}: ${where} ${JSON.stringify(path)}: a symlink in the archive points outside it`, {
          hint: 'the archive is malformed or hostile; nothing was stored',
        });
      }
      out.pop();
      continue;
    }
    out.push(part);
    const target = symlinks.get(out.join('/'));
    if (target === undefined) continue;
    if (++hops > MAX_LINK_HOPS) {
      throw new ArchiveFormatError(`${label}: ${where} ${JSON.stringify(path)}: too many levels of symlinks in the archive`);
    }
    out.pop();
    if (target.startsWith('/')) out.length = 0;
    queue.unshift(...target.split('/'));
  }
  return out.join('/');
}
