/**
 * Generated bench data: deterministic, incompressible file contents (an AES-CTR keystream, fast
 * enough that generating 1 GB takes about a second) and file trees written straight to disk.
 */
import { createCipheriv, createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

const KEY = createHash('sha256').update('strata bench data').digest().subarray(0, 16);

/** `size` pseudo-random bytes that depend only on (`seed`, `size`). */
export function content(seed: string | number, size: number): Buffer {
  const iv = createHash('sha256').update(String(seed)).digest().subarray(0, 16);
  return createCipheriv('aes-128-ctr', KEY, iv).update(Buffer.alloc(size));
}

/** A cheap deterministic integer in [0, n) for index `i` (sizes and names that look irregular). */
export function pick(i: number, n: number): number {
  let x = (i + 1) * 0x9e3779b1;
  x ^= x >>> 16;
  x = Math.imul(x, 0x85ebca6b);
  x ^= x >>> 13;
  return (x >>> 0) % n;
}

/** A file of a generated tree. */
export interface GenFile {
  path: string;
  size: number;
  seed: string;
}

/**
 * The build bench's context: `count` files in dirs of 100 (`data/dNN/sMM/fNNNNN.bin`) with sizes
 * spread between `minSize` and `maxSize`, so their mean is their midpoint.
 */
export function contextFiles(count: number, minSize: number, maxSize: number): GenFile[] {
  const files: GenFile[] = [];
  for (let i = 0; i < count; i++) {
    const dir = `data/d${String(Math.floor(i / 1000)).padStart(2, '0')}/s${String(Math.floor(i / 100) % 10)}`;
    files.push({ path: `${dir}/f${String(i).padStart(5, '0')}.bin`, size: minSize + pick(i, maxSize - minSize + 1), seed: `ctx-${i}` });
  }
  return files;
}

/**
 * Writes `files` under `root` unless a stamp file (ROOT.stamp) says this exact tree is already there (making
 * 20,000 files costs seconds, so reruns reuse it). Returns the total bytes.
 */
export function ensureTree(root: string, files: readonly GenFile[], version: string, extra: Record<string, string> = {}): number {
  const total = files.reduce((n, f) => n + f.size, 0);
  const stamp = `${root}.stamp`; // beside the tree, so it is not part of a build context
  const want = `${version} ${files.length} ${total}\n`;
  if (existsSync(stamp) && readFileSync(stamp, 'utf8') === want) {
    for (const [p, text] of Object.entries(extra)) writeFileSync(join(root, p), text);
    return total;
  }
  rmSync(root, { recursive: true, force: true });
  const made = new Set<string>();
  for (const f of files) {
    const dir = dirname(join(root, f.path));
    if (!made.has(dir)) {
      mkdirSync(dir, { recursive: true });
      made.add(dir);
    }
    writeFileSync(join(root, f.path), content(f.seed, f.size));
  }
  for (const [p, text] of Object.entries(extra)) {
    mkdirSync(dirname(join(root, p)), { recursive: true });
    writeFileSync(join(root, p), text);
  }
  writeFileSync(stamp, want);
  return total;
}
