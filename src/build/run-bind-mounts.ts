/**
 * `RUN --mount=type=bind`: a directory or file of the build context, an earlier stage or an
 * image, shown at `target` while the step runs, never part of its layer.
 * - `source` (default: the root) is resolved inside its tree, symlinks followed there;
 * - read-only unless `rw`, and then writes go to a scratch overlay and are thrown away, as in
 *   BuildKit; the context itself is never written;
 * - from the context, `.dockerignore`d files are not shown: with an ignore file, the mount gets a
 *   copy of what the context keeps (without one, the directory is bound as it is);
 * - the step's cache key covers what the mount shows: the sources' checksum for the context,
 *   the layers for a stage or image.
 */
import { copyFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { BuildError } from '../errors.js';
import type { MountSpec, RunInstruction } from '../dockerfile/instructions.js';
import { cleanPath } from '../fs/go-path.js';
import type { Bind } from '../exec/executor.js';
import { withOverlay } from '../snapshot/host-mount.js';
import { sha256 } from '../util/digest.js';
import { copyInto } from './copy.js';
import { DirSource, hostPath, type FileSource } from './file-source.js';
import { layerSource } from './layer-source.js';
import { mountTarget } from './mount-options.js';
import { resolveSource } from './select.js';
import type { BuildServices } from './services.js';

function bindMounts(inst: RunInstruction): MountSpec[] {
  return inst.mounts.filter((m) => m.type === 'bind');
}

/** The source path inside its tree, relative and clean (`''` is the root; `..` stops there). */
function sourcePath(m: MountSpec): string {
  return cleanPath('/' + (m.source ?? '')).slice(1);
}

/** What a RUN's bind mounts show, as one digest for its cache key; undefined without bind mounts. */
export async function bindSourcesDigest(svc: BuildServices, inst: RunInstruction): Promise<string | undefined> {
  const mounts = bindMounts(inst);
  if (mounts.length === 0) return undefined;
  const parts: string[] = [];
  for (const m of mounts) {
    if (m.from === undefined) {
      const ctx = await svc.context();
      resolved(ctx, m); // a missing source is named as the mount's, not as a COPY source
      parts.push((await ctx.checksumSources([sourcePath(m) || '.'])).digest);
    } else {
      parts.push(JSON.stringify((await layerSource(svc, m.from, '--mount from')).layers));
    }
  }
  return sha256(JSON.stringify(parts)).slice(7);
}

/**
 * Makes the host paths a RUN's bind mounts show (under `scratch`, a directory of the step that
 * is removed with it), calls `fn` with the binds, then takes down what it mounted.
 */
export async function withBindMounts<T>(svc: BuildServices, inst: RunInstruction, workdir: string, scratch: string, fn: (binds: Bind[]) => Promise<T>): Promise<T> {
  const mounts = bindMounts(inst);
  const binds: Bind[] = [];
  const next = async (i: number): Promise<T> => {
    if (i === mounts.length) return fn(binds);
    const m = mounts[i]!;
    // Scratch space for this mount (an overlay's dirs, a copy), made only where one is needed.
    const dir = join(scratch, `bind-${i}`);
    const target = mountTarget(m, workdir);
    const rw = m.readonly === false;
    if (m.from !== undefined) {
      const { label, layers } = await layerSource(svc, m.from, '--mount from');
      const lowers = await svc.snapshotter.lowerDirs(layers);
      if (lowers.length === 0) throw new BuildError(`--mount from=${m.from}: ${label} has no files`, { hint: 'it is FROM scratch with no layers' });
      const merged = join(dir, 'merged');
      const empty = join(dir, 'empty');
      await mkdir(dir, { recursive: true });
      await Promise.all([mkdir(merged), mkdir(empty), ...(rw ? [mkdir(join(dir, 'upper')), mkdir(join(dir, 'work'))] : [])]);
      // A single layer dir may hold whiteouts, and a read-only overlay needs two lowers: the empty one gives the clean view.
      return withOverlay(merged, [...lowers, empty], rw ? { upper: join(dir, 'upper'), work: join(dir, 'work') } : undefined, async () => {
        binds.push({ source: resolved(new DirSource(merged, label), m).path, target, readonly: !rw });
        return next(i + 1);
      });
    }
    const ctx = await svc.context();
    if (ctx.ignoreFile !== undefined) {
      const copy = join(dir, 'copy');
      await mkdir(copy, { recursive: true });
      const { selection } = await (await ctx.checksumSources([sourcePath(m) || '.'])).resolve();
      const whole = selection.items[0]?.root.type === 'dir';
      await copyInto(copy, { selection, dest: whole ? '/src/' : '/src', workdir: '/' });
      binds.push({ source: join(copy, 'src'), target, readonly: !rw });
      return next(i + 1);
    }
    const source = resolved(ctx, m);
    if (!rw) {
      binds.push({ source: source.path, target, readonly: true });
      return next(i + 1);
    }
    if (source.type === 'file') {
      const file = join(dir, 'file');
      await mkdir(dir, { recursive: true });
      await copyFile(source.path, file);
      binds.push({ source: file, target, readonly: false });
      return next(i + 1);
    }
    const merged = join(dir, 'merged');
    await mkdir(dir, { recursive: true });
    await Promise.all([mkdir(merged), mkdir(join(dir, 'upper')), mkdir(join(dir, 'work'))]);
    return withOverlay(merged, [source.path], { upper: join(dir, 'upper'), work: join(dir, 'work') }, async () => {
      binds.push({ source: merged, target, readonly: false });
      return next(i + 1);
    });
  };
  return next(0);
}

/** The host path and type of the mount's source inside `src`, symlinks followed inside it. */
function resolved(src: FileSource, m: MountSpec): { path: string; type: 'file' | 'dir' } {
  const path = sourcePath(m);
  const entry = resolveSource(src, path, true, m.source ?? '/');
  if (entry === undefined) {
    throw new BuildError(`--mount=${m.raw}: ${JSON.stringify(m.source ?? '/')} not found in the ${src.label}`, {
      hint: 'mount a path that exists there',
    }, 'MOUNT_SOURCE_MISSING');
  }
  if (entry.type !== 'dir' && entry.type !== 'file') {
    throw new BuildError(`--mount=${m.raw}: ${JSON.stringify(m.source ?? '/')} in the ${src.label} is a ${entry.type}, not a file or directory`, {
      hint: 'mount a file or a directory',
    }, 'MOUNT_SOURCE_MISSING');
  }
  return { path: hostPath(src, entry.path), type: entry.type };
}
