/**
 * `strata build` end to end, the parts that need a process in the background: Ctrl-C during a
 * step (nothing may be left behind), the network a RUN gets (a server in this process answers
 * while the build runs), and reproducible timestamps across stores.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { after, before, describe, it } from 'node:test';
import tarStream from 'tar-stream';
import { runStrata } from '../helpers/cli.js';
import { skipReason } from '../exec/sandbox.js';
import { BUSYBOX, cliSuite, startStrata, strataAsync, waitFor } from './cli-build.js';
import { strataImage } from './image-shapes.js';
import { mountsUnder } from './buildah.js';

/** Host pids whose command line contains `text` (pgrep -f). */
function pgrep(text: string): string[] {
  const r = spawnSync('pgrep', ['-f', text], { encoding: 'utf8' });
  return r.stdout.split('\n').filter((p) => p !== '' && Number(p) !== process.pid);
}

/** The mtimes (seconds) of every entry of a layer tar. */
async function layerMtimes(path: string): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  const extract = tarStream.extract();
  extract.on('entry', (h, stream, next) => {
    out.set(h.name, Math.floor((h.mtime?.getTime() ?? 0) / 1000));
    stream.on('end', next);
    stream.resume();
  });
  await pipeline(createReadStream(path), extract);
  return out;
}

describe('strata build (CLI): interrupts, network, timestamps', { skip: skipReason(), timeout: 10 * 60_000 }, () => {
  const suite = cliSuite();
  const ctx = suite.ctx;

  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    it(`${signal} during a long RUN stops the build within seconds and leaves no process, mount or lock`, async () => {
      const marker = String(900_000 + Math.floor(Math.random() * 99_999));
      const dir = ctx({ Dockerfile: `FROM ${BUSYBOX}\nRUN echo started; sleep ${marker}\n` });
      const run = startStrata(['--root', suite.root, 'build', '--progress', 'plain', dir]);
      try {
        assert.ok(await waitFor(() => run.stderr().includes('started') && pgrep(`sleep ${marker}`).length > 0, 30_000), `the step never started:\n${run.stderr()}`);
        const t0 = Date.now();
        run.kill(signal);
        const r = await run.result;
        const took = Date.now() - t0;
        assert.ok(took < 5000, `stopped after ${took} ms`);
        assert.notEqual(r.code, 0, 'an interrupted build is not a success');
        assert.match(r.stderr, /interrupted/);
      } finally {
        if (pgrep(`sleep ${marker}`).length > 0) run.kill('SIGKILL');
      }
      assert.deepEqual(pgrep(`sleep ${marker}`), [], 'no process of the step is left');
      assert.deepEqual(mountsUnder([suite.root]), [], 'no mount is left under the store');
      // A lease or lock left behind would make prune wait (or report the store busy).
      const t1 = Date.now();
      const prune = runStrata(['--root', suite.root, 'prune'], { timeoutMs: 60_000 });
      assert.equal(prune.code, 0, prune.stderr);
      assert.doesNotMatch(prune.stdout + prune.stderr, /busy|waiting/i);
      assert.ok(Date.now() - t1 < 10_000, `prune took ${Date.now() - t1} ms`);
    });
  }

  describe('the network of RUN steps', () => {
    let server: Server;
    let url: string;
    before(async () => {
      server = createServer((_req, res) => res.end('served by the host\n'));
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    });
    after(() => new Promise<void>((resolve) => server.close(() => resolve())));

    const fetchStep = (flag = '') => `FROM ${BUSYBOX}\nRUN ${flag}wget -q -O /got ${url}\n`;

    it('by default a RUN shares the host network', async () => {
      const r = await strataAsync(['--root', suite.root, 'build', '-q', ctx({ Dockerfile: fetchStep() })]);
      assert.equal(r.code, 0, r.stderr);
    });

    it('--network none leaves a RUN without network, even one cached from a build with network', async () => {
      const dir = ctx({ Dockerfile: fetchStep() });
      const withNet = await strataAsync(['--root', suite.root, 'build', '-q', dir]);
      assert.equal(withNet.code, 0, withNet.stderr);
      const r = await strataAsync(['--root', suite.root, 'build', '--progress', 'plain', '--network', 'none', dir]);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /wget: .*(refused|unreachable)/i);
      assert.match(r.stderr, /failed with exit code 1/);
    });

    it('RUN --network=host inside a --network none build still has no network', async () => {
      const r = await strataAsync(['--root', suite.root, 'build', '--progress', 'plain', '--network', 'none', ctx({ Dockerfile: fetchStep('--network=host ') })]);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /wget: .*(refused|unreachable)/i);
    });
  });

  it('SOURCE_DATE_EPOCH and --timestamp set created times and clamp file times; one value gives one digest on any store', async () => {
    // The same base on both stores (an import would stamp its own time): saved and loaded.
    const other = suite.temp('cli-store2-');
    const saved = join(other, 'base.tar');
    assert.equal(runStrata(['--root', suite.root, 'save', '-o', saved, BUSYBOX]).code, 0);
    const load = runStrata(['--root', other, 'load', '-q', '-i', saved]);
    assert.equal(load.code, 0, load.stderr);

    const dir = ctx({
      'Dockerfile': `FROM ${BUSYBOX}\nRUN echo hi > /hi && touch -d 2030-01-01 /future\nCOPY f.txt /f.txt\nENV X=1\n`,
      'f.txt': 'context file\n',
    });
    const build = (store: string, args: string[], env: NodeJS.ProcessEnv = {}) => {
      const r = runStrata(['--root', store, 'build', '-q', ...args, dir], { env: { SOURCE_DATE_EPOCH: '', ...env } });
      assert.equal(r.code, 0, r.stderr);
      return r.stdout.trim();
    };
    const epoch = build(suite.root, ['-t', 'localhost/ts/epoch'], { SOURCE_DATE_EPOCH: '1700000000' });
    assert.equal(build(other, [], { SOURCE_DATE_EPOCH: '1700000000' }), epoch, 'the same SOURCE_DATE_EPOCH gives the same image on another store');
    // root now has cached steps from the 1700000000 build: they must not leak into this one.
    const flag = build(suite.root, ['-t', 'localhost/ts/flag', '--timestamp', '1600000000'], { SOURCE_DATE_EPOCH: '1700000000' });
    assert.notEqual(flag, epoch);
    assert.equal(build(other, ['--timestamp', '1600000000']), flag, '--timestamp wins over SOURCE_DATE_EPOCH and is reproducible too');
    const zero = build(suite.root, ['-t', 'localhost/ts/default']);
    assert.equal(build(other, []), zero, 'without either, builds are reproducible too');

    for (const [tag, epochSeconds, text] of [['localhost/ts/epoch', 1700000000, '2023-11-14T22:13:20Z'], ['localhost/ts/flag', 1600000000, '2020-09-13T12:26:40Z'], ['localhost/ts/default', 0, '1970-01-01T00:00:00Z']] as const) {
      const img = await strataImage(suite.root, tag);
      const base = await strataImage(suite.root, BUSYBOX);
      assert.equal(img.config.created, text, `${tag} created`);
      for (const h of img.config.history!.slice(base.config.history!.length)) assert.equal(h.created, text, `${tag}: ${h.created_by}`);
      for (const layer of img.layers.slice(base.layers.length)) {
        for (const [name, mtime] of await layerMtimes(layer)) assert.ok(mtime <= epochSeconds, `${tag}: ${name} has mtime ${mtime} > ${epochSeconds}`);
      }
    }
  });
});
