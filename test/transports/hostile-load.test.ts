/**
 * Hostile and broken archives, generated here: each must fail with a typed error that names the
 * entry (or document field) and the rule, and leave the store byte for byte as it was, with no
 * staging directory left behind.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { before, describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { ArchiveFormatError, DigestMismatchError, StrataError, UnsafeArchiveError } from '../../src/errors.js';
import { ImageStore } from '../../src/image/image-store.js';
import { loadArchive, loadArchiveFile } from '../../src/transports/load.js';
import { hostileLayers } from '../fs/hostile-tars.js';
import {
  archiveTar, digestOf, docker25Entries, hexOf, layerTar, manifestOf, ociEntries, podmanDockerEntries, scratch, storeSnapshot, storeTemp,
  synthImage, withEntry, type ArchiveEntry, type SynthImage,
} from './helpers.js';

const root = scratch('hostile-load-');
let images: ImageStore;
let good: SynthImage;

before(async () => {
  images = await ImageStore.open(join(root.dir, 'store'));
  // The store is not empty: an image is there before every hostile load.
  const pre = await synthImage([layerTar('pre')]);
  await loadArchive(images, Readable.from([archiveTar(docker25Entries([{ img: pre, tags: ['pre:1'] }]))]), 'archive pre.tar');
  good = await synthImage([layerTar('one'), layerTar('two')]);
});
process.on('exit', () => root.cleanup());

/**
 * Loads `bytes` as a stream and from a file (where every entry is copied in the kernel), expects
 * a failure of `type` whose message matches every pattern both times, and an unchanged store.
 */
async function refuses(bytes: Buffer, type: new (...a: never[]) => StrataError, ...patterns: (string | RegExp)[]): Promise<StrataError> {
  const file = join(root.dir, 'evil.tar');
  writeFileSync(file, bytes);
  await refusesOnce(() => loadArchiveFile(images, file, 'archive evil.tar', { kernelCopyMin: 0 }), type, patterns);
  return refusesOnce(() => loadArchive(images, Readable.from([bytes]), 'archive evil.tar'), type, patterns);
}

async function refusesOnce(load: () => Promise<unknown>, type: new (...a: never[]) => StrataError, patterns: (string | RegExp)[]): Promise<StrataError> {
  const before = storeSnapshot(images.store.root);
  let caught: unknown;
  try {
    await load();
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof type, `expected ${type.name}, got ${caught instanceof Error ? `${caught.name}: ${caught.message}` : String(caught)}`);
  const message = (caught as StrataError).message;
  for (const p of patterns) assert.ok(typeof p === 'string' ? message.includes(p) : p.test(message), `${JSON.stringify(message)} should mention ${p}`);
  assert.equal(storeSnapshot(images.store.root), before, 'the store is unchanged');
  assert.deepEqual(storeTemp(images.store.root), [], 'the staging directory is removed');
  return caught as StrataError;
}

const manifestJson = (items: unknown) => Buffer.from(JSON.stringify(items));
const layerPath = (img: SynthImage, i: number) => `blobs/sha256/${hexOf(img.layers[i]!.digest)}`;

describe('manifest.json paths', () => {
  test('a Config path with .. is refused', async () => {
    const entries = withEntry(docker25Entries([{ img: good, tags: ['x:1'] }]), 'manifest.json',
      manifestJson([{ Config: '../../etc/passwd', RepoTags: ['x:1'], Layers: [layerPath(good, 0), layerPath(good, 1)] }]));
    await refuses(archiveTar(entries), UnsafeArchiveError, 'manifest.json[0].Config', '"../../etc/passwd"', 'inside the archive');
  });

  test('an absolute layer path is refused', async () => {
    const entries = withEntry(docker25Entries([{ img: good, tags: ['x:1'] }]), 'manifest.json',
      manifestJson([{ Config: `blobs/sha256/${hexOf(good.id)}`, RepoTags: ['x:1'], Layers: [layerPath(good, 0), '/etc/shadow'] }]));
    await refuses(archiveTar(entries), UnsafeArchiveError, 'manifest.json[0].Layers[1]', '/etc/shadow', 'absolute');
  });

  test('a .. hidden in the middle of a layer path is refused', async () => {
    const entries = withEntry(docker25Entries([{ img: good, tags: ['x:1'] }]), 'manifest.json',
      manifestJson([{ Config: `blobs/sha256/${hexOf(good.id)}`, RepoTags: ['x:1'], Layers: [`blobs/../${layerPath(good, 0)}`, layerPath(good, 1)] }]));
    await refuses(archiveTar(entries), UnsafeArchiveError, 'manifest.json[0].Layers[0]');
  });

  test('a symlink in the archive that points outside it is refused', async () => {
    const entries = podmanDockerEntries(good, ['x:1']).map((e): ArchiveEntry => ('symlink' in e ? { name: e.name, symlink: '../../../etc/passwd' } : e));
    await refuses(archiveTar(entries), UnsafeArchiveError, 'manifest.json[0].Layers[0]', 'outside');
  });

  test('a path naming nothing in the archive is refused', async () => {
    const entries = withEntry(docker25Entries([{ img: good, tags: ['x:1'] }]), 'manifest.json',
      manifestJson([{ Config: `blobs/sha256/${hexOf(good.id)}`, RepoTags: ['x:1'], Layers: [layerPath(good, 0), 'missing.tar'] }]));
    await refuses(archiveTar(entries), ArchiveFormatError, 'manifest.json[0].Layers[1]', 'missing.tar', 'not a file');
  });
});

describe('content that does not match what the archive says', () => {
  test('a layer whose content is not its diff_id', async () => {
    const img = await synthImage([layerTar('one'), layerTar('two')], { diffIds: [digestOf(layerTar('one')), digestOf(layerTar('other'))] });
    const entries = withEntry(docker25Entries([{ img, tags: ['x:1'] }]), 'manifest.json',
      manifestJson([{ Config: `blobs/sha256/${hexOf(img.id)}`, RepoTags: ['x:1'], Layers: [layerPath(img, 0), layerPath(img, 1)] }]));
    await refuses(archiveTar(entries), DigestMismatchError, layerPath(img, 1), 'diff_id', digestOf(layerTar('other')));
  });

  test('a blob that does not hash to its name', async () => {
    const entries = docker25Entries([{ img: good, tags: ['x:1'] }]).map((e) => (e.name === layerPath(good, 0) ? { name: e.name, data: layerTar('tampered') } : e));
    await refuses(archiveTar(entries), DigestMismatchError, layerPath(good, 0), 'hashes to');
  });

  test('a descriptor whose size disagrees with the blob', async () => {
    const m = JSON.parse(manifestOf(good).toString());
    m.layers[0].size += 1;
    const mb = Buffer.from(JSON.stringify(m));
    const entries = ociEntries([{ img: good, annotations: { 'io.containerd.image.name': 'docker.io/library/x:1' } }])
      .filter((e) => e.name !== 'index.json')
      .concat([{ name: `blobs/sha256/${hexOf(digestOf(mb))}`, data: mb }, { name: 'index.json', data: Buffer.from(JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: digestOf(mb), size: mb.length }] })) }]);
    await refuses(archiveTar(entries), ArchiveFormatError, layerPath(good, 0), 'bytes');
  });

  test('fewer layers than the config has diff_ids', async () => {
    const entries = withEntry(docker25Entries([{ img: good, tags: ['x:1'] }]), 'manifest.json',
      manifestJson([{ Config: `blobs/sha256/${hexOf(good.id)}`, RepoTags: ['x:1'], Layers: [layerPath(good, 0)] }]));
    await refuses(archiveTar(entries), ArchiveFormatError, 'manifest.json[0]', '1 layers', '2 diff_ids');
  });

  test('fewer manifest layers than diff_ids in an OCI layout', async () => {
    const img = await synthImage([layerTar('one')], { diffIds: [digestOf(layerTar('one')), digestOf(layerTar('two'))] });
    await refuses(archiveTar(ociEntries([{ img }])), ArchiveFormatError, '1 layers', '2 diff_ids');
  });

  test('a manifest.json over the JSON size cap', async () => {
    const entries = withEntry(docker25Entries([{ img: good, tags: ['x:1'] }]), 'manifest.json', Buffer.concat([Buffer.from('['), Buffer.alloc(9 << 20, 0x20), Buffer.from(']')]));
    await refuses(archiveTar(entries), ArchiveFormatError, 'manifest.json', 'exceeds');
  });

  test('a config over the JSON size cap', async () => {
    const big = Buffer.concat([Buffer.from('{"pad":"'), Buffer.alloc(9 << 20, 0x61), Buffer.from('"}')]);
    const entries = withEntry(docker25Entries([{ img: good, tags: ['x:1'] }]), 'big.json', big);
    const mj = manifestJson([{ Config: 'big.json', RepoTags: ['x:1'], Layers: [layerPath(good, 0), layerPath(good, 1)] }]);
    await refuses(archiveTar(withEntry(entries, 'manifest.json', mj)), ArchiveFormatError, '"big.json"', 'exceeds');
  });

  test('a RepoTag that is not a name:tag', async () => {
    const entries = withEntry(docker25Entries([{ img: good, tags: ['x:1'] }]), 'manifest.json',
      manifestJson([{ Config: `blobs/sha256/${hexOf(good.id)}`, RepoTags: ['has space:1'], Layers: [layerPath(good, 0), layerPath(good, 1)] }]));
    await refuses(archiveTar(entries), ArchiveFormatError, 'manifest.json[0].RepoTags[0]');
  });
});

describe('malformed archives', () => {
  test('a truncated archive', async () => {
    const bytes = archiveTar(docker25Entries([{ img: good, tags: ['x:1'] }]));
    await refuses(bytes.subarray(0, Math.floor(bytes.length / 2) + 100), ArchiveFormatError, 'malformed tar', 'Unexpected end of data');
  });

  test('a corrupt gzip layer', async () => {
    const img = await synthImage([layerTar('one')], { compression: 'gzip' });
    const cut = gzipSync(layerTar('one')).subarray(0, 60);
    const entries = docker25Entries([{ img, tags: ['x:1'] }]).map((e) => (e.name === layerPath(img, 0) ? { name: e.name, data: cut } : e));
    await refuses(archiveTar(entries), ArchiveFormatError, layerPath(img, 0), 'gzip');
  });

  test('an entry name with ..', async () => {
    await refuses(archiveTar([...docker25Entries([{ img: good, tags: ['x:1'] }]), { name: '../escape', data: Buffer.from('x') }]), UnsafeArchiveError, '"../escape"');
  });

  test('a duplicate entry', async () => {
    const entries = docker25Entries([{ img: good, tags: ['x:1'] }]);
    await refuses(archiveTar([...entries, { name: 'manifest.json', data: Buffer.from('[]') }]), ArchiveFormatError, 'manifest.json', 'duplicate');
  });

  test('neither manifest.json nor index.json', async () => {
    await refuses(archiveTar([{ name: 'hello', data: Buffer.from('hi') }]), ArchiveFormatError, 'neither manifest.json nor index.json');
  });

  test('bytes that are no tar at all', async () => {
    await refuses(Buffer.from('definitely not a tar archive\n'.repeat(50)), ArchiveFormatError);
  });

  test('a layer entry that is not a tar', async () => {
    const notTar = Buffer.from('plain text, no tar header here\n'.repeat(40));
    const img = await synthImage([notTar]);
    await refuses(archiveTar(docker25Entries([{ img, tags: ['x:1'] }])), ArchiveFormatError, layerPath(img, 0), 'not a layer tar');
  });
});

describe('layers that break the extraction rules', () => {
  const fake = { outside: '/nonexistent/outside', victim: '/nonexistent/outside/victim' };
  for (const c of hostileLayers(fake)) {
    test(c.title, async () => {
      const img = await synthImage([layerTar('fine'), c.tar]);
      const err = await refuses(archiveTar(docker25Entries([{ img, tags: ['evil:1'] }])), StrataError, layerPath(img, 1));
      assert.ok(err instanceof UnsafeArchiveError || err instanceof ArchiveFormatError, `${err.name}: ${err.message}`);
    });
  }
});
