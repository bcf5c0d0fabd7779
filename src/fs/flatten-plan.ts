/**
 * Pass 1 of flatten: which entry of which layer supplies each path of the merged root
 * filesystem, and where in the output it goes. The merge itself (mergeLayers) is shared with
 * squash (squash-plan.ts), which merges the squashed layers with the same rules.
 *
 * Each layer is indexed (tar-index.ts) and run through the layer model (layer-model.ts) with the
 * rules of applyLayer's 'overlay' mode, so a layer means here exactly what it means when unpacked
 * as an overlayfs lower dir: the later of two entries for a path wins, a non-directory replaces a
 * directory with its subtree, a whiteout never hides what its own layer wrote (it makes the
 * layer's own directory opaque instead), hardlinks share their target's inode. Then layers are
 * merged from the top down, as overlayfs resolves a path:
 *  - a whiteout, or a non-directory, in an upper layer hides the path and everything below it in
 *    the lower layers;
 *  - an upper directory shadows a lower entry of the same path; lower children of the directory
 *    stay visible unless it is opaque, or a layer in between has a non-directory there (the
 *    kernel stops looking down a directory's layers at the first non-directory).
 * Choices where the kernel's view of unpacked layers has no tar entry to reproduce:
 *  - A directory made only as a parent in an upper layer (no entry of its own) does not shadow a
 *    lower layer's entry for it: the lower entry supplies its metadata (as applyLayer 'merge'
 *    does; the kernel would show the implicit 0755 directory, with the time it was unpacked).
 *  - A visible directory is written at the position of its lowest entry in the merged stack, with
 *    the metadata of its topmost entry, so that it precedes the children lower layers put in it.
 *  - A directory that exists only as a parent made by the layers (no entry anywhere) and keeps
 *    nothing visible below it is lost: `a/b/.wh.c` with no `a/b/` entry, over a lower `a/b` that
 *    an opaque `a` hides, leaves the kernel an empty `a/b` (showing the raw whiteout `c`, as
 *    overlayfs does in a directory only one layer has) and the flattened tar nothing.
 *  - A character device 0:0 entry is an overlay whiteout once unpacked; it hides, and is dropped.
 *  - Overlay xattrs (`trusted.overlay.*`, `user.overlay.*`) are dropped, as applyLayer drops them.
 *  - Times: mtimes are kept exactly (sub-second or negative ones through PAX); atimes are not
 *    written (extraction sets them to the mtime). A hardlink entry's own header fields are
 *    ignored, as extraction ignores them: an inode's metadata is that of the entry that made it.
 */
import { closeSync, openSync } from 'node:fs';
import { basename } from 'node:path';
import { LayerApplyError } from './apply-errors.js';
import { DEFAULT_MAX_ENTRY_SIZE } from './apply-layer.js';
import { LayerModel } from './layer-model.js';
import { tarIndexEntries } from './tar-index.js';
import type { IndexEntry } from './tar-index.js';

/** One output entry: path `path`, written while layer `layer` is copied, at its entry `index`. */
export interface Slot {
  index: number;
  path: string;
  /** The entry whose header (and data) is written: for directories the topmost of the stack. */
  layer: number;
  entry: number;
  /** Non-directories: the hardlink group (`layer:inode`) when other visible paths share the inode. */
  group?: string;
}

/** What pass 2 needs: every layer's index, and the slots to write per layer, in index order. */
export interface FlattenPlan {
  paths: string[];
  labels: string[];
  entries: IndexEntry[][];
  slots: Slot[][];
}

/** Options of planFlatten and mergeLayers. */
export interface PlanOptions {
  labels?: string[];
  signal?: AbortSignal;
  maxEntrySize?: number;
}

/** What the merged view of a stack of layers holds at one path. */
export interface MergedPath {
  /** 'whiteout': an upper layer hides the path (and nothing above shows one). */
  kind: 'dir' | 'nondir' | 'whiteout';
  /** Lower layers have nothing more to say at this path's children (opaque, or a non-dir below). */
  stop: boolean;
  /**
   * Directories: some lower layer, whether the merge reached it or not, has a non-directory or a
   * whiteout at this path, i.e. the directory was deleted or replaced there and made again above.
   */
  cut?: boolean;
  /** Directories: the topmost explicit entry, and the lowest explicit entry's position. */
  header?: { layer: number; entry: number };
  at?: { layer: number; index: number };
  /** Non-directories: the layer, the entry that last defined the path, and the entry that made its inode. */
  source?: { layer: number; index: number; inode: number };
}

/** Every layer's index, and the merged view of the stack: visible paths and the whiteouts on top. */
export interface MergedLayers {
  paths: string[];
  labels: string[];
  entries: IndexEntry[][];
  /** Path → what the stack shows there. Paths an upper layer hides are absent. */
  merged: Map<string, MergedPath>;
}

/**
 * Merges `layerTarPaths` (base first) top layer down, as overlayfs resolves a path (see the
 * module comment). Flatten turns the result into output slots; squash also reads `stop` and
 * `cut` to decide which whiteouts and opaque markers a merged layer must keep.
 */
export function mergeLayers(layerTarPaths: readonly string[], opts: PlanOptions = {}): MergedLayers {
  const n = layerTarPaths.length;
  const labels = layerTarPaths.map((p, i) => opts.labels?.[i] ?? `layer ${i + 1}/${n} (${basename(p)})`);
  const entries: IndexEntry[][] = new Array(n);
  const merged = new Map<string, MergedPath>();

  /** True when an upper layer hides `rel`: a proper ancestor is no directory there, or opaque. */
  const hidden = (rel: string): boolean => {
    if (rel === '') return false;
    for (let i = rel.lastIndexOf('/'); ; i = rel.lastIndexOf('/', i - 1)) {
      const m = merged.get(i < 0 ? '' : rel.slice(0, i));
      if (m !== undefined && (m.kind !== 'dir' || m.stop)) return true;
      if (i <= 0) return false;
    }
  };

  for (let layer = n - 1; layer >= 0; layer--) {
    const { model, list } = modelLayer(layerTarPaths[layer]!, labels[layer]!, opts);
    entries[layer] = list;
    // Decide against the layers above only; this layer's own changes to `merged` wait.
    const added: Array<[string, MergedPath]> = [];
    const stops: MergedPath[] = [];
    for (const [rel, r] of model.paths()) {
      if (hidden(rel)) continue;
      const m = merged.get(rel);
      if (m === undefined) {
        if (r.kind === 'whiteout') {
          added.push([rel, { kind: 'whiteout', stop: true }]);
        } else if (r.kind === 'dir') {
          const d: MergedPath = { kind: 'dir', stop: r.opaque };
          if (r.entry >= 0) d.header = { layer, entry: r.entry };
          if (r.first >= 0) d.at = { layer, index: r.first };
          added.push([rel, d]);
        } else {
          added.push([rel, { kind: 'nondir', stop: true, source: { layer, index: r.entry, inode: r.inode } }]);
        }
      } else if (m.kind === 'dir') {
        if (r.kind !== 'dir') {
          m.cut = true;
          if (!m.stop) stops.push(m); // the kernel looks no further down this directory's layers
          continue;
        }
        if (m.stop) continue;
        if (r.first >= 0) m.at = { layer, index: r.first };
        if (m.header === undefined && r.entry >= 0) m.header = { layer, entry: r.entry };
        if (r.opaque) stops.push(m);
      }
    }
    for (const [rel, m] of added) merged.set(rel, m);
    for (const m of stops) m.stop = true;
  }
  return { paths: [...layerTarPaths], labels, entries, merged };
}

/** Decides, top layer down, which entries of `layerTarPaths` (base first) the merged view shows. */
export function planFlatten(layerTarPaths: readonly string[], opts: PlanOptions = {}): FlattenPlan {
  const { paths, labels, entries, merged } = mergeLayers(layerTarPaths, opts);
  const slots: Slot[][] = paths.map(() => []);
  const inodeUse = new Map<string, number>();
  for (const m of merged.values()) {
    if (m.source === undefined) continue;
    const key = `${m.source.layer}:${m.source.inode}`;
    inodeUse.set(key, (inodeUse.get(key) ?? 0) + 1);
  }
  for (const [rel, m] of merged) {
    if (m.kind === 'dir' && m.header !== undefined && m.at !== undefined) {
      slots[m.at.layer]!.push({ index: m.at.index, path: rel, layer: m.header.layer, entry: m.header.entry });
    } else if (m.source !== undefined) {
      const { layer, index, inode } = m.source;
      const key = `${layer}:${inode}`;
      const s: Slot = { index, path: rel, layer, entry: inode };
      slots[layer]!.push(inodeUse.get(key)! > 1 ? { ...s, group: key } : s);
    }
  }
  for (const list of slots) list.sort((a, b) => a.index - b.index);
  return { paths, labels, entries, slots };
}

/** Indexes one layer file and models it; the index is kept for pass 2. */
function modelLayer(path: string, label: string, opts: PlanOptions): { model: LayerModel; list: IndexEntry[] } {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new LayerApplyError(`${label}: cannot open ${JSON.stringify(path)}: ${(err as Error).message}`, { cause: err, ...(code ? { errno: code } : {}) });
  }
  try {
    // Devices are modelled as made (isRoot): the output is a tar, no privilege is needed for it.
    const model = new LayerModel({ label, isRoot: true });
    const list: IndexEntry[] = [];
    const readOpts = { label, maxEntrySize: opts.maxEntrySize ?? DEFAULT_MAX_ENTRY_SIZE, ...(opts.signal ? { signal: opts.signal } : {}) };
    for (const e of tarIndexEntries(fd, readOpts)) {
      model.apply(e, list.length);
      list.push(e);
    }
    return { model, list };
  } finally {
    closeSync(fd);
  }
}
