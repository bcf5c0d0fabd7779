/**
 * ADD of an https URL signed by a private CA, through the `strata` command as users run it (the
 * bundle executed itself: its launcher moves NODE_EXTRA_CA_CERTS out of Node's way) and through
 * `node dist/src/cli/main.js` (Node reads the variable itself). Without the CA the TLS check fails.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { repoRoot } from '../helpers/corpus.js';
import { STRATA_BIN, runStrata } from '../helpers/cli.js';
import { skipReason } from '../exec/sandbox.js';
import { makeTemp, rmTemp } from './helpers.js';

const BUNDLE = join(repoRoot, 'dist', 'bundle', 'strata.cjs');

/** Runs a command without blocking this process (the https server here must answer meanwhile). */
function runAsync(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('ADD https:// with a private CA (NODE_EXTRA_CA_CERTS)', { skip: skipReason(), timeout: 120_000 }, () => {
  let dir: string;
  let server: Server;
  let url: string;
  const env = (extra: Record<string, string | undefined>): NodeJS.ProcessEnv => {
    const e: NodeJS.ProcessEnv = { ...process.env, ...extra };
    for (const [k, v] of Object.entries(extra)) if (v === undefined) delete e[k];
    return e;
  };

  before(async () => {
    dir = makeTemp('add-https-');
    const ssl = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=strata test CA',
      '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'ca.pem')], { encoding: 'utf8' });
    assert.equal(ssl.status, 0, ssl.stderr);
    server = createServer({ key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'ca.pem')) }, (req, res) => {
      if (req.url === '/hello.txt') res.end('hello over tls\n');
      else if (req.url === '/moved') res.writeHead(302, { location: '/hello.txt' }).end();
      else res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
    writeFileSync(join(dir, 'Dockerfile'), `FROM scratch\nADD ${url}/moved /hello.txt\n`);
  });
  after(async () => {
    await new Promise<void>((resolve) => server?.close(() => resolve()));
    if (dir) rmTemp(dir);
  });

  /** Builds the Dockerfile into a fresh store and returns the exported /hello.txt (or the failure). */
  const buildWith = async (cmd: string, args: string[], e: NodeJS.ProcessEnv): Promise<string> => {
    const root = makeTemp('add-https-store-');
    try {
      const r = await runAsync(cmd, [...args, '--root', root, 'build', '-q', '-t', 'tls', dir], e);
      if (r.code !== 0) return `exit ${r.code}: ${r.stderr}`;
      const out = join(root, 'export.tar');
      assert.equal(runStrata(['--root', root, 'export', 'tls', '-o', out]).code, 0);
      const list = spawnSync('tar', ['-xOf', out, 'hello.txt'], { encoding: 'utf8' });
      return list.stdout;
    } finally {
      rmTemp(root);
    }
  };

  it('the strata command (the executed bundle) trusts NODE_EXTRA_CA_CERTS', async () => {
    assert.equal(await buildWith(BUNDLE, [], env({ NODE_EXTRA_CA_CERTS: join(dir, 'ca.pem'), STRATA_EXTRA_CA_CERTS: undefined })), 'hello over tls\n');
  });

  it('so does node dist/src/cli/main.js, where Node reads the variable itself', async () => {
    assert.equal(await buildWith(process.execPath, [STRATA_BIN], env({ NODE_EXTRA_CA_CERTS: join(dir, 'ca.pem'), STRATA_EXTRA_CA_CERTS: undefined })), 'hello over tls\n');
  });

  it('STRATA_EXTRA_CA_CERTS alone (what the launcher hands on) is trusted for the download', async () => {
    assert.equal(await buildWith(process.execPath, [STRATA_BIN], env({ NODE_EXTRA_CA_CERTS: undefined, STRATA_EXTRA_CA_CERTS: join(dir, 'ca.pem') })), 'hello over tls\n');
  });

  it('without the CA the download fails, naming the URL', async () => {
    const out = await buildWith(BUNDLE, [], env({ NODE_EXTRA_CA_CERTS: undefined, STRATA_EXTRA_CA_CERTS: undefined }));
    assert.match(out, /^exit 1: /);
    assert.match(out, new RegExp(`ADD ${url.replace(/[.:/]/g, '\\$&')}/moved: download failed: .*(certificate|self.signed)`, 'i'));
  });
});
