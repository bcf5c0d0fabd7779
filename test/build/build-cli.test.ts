/**
 * `strata build` end to end through the real CLI, with real namespaces and overlayfs: naming and
 * ID output, where the Dockerfile and the context come from, progress output, the cache (hits,
 * misses and their explanation, reproducible IDs), and the errors a user meets.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { RACY_MS } from '../../src/build/stat-cache.js';
import { memoFileFor } from '../../src/build/context.js';
import { runStrata } from '../helpers/cli.js';
import { skipReason } from '../exec/sandbox.js';
import { BUSYBOX, cliSuite, plainSteps, stepTitled } from './cli-build.js';
import { strataImage, strataTree } from './image-shapes.js';
import { diffShapes } from '../fs/tree-compare.js';

const ID = /^sha256:[0-9a-f]{64}$/;

describe('strata build (CLI)', { skip: skipReason(), timeout: 10 * 60_000 }, () => {
  const suite = cliSuite();
  const ctx = suite.ctx;
  const strata = (args: string[], opts: { input?: string | Buffer; env?: NodeJS.ProcessEnv } = {}) => runStrata(['--root', suite.root, ...args], opts);
  const build = (args: string[], opts: { input?: string | Buffer; env?: NodeJS.ProcessEnv } = {}) => strata(['build', ...args], opts);
  const ok = (r: { code: number | null; stderr: string }) => assert.equal(r.code, 0, r.stderr);


  it('-t names the image, -q prints only its ID, --iidfile writes it, --label labels it', () => {
    const dir = ctx({ Dockerfile: `FROM ${BUSYBOX}\nLABEL from.file=1 over=file\nRUN echo tagged > /tagged\n` });
    const iid = join(dir, 'iid');
    const r = build(['-q', '-t', 'localhost/cli/tagged:1', '-t', 'localhost/cli/tagged:2', '--iidfile', iid, '--label', 'over=cli', '--label', 'extra=x', dir]);
    ok(r);
    assert.match(r.stdout, /^sha256:[0-9a-f]{64}\n$/, 'stdout is the ID alone');
    assert.equal(r.stderr, '', '-q prints no progress');
    const id = r.stdout.trim();
    assert.equal(readFileSync(iid, 'utf8'), id);
    for (const name of ['localhost/cli/tagged:1', 'localhost/cli/tagged:2']) {
      const info = JSON.parse(strata(['inspect', name]).stdout) as { Id: string; Config: { Labels: Record<string, string> } }[];
      assert.equal(info[0]!.Id, id, name);
      assert.deepEqual(info[0]!.Config.Labels, { 'from.file': '1', 'over': 'cli', 'extra': 'x' });
    }
  });

  it('-f takes a Dockerfile outside the context; -f - and a context of - read stdin, with the same result', async () => {
    const dockerfile = `FROM ${BUSYBOX}\nCOPY data.txt /data.txt\nRUN cat /data.txt > /seen\n`;
    const dir = ctx({ 'data.txt': 'from the context\n', 'Dockerfile': 'FROM scratch\n' });
    const dfDir = ctx({ 'Other.Dockerfile': dockerfile });
    const byPath = build(['-q', '-t', 'localhost/cli/file', '-f', join(dfDir, 'Other.Dockerfile'), dir]);
    ok(byPath);
    const byStdin = build(['-q', '-f', '-', dir], { input: dockerfile });
    ok(byStdin);
    assert.equal(byStdin.stdout, byPath.stdout, '-f - builds the same image');

    // A tar on stdin is the context (with its own Dockerfile).
    const tarDir = ctx({ 'data.txt': 'from the context\n', 'Dockerfile': dockerfile });
    const tar = spawnSync('tar', ['-C', tarDir, '-c', '.'], { maxBuffer: 16 * 1024 * 1024 });
    assert.equal(tar.status, 0);
    const byTar = build(['-q', '-'], { input: tar.stdout });
    ok(byTar);
    assert.equal(byTar.stdout, byPath.stdout, 'a tar context builds the same image');
    // A Dockerfile on stdin as the context: no files, as docker does.
    const bare = build(['-q', '-'], { input: `FROM ${BUSYBOX}\nRUN echo bare > /bare\n` });
    ok(bare);
    assert.match(bare.stdout.trim(), ID);

    const work = suite.temp('cli-export-');
    const { dir: rootfs } = await strataTree(suite.root, 'localhost/cli/file', work);
    assert.equal(readFileSync(join(rootfs, 'seen'), 'utf8'), 'from the context\n');
  });

  it('--progress plain: numbered steps, DONE then CACHED, and the same image ID again (also with --no-cache)', () => {
    const dir = ctx({
      'Dockerfile': `FROM ${BUSYBOX} AS base\nRUN echo one > /one\n\nFROM base\nCOPY a.txt /\nENV X=1\nRUN cat /a.txt > /b\n`,
      'a.txt': 'a\n',
    });
    const first = build(['--progress', 'plain', dir]);
    ok(first);
    const steps = plainSteps(first.stderr);
    assert.match(stepTitled(steps, /FROM /)[0]!, /^\[base 1\/2\] FROM localhost\/fixture\/busybox:latest AS base$/);
    for (const title of [/^\[base 2\/2\] RUN echo one > \/one$/, /^\[2\/4\] COPY a\.txt \/$/, /^\[4\/4\] RUN cat \/a\.txt > \/b$/]) {
      const lines = stepTitled(steps, title);
      assert.match(lines.at(-1)!, /^DONE \d+\.\d+s$/, `${title} ends with DONE`);
    }
    assert.doesNotMatch(first.stderr, /CACHED/);
    const id = first.stdout.trim();
    assert.match(id, ID);

    const second = build(['--progress', 'plain', dir]);
    ok(second);
    assert.equal(second.stdout.trim(), id, 'a cached build gives the same image');
    const again = plainSteps(second.stderr);
    for (const title of [/RUN echo one/, /COPY a\.txt/, /RUN cat/]) assert.equal(stepTitled(again, title).at(-1), 'CACHED', `${title} is cached`);

    const fresh = build(['--progress', 'plain', '--no-cache', dir]);
    ok(fresh);
    assert.doesNotMatch(fresh.stderr, /CACHED/);
    assert.equal(fresh.stdout.trim(), id, '--no-cache builds the same image again (reproducible)');
  });

  it('--progress json: one parseable event per line, ending with the image ID', () => {
    const dir = ctx({ Dockerfile: `FROM ${BUSYBOX}\nRUN echo json; echo out > /json\n` });
    const r = build(['--progress', 'json', '--no-cache', dir]);
    ok(r);
    const events = r.stderr.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as { type: string; id?: number; imageId?: string; data?: unknown });
    const types = new Set(events.map((e) => e.type));
    for (const t of ['step-start', 'step-done', 'build-done']) assert.ok(types.has(t), `a ${t} event`);
    assert.equal(events.at(-1)!.type, 'build-done');
    assert.equal(events.at(-1)!.imageId, r.stdout.trim());
  });

  it('a changed context file makes its COPY and later steps miss, and --progress plain says which file', () => {
    const dir = ctx({
      'Dockerfile': `FROM ${BUSYBOX}\nRUN echo pre > /pre\nCOPY . /ctx/\nRUN cat /ctx/a.txt > /copy\n`,
      'a.txt': 'a\n',
      'b.txt': 'b\n',
    });
    const first = build(['--progress', 'plain', dir]);
    ok(first);
    writeFileSync(join(dir, 'b.txt'), 'b changed\n');
    const second = build(['--progress', 'plain', dir]);
    ok(second);
    const steps = plainSteps(second.stderr);
    assert.equal(stepTitled(steps, /RUN echo pre/).at(-1), 'CACHED');
    const copy = stepTitled(steps, /COPY \. \/ctx\//);
    assert.ok(copy.includes('cache miss: 1 file changed: b.txt'), copy.join('\n'));
    assert.match(copy.at(-1)!, /^DONE/);
    assert.match(stepTitled(steps, /RUN cat/).at(-1)!, /^DONE/);
    assert.notEqual(second.stdout, first.stdout);
  });

  it('a settled context\'s COPY digests are remembered: hits, a same-size edit misses, a new parent still copies the files', async () => {
    const dir = ctx({
      'Dockerfile': `FROM ${BUSYBOX}\nARG V=1\nRUN echo $V > /v\nCOPY . /ctx/\n`,
      'a.txt': 'aaaa\n',
      'sub/b.txt': 'bbbb\n',
    });
    await sleep(RACY_MS + 50);
    const first = build(['--progress', 'plain', '-t', 'localhost/cli/memo', dir]);
    ok(first);
    assert.ok(existsSync(memoFileFor(join(suite.root, 'cache'), dir)), 'the settled context state was remembered');
    const again = build(['--progress', 'plain', dir]);
    ok(again);
    assert.equal(stepTitled(plainSteps(again.stderr), /COPY \. \/ctx\//).at(-1), 'CACHED');
    assert.equal(again.stdout, first.stdout);

    // Same size, new bytes: the memo is for the old state, so the COPY misses and names the file.
    writeFileSync(join(dir, 'sub/b.txt'), 'BBBB\n');
    await sleep(RACY_MS + 50);
    const edited = build(['--progress', 'plain', '-t', 'localhost/cli/memo', dir]);
    ok(edited);
    const copy = stepTitled(plainSteps(edited.stderr), /COPY \. \/ctx\//);
    assert.ok(copy.includes('cache miss: 1 file changed: sub/b.txt'), copy.join('\n'));
    assert.notEqual(edited.stdout, first.stdout);

    // The COPY's digest now comes from the memo, but its parent changed: it must still copy.
    const rebased = build(['--progress', 'plain', '--build-arg', 'V=2', '-t', 'localhost/cli/memo2', dir]);
    ok(rebased);
    assert.match(stepTitled(plainSteps(rebased.stderr), /COPY \. \/ctx\//).at(-1)!, /^DONE/);
    const work = suite.temp('cli-memo-');
    const { dir: rootfs } = await strataTree(suite.root, 'localhost/cli/memo2', work);
    assert.equal(readFileSync(join(rootfs, 'ctx/sub/b.txt'), 'utf8'), 'BBBB\n');
    assert.equal(readFileSync(join(rootfs, 'v'), 'utf8'), '2\n');
    // And --no-cache over a remembered digest gives the same image.
    const fresh = build(['--no-cache', '-q', dir]);
    ok(fresh);
    assert.equal(fresh.stdout.trim(), edited.stdout.trim());
  });

  it('a changed #! heredoc script is a cache miss', () => {
    const script = (word: string) => `FROM ${BUSYBOX}\nRUN <<EOF\n#!/bin/sh\necho ${word} > /word\nEOF\n`;
    const dir = ctx({ Dockerfile: script('one') });
    const first = build(['-q', dir]);
    ok(first);
    writeFileSync(join(dir, 'Dockerfile'), script('two'));
    const second = build(['--progress', 'plain', dir]);
    ok(second);
    assert.doesNotMatch(second.stderr, /CACHED/);
    assert.notEqual(second.stdout, first.stdout);
  });

  it('independent stages run at the same time; --target runs only what it needs', () => {
    const dir = ctx({
      Dockerfile: [
        `FROM ${BUSYBOX} AS left`, 'RUN sleep 1 && echo left > /left',
        `FROM ${BUSYBOX} AS right`, 'RUN sleep 1 && echo right > /right',
        `FROM ${BUSYBOX} AS failing`, 'RUN echo failing-stage-ran && exit 3',
        `FROM ${BUSYBOX}`, 'COPY --from=left /left /', 'COPY --from=right /right /', '',
      ].join('\n'),
    });
    const r = build(['--progress', 'json', '--no-cache', dir]);
    ok(r);
    const events = r.stderr.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { type: string; id: number; name?: string; time: number });
    const span = (stage: string) => {
      const start = events.find((e) => e.type === 'step-start' && e.name?.startsWith(`[${stage} 2/2] RUN`))!;
      const done = events.find((e) => e.type === 'step-done' && e.id === start.id)!;
      return [start.time, done.time] as const;
    };
    const [l0, l1] = span('left');
    const [r0, r1] = span('right');
    assert.ok(l0 < r1 && r0 < l1, `the RUN steps of left (${l0}-${l1}) and right (${r0}-${r1}) overlap`);
    assert.doesNotMatch(r.stderr, /failing/, 'a stage nothing needs never starts');
    const target = build(['--progress', 'plain', '--target', 'right', dir]);
    ok(target);
    assert.doesNotMatch(target.stderr, /\[left |\[failing /);
    const failing = build(['--progress', 'plain', '--target', 'failing', dir]);
    assert.equal(failing.code, 1, 'the unneeded stage really fails when it is the target');
    assert.match(failing.stderr, /failing-stage-ran/);
  });

  it('--squash leaves one layer over the base with the same files', async () => {
    const dir = ctx({ Dockerfile: `FROM ${BUSYBOX}\nRUN mkdir /d && echo a > /d/a && echo b > /b\nRUN rm /b /etc/group && echo c > /d/c\nENV S=1\n` });
    ok(build(['-q', '-t', 'localhost/cli/unsquashed', dir]));
    ok(build(['-q', '--squash', '-t', 'localhost/cli/squashed', dir]));
    const plain = await strataImage(suite.root, 'localhost/cli/unsquashed');
    const squashed = await strataImage(suite.root, 'localhost/cli/squashed');
    const base = await strataImage(suite.root, BUSYBOX);
    assert.equal(plain.layers.length, base.layers.length + 2);
    assert.equal(squashed.layers.length, base.layers.length + 1);
    assert.deepEqual(squashed.config.config, plain.config.config);
    const work = suite.temp('cli-squash-');
    const a = await strataTree(suite.root, 'localhost/cli/unsquashed', join(work, 'a'));
    const b = await strataTree(suite.root, 'localhost/cli/squashed', join(work, 'b'));
    assert.deepEqual(diffShapes(a.tree, b.tree, ['unsquashed', 'squashed']), []);
  });

  it('a failing RUN stops the build: exit code 1, the step, its exit code and its last lines of output', () => {
    const dir = ctx({ Dockerfile: `FROM ${BUSYBOX}\nRUN seq 1 40; echo to-stderr >&2; exit 7\nRUN echo never > /never\n` });
    const r = build(['--progress', 'plain', dir]);
    assert.equal(r.code, 1);
    const tail = r.stderr.slice(r.stderr.lastIndexOf('Dockerfile:2'));
    assert.match(tail, /\[2\/3\] RUN seq 1 40; echo to-stderr >&2; exit 7 failed with exit code 7/);
    assert.match(tail, /^\s+40$/m, 'the last lines are in the error');
    assert.match(tail, /to-stderr/);
    assert.doesNotMatch(tail, /^\s+20$/m, 'only the last lines');
    assert.doesNotMatch(r.stderr, /RUN echo never/, 'no later step starts');
  });

  it('USER 4294967296 is an error at the USER line, never uid 0; so is --chown with such an id', () => {
    for (const user of ['4294967296', '0:4294967296', '99999999999999999999']) {
      const r = build(['--progress', 'plain', ctx({ Dockerfile: `FROM ${BUSYBOX}\nUSER ${user}\nRUN id -u > /uid\n` })]);
      assert.equal(r.code, 1, user);
      assert.match(r.stderr, /Dockerfile:2:\d+: .*out of range/, user);
      assert.doesNotMatch(r.stderr, /RUN id/, `${user}: no RUN starts`);
    }
    const chown = build(['--progress', 'plain', ctx({ 'Dockerfile': `FROM ${BUSYBOX}\nCOPY --chown=4294967296 f /f\n`, 'f': 'x' })]);
    assert.equal(chown.code, 1);
    assert.match(chown.stderr, /--chown=4294967296: id out of range/);
  });

  it('a base image that is not in the store: a clear error with a hint', () => {
    const r = build(['--progress', 'plain', ctx({ Dockerfile: 'FROM localhost/no/such-image:1.0\nRUN true\n' })]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /Dockerfile:1: base image "localhost\/no\/such-image:1.0" is not in the store/);
    assert.match(r.stderr, /strata load|strata import/);
  });

  it('--platform other than this machine\'s is refused clearly', () => {
    const host = process.arch === 'arm64' ? 'arm64' : 'amd64';
    const other = host === 'arm64' ? 'amd64' : 'arm64';
    const dir = ctx({ Dockerfile: `FROM ${BUSYBOX}\nRUN echo p > /p\n` });
    const r = build(['--platform', `linux/${other}`, dir]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, new RegExp(`--platform linux/${other} is not supported: strata builds for linux/${host}`));
    ok(build(['-q', '--platform', `linux/${host}`, dir]));
    const fromFlag = build(['--progress', 'plain', ctx({ Dockerfile: `FROM --platform=linux/${other} ${BUSYBOX}\n` })]);
    assert.equal(fromFlag.code, 1);
    assert.match(fromFlag.stderr, new RegExp(`FROM --platform=linux/${other}: strata only builds for linux/${host}`));
  });
});
