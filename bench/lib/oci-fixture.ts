/**
 * Fixtures for bench/formats, written by hand so that they depend on no strata code path:
 * an OCI image layout directory holding a 3-layer ~300 MB image (Debian minbase, then two layers
 * of generated files with hardlinks, symlinks, overwrites, whiteouts and an opaque directory), and
 * a 1 GiB single-layer rootfs tar. Both are cached beside a stamp file and reused across runs.
 */
import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readSync, renameSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { content, pick } from './gen-data.js';
import { TarFile } from './tar-file.js';

const FIXTURE_VERSION = 'formats-v1';
const EPOCH = 1704067200;
/** The name the fixture's index.json gives the image (tag `latest` for skopeo and umoci). */
export const FIXTURE_IMAGE = 'docker.io/library/bench-formats:latest';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
const OCI_LAYER = 'application/vnd.oci.image.layer.v1.tar';

interface Blob {
  digest: string;
  size: number;
}

function blobPath(layout: string, digest: string): string {
  return join(layout, 'blobs', 'sha256', digest.slice('sha256:'.length));
}

function putJson(layout: string, value: unknown): Blob {
  const bytes = Buffer.from(JSON.stringify(value));
  const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
  writeFileSync(blobPath(layout, digest), bytes);
  return { digest, size: bytes.length };
}

/** Copies a tar verbatim into the layout as a layer blob. */
function putFileLayer(layout: string, src: string): Blob {
  const tmp = join(layout, 'blobs', 'tmp-layer');
  const hash = createHash('sha256');
  const inFd = openSync(src, 'r');
  const outFd = openSync(tmp, 'w');
  const buf = Buffer.alloc(4 << 20);
  let size = 0;
  for (;;) {
    const n = readSync(inFd, buf, 0, buf.length, null);
    if (n === 0) break;
    hash.update(buf.subarray(0, n));
    writeSync(outFd, buf, 0, n);
    size += n;
  }
  closeSync(inFd);
  closeSync(outFd);
  const digest = `sha256:${hash.digest('hex')}`;
  renameSync(tmp, blobPath(layout, digest));
  return { digest, size };
}

/** Writes a generated layer into the layout. */
function putTarLayer(layout: string, fill: (tar: TarFile) => void): Blob {
  const tmp = join(layout, 'blobs', 'tmp-layer');
  const tar = new TarFile(tmp);
  fill(tar);
  const size = tar.size + 1024;
  const digest = tar.finish();
  renameSync(tmp, blobPath(layout, digest));
  return { digest, size };
}

const L2_DIRS = 40;
const L2_FILES = 4000;

function l2File(i: number): string {
  return `opt/bench/l2/d${String(i % L2_DIRS).padStart(2, '0')}/f${String(i).padStart(5, '0')}`;
}

/** Layer 2: 4,000 files of 1–31 KiB (~64 MB) in 40 dirs, 200 symlinks, 100 hardlinks. */
function layer2(tar: TarFile): void {
  for (const d of ['opt/', 'opt/bench/', 'opt/bench/l2/', 'opt/bench/l2/links/', 'opt/bench/l2/hard/']) tar.add({ name: d, type: 'dir', mtime: EPOCH });
  for (let d = 0; d < L2_DIRS; d++) tar.add({ name: `opt/bench/l2/d${String(d).padStart(2, '0')}/`, type: 'dir', mtime: EPOCH });
  for (let i = 0; i < L2_FILES; i++) {
    tar.add({ name: l2File(i), type: 'file', mode: i % 7 === 0 ? 0o755 : 0o644, uid: i % 3 === 0 ? 1000 : 0, gid: i % 3 === 0 ? 1000 : 0, mtime: EPOCH }, content(`l2-${i}`, 1024 + pick(i, 30 * 1024)));
  }
  for (let i = 0; i < 200; i++) tar.add({ name: `opt/bench/l2/links/l${i}`, type: 'symlink', linkname: `../${l2File(i * 13).slice('opt/bench/l2/'.length)}`, mode: 0o777, mtime: EPOCH });
  for (let i = 0; i < 100; i++) tar.add({ name: `opt/bench/l2/hard/h${i}`, type: 'link', linkname: l2File(i * 17 + 1), mtime: EPOCH });
}

/**
 * Layer 3 (~70 MB): 4 × 8 MiB files, 2,000 new files (~32 MB), 400 of layer 2's files
 * rewritten, 100 of them deleted, one of its dirs made opaque, and Debian's /usr/share/doc deleted.
 */
function layer3(tar: TarFile): void {
  for (const d of ['opt/', 'opt/bench/', 'opt/bench/big/', 'opt/bench/l2/', 'opt/bench/l3/', 'usr/', 'usr/share/']) tar.add({ name: d, type: 'dir', mtime: EPOCH + 1 });
  tar.add({ name: 'usr/share/.wh.doc', type: 'file', mtime: EPOCH + 1 });
  for (let i = 0; i < 4; i++) tar.add({ name: `opt/bench/big/blob${i}`, type: 'file', mtime: EPOCH + 1 }, content(`big-${i}`, 8 << 20));
  for (let d = 0; d < 20; d++) tar.add({ name: `opt/bench/l3/d${String(d).padStart(2, '0')}/`, type: 'dir', mtime: EPOCH + 1 });
  for (let i = 0; i < 2000; i++) {
    tar.add({ name: `opt/bench/l3/d${String(i % 20).padStart(2, '0')}/g${String(i).padStart(5, '0')}`, type: 'file', mtime: EPOCH + 1 }, content(`l3-${i}`, 1024 + pick(i + 77, 30 * 1024)));
  }
  // Directory d38: 100 deletions (whiteouts come before sibling entries); d39: opaque, two new files.
  tar.add({ name: 'opt/bench/l2/d38/', type: 'dir', mtime: EPOCH + 1 });
  for (let i = 38; i < L2_FILES; i += L2_DIRS) tar.add({ name: `opt/bench/l2/d38/.wh.f${String(i).padStart(5, '0')}`, type: 'file', mtime: EPOCH + 1 });
  tar.add({ name: 'opt/bench/l2/d39/', type: 'dir', mtime: EPOCH + 1 });
  tar.add({ name: 'opt/bench/l2/d39/.wh..wh..opq', type: 'file', mtime: EPOCH + 1 });
  for (let i = 0; i < 2; i++) tar.add({ name: `opt/bench/l2/d39/new${i}`, type: 'file', mtime: EPOCH + 1 }, content(`d39-${i}`, 4096));
  // Rewrites of files in d00..d09 (10 per dir).
  for (let d = 0; d < 10; d++) {
    tar.add({ name: `opt/bench/l2/d${String(d).padStart(2, '0')}/`, type: 'dir', mtime: EPOCH + 1 });
    for (let k = 0; k < 40; k++) {
      const i = d + k * L2_DIRS;
      tar.add({ name: l2File(i), type: 'file', mtime: EPOCH + 1 }, content(`l3-rewrite-${i}`, 1024 + pick(i + 5, 30 * 1024)));
    }
  }
}

function stampOk(stamp: string, want: string): boolean {
  return existsSync(stamp) && readFileSync(stamp, 'utf8') === want;
}

/** Makes (or reuses) the 3-layer OCI layout at `dir`; returns its total layer bytes. */
export function ensureFormatsLayout(dir: string, debianTar: string): number {
  const stamp = `${dir}.stamp`;
  const want = `${FIXTURE_VERSION} ${debianTar}\n`;
  if (stampOk(stamp, want)) return Number(readFileSync(`${dir}.size`, 'utf8'));
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(join(dir, 'blobs', 'sha256'), { recursive: true });
  const layers = [putFileLayer(dir, debianTar), putTarLayer(dir, layer2), putTarLayer(dir, layer3)];
  const history = ['debian bookworm minbase (mmdebstrap)', 'generated: 4,000 files, links', 'generated: big files, rewrites, whiteouts, opaque dir'];
  const config = putJson(dir, {
    created: new Date(EPOCH * 1000).toISOString(),
    architecture: 'amd64',
    os: 'linux',
    config: { Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], Cmd: ['bash'] },
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) },
    history: history.map((h) => ({ created: new Date(EPOCH * 1000).toISOString(), created_by: h })),
  });
  const manifest = putJson(dir, {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: OCI_CONFIG, ...config },
    layers: layers.map((l) => ({ mediaType: OCI_LAYER, ...l })),
  });
  writeFileSync(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  writeFileSync(join(dir, 'index.json'), JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: [{ mediaType: OCI_MANIFEST, ...manifest, annotations: { 'io.containerd.image.name': FIXTURE_IMAGE, 'org.opencontainers.image.ref.name': 'latest' } }],
  }));
  const total = layers.reduce((n, l) => n + l.size, 0);
  writeFileSync(`${dir}.size`, String(total));
  writeFileSync(stamp, want);
  return total;
}

/** Makes (or reuses) a 1 GiB rootfs tar: 16 × 48 MiB files and 16,384 × 16 KiB files. */
export function ensureBigRootfs(path: string): number {
  const stamp = `${path}.stamp`;
  const want = `${FIXTURE_VERSION}-big\n`;
  if (stampOk(stamp, want)) return Number(readFileSync(`${path}.size`, 'utf8'));
  const tar = new TarFile(`${path}.tmp`);
  for (const d of ['big/', 'small/']) tar.add({ name: d, type: 'dir' });
  for (let i = 0; i < 16; i++) tar.add({ name: `big/b${i}`, type: 'file' }, content(`1g-big-${i}`, 48 << 20));
  for (let d = 0; d < 128; d++) {
    tar.add({ name: `small/d${d}/`, type: 'dir' });
    for (let k = 0; k < 128; k++) tar.add({ name: `small/d${d}/f${k}`, type: 'file' }, content(`1g-small-${d}-${k}`, 16 << 10));
  }
  const size = tar.size + 1024;
  tar.finish();
  renameSync(`${path}.tmp`, path);
  writeFileSync(`${path}.size`, String(size));
  writeFileSync(stamp, want);
  return size;
}
