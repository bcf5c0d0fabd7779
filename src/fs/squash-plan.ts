/**
 * Pass 1 of squash: the entries of ONE layer that, applied over the kept lower layers, shows the
 * same filesystem the squashed layers showed over them (OCI changeset semantics, as overlayfs and
 * applyLayer 'merge' read them).
 *
 * Both stacks go through flatten's planner (mergeLayers): the squashed layers are merged among
 * themselves, top down, and the kept layers are merged to learn which paths they show. Then:
 *  - every path the squashed layers leave visible is copied once: non-directories from the entry
 *    that made their inode (hardlink groups kept, split where a name was overwritten), directories
 *    from their topmost explicit entry down to where their stack stops;
 *  - a whiteout survives only when the kept layers show its path and no ancestor already hides it
 *    (a whiteout of something only a squashed layer had is dropped);
 *  - a directory whose stack stops inside the squashed layers (opaque, or deleted or replaced by a
 *    non-directory lower down, then made again) gets an opaque marker when the kept layers show
 *    children in it;
 *  - a directory the squashed layers only made as a parent (no entry) after deleting the kept
 *    layers' one (a whiteout or non-directory lower down) gets an explicit 0755 root:root entry,
 *    the directory extraction would have made: the kept directory itself survives its own opaque
 *    marker when applied, and would keep its old metadata. Likewise over a kept non-directory.
 * Paths below a hiding ancestor need none of this: the ancestor's marker comes before anything
 * written under it, so an extractor has deleted the kept subtree before re-creating parents.
 * Paths of the kept layers that the squashed layers do not touch need nothing.
 *
 * Output order is a depth-first walk of the tree, names sorted: a directory, then its opaque
 * marker, then its whiteouts, then its other children. It depends only on the merged content, so
 * the same layers always give the same layer tar; the first name of a hardlink group in that
 * order carries the inode.
 */
import { mergeLayers } from './flatten-plan.js';
import type { MergedPath, PlanOptions } from './flatten-plan.js';
import type { IndexEntry } from './tar-index.js';
import { parentOf } from './tar-path.js';

/** One entry of the merged layer. Paths are cleaned relative paths (`''` is the root). */
export type SquashItem =
  /** Re-create entry `entry` of squashed layer `layer` (its header, and data for files) at `path`. */
  | { kind: 'copy'; path: string; layer: number; entry: number }
  /** A hardlink at `path` to `leader`, written earlier; `layer`/`entry` is the shared inode's entry. */
  | { kind: 'link'; path: string; layer: number; entry: number; leader: string }
  /** A directory with no entry in the squashed layers that must replace the kept one: 0755 root:root. */
  | { kind: 'dir'; path: string }
  /** The whiteout of `path` (a path the kept layers show). */
  | { kind: 'whiteout'; path: string }
  /** The opaque marker of directory `path`. */
  | { kind: 'opaque'; path: string };

/** Counts, for reports and tests. */
export interface SquashCounts {
  /** Whiteouts and opaque markers written (they hide kept-layer content). */
  whiteouts: number;
  opaques: number;
  /** Directories written as 0755 root:root because the squashed layers only made them as parents. */
  madeDirs: number;
  /** Whiteouts of the squashed layers that hid nothing of the kept layers, left out. */
  droppedWhiteouts: number;
}

/** What pass 2 needs: the squashed layers' indexes and the items, in output order. */
export interface SquashPlan {
  /** The squashed layer files, base first (item `layer` numbers index these). */
  paths: string[];
  labels: string[];
  entries: IndexEntry[][];
  items: SquashItem[];
  counts: SquashCounts;
}

/** Options of planSquash: `labels` name the kept layers first, then the squashed ones. */
export type SquashPlanOptions = PlanOptions;

/** What the kept layers show: each visible path's kind, and the directories with visible children. */
interface LowerView {
  kinds: Map<string, 'dir' | 'nondir'>;
  parents: Set<string>;
}

/**
 * Plans the one layer that replaces `squashed` (layer tar files, base first) over `kept` (the
 * layers below it, base first). Every layer is checked with applyLayer's rules as it is indexed.
 */
export function planSquash(kept: readonly string[], squashed: readonly string[], opts: SquashPlanOptions = {}): SquashPlan {
  const common = { ...(opts.signal ? { signal: opts.signal } : {}), ...(opts.maxEntrySize !== undefined ? { maxEntrySize: opts.maxEntrySize } : {}) };
  const labelsOf = (from: number, count: number) => (opts.labels ? { labels: opts.labels.slice(from, from + count) } : {});
  const upper = mergeLayers(squashed, { ...common, ...labelsOf(kept.length, squashed.length) });
  const lower = lowerView(kept.length === 0 ? new Map() : mergeLayers(kept, { ...common, ...labelsOf(0, kept.length) }).merged);
  const { merged } = upper;

  /** True when the kept layers' content at `rel` still shows through: no squashed ancestor stops. */
  const reachable = (rel: string): boolean => {
    for (let p = rel; p !== ''; ) {
      p = parentOf(p);
      if (merged.get(p)?.stop === true) return false;
    }
    return true;
  };

  const counts: SquashCounts = { whiteouts: 0, opaques: 0, madeDirs: 0, droppedWhiteouts: 0 };
  const own = new Map<string, SquashItem>(); // the entry at each path (not markers)
  const whiteouts = new Map<string, string[]>(); // directory → whited-out paths in it
  const opaque = new Set<string>();
  const inodeUse = new Map<string, number>();
  for (const [rel, u] of merged) {
    const k = lower.kinds.get(rel);
    if (u.kind === 'whiteout') {
      if (k !== undefined && reachable(rel)) {
        push(whiteouts, parentOf(rel), rel);
        counts.whiteouts++;
      } else {
        counts.droppedWhiteouts++;
      }
    } else if (u.kind === 'nondir') {
      const { layer, inode } = u.source!;
      own.set(rel, { kind: 'copy', path: rel, layer, entry: inode });
      const key = `${layer}:${inode}`;
      inodeUse.set(key, (inodeUse.get(key) ?? 0) + 1);
    } else {
      const reach = reachable(rel);
      if (u.header !== undefined) {
        own.set(rel, { kind: 'copy', path: rel, layer: u.header.layer, entry: u.header.entry });
      } else if (rel !== '' && reach && k !== undefined && (u.cut === true || k === 'nondir')) {
        // The kept directory itself survives the layer's opaque marker: give it the new metadata.
        // (Below a hiding ancestor nothing is needed: its marker comes first and deletes it all.)
        own.set(rel, { kind: 'dir', path: rel });
        counts.madeDirs++;
      }
      if (u.stop && reach && k === 'dir' && lower.parents.has(rel)) {
        opaque.add(rel);
        counts.opaques++;
      }
    }
  }

  const items = walk(merged, own, whiteouts, opaque, (item) => {
    const e = upper.entries[item.layer]![item.entry]!;
    return e.type !== 'dir' && (inodeUse.get(`${item.layer}:${item.entry}`) ?? 0) > 1;
  });
  return { paths: upper.paths, labels: upper.labels, entries: upper.entries, items, counts };
}

/** The visible paths of the kept layers (whiteouts on top of them are not paths). */
function lowerView(merged: ReadonlyMap<string, MergedPath>): LowerView {
  const kinds = new Map<string, 'dir' | 'nondir'>();
  const parents = new Set<string>();
  for (const [rel, m] of merged) {
    if (m.kind === 'whiteout') continue;
    kinds.set(rel, m.kind);
    if (rel !== '') parents.add(parentOf(rel));
  }
  return { kinds, parents };
}

/**
 * Orders the items depth first with sorted names (markers right after their directory) and turns
 * the later names of each hardlink group into links to the first.
 */
function walk(
  merged: ReadonlyMap<string, MergedPath>,
  own: ReadonlyMap<string, SquashItem>,
  whiteouts: ReadonlyMap<string, string[]>,
  opaque: ReadonlySet<string>,
  grouped: (item: SquashItem & { kind: 'copy' }) => boolean,
): SquashItem[] {
  // Every output path and every directory leading to one, as children of their parents.
  const children = new Map<string, string[]>();
  const seen = new Set<string>(['']);
  const note = (rel: string) => {
    while (!seen.has(rel)) {
      seen.add(rel);
      const parent = parentOf(rel);
      push(children, parent, rel);
      rel = parent;
    }
  };
  for (const rel of own.keys()) note(rel);
  for (const dir of whiteouts.keys()) note(dir);
  for (const dir of opaque) note(dir);

  const byName = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  const leaders = new Map<string, string>();
  const items: SquashItem[] = [];
  const stack = [''];
  while (stack.length > 0) {
    const rel = stack.pop()!;
    const item = own.get(rel);
    if (item?.kind === 'copy' && grouped(item)) {
      const key = `${item.layer}:${item.entry}`;
      const leader = leaders.get(key);
      if (leader !== undefined) items.push({ kind: 'link', path: rel, layer: item.layer, entry: item.entry, leader });
      else {
        leaders.set(key, rel);
        items.push(item);
      }
    } else if (item !== undefined) {
      items.push(item);
    }
    if (opaque.has(rel)) items.push({ kind: 'opaque', path: rel });
    for (const w of (whiteouts.get(rel) ?? []).sort(byName)) items.push({ kind: 'whiteout', path: w });
    const kids = children.get(rel);
    if (kids === undefined) continue;
    if (merged.get(rel)?.kind !== 'dir') throw new Error(`squash plan: ${JSON.stringify(rel)} has children but is no directory`);
    kids.sort(byName);
    for (let i = kids.length - 1; i >= 0; i--) stack.push(kids[i]!);
  }
  return items;
}

function push<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list === undefined) map.set(key, [value]);
  else list.push(value);
}
