/**
 * What COPY/ADD source lists checksummed to, for one state of a build context (the digest of a
 * walk, see context-walk.ts). When the next build walks the same state, a step's files digest is
 * known without selecting or checksumming anything, so a fully cached build of a large context
 * costs its walk only.
 *
 * Trust is the stat cache's: an unchanged lstat (size, times, inode) means unchanged content.
 * A state is only remembered when its newest ctime is older than the walk by RACY_MS, so a
 * change within the same clock tick as the walk cannot hide behind an equal ctime.
 *
 * One small JSON file per context, replaced atomically; a torn, foreign or older-format file is
 * ignored (losing it only costs one select and checksum).
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

/** Bump when what a selection or its checksum covers changes: remembered digests then stop matching. */
export const MEMO_FORMAT = 1;
/** Source lists remembered per context state (a Dockerfile's COPYs, or a few Dockerfiles sharing a context). */
const MAX_ENTRIES = 64;

interface MemoFile {
  format: number;
  snapshot: string;
  sums: Record<string, string>;
}

export class SelectionMemo {
  private dirty = false;

  private constructor(private readonly file: string | undefined, private readonly snapshot: string, private readonly sums: Map<string, string>) {}

  /** The memo of `file` for context state `snapshot` (empty when the file is missing or holds another state). */
  static load(file: string | undefined, snapshot: string): SelectionMemo {
    let sums = new Map<string, string>();
    if (file !== undefined) {
      try {
        const m = JSON.parse(readFileSync(file, 'utf8')) as Partial<MemoFile>;
        if (m.format === MEMO_FORMAT && m.snapshot === snapshot && typeof m.sums === 'object' && m.sums !== null) {
          sums = new Map(Object.entries(m.sums).filter(([, v]) => typeof v === 'string'));
        }
      } catch {
        // missing or torn: start empty
      }
    }
    return new SelectionMemo(file, snapshot, sums);
  }

  get(key: string): string | undefined {
    return this.sums.get(key);
  }

  set(key: string, digest: string): void {
    if (this.sums.get(key) === digest) return;
    this.sums.delete(key);
    this.sums.set(key, digest);
    while (this.sums.size > MAX_ENTRIES) this.sums.delete(this.sums.keys().next().value as string);
    this.dirty = true;
  }

  /** Writes the memo when it changed (temp file + rename); a no-op without a file. */
  save(): void {
    if (this.file === undefined || !this.dirty) return;
    const data: MemoFile = { format: MEMO_FORMAT, snapshot: this.snapshot, sums: Object.fromEntries(this.sums) };
    mkdirSync(dirname(this.file), { recursive: true });
    const tmp = `${this.file}.${process.pid}-${randomBytes(4).toString('hex')}.tmp`;
    try {
      writeFileSync(tmp, JSON.stringify(data), { mode: 0o600 });
      renameSync(tmp, this.file);
    } catch (e) {
      rmSync(tmp, { force: true });
      throw e;
    }
    this.dirty = false;
  }
}
