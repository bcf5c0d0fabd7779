/**
 * An in-memory model of what one layer tar creates when applyLayer unpacks it in 'overlay' mode
 * into an empty directory: one small record per path, no file data. The rules come from
 * LayerRules, the same checker the disk writer uses; this module only mirrors the disk writer's
 * effects (what replaces what, which directories become opaque, which names share an inode).
 * validateLayer runs untrusted layers through it; flatten uses the records to merge layers.
 */
import { LayerRules, isOverlayXattr, overlayXattrWarning } from './layer-rules.js';
import type { EntryHead, PathKind, Step } from './layer-rules.js';

/** What the layer leaves at one path. */
export interface ModelRecord {
  kind: PathKind;
  /** Index of the entry that last defined the path; -1 for a directory made only as a parent. */
  entry: number;
  /** Directories: index of the first entry of this incarnation of the directory (-1: none yet). */
  first: number;
  /** Non-directories: index of the entry that made the inode (hardlinks share their target's). */
  inode: number;
  /** Directories: lower layers' content of this directory is hidden. */
  opaque: boolean;
  /** Removal stamp when the record was made (see LayerRules.survives). */
  stamp: number;
}

/** Options of a LayerModel. */
export interface LayerModelOptions {
  label: string;
  /**
   * Model a root extraction, where device nodes are made (default true). It is the stricter
   * model: a device can be in the way of a later entry, while a skipped one cannot.
   */
  isRoot?: boolean;
}

/** An entry as the model needs it: the rule fields plus device numbers and xattrs. */
export interface ModelEntry extends EntryHead {
  devmajor: number;
  devminor: number;
  xattrs: ReadonlyMap<string, Buffer>;
}

/** Applies entries to an in-memory tree with the rules of applyLayer's 'overlay' mode. */
export class LayerModel {
  /** Warnings applyLayer would give too (AUFS metadata, overlay xattrs, skipped devices). */
  readonly warnings: string[] = [];
  private readonly records = new Map<string, ModelRecord>();
  private readonly rules: LayerRules;
  private readonly label: string;
  private readonly warn: (key: string | undefined, message: string) => void;

  constructor(o: LayerModelOptions) {
    const warned = new Set<string>();
    const warn = (key: string | undefined, message: string) => {
      if (key !== undefined) {
        if (warned.has(key)) return;
        warned.add(key);
      }
      this.warnings.push(message);
    };
    this.rules = new LayerRules(
      {
        lookup: (rel) => this.get(rel)?.kind,
        makeDir: (rel) => this.set(rel, 'dir', -1, -1),
      },
      { mode: 'overlay', isRoot: o.isRoot ?? true, label: o.label, warn },
    );
    this.records.set('', { kind: 'dir', entry: -1, first: -1, inode: -1, opaque: false, stamp: 0 });
    this.label = o.label;
    this.warn = warn;
  }

  /** Checks entry number `index` against the rules (throwing as applyLayer would) and records its effect. */
  apply(e: ModelEntry, index: number): Step {
    const step = this.rules.check(e);
    switch (step.op) {
      case 'dir': {
        const r = this.get(step.rel);
        if (r?.kind === 'dir') {
          r.entry = index;
          if (r.first < 0) r.first = index;
        } else {
          if (r) this.remove(step.rel);
          // A directory replacing a whiteout of this same layer hides the lower one.
          this.set(step.rel, 'dir', index, index).opaque = r?.kind === 'whiteout';
        }
        this.rules.dirExists(step.rel);
        this.xattrWarnings(e);
        break;
      }
      case 'file':
      case 'symlink':
      case 'node': {
        if (this.get(step.rel)) this.remove(step.rel);
        // A char device 0:0 is what an overlay whiteout is; the kernel (and the rules) see one.
        const kind: PathKind = step.op === 'symlink' ? 'symlink' : e.type === 'char' && e.devmajor === 0 && e.devminor === 0 ? 'whiteout' : 'other';
        this.set(step.rel, kind, index, index);
        this.xattrWarnings(e);
        break;
      }
      case 'hardlink': {
        const t = this.get(step.target)!;
        if (this.get(step.rel)) this.remove(step.rel);
        this.set(step.rel, t.kind, index, t.inode);
        break;
      }
      case 'whiteout': {
        const r = this.get(step.rel);
        if (r === undefined) this.set(step.rel, 'whiteout', index, -1);
        else if (r.kind === 'dir') {
          // Written earlier by this same layer: it stays, and hides the lower directory.
          r.opaque = true;
          this.rules.dirExists(step.rel);
        }
        break;
      }
      case 'opaque':
        this.get(step.rel)!.opaque = true;
        break;
      case 'keep':
      case 'skip':
        break;
    }
    return step;
  }

  /** The record at `rel`, or undefined when nothing is there now. */
  get(rel: string): ModelRecord | undefined {
    const r = this.records.get(rel);
    return r !== undefined && this.rules.survives(rel, r.stamp) ? r : undefined;
  }

  /** Every path the layer leaves (parents before children is not guaranteed). */
  *paths(): Generator<[string, ModelRecord]> {
    for (const [rel, r] of this.records) if (this.rules.survives(rel, r.stamp)) yield [rel, r];
  }

  private set(rel: string, kind: PathKind, entry: number, inodeOrFirst: number): ModelRecord {
    const isDir = kind === 'dir';
    const r: ModelRecord = { kind, entry, first: isDir ? inodeOrFirst : -1, inode: isDir ? -1 : inodeOrFirst, opaque: false, stamp: this.rules.stamp() };
    this.records.set(rel, r);
    return r;
  }

  /** Removes `rel` and everything under it: their records are stale from now on (see LayerRules.survives). */
  private remove(rel: string): void {
    this.rules.removed(rel);
  }

  private xattrWarnings(e: ModelEntry): void {
    for (const key of e.xattrs.keys()) if (isOverlayXattr(key)) this.warn(...overlayXattrWarning(this.label, e.name, key));
  }
}
