/**
 * save and load through the library: round trips (plain, gzip, zstd), what the archive holds, and
 * every archive shape load reads (docker 20.10, docker 25+, podman symlinks, OCI tar and directory,
 * multi-platform indexes, whole-archive compression, lying media types).
 */
import assert from 'node:assert/strict';
import { createReadStream, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { detectCompression } from '../../src/compress/index.js';
import { ImageStore } from '../../src/image/image-store.js';
import { validateImage } from '../../src/image/validate.js';
import { importRootfs } from '../../src/transports/import.js';
import { loadArchive, loadLayoutDirectory } from '../../src/transports/load.js';
import { saveImages, saveImagesToFile } from '../../src/transports/save.js';
import { busyboxRootfsTar, BUSYBOX_MISSING, canBuildBusybox } from '../helpers/base-images.js';
import {
  archiveTar, digestOf, docker25Entries, layerTar, legacyDockerEntries, ociEntries, podmanDockerEntries, scratch, storeTemp,
  synthImage, zstdBuffer, type ArchiveEntry,
} from './helpers.js';
import tarStream from 'tar-stream';

/** Entry name → bytes of a tar file (small archives only). */
async function readTar(path: string): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  const ex = tarStream.extract();
  createReadStream(path).pipe(ex);
  for await (const e of ex) {
    const chunks: Buffer[] = [];
    for await (const c of e) chunks.push(c as Buffer);
    out.set(e.header.name, Buffer.concat(chunks));
  }
  return out;
}

const root = scratch('save-load-');
after(() => root.cleanup());
let n = 0;
const freshStore = () => ImageStore.open(join(root.dir, `store-${n++}`));
const load = (images: ImageStore, bytes: Buffer, label = 'archive test.tar') => loadArchive(images, Readable.from([bytes]), label);

describe('round trips of the busybox image', { skip: canBuildBusybox() ? false : BUSYBOX_MISSING }, () => {
  let src: ImageStore;
  let id: string;
  let manifestDigest: string;
  before(async () => {
    src = await freshStore();
    const r = await importRootfs(src, createReadStream(await busyboxRootfsTar()), 'busybox:1.36', { created: new Date(1704067200000), changes: ['CMD ["sh"]'] });
    await src.tag('busybox:1.36', 'localhost:5000/tools/busybox:latest');
    id = r.id;
    manifestDigest = r.manifestDigest;
  });

  for (const compression of ['none', 'gzip', 'zstd'] as const) {
    test(`save (${compression}) then load into another store gives the same image ID, manifest and names`, async () => {
      const out = join(root.dir, `bb-${compression}.tar`);
      const saved = await saveImagesToFile(src, ['busybox:1.36', 'localhost:5000/tools/busybox'], out, { compression });
      assert.deepEqual(saved.images.map((i) => i.id), [id]);
      const files = await readTar(out);
      const manifestJson = JSON.parse(files.get('manifest.json')!.toString()) as { Layers: string[] }[];
      const layer = files.get(manifestJson[0]!.Layers[0]!)!;
      assert.equal(detectCompression(layer), compression);
      const dst = await freshStore();
      const loaded = await load(dst, readFileSync(out));
      assert.equal(loaded.images.length, 1);
      assert.equal(loaded.images[0]!.id, id);
      assert.equal(loaded.images[0]!.manifestDigest, manifestDigest, 'the stored manifest is the same (layers stored uncompressed)');
      assert.deepEqual(loaded.images[0]!.names.sort(), ['docker.io/library/busybox:1.36', 'localhost:5000/tools/busybox:latest']);
      const got = await dst.resolve('localhost:5000/tools/busybox');
      assert.equal(got.id, id);
      await validateImage(got.image);
      assert.deepEqual(storeTemp(dst.store.root), [], 'staging removed');
    });
  }

  test('the archive is a docker-archive and an OCI layout, as docker 25 writes it', async () => {
    const out = join(root.dir, 'layout.tar');
    await saveImagesToFile(src, ['busybox:1.36', 'localhost:5000/tools/busybox:latest'], out);
    const files = await readTar(out);
    const names = [...files.keys()];
    assert.deepEqual(names.slice(0, 2), ['blobs/', 'blobs/sha256/']);
    assert.deepEqual(names.slice(-4), ['index.json', 'manifest.json', 'oci-layout', 'repositories']);
    assert.equal(files.get('oci-layout')!.toString(), '{"imageLayoutVersion": "1.0.0"}');
    const index = JSON.parse(files.get('index.json')!.toString());
    assert.equal(index.mediaType, 'application/vnd.oci.image.index.v1+json');
    assert.deepEqual(index.manifests.map((m: { annotations: object }) => m.annotations), [
      { 'io.containerd.image.name': 'docker.io/library/busybox:1.36', 'org.opencontainers.image.ref.name': '1.36' },
      { 'io.containerd.image.name': 'localhost:5000/tools/busybox:latest', 'org.opencontainers.image.ref.name': 'latest' },
    ]);
    const manifest = JSON.parse(files.get(`blobs/sha256/${index.manifests[0].digest.slice(7)}`)!.toString());
    assert.equal(manifest.config.digest, id);
    assert.equal(manifest.layers[0].mediaType, 'application/vnd.oci.image.layer.v1.tar');
    const mj = JSON.parse(files.get('manifest.json')!.toString());
    assert.deepEqual(mj[0].RepoTags, ['docker.io/library/busybox:1.36', 'localhost:5000/tools/busybox:latest'], 'full names, so podman does not prefix localhost/');
    assert.equal(mj[0].Config, `blobs/sha256/${id.slice(7)}`);
    assert.deepEqual(Object.keys(mj[0].LayerSources), [manifest.layers[0].digest]);
    const repos = JSON.parse(files.get('repositories')!.toString());
    assert.deepEqual(Object.keys(repos), ['busybox', 'localhost:5000/tools/busybox']);
    assert.equal(repos.busybox['1.36'], manifest.layers[0].digest.slice(7));
  });

  test('gzip and zstd archives name layers by their compressed digest with matching media types', async () => {
    for (const [compression, mediaType] of [['gzip', 'application/vnd.oci.image.layer.v1.tar+gzip'], ['zstd', 'application/vnd.oci.image.layer.v1.tar+zstd']] as const) {
      const out = join(root.dir, `mt-${compression}.tar`);
      await saveImagesToFile(src, ['busybox:1.36'], out, { compression });
      const files = await readTar(out);
      const index = JSON.parse(files.get('index.json')!.toString());
      const manifest = JSON.parse(files.get(`blobs/sha256/${index.manifests[0].digest.slice(7)}`)!.toString());
      const layer = manifest.layers[0];
      assert.equal(layer.mediaType, mediaType);
      const blob = files.get(`blobs/sha256/${layer.digest.slice(7)}`)!;
      assert.equal(digestOf(blob), layer.digest);
      assert.equal(blob.length, layer.size);
    }
  });

  test('save by image ID records no name; a bare repository saves every tag of it', async () => {
    const byId = join(root.dir, 'by-id.tar');
    await saveImagesToFile(src, [id.slice(7, 19)], byId);
    const files = await readTar(byId);
    assert.deepEqual(JSON.parse(files.get('manifest.json')!.toString())[0].RepoTags, null);
    assert.equal(files.has('repositories'), false);
    const dst = await freshStore();
    const loaded = await load(dst, readFileSync(byId));
    assert.deepEqual(loaded.images.map((i) => [i.id, i.names]), [[id, []]]);

    await src.tag('busybox:1.36', 'busybox:stable');
    const repo = join(root.dir, 'repo.tar');
    const saved = await saveImagesToFile(src, ['busybox'], repo);
    assert.deepEqual(saved.images[0]!.names.sort(), ['docker.io/library/busybox:1.36', 'docker.io/library/busybox:stable']);
  });

  test('save refuses an unknown image and leaves no file behind', async () => {
    const out = join(root.dir, 'never.tar');
    await assert.rejects(saveImagesToFile(src, ['busybox:1.36', 'nosuch:image'], out), { name: 'NotFoundError' });
    assert.throws(() => readFileSync(out), { code: 'ENOENT' });
  });

  test('load of an OCI layout directory (skopeo oci: style, extracted from a save)', async () => {
    const out = join(root.dir, 'for-dir.tar');
    await saveImagesToFile(src, ['busybox:1.36'], out);
    const dir = join(root.dir, 'layout-dir');
    for (const [name, data] of await readTar(out)) {
      if (name.endsWith('/') || name === 'manifest.json' || name === 'repositories') continue;
      mkdirSync(dirname(join(dir, name)), { recursive: true });
      writeFileSync(join(dir, name), data);
    }
    const dst = await freshStore();
    const loaded = await loadLayoutDirectory(dst, dir);
    assert.deepEqual(loaded.images.map((i) => [i.id, i.names]), [[id, ['docker.io/library/busybox:1.36']]]);
    await validateImage((await dst.resolve('busybox:1.36')).image);
  });
});

describe('archive shapes load reads', () => {
  const two = async (opts: Parameters<typeof synthImage>[1] = {}) => synthImage([layerTar('a'), layerTar('b')], opts);

  const cases: [string, () => Promise<{ entries: ArchiveEntry[]; id: string; names: string[] }>][] = [
    ['docker 20.10 (<id>/layer.tar, <hex>.json)', async () => {
      const img = await two();
      return { entries: legacyDockerEntries(img, ['old/style:1']), id: img.id, names: ['docker.io/old/style:1'] };
    }],
    ['podman/skopeo (symlinked <id>/layer.tar)', async () => {
      const img = await two();
      return { entries: podmanDockerEntries(img, ['localhost/bb:1']), id: img.id, names: ['localhost/bb:1'] };
    }],
    ['docker 25+ with gzip layers', async () => {
      const img = await two({ compression: 'gzip' });
      return { entries: docker25Entries([{ img, tags: ['x:1', 'y:2'] }]), id: img.id, names: ['docker.io/library/x:1', 'docker.io/library/y:2'] };
    }],
    ['OCI layout with zstd layers and a full ref.name (podman)', async () => {
      const img = await two({ compression: 'zstd' });
      return { entries: ociEntries([{ img, annotations: { 'org.opencontainers.image.ref.name': 'localhost/bb:1' } }]), id: img.id, names: ['localhost/bb:1'] };
    }],
    ['OCI layout whose ref.name is a bare tag (skopeo): loaded by ID', async () => {
      const img = await two();
      return { entries: ociEntries([{ img, annotations: { 'org.opencontainers.image.ref.name': 'latest' } }]), id: img.id, names: [] };
    }],
    ['layers whose media type lies (gzip data labelled uncompressed)', async () => {
      const img = await two({ compression: 'gzip', mediaType: 'application/vnd.oci.image.layer.v1.tar' });
      return { entries: ociEntries([{ img, annotations: { 'io.containerd.image.name': 'docker.io/library/liar:1' } }]), id: img.id, names: ['docker.io/library/liar:1'] };
    }],
    ['a multi-platform index: the linux/amd64 manifest is taken', async () => {
      const arm = await synthImage([layerTar('arm')], { architecture: 'arm64' });
      const amd = await synthImage([layerTar('amd')], { architecture: 'amd64' });
      const entries = ociEntries([
        { img: arm, platform: { os: 'linux', architecture: 'arm64' }, annotations: { 'io.containerd.image.name': 'docker.io/library/multi:1' } },
        { img: amd, platform: { os: 'linux', architecture: 'amd64' } },
      ], { nestedIndex: true });
      return { entries, id: amd.id, names: ['docker.io/library/multi:1'] };
    }],
  ];
  for (const [title, make] of cases) {
    test(title, async () => {
      const { entries, id, names } = await make();
      const images = await freshStore();
      const loaded = await load(images, archiveTar(entries));
      assert.deepEqual(loaded.images.map((i) => [i.id, i.names]), [[id, names]]);
      const stored = images.image(loaded.images[0]!.manifestDigest);
      await validateImage(stored);
      assert.equal(await stored.configDigest(), id);
      if (names.length > 0) assert.equal((await images.resolve(names[0]!)).id, id);
    });
  }

  test('a whole archive compressed with gzip or zstd (docker save | gzip)', async () => {
    const img = await two();
    const tarBytes = archiveTar(docker25Entries([{ img, tags: ['whole:1'] }]));
    for (const bytes of [gzipSync(tarBytes), await zstdBuffer(tarBytes)]) {
      const loaded = await load(await freshStore(), bytes);
      assert.deepEqual(loaded.images.map((i) => i.id), [img.id]);
    }
  });

  test('several images in one archive share their common layer', async () => {
    const base = layerTar('base');
    const a = await synthImage([base, layerTar('a')]);
    const b = await synthImage([base, layerTar('b')]);
    const images = await freshStore();
    const loaded = await load(images, archiveTar(docker25Entries([{ img: a, tags: ['a:1'] }, { img: b, tags: ['b:1'] }])));
    assert.deepEqual(loaded.images.map((i) => i.id), [a.id, b.id]);
    for (const img of loaded.images) await validateImage(images.image(img.manifestDigest));
  });

  test('an image with no layers round-trips', async () => {
    const img = await synthImage([]);
    const images = await freshStore();
    const loaded = await load(images, archiveTar(docker25Entries([{ img, tags: ['empty:1'] }])));
    assert.equal(loaded.images[0]!.id, img.id);
    const out = join(root.dir, 'empty.tar');
    await saveImagesToFile(images, ['empty:1'], out);
    const again = await load(await freshStore(), readFileSync(out));
    assert.equal(again.images[0]!.manifestDigest, loaded.images[0]!.manifestDigest);
  });

  test('save re-hashes store blobs: a damaged layer fails the save and leaves no file', async () => {
    const img = await synthImage([layerTar('damaged')]);
    const images = await freshStore();
    await load(images, archiveTar(docker25Entries([{ img, tags: ['dmg:1'] }])));
    const blob = images.store.blobPath(img.layers[0]!.diffId);
    const bytes = readFileSync(blob);
    bytes[600] = bytes[600]! ^ 0xff; // same size, other content
    writeFileSync(blob, bytes);
    for (const compression of ['none', 'gzip'] as const) {
      const dir = join(root.dir, `damaged-${compression}`);
      mkdirSync(dir);
      await assert.rejects(saveImagesToFile(images, ['dmg:1'], join(dir, 'out.tar'), { compression }), { name: 'DigestMismatchError' });
      assert.deepEqual(readdirSync(dir), [], 'neither the archive nor its temp file is left');
    }
    assert.deepEqual(storeTemp(images.store.root), []);
  });

  test('save -o (blob bytes copied in the kernel) writes exactly the bytes save to a stream does', async () => {
    const img = await synthImage([layerTar('one'), layerTar('two'), Buffer.alloc(1024)]);
    const images = await freshStore();
    await load(images, archiveTar(docker25Entries([{ img, tags: ['same:1', 'same:2'] }])));
    for (const compression of ['none', 'gzip'] as const) {
      const chunks: Buffer[] = [];
      const sink = new Writable({ write: (c: Buffer, _e, cb) => { chunks.push(c); cb(); } });
      const streamed = await saveImages(images, ['same:1', 'same:2'], sink, { compression });
      const file = join(root.dir, `same-${compression}.tar`);
      const copied = await saveImagesToFile(images, ['same:1', 'same:2'], file, { compression });
      assert.deepEqual(readFileSync(file), Buffer.concat(chunks));
      assert.equal(copied.bytes, streamed.bytes);
      assert.equal(copied.bytes, readFileSync(file).length);
    }
  });

  test('an empty layer (just the end-of-archive marker) is a layer', async () => {
    const img = await synthImage([Buffer.alloc(1024), layerTar('x')]);
    const loaded = await load(await freshStore(), archiveTar(docker25Entries([{ img, tags: ['el:1'] }])));
    assert.equal(loaded.images[0]!.id, img.id);
  });
});
