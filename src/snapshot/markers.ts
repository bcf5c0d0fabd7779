/**
 * Whether an overlay upper dir holds whiteouts or opaque directories: the two things a view of
 * stacked layer dirs hides, so a dir holding them cannot be turned into a tar through such a view.
 */
import { lstatSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { isOverlayWhiteout } from '../fs/special-files.js';
import { OVERLAY_OPAQUE_XATTR, readXattrsSync } from '../fs/xattr.js';

/** True when any entry under `dir` (the dir itself included) is a whiteout or an opaque directory. */
export function hasOverlayMarkers(dir: string): boolean {
  if (OVERLAY_OPAQUE_XATTR in readXattrsSync(dir)) return true;
  for (const ent of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, ent.name);
    if (ent.isCharacterDevice() && isOverlayWhiteout(lstatSync(p))) return true;
    if (ent.isDirectory() && hasOverlayMarkers(p)) return true;
  }
  return false;
}
