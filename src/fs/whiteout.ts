/**
 * OCI layer whiteout names (image-spec layer.md), defined once for every module that reads or
 * writes layer tars: the extractor, the snapshotter that turns an overlay upper dir into a tar,
 * squash and flatten.
 */

/** Prefix of a whiteout entry: `.wh.name` deletes `name` from the lower layers. */
export const WHITEOUT_PREFIX = '.wh.';

/** Basename of the opaque marker: `dir/.wh..wh..opq` hides everything lower layers had in `dir`. */
export const OPAQUE_MARKER = '.wh..wh..opq';

/** Prefix of AUFS bookkeeping names (`.wh..wh.plnk`, `.wh..wh.aufs`); never real content. */
export const WHITEOUT_META_PREFIX = '.wh..wh.';

/** What a tar entry's basename means for layer semantics. */
export type WhiteoutClass =
  | { kind: 'plain' }
  | { kind: 'whiteout'; target: string }
  | { kind: 'opaque' }
  | { kind: 'meta' }
  | { kind: 'invalid'; reason: string };

/** Classifies one basename (no `/`): plain name, whiteout of `target`, opaque marker, AUFS metadata or a whiteout that names nothing valid. */
export function classifyBasename(base: string): WhiteoutClass {
  if (!base.startsWith(WHITEOUT_PREFIX)) return { kind: 'plain' };
  if (base === OPAQUE_MARKER) return { kind: 'opaque' };
  if (base.startsWith(WHITEOUT_META_PREFIX)) return { kind: 'meta' };
  const target = base.slice(WHITEOUT_PREFIX.length);
  if (target === '' || target === '.' || target === '..') {
    return { kind: 'invalid', reason: `whiteout names ${target === '' ? 'nothing' : `"${target}"`}` };
  }
  return { kind: 'whiteout', target };
}

/** True when `base` is a whiteout, an opaque marker or AUFS metadata (anything starting with `.wh.`). */
export function isWhiteoutName(base: string): boolean {
  return base.startsWith(WHITEOUT_PREFIX);
}

/** `.wh.<base>`; throws on names a whiteout cannot carry (empty, `.`, `..`, containing `/`). */
export function whiteoutName(base: string): string {
  if (base === '' || base === '.' || base === '..' || base.includes('/')) {
    throw new RangeError(`cannot build a whiteout for ${JSON.stringify(base)}`);
  }
  return WHITEOUT_PREFIX + base;
}

/** The tar path of the whiteout that deletes `relPath` (`a/b` → `a/.wh.b`). */
export function whiteoutPath(relPath: string): string {
  const i = relPath.lastIndexOf('/');
  return i < 0 ? whiteoutName(relPath) : `${relPath.slice(0, i)}/${whiteoutName(relPath.slice(i + 1))}`;
}

/** The tar path of the opaque marker of directory `dirRel` (`''` is the layer root). */
export function opaqueMarkerPath(dirRel: string): string {
  return dirRel === '' ? OPAQUE_MARKER : `${dirRel}/${OPAQUE_MARKER}`;
}
