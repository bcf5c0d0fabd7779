/**
 * ADD in a real build: local archives are unpacked into place, URLs are downloaded (from a
 * server on 127.0.0.1) with --checksum verified, and the cache keys on the downloaded content.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { skipReason } from '../exec/sandbox.js';
import { BUSYBOX, makeContext, plainSteps, stepTitled, storeWithBusybox, strataAsync } from './cli-build.js';
import { makeTemp, rmTemp } from './helpers.js';

describe('strata build: ADD', { skip: skipReason(), timeout: 5 * 60_000 }, () => {
  let root: string;
  let server: Server;
  let port = 0;
  let body = 'downloaded content v1\n';
  const temps: string[] = [];

  before(async () => {
    root = await storeWithBusybox();
    server = createServer((req, res) => {
      if (req.url === '/files/tool.txt') {
        res.writeHead(200, { 'last-modified': 'Tue, 01 Jan 2030 00:00:00 GMT' });
        res.end(body);
      } else {
        res.writeHead(404);
        res.end();
      }
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as { port: number }).port;
  });
  after(() => {
    server?.close();
    for (const d of temps) rmTemp(d);
    if (root) rmTemp(root);
  });

  const build = (args: string[]) => strataAsync(['--root', root, 'build', '--progress', 'plain', ...args]);

  it('unpacks a local gzip tar into the destination, and copies a plain file as is', async () => {
    const dir = makeContext({ 'Dockerfile': `FROM ${BUSYBOX}\nADD payload.tar.gz /opt/\nADD notes.txt /opt/notes.txt\n`, 'notes.txt': 'plain\n' });
    temps.push(dir);
    const src = makeTemp('add-src-');
    temps.push(src);
    mkdirSync(join(src, 'pkg/bin'), { recursive: true });
    writeFileSync(join(src, 'pkg/bin/tool'), '#!/bin/sh\necho tool\n', { mode: 0o755 });
    execFileSync('tar', ['-czf', join(dir, 'payload.tar.gz'), '-C', src, 'pkg']);
    const r = await build(['-t', 'localhost/add/archive', dir]);
    assert.equal(r.code, 0, r.stderr);
    const out = makeTemp('add-export-');
    temps.push(out);
    const tar = join(out, 'fs.tar');
    const e = await strataAsync(['--root', root, 'export', 'localhost/add/archive', '-o', tar]);
    assert.equal(e.code, 0, e.stderr);
    const listing = execFileSync('tar', ['-tvf', tar], { encoding: 'utf8' });
    assert.match(listing, /-rwxr-xr-x .* opt\/pkg\/bin\/tool/);
    assert.match(listing, /opt\/notes\.txt/);
    assert.doesNotMatch(listing, /payload\.tar\.gz/);
  });

  it('downloads a URL, verifies --checksum, and misses the cache only when the content changes', async () => {
    const url = `http://127.0.0.1:${port}/files/tool.txt`;
    const sum = (s: string) => 'sha256:' + createHash('sha256').update(s).digest('hex');
    const dir = makeContext({ Dockerfile: `FROM ${BUSYBOX}\nADD ${url} /dl/\nRUN cat /dl/tool.txt\n` });
    temps.push(dir);
    const first = await build(['-t', 'localhost/add/url', dir]);
    assert.equal(first.code, 0, first.stderr);
    const again = await build(['-t', 'localhost/add/url', dir]);
    assert.equal(again.code, 0, again.stderr);
    assert.ok(stepTitled(plainSteps(again.stderr), /ADD http/).includes('CACHED'), again.stderr);
    body = 'downloaded content v2\n';
    const changed = await build(['-t', 'localhost/add/url', dir]);
    assert.equal(changed.code, 0, changed.stderr);
    const step = stepTitled(plainSteps(changed.stderr), /ADD http/);
    assert.ok(step.some((l) => /cache miss: .*tool\.txt/.test(l)), step.join('\n'));

    const good = makeContext({ Dockerfile: `FROM ${BUSYBOX}\nADD --checksum=${sum(body)} ${url} /dl/tool.txt\n` });
    const bad = makeContext({ Dockerfile: `FROM ${BUSYBOX}\nADD --checksum=${sum('something else')} ${url} /dl/tool.txt\n` });
    temps.push(good, bad);
    const ok = await build([good]);
    assert.equal(ok.code, 0, ok.stderr);
    const mismatch = await build([bad]);
    assert.equal(mismatch.code, 1);
    assert.match(mismatch.stderr, /checksum mismatch/);
  });
});
