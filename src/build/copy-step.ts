/**
 * COPY and ADD steps: choose the source (build context, an earlier stage, an image in the store,
 * or heredoc bodies), work out the cache inputs, and copy into an overlay of the stage's layers;
 * what the copy changed becomes the step's layer.
 */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { BuildError } from '../errors.js';
import { expandWord } from '../dockerfile/expand.js';
import type { AddInstruction, CopyInstruction } from '../dockerfile/instructions.js';
import { indexTarFile, type IndexEntry } from '../fs/tar-index.js';
import { withOverlay } from '../snapshot/host-mount.js';
import { LowerView } from '../snapshot/lower-view.js';
import { hasOverlayMarkers } from '../snapshot/markers.js';
import { MAX_PATCH_DEPTH } from '../snapshot/snapshotter.js';
import { sha256, type Digest } from '../util/digest.js';
import type { CacheRecord, StepContext, StepInputs, StepOutcome } from './cache.js';
import { addInto } from './add.js';
import { downloadUrl, isUrlSource, addUrl, type Download } from './add-url.js';
import { copyInto, type CopyRequest } from './copy.js';
import type { LayerFile, Reuse } from './copy-write.js';
import { DirSource } from './file-source.js';
import { layerSource } from './layer-source.js';
import { selectSources, type Selection } from './select.js';
import type { BuildServices } from './services.js';
import { layersOf, type StageState } from './state.js';
import { MAX_ID } from './user.js';

/** A URL an ADD downloads: fetched before the cache lookup unless --checksum names its content. */
interface UrlSource {
  url: string;
  /** The download, when it was needed for the cache key. */
  download?: Download;
}

/** What a COPY/ADD reads from, decided before the cache lookup. */
export type PreparedCopy = (
  | { kind: 'context'; selection?: Selection; urls: UrlSource[]; files: () => [string, string][] }
  | { kind: 'layers'; label: string; layers: Digest[] }
  | { kind: 'heredoc' }
) & {
  /** Makes what a cache hit does not need (the context selection and its fingerprints); called before a miss is explained or run. */
  resolve?: () => Promise<void>;
  /** Removes what preparing left behind (downloads); called after the step, hit or miss. */
  cleanup?: () => Promise<void>;
};

/** Resolves `--chown`: `user[:group]`, names from the stage's own passwd/group; a lone uid is also the gid. */
async function chownIds(svc: BuildServices, state: StageState, spec: string | undefined): Promise<{ uid: number; gid: number } | undefined> {
  if (spec === undefined || spec === '') return undefined;
  const [u, g] = spec.split(':') as [string, string | undefined];
  const numeric = (s: string) => (/^\d+$/.test(s) ? Number(s) : undefined);
  let view: LowerView | undefined;
  const lookup = async (file: string, name: string, field: number): Promise<number> => {
    view ??= new LowerView(await svc.snapshotter.lowerDirs(layersOf(state)));
    const text = view.readFile(file)?.toString('utf8') ?? '';
    const line = text.split('\n').find((l) => l.split(':')[0] === name);
    const id = line === undefined ? undefined : Number(line.split(':')[field]);
    if (id === undefined || !Number.isInteger(id)) {
      throw new BuildError(`--chown: unable to find ${file === '/etc/passwd' ? 'user' : 'group'} ${name} in ${file}`, {
        hint: 'create it in an earlier RUN, or give numeric ids',
      }, 'BUILD_USER');
    }
    return id;
  };
  const uid = numeric(u) ?? (await lookup('/etc/passwd', u, 2));
  const gid = g === undefined || g === '' ? uid : numeric(g) ?? (await lookup('/etc/group', g, 2));
  if (uid > MAX_ID || gid > MAX_ID) throw new BuildError(`--chown=${spec}: id out of range (0-${MAX_ID})`, {}, 'BUILD_USER');
  return { uid, gid };
}

/** The flag part of a COPY/ADD as the cache and history see it. */
function flagText(inst: CopyInstruction | AddInstruction): string {
  const f: string[] = [];
  if (inst.kind === 'COPY' && inst.from !== undefined) f.push(`--from=${inst.from}`);
  if (inst.chown !== undefined) f.push(`--chown=${inst.chown}`);
  if (inst.chmod !== undefined) f.push(`--chmod=${inst.chmod}`);
  if (inst.link) f.push('--link');
  if (inst.kind === 'COPY' && inst.parents) f.push('--parents');
  for (const e of inst.exclude) f.push(`--exclude=${e}`);
  if (inst.kind === 'ADD' && inst.checksum !== undefined) f.push(`--checksum=${inst.checksum}`);
  return f.join(' ');
}

/** The history text of a COPY/ADD: the instruction after expansion. */
export function copyHistory(inst: CopyInstruction | AddInstruction): string {
  const flags = flagText(inst);
  return `${inst.kind} ${flags ? flags + ' ' : ''}${[...inst.sources, ...inst.contents.map((c) => '<<' + c.path)].join(' ')} ${inst.dest}`;
}

/** Decides the source of a COPY/ADD and computes its cache inputs. */
export async function copyInputs(svc: BuildServices, state: StageState, inst: CopyInstruction | AddInstruction): Promise<{ inputs: StepInputs; prepared: PreparedCopy }> {
  const workdir = state.config.config?.WorkingDir || '/';
  const text = `${inst.kind} ${flagText(inst)} ${[...inst.sources, ...inst.contents.map((c) => '<<' + c.path)].join(' ')} ${inst.dest} (workdir ${workdir})`.replace(/ +/g, ' ');
  if (inst.contents.length > 0 && inst.sources.length === 0) {
    const data = inst.contents.map((c) => [c.path, heredocData(svc, state, c)]);
    return { inputs: { instruction: text, filesDigest: sha256(JSON.stringify(data)).slice(7) }, prepared: { kind: 'heredoc' } };
  }
  if (inst.contents.length > 0) {
    throw new BuildError(`${inst.kind} with both heredocs and files is not supported yet`, { hint: 'split it into two instructions' });
  }
  const from = inst.kind === 'COPY' ? inst.from : undefined;
  if (from !== undefined) {
    const source = await layerSource(svc, from, '--from');
    return {
      inputs: { instruction: text, filesDigest: sha256(JSON.stringify(source.layers)).slice(7) },
      prepared: { kind: 'layers', ...source },
    };
  }
  const urls = inst.kind === 'ADD' ? inst.sources.filter(isUrlSource) : [];
  const local = inst.sources.filter((s) => !urls.includes(s));
  // Per-file fingerprints only matter on a miss (explanations, patching): made on first use.
  let contextFiles: () => [string, string][] = () => [];
  const urlFiles: [string, string][] = [];
  let filesDigest = '';
  // A URL's content is part of the key: --checksum names it; otherwise it is downloaded now.
  const prepared: PreparedCopy = { kind: 'context', urls: [], files: () => contextFiles() };
  if (local.length > 0) {
    const ctx = await svc.context();
    const sum = await ctx.checksumSources(local, { exclude: inst.exclude, ...(inst.kind === 'COPY' && inst.parents ? { parents: true } : {}) });
    filesDigest = sum.digest;
    // The selection itself is only needed when the step runs or its miss is explained.
    prepared.resolve = async () => {
      const { selection, files } = await sum.resolve();
      prepared.selection = selection;
      let list: [string, string][] | undefined;
      contextFiles = () => (list ??= [...files]);
    };
  }
  if (urls.length > 0) {
    const dir = await svc.store.stagingDir('add-url');
    prepared.cleanup = () => rm(dir, { recursive: true, force: true });
    try {
      for (const [i, url] of urls.entries()) {
        const sub = join(dir, String(i));
        await mkdir(sub);
        const checksum = inst.kind === 'ADD' ? inst.checksum : undefined;
        const download = checksum === undefined ? await downloadUrl(url, sub, { ...(svc.opts.signal ? { signal: svc.opts.signal } : {}) }) : undefined;
        prepared.urls.push({ url, ...(download ? { download } : {}) });
        urlFiles.push([url, download?.digest ?? checksum!]);
      }
    } catch (e) {
      await prepared.cleanup();
      throw e;
    }
    filesDigest = sha256(JSON.stringify([filesDigest, urlFiles])).slice(7);
  }
  let files: [string, string][] | undefined;
  const inputs: StepInputs = {
    instruction: text,
    filesDigest,
    get files() {
      files ??= [...contextFiles(), ...urlFiles];
      return files;
    },
  };
  return { inputs, prepared };
}

function heredocData(svc: BuildServices, state: StageState, c: { data: string; expand: boolean }): string {
  return c.expand ? expandWord(c.data, state.scope.lookup, { skipProcessQuotes: true, escapeToken: svc.escapeToken }).word : c.data;
}

/** Adds one URL source: the download made for the cache key, or a fresh one (checked against --checksum). */
async function addDownload(
  svc: BuildServices, scratch: string, root: string, inst: AddInstruction, u: UrlSource, copy: Omit<CopyRequest, 'selection'>,
): Promise<void> {
  if (!u.download) {
    await addUrl(root, { ...copy, url: u.url, tmpDir: scratch, ...(inst.checksum ? { checksum: inst.checksum } : {}), ...(inst.unpack !== undefined ? { unpack: inst.unpack } : {}), ...(svc.opts.signal ? { signal: svc.opts.signal } : {}) });
    return;
  }
  const selection = selectSources(new DirSource(dirname(u.download.path), `download of ${u.url}`), [u.download.name]);
  selection.items[0]!.source = u.url;
  await addInto(root, { ...copy, selection, unpack: inst.unpack ?? false, verifySources: false });
}

/**
 * Copies into an overlay of the stage's layers and commits the change. When the same COPY was
 * built before on the same parents and most of its files are unchanged, the copy is made over
 * that earlier layer instead, writing only what changed (see patchBase); if that fails for any
 * reason, the step starts over as a plain copy.
 */
export async function executeCopy(svc: BuildServices, state: StageState, inst: CopyInstruction | AddInstruction, prepared: PreparedCopy, step: StepContext): Promise<StepOutcome> {
  try {
    const base = await patchBase(svc, state, inst, prepared, step.previous);
    const outcome = base && (await copyAndCommit(svc, state, inst, prepared, base));
    if (base && outcome) {
      svc.progress.emit({ type: 'step-note', id: step.id, text: `patched the previous build's layer: ${base.reused} of ${base.total} entries unchanged, left in place`, time: Date.now() });
      return outcome;
    }
  } catch (e) {
    if (svc.opts.signal?.aborted) throw e;
    svc.progress.emit({ type: 'step-note', id: step.id, text: `could not patch the previous build's layer (${(e as Error).message}); copying everything`, time: Date.now() });
  }
  return (await copyAndCommit(svc, state, inst, prepared))!;
}

/** The earlier layer a COPY may patch, and which source files it already holds. */
interface PatchBase {
  layer: Digest;
  /** The layer tar's entries (headers and offsets). */
  index: IndexEntry[];
  reuse: Reuse;
  reused: number;
  total: number;
}

/**
 * Decides whether a COPY from the context can patch the layer its previous build made: that
 * build ran the same instruction on the same parent layers, its layer holds no whiteouts or
 * opaque dirs and its blob is still stored, no source file has gone since (a patch cannot take
 * a file out again), at least half the files are unchanged, and the patch stack is not already
 * MAX_PATCH_DEPTH deep.
 */
async function patchBase(svc: BuildServices, state: StageState, inst: CopyInstruction | AddInstruction, prepared: PreparedCopy, previous?: CacheRecord): Promise<PatchBase | undefined> {
  if (!previous?.patchable || previous.started === undefined || inst.kind !== 'COPY' || prepared.kind !== 'context' || !prepared.selection || prepared.urls.length > 0) return undefined;
  const before = new Map(previous.inputs.files ?? []);
  const now = new Map(prepared.files());
  if (before.size === 0 || [...before.keys()].some((p) => !now.has(p))) return undefined;
  const reuse = new Set([...now].filter(([p, fp]) => before.get(p) === fp).map(([p]) => p));
  if (reuse.size * 2 < now.size) return undefined;
  const layers = (await svc.images.image(previous.manifestDigest).config()).rootfs.diff_ids;
  const parents = layersOf(state);
  if (layers.length !== parents.length + 1 || parents.some((d, i) => layers[i] !== d)) return undefined;
  const layer = layers[layers.length - 1]!;
  if ((await svc.snapshotter.patchDepth(layer)) >= MAX_PATCH_DEPTH) return undefined;
  // The old tar is what the patch is checked against and merged into: with only its dir left
  // (its image pruned), copy everything.
  if (!(await svc.store.hasBlob(layer))) return undefined;
  // Indexed once: the reuse check reads its headers, the commit merges by its offsets.
  const index = indexTarFile(svc.store.blobPath(layer), { label: `layer ${layer}`, maxEntrySize: Number.MAX_SAFE_INTEGER });
  return {
    layer,
    index,
    reuse: {
      paths: reuse,
      // 1 s of slack: ctimes and the recorded start come from clocks with different granularity.
      settledBefore: Date.parse(previous.started) - 1000,
      layer: layerFiles(index),
      ...(svc.clampMtime !== undefined ? { clampMtime: svc.clampMtime } : {}),
    },
    reused: reuse.size,
    total: now.size,
  };
}

/** The regular files of a layer's tar by path. */
function layerFiles(index: readonly IndexEntry[]): Map<string, LayerFile> {
  const out = new Map<string, LayerFile>();
  for (const e of index) {
    if (e.type === 'file') out.set(e.path, { size: e.size, mode: e.mode, uid: e.uid, gid: e.gid, mtime: e.mtime, xattrs: e.xattrs.size > 0 });
  }
  return out;
}

/**
 * Copies into a fresh snapshot (over `patch.layer` when given) and commits it. Undefined when a
 * patch turned out unusable (the copy left whiteouts or opaque dirs in its upper dir).
 */
async function copyAndCommit(svc: BuildServices, state: StageState, inst: CopyInstruction | AddInstruction, prepared: PreparedCopy, patch?: PatchBase): Promise<StepOutcome | undefined> {
  const active = await svc.snapshotter.prepare(layersOf(state), patch ? { over: patch.layer, overIndex: patch.index } : {});
  try {
    const chown = await chownIds(svc, state, inst.chown);
    const workdir = state.config.config?.WorkingDir || '/';
    const options: Omit<CopyRequest, 'selection'> = {
      dest: inst.dest,
      workdir,
      ...(chown ? { chown } : {}),
      ...(inst.chmod !== undefined ? { chmod: inst.chmod } : {}),
      ...(inst.kind === 'COPY' && inst.parents ? { parents: true } : {}),
    };
    const request = (selection: Selection): CopyRequest => ({ ...options, selection });
    await withOverlay(active.mountpoint, active.lowers, { upper: active.upper, work: active.work }, async () => {
      if (prepared.kind === 'context') {
        if (prepared.selection) {
          if (inst.kind === 'ADD') await addInto(active.mountpoint, { ...request(prepared.selection), ...(inst.unpack !== undefined ? { unpack: inst.unpack } : {}) });
          else await copyInto(active.mountpoint, { ...request(prepared.selection), ...(patch ? { reuse: patch.reuse } : {}) });
        }
        for (const u of prepared.urls) await addDownload(svc, active.dir, active.mountpoint, inst as AddInstruction, u, options);
      } else if (prepared.kind === 'heredoc') {
        const dir = join(active.dir, 'heredocs');
        await mkdir(dir, { mode: 0o755 });
        for (const c of inst.contents) await writeFile(join(dir, c.path), heredocData(svc, state, c), { mode: 0o644 });
        const src = new DirSource(dir, 'heredoc');
        // Heredoc files are the build's own: owned by root unless --chown says otherwise.
        await copyInto(active.mountpoint, request(selectSources(src, inst.contents.map((c) => c.path))));
      } else {
        const lowers = await svc.snapshotter.lowerDirs(prepared.layers);
        const srcMount = join(active.dir, 'source');
        await mkdir(srcMount);
        if (lowers.length === 0) {
          throw new BuildError(`${prepared.label} has no files to copy from`, { hint: 'it is FROM scratch with no layers' });
        }
        // A single layer dir may hold overlay whiteouts, and a read-only overlay needs two lower
        // dirs: an empty one below gives the clean view.
        const empty = join(active.dir, 'empty-lower');
        await mkdir(empty);
        await withOverlay(srcMount, [...lowers, empty], undefined, async () => {
          const src = new DirSource(srcMount, prepared.label);
          await copyInto(active.mountpoint, request(selectSources(src, inst.sources, { exclude: inst.exclude, ...(inst.kind === 'COPY' && inst.parents ? { parents: true } : {}) })));
        });
      }
    });
    if (patch && hasOverlayMarkers(active.upper)) {
      await svc.snapshotter.dispose(active);
      return undefined;
    }
    const layer = await svc.snapshotter.commit(active, { ...(svc.clampMtime !== undefined ? { clampMtime: svc.clampMtime } : {}) });
    if (!layer) return {};
    return { diffId: layer.diffId, patchable: patch !== undefined || layer.patchable };
  } catch (e) {
    await svc.snapshotter.dispose(active);
    throw e;
  }
}
