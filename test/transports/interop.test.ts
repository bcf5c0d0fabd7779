/**
 * strata's archives against the real tools: podman loads them with the right names, skopeo copies
 * them through docker-archive: and oci-archive:, umoci unpacks the result; and what podman save and
 * skopeo write loads back into strata as the same image. podman runs with its own storage under a
 * scratch dir, so the machine's podman store is never touched.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createReadStream, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { ImageStore } from '../../src/image/image-store.js';
import { validateImage } from '../../src/image/validate.js';
import { importRootfs } from '../../src/transports/import.js';
import { loadArchive, loadLayoutDirectory, type LoadResult } from '../../src/transports/load.js';
import { saveImagesToFile } from '../../src/transports/save.js';
import { busyboxRootfsTar, canBuildBusybox } from '../helpers/base-images.js';
import { scratch } from './helpers.js';

const have = (cmd: string) => spawnSync(cmd, ['--version'], { encoding: 'utf8' }).status === 0;
const missing = ['podman', 'skopeo', 'umoci'].filter((c) => !have(c));
const skip = !canBuildBusybox() ? 'busybox-static is not installed' : missing.length > 0 ? `not installed: ${missing.join(', ')} (apt)` : process.getuid?.() !== 0 ? 'podman storage tests need root' : false;

const root = scratch('interop-');
process.on('exit', () => root.cleanup());

/** Runs a tool, failing the test with its stderr when it fails. */
function tool(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20, timeout: 120_000 });
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')} failed:\n${r.stderr}`);
  return r.stdout;
}

// podman refuses a runroot longer than 50 characters, so that one lives on a short tmpfs path.
const runBase = mkdtempSync(join(existsSync('/run') ? '/run' : tmpdir(), 'strata-p-'));
process.on('exit', () => rmSync(runBase, { recursive: true, force: true }));

/** podman with private storage under the scratch dir. */
function podman(name: string) {
  const g = ['--root', join(root.dir, `podman-${name}`), '--runroot', join(runBase, name), '--storage-driver', 'vfs'];
  return (...args: string[]) => tool('podman', [...g, ...args]);
}

const skopeo = (...args: string[]) => tool('skopeo', ['--insecure-policy', ...args]);
let n = 0;
const freshStore = () => ImageStore.open(join(root.dir, `store-${n++}`));

describe('interop with podman, skopeo and umoci', { skip }, () => {
  let src: ImageStore;
  let id: string;
  let diffIds: string[];
  const saved: Record<string, string> = {};
  before(async () => {
    src = await freshStore();
    const r = await importRootfs(src, createReadStream(await busyboxRootfsTar()), 'busybox:1.36', { created: new Date(1704067200000), changes: ['CMD ["sh"]', 'ENV PATH=/bin'] });
    await src.tag('busybox:1.36', 'localhost/tools/bb:v2');
    id = r.id;
    diffIds = [r.diffId];
    for (const c of ['none', 'gzip', 'zstd'] as const) {
      saved[c] = join(root.dir, `ours-${c}.tar`);
      await saveImagesToFile(src, ['busybox:1.36', 'localhost/tools/bb:v2'], saved[c]!, { compression: c });
    }
  });

  /**
   * Checks a load result: one image with these names, the same diff_ids and the same image ID.
   * The ID survives even skopeo's docker-archive → OCI conversion, which decodes and re-encodes
   * the config, because strata writes config keys in the order Go encodes them.
   */
  async function sameImage(images: ImageStore, r: LoadResult, names: string[]) {
    assert.equal(r.images.length, 1);
    const img = images.image(r.images[0]!.manifestDigest);
    await validateImage(img);
    assert.deepEqual((await img.config()).rootfs.diff_ids, diffIds);
    assert.equal(r.images[0]!.id, id);
    assert.deepEqual(r.images[0]!.names.sort(), names);
  }

  for (const c of ['none', 'gzip', 'zstd'] as const) {
    test(`podman load reads our ${c} archive with both names and our image ID`, () => {
      const p = podman(`load-${c}`);
      const out = p('load', '-i', saved[c]!);
      assert.match(out, /Loaded image.*busybox:1\.36/);
      const listed = p('images', '--format', '{{.Repository}}:{{.Tag}} {{.ID}}').trim().split('\n').sort();
      assert.deepEqual(listed, [`docker.io/library/busybox:1.36 ${id.slice(7, 19)}`, `localhost/tools/bb:v2 ${id.slice(7, 19)}`]);
    });

    test(`skopeo copies our ${c} archive as docker-archive: and oci-archive:, and the copies load back`, async () => {
      const viaDocker = join(root.dir, `sk-d-${c}`);
      const viaOci = join(root.dir, `sk-o-${c}`);
      skopeo('copy', '-q', `docker-archive:${saved[c]}:busybox:1.36`, `oci:${viaDocker}:copied`);
      skopeo('copy', '-q', `oci-archive:${saved[c]}:1.36`, `oci:${viaOci}:copied`);
      const a = await freshStore();
      await sameImage(a, await loadLayoutDirectory(a, viaDocker), []);
      const b = await freshStore();
      await sameImage(b, await loadLayoutDirectory(b, viaOci), []);
    });
  }

  test('umoci unpacks what skopeo copied out of our oci-archive', () => {
    const dir = join(root.dir, 'umoci-src');
    skopeo('copy', '-q', `oci-archive:${saved.gzip}:1.36`, `oci:${dir}:bb`);
    const bundle = join(root.dir, 'bundle');
    tool('umoci', ['unpack', '--image', `${dir}:bb`, bundle]);
    assert.ok(existsSync(join(bundle, 'rootfs', 'bin', 'busybox')));
    const config = JSON.parse(readFileSync(join(bundle, 'config.json'), 'utf8'));
    assert.deepEqual(config.process.args, ['sh']);
  });

  test('skopeo docker-archive: and oci-archive: output loads back into strata', async () => {
    const layout = join(root.dir, 'sk-layout');
    skopeo('copy', '-q', `oci-archive:${saved.none}:1.36`, `oci:${layout}:x`);
    const dockerArchive = join(root.dir, 'sk-out-docker.tar');
    const ociArchive = join(root.dir, 'sk-out-oci.tar');
    skopeo('copy', '-q', `oci:${layout}:x`, `docker-archive:${dockerArchive}:example.com/team/bb:copied`);
    skopeo('copy', '-q', `oci:${layout}:x`, `oci-archive:${ociArchive}:sometag`);
    const a = await freshStore();
    await sameImage(a, await loadArchive(a, createReadStream(dockerArchive), 'archive skopeo-docker.tar'), ['example.com/team/bb:copied']);
    const b = await freshStore();
    // A bare tag in ref.name names no repository: loaded by ID, like docker.
    await sameImage(b, await loadArchive(b, createReadStream(ociArchive), 'archive skopeo-oci.tar'), []);
  });

  test('podman save (docker-archive and oci-archive) loads back into strata with the same image ID', async () => {
    const p = podman('save');
    p('load', '-i', saved.none!);
    const dockerArchive = join(root.dir, 'podman-docker.tar');
    const ociArchive = join(root.dir, 'podman-oci.tar');
    p('save', '--format', 'docker-archive', '-o', dockerArchive, 'docker.io/library/busybox:1.36');
    p('save', '--format', 'oci-archive', '-o', ociArchive, 'docker.io/library/busybox:1.36');
    const a = await freshStore();
    await sameImage(a, await loadArchive(a, createReadStream(dockerArchive), 'archive podman-docker.tar'), ['docker.io/library/busybox:1.36']);
    const b = await freshStore();
    await sameImage(b, await loadArchive(b, createReadStream(ociArchive), 'archive podman-oci.tar'), ['docker.io/library/busybox:1.36']);
  });
});
