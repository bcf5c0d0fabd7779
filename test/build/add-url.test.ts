import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { lstatSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import { addUrl, isUrlSource, urlFileName } from '../../src/build/add-url.js';
import { BuildError, DigestMismatchError } from '../../src/errors.js';
import { file, tar } from '../fs/hostile-tars.js';
import { makeTemp, paths, rmTemp, snapshot } from './helpers.js';

const BODY = Buffer.from('downloaded content\n');
const TAR = tar(file('inside.txt', 'in'));
const LAST_MODIFIED = 'Wed, 21 Oct 2015 07:28:00 GMT';
const sha = (b: Buffer) => 'sha256:' + createHash('sha256').update(b).digest('hex');

describe('ADD <url>', () => {
  let server: Server;
  let base: string;
  let tmp: string;
  let root: string;
  before(async () => {
    server = createServer((req, res) => {
      switch (req.url) {
        case '/files/data.txt':
          res.writeHead(200, { 'Last-Modified': LAST_MODIFIED, 'Content-Type': 'text/plain' });
          return res.end(BODY);
        case '/':
        case '/plain':
          res.writeHead(200);
          return res.end(BODY);
        case '/moved':
          res.writeHead(302, { Location: '/files/data.txt' });
          return res.end();
        case '/archive.tar':
          res.writeHead(200);
          return res.end(TAR);
        default:
          res.writeHead(404);
          return res.end('no');
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  beforeEach(() => {
    tmp = makeTemp('add-url-');
    root = join(tmp, 'root');
    mkdirSync(root);
    mkdirSync(join(tmp, 'dl'));
  });
  afterEach(() => rmTemp(tmp));

  const add = (url: string, dest: string, extra: Record<string, unknown> = {}) => addUrl(root, { url, dest, tmpDir: join(tmp, 'dl'), ...extra });

  it('names files after the URL path', () => {
    assert.equal(urlFileName('https://example.com/a/b/file.tar.gz?x=1#f'), 'file.tar.gz');
    assert.equal(urlFileName('https://example.com/dir/'), 'dir');
    assert.equal(urlFileName('https://example.com'), '__unnamed__');
    assert.equal(urlFileName('https://example.com/a%20b'), 'a b');
    assert.ok(isUrlSource('HTTPS://x/y') && isUrlSource('http://x') && !isUrlSource('ftp://x') && !isUrlSource('http.txt'));
  });

  it('downloads into a directory destination as mode 0600 with the Last-Modified mtime', async () => {
    const r = await add(`${base}/files/data.txt`, '/dl/');
    const st = lstatSync(join(root, 'dl/data.txt'));
    assert.equal(readFileSync(join(root, 'dl/data.txt'), 'utf8'), BODY.toString());
    assert.equal((st.mode & 0o7777).toString(8), '600');
    assert.equal(`${st.uid}:${st.gid}`, '0:0');
    assert.equal(st.mtimeMs, Date.parse(LAST_MODIFIED));
    assert.equal(r.download.digest, sha(BODY));
    assert.deepEqual(readdirSync(join(tmp, 'dl')), [], 'the download directory is cleaned up');
  });

  it('writes to the destination path itself without a trailing slash, follows redirects, epoch mtime without Last-Modified', async () => {
    await add(`${base}/moved`, '/renamed');
    assert.equal(readFileSync(join(root, 'renamed'), 'utf8'), BODY.toString());
    await add(`${base}/plain`, 'rel', { workdir: '/w' });
    assert.equal(lstatSync(join(root, 'w/rel')).mtimeMs, 0);
    await add(`${base}/`, '/u/');
    assert.deepEqual(paths(join(root, 'u')), ['__unnamed__']);
  });

  it('verifies --checksum', async () => {
    await add(`${base}/plain`, '/ok', { checksum: sha(BODY) });
    assert.ok(lstatSync(join(root, 'ok')).isFile());
    await assert.rejects(add(`${base}/plain`, '/bad', { checksum: sha(Buffer.from('other')) }), DigestMismatchError);
    assert.equal(lstatSync(join(root, 'bad'), { throwIfNoEntry: false }), undefined);
    await assert.rejects(add(`${base}/plain`, '/x', { checksum: 'md5:abc' }), (e: unknown) => e instanceof BuildError && e.code === 'ADD_BAD_CHECKSUM');
  });

  it('reports HTTP errors', async () => {
    await assert.rejects(add(`${base}/missing`, '/x'), (e: unknown) => e instanceof BuildError && e.code === 'ADD_DOWNLOAD' && /HTTP 404/.test(e.message));
  });

  it('applies --chown and --chmod, and never unpacks unless asked', async () => {
    await add(`${base}/archive.tar`, '/t/', { chown: { uid: 3, gid: 4 }, chmod: '0644' });
    assert.deepEqual(snapshot(join(root, 't'))['archive.tar'], { type: 'file', mode: '644', owner: '3:4', content: TAR.toString() });
    await add(`${base}/archive.tar`, '/unpacked', { unpack: true });
    assert.equal(readFileSync(join(root, 'unpacked/inside.txt'), 'utf8'), 'in');
  });
});
