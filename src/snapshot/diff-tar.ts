/**
 * Turns an overlay upper dir into an OCI changeset tar: the layer of one build step.
 *
 * Only the upper dir is walked, so the cost is the size of what the step changed. The output is
 * deterministic: depth first, a directory before its contents, within each directory its opaque
 * marker, then its whiteouts, then the other children, names in UTF-8 byte order.
 *
 * - An overlay whiteout (char device 0:0, whatever its link count: the kernel shares one inode
 *   among whiteouts) becomes `.wh.<name>`: an empty regular file, mode 0, owner 0:0, as
 *   containerd's diff writer makes them. Its mtime is the whiteout's own (clamped) where
 *   containerd takes the time of the diff, so one upper dir always gives the same bytes.
 * - A directory with `trusted.overlay.opaque=y` is written, then `<dir>/.wh..wh..opq`, shaped like
 *   a whiteout with the directory's mtime. No `trusted.overlay.*` xattr is ever written.
 * - Regular files sharing an inode: the first in output order carries the data, the others are
 *   hardlink entries naming it, so a link always points to an earlier entry of the same layer.
 *   Whiteouts are never linked.
 * - Modes (setuid/setgid/sticky included), owners, whole-second mtimes (clamped to
 *   SOURCE_DATE_EPOCH when asked), device numbers, symlink targets verbatim, and every other
 *   xattr (security.capability, user.*, ACLs) as PAX records.
 * - Mount-point stubs recorded before the step (stubs.ts) are left out while untouched.
 * - Refused with a SnapshotError: names starting with `.wh.` (a layer cannot hold them), sockets,
 *   and entries using `redirect_dir` or `metacopy`, whose content would be in the lower dirs this
 *   never reads (mount the overlay with `redirect_dir=off,metacopy=off`; both are off by default
 *   on Debian's kernel).
 */
import type { Writable } from 'node:stream';
import { TarWriter } from '../fs/tar-writer.js';
import type { Digest } from '../util/digest.js';
import { DiffWalker } from './diff-walker.js';
import { HashingSink } from './hashing-sink.js';
import { SnapshotError } from './snapshot-error.js';
import { StubMatcher } from './stubs.js';
import type { StubRecord } from './stubs.js';

export type { StubRecord } from './stubs.js';
export { captureStubs } from './stubs.js';
export { SnapshotError } from './snapshot-error.js';

/** Options of writeDiffTar. */
export interface DiffOptions {
  /**
   * Mount-point stubs the executor made before the step ran (`captureStubs`): each is left out
   * while it is still the same inode with the same ctime, and a directory or an empty file.
   */
  stubs?: ReadonlyArray<StubRecord>;
  /** SOURCE_DATE_EPOCH: clamp every mtime newer than this to it (seconds). */
  clampMtime?: number;
  signal?: AbortSignal;
  /** End `out` once the tar is written and wait for its 'finish' (default true). */
  end?: boolean;
}

/** What writeDiffTar wrote. */
export interface DiffResult {
  /** sha256 of the uncompressed tar: the layer's diffID. */
  diffId: Digest;
  /** Bytes of tar written. */
  size: number;
  /** Tar entries, whiteouts, opaque markers and hardlinks included (PAX headers not). */
  entries: number;
  /** Whiteouts and opaque markers among the entries. */
  markers: number;
  /** Nothing changed (no entries): the caller makes no layer. A valid empty tar was still written. */
  empty: boolean;
}

/**
 * Writes the OCI changeset tar of an overlay upper dir (or any directory holding a layer's
 * files) to `out`, and hashes it. The directory must not change meanwhile. Ends `out` (unless
 * `end: false`) and resolves once `out` has finished. On failure it rejects with a SnapshotError
 * (or the signal's reason when aborted) and destroys `out` without an error event.
 */
export async function writeDiffTar(upperDir: string, out: Writable, opts: DiffOptions = {}): Promise<DiffResult> {
  const sink = new HashingSink(out, opts.end ?? true);
  const signal = opts.signal;
  const tar = new TarWriter(sink, signal ? { signal } : {});
  const walker = new DiffWalker(upperDir.replace(/(?<=.)\/+$/, ''), tar, sink, {
    stubs: new StubMatcher(opts.stubs),
    ...(opts.clampMtime !== undefined ? { clampMtime: opts.clampMtime } : {}),
    ...(signal ? { signal } : {}),
  });
  try {
    signal?.throwIfAborted();
    await walker.run();
    await new Promise<void>((resolve) => sink.end(resolve));
    if (sink.failure) throw new SnapshotError(`diff ${upperDir}: cannot write the layer: ${sink.failure.message}`, { cause: sink.failure });
  } catch (err) {
    out.destroy();
    if (signal?.aborted) throw signal.reason;
    throw err;
  } finally {
    sink.detach();
  }
  return { diffId: sink.digest(), size: sink.bytes, entries: walker.entries, markers: walker.markers, empty: walker.entries === 0 };
}
