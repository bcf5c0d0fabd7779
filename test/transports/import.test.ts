/**
 * import: a rootfs tar (plain or compressed) becomes a one-layer image stored uncompressed, with
 * docker's config and history; hostile and non-tar input leave the store unchanged.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createReadStream, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { before, describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { ArchiveFormatError, InstructionError, InvalidReferenceError, UnsafeArchiveError } from '../../src/errors.js';
import { ImageStore } from '../../src/image/image-store.js';
import { validateImage } from '../../src/image/validate.js';
import { importRootfs } from '../../src/transports/import.js';
import { busyboxRootfsTar, BUSYBOX_MISSING, canBuildBusybox } from '../helpers/base-images.js';
import { file, symlink, tar } from '../fs/hostile-tars.js';
import { digestOf, scratch, storeSnapshot, storeTemp, zstdBuffer } from './helpers.js';

const root = scratch('import-');
process.on('exit', () => root.cleanup());
let images: ImageStore;
before(async () => {
  images = await ImageStore.open(join(root.dir, 'store'));
});
const fromBuffer = (b: Buffer) => Readable.from([b]);

describe('import of the busybox rootfs', { skip: canBuildBusybox() ? false : BUSYBOX_MISSING }, () => {
  let rootfs: Buffer;
  before(async () => {
    rootfs = readFileSync(await busyboxRootfsTar());
  });

  test('plain, gzip, zstd, bzip2 and xz input give the same uncompressed layer', async () => {
    const tool = (cmd: string) => spawnSync(cmd, ['-c'], { input: rootfs, maxBuffer: 64 << 20 }).stdout;
    const inputs: [string, Buffer][] = [
      ['none', rootfs], ['gzip', gzipSync(rootfs)], ['zstd', await zstdBuffer(rootfs)], ['bzip2', tool('bzip2')], ['xz', tool('xz')],
    ];
    const created = new Date(1704067200000);
    const ids = new Set<string>();
    for (const [kind, input] of inputs) {
      const r = await importRootfs(images, fromBuffer(input), `imp:${kind}`, { created });
      assert.equal(r.diffId, digestOf(rootfs), kind);
      assert.equal((await images.store.statBlob(r.diffId))?.size, rootfs.length, `${kind}: stored uncompressed`);
      ids.add(r.id);
    }
    assert.equal(ids.size, 1, 'same content and time: same image ID');
    await validateImage((await images.resolve('imp:xz')).image);
  });

  test('the config is docker import\'s: host platform, one history entry, the changes applied', async () => {
    const r = await importRootfs(images, createReadStream(await busyboxRootfsTar()), 'localhost/base:1', {
      created: new Date(1704067200000),
      changes: ['CMD ["/bin/sh"]', 'ENV PATH=/usr/bin:/bin', 'EXPOSE 8080', 'WORKDIR /home/app', 'USER app', 'LABEL org.example=yes', 'VOLUME /data', 'STOPSIGNAL SIGINT'],
    });
    const stored = await images.resolve('localhost/base:1');
    assert.equal(stored.id, r.id);
    const config = await stored.image.config();
    assert.equal(config.os, 'linux');
    assert.equal(config.architecture, 'amd64');
    assert.equal(config.created, '2024-01-01T00:00:00Z');
    assert.deepEqual(config.history, [{ created: '2024-01-01T00:00:00Z', comment: 'Imported from -' }]);
    assert.deepEqual(config.config, {
      User: 'app', ExposedPorts: { '8080/tcp': {} }, Env: ['PATH=/usr/bin:/bin'], Cmd: ['/bin/sh'], Volumes: { '/data': {} },
      WorkingDir: '/home/app', Labels: { 'org.example': 'yes' }, StopSignal: 'SIGINT',
    });
    assert.deepEqual(config.rootfs.diff_ids, [digestOf(rootfs)]);
    await validateImage(stored.image);
  });

  test('--message replaces the history comment', async () => {
    const r = await importRootfs(images, fromBuffer(rootfs), undefined, { message: 'from my rootfs' });
    const config = await images.image(r.manifestDigest).config();
    assert.equal(config.history?.[0]?.comment, 'from my rootfs');
    assert.deepEqual(r.names, []);
  });
});

describe('import refuses bad input and leaves the store unchanged', () => {
  const refuses = async (input: Buffer, opts: Parameters<typeof importRootfs>[3], ref: string | undefined, type: new (...a: never[]) => Error, pattern: RegExp) => {
    const before = storeSnapshot(images.store.root);
    await assert.rejects(importRootfs(images, fromBuffer(input), ref, opts), (e: unknown) => e instanceof type && pattern.test((e as Error).message));
    assert.equal(storeSnapshot(images.store.root), before);
    assert.deepEqual(storeTemp(images.store.root), []);
  };

  test('a rootfs with an entry escaping the root', async () => {
    await refuses(tar(file('etc/ok', 'x'), file('../../etc/cron.d/evil', 'x')), { label: 'import evil.tar' }, 'evil:1', UnsafeArchiveError, /import evil\.tar: rootfs: entry "\.\.\/\.\.\/etc\/cron\.d\/evil": path escapes/);
  });

  test('a rootfs writing through its own symlink (gzip-compressed)', async () => {
    await refuses(gzipSync(tar(symlink('etc', '/etc'), file('etc/passwd', 'x'))), {}, 'evil:2', UnsafeArchiveError, /entry "etc\/passwd": parent "etc" is a symlink/);
  });

  test('input that is no tar', async () => {
    await refuses(Buffer.from('hello world\n'.repeat(100)), {}, 'x:1', ArchiveFormatError, /not a tar archive/);
    await refuses(Buffer.alloc(0), {}, 'x:1', ArchiveFormatError, /not a tar archive/);
  });

  test('a bad reference or change is refused before anything is read', async () => {
    await refuses(tar(file('a', 'b')), {}, 'Bad Name!', InvalidReferenceError, /invalid reference/);
    await refuses(tar(file('a', 'b')), { changes: ['RUN echo hi'] }, 'x:1', InstructionError, /RUN is not a valid change command/);
    await refuses(tar(file('a', 'b')), { changes: ['EXPOSE 80/bogus'] }, 'x:1', InstructionError, /unknown protocol/);
  });
});
