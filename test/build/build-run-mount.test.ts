/**
 * `RUN --mount=type=bind`, `type=secret` and `type=ssh` through the real CLI, real namespaces and overlayfs: what the step sees
 * (read-only by default; rw writes thrown away, the context never written), .dockerignore'd files
 * hidden, relative targets under WORKDIR, the cache key covering what the mount shows, and sources
 * that are missing or climb out of the context. (fixtures/build/run-mounts compares the rest with
 * buildah.)
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { runStrata } from '../helpers/cli.js';
import { skipReason } from '../exec/sandbox.js';
import { canBuildDebian, DEBIAN_MISSING, debianRootfsTar } from '../helpers/base-images.js';
import { BUSYBOX, cliSuite, plainSteps, stepTitled, waitFor } from './cli-build.js';
import { strataTree } from './image-shapes.js';

const DEBIAN = 'localhost/fixture/debian:bookworm';

describe('RUN --mount=type=bind, secret and ssh (CLI)', { skip: skipReason(), timeout: 10 * 60_000 }, () => {
  const suite = cliSuite();
  const ctx = suite.ctx;
  const build = (args: string[], env?: NodeJS.ProcessEnv) => runStrata(['--root', suite.root, 'build', '--progress', 'plain', ...args], env ? { env } : {});
  const ok = (r: { code: number | null; stderr: string }) => assert.equal(r.code, 0, r.stderr);
  const tree = async (tag: string) => {
    const work = suite.temp('bind-tree-');
    return (await strataTree(suite.root, tag, work)).dir;
  };


  it('read-only by default; rw writes are seen by the step and thrown away; a relative target is under WORKDIR; ignored files are hidden', async () => {
    const dir = ctx({
      'Dockerfile': `FROM ${BUSYBOX}
WORKDIR /w
RUN --mount=type=bind,source=data,target=d,rw echo new > d/new.txt && echo changed > d/a.txt && ls d > /w/rw.listing && cat d/a.txt > /w/rw.a
RUN --mount=type=bind,source=data,target=/ro if (echo x > /ro/a.txt) 2>/dev/null; then echo writable; else echo read-only; fi > /w/ro && ls /ro > /w/ro.listing
RUN --mount=type=bind,target=/all ls -a /all > /w/all.listing
`,
      '.dockerignore': 'secret.txt\n',
      'data/a.txt': 'a\n',
      'secret.txt': 'do not show\n',
    });
    const r = build(['-t', 'localhost/bind/basic', dir]);
    ok(r);
    const fs = await tree('localhost/bind/basic');
    assert.equal(readFileSync(join(fs, 'w/rw.listing'), 'utf8'), 'a.txt\nnew.txt\n');
    assert.equal(readFileSync(join(fs, 'w/rw.a'), 'utf8'), 'changed\n');
    assert.equal(readFileSync(join(fs, 'w/ro'), 'utf8'), 'read-only\n');
    assert.equal(readFileSync(join(fs, 'w/ro.listing'), 'utf8'), 'a.txt\n', 'the rw writes were thrown away');
    assert.equal(readFileSync(join(fs, 'w/all.listing'), 'utf8'), '.\n..\n.dockerignore\nDockerfile\ndata\n');
    assert.ok(!existsSync(join(fs, 'w/d')) && !existsSync(join(fs, 'ro')) && !existsSync(join(fs, 'all')), 'mount points are not in the layers');
    assert.equal(readFileSync(join(dir, 'data/a.txt'), 'utf8'), 'a\n', 'the context is never written');
    assert.ok(!existsSync(join(dir, 'data/new.txt')));
  });

  it('the cache key covers what the mount shows: a change there misses, a change elsewhere does not', async () => {
    const dir = ctx({
      'Dockerfile': `FROM ${BUSYBOX}\nRUN --mount=type=bind,source=src,target=/src cat /src/x > /x\n`,
      'src/x': 'one\n',
      'other.txt': 'o\n',
    });
    await sleep(60);
    ok(build(['-t', 'localhost/bind/key', dir]));
    writeFileSync(join(dir, 'other.txt'), 'changed\n');
    const same = build(['-t', 'localhost/bind/key', dir]);
    ok(same);
    assert.equal(stepTitled(plainSteps(same.stderr), /RUN --mount/).at(-1), 'CACHED');
    writeFileSync(join(dir, 'src/x'), 'two\n');
    const changed = build(['-t', 'localhost/bind/key', dir]);
    ok(changed);
    const step = stepTitled(plainSteps(changed.stderr), /RUN --mount/);
    assert.ok(step.includes('cache miss: files its --mount=type=bind shows changed'), step.join('\n'));
    assert.equal(readFileSync(join(await tree('localhost/bind/key'), 'x'), 'utf8'), 'two\n');
  });

  it('a missing source, or one whose symlink points out of the context, is an error naming it', () => {
    const dir = ctx({ 'Dockerfile': `FROM ${BUSYBOX}\nRUN --mount=type=bind,source=nope,target=/n true\n` });
    const r = build([dir]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /--mount=type=bind,source=nope,target=\/n: "nope" not found in the build context/);
    const out = ctx({ 'Dockerfile': `FROM ${BUSYBOX}\nRUN --mount=type=bind,source=hostetc/passwd,target=/p cat /p\n` });
    mkdirSync(join(out, 'sub'));
    symlinkSync('/etc', join(out, 'hostetc'));
    const escaped = build([out]);
    assert.equal(escaped.code, 1, 'a link to /etc resolves inside the context, where there is no etc/passwd');
    assert.match(escaped.stderr, /"hostetc\/passwd" not found in the build context/);
  });

  it('secrets: a 0400 root file at /run/secrets/<id>, or at a target with mode and owner, or a variable; in no layer, cache key or stored file', async () => {
    const value = `s3cr3t-${randomBytes(8).toString('hex')}`;
    const sha = createHash('sha256').update(value).digest('hex');
    const secretDir = suite.temp('secret-');
    writeFileSync(join(secretDir, 'tok'), value);
    const dir = ctx({
      'Dockerfile': `FROM ${BUSYBOX}
RUN --mount=type=secret,id=tok stat -c '%a %u:%g' /run/secrets/tok > /tok.stat && sha256sum /run/secrets/tok | cut -c1-64 > /tok.sha
RUN --mount=type=secret,id=tok,target=/etc/app/key,mode=0440,uid=1,gid=2 stat -c '%a %u:%g' /etc/app/key > /key.stat
RUN --mount=type=secret,id=envtok,env=TOKEN printf %s "$TOKEN" | sha256sum | cut -c1-64 > /env.sha
RUN --mount=type=secret,id=absent if [ -e /run/secrets/absent ]; then echo mounted; else echo absent; fi > /absent
`,
    });
    const args = ['-t', 'localhost/secret/ok', '--secret', `id=tok,src=${join(secretDir, 'tok')}`, '--secret', 'id=envtok,env=STRATA_TEST_TOKEN', dir];
    const r = build(args, { STRATA_TEST_TOKEN: value });
    ok(r);
    const fs = await tree('localhost/secret/ok');
    assert.equal(readFileSync(join(fs, 'tok.stat'), 'utf8'), '400 0:0\n');
    assert.equal(readFileSync(join(fs, 'tok.sha'), 'utf8'), `${sha}\n`);
    assert.equal(readFileSync(join(fs, 'key.stat'), 'utf8'), '440 1:2\n');
    assert.equal(readFileSync(join(fs, 'env.sha'), 'utf8'), `${sha}\n`);
    assert.equal(readFileSync(join(fs, 'absent'), 'utf8'), 'absent\n', 'an optional secret that was not given mounts nothing');
    assert.ok(!existsSync(join(fs, 'run/secrets')) && !existsSync(join(fs, 'etc/app')), 'secret mount points are not in the layers');
    const grep = spawnSync('grep', ['-rl', value, suite.root], { encoding: 'utf8' });
    assert.equal(grep.stdout, '', 'the secret is in no file of the store');
    // A changed secret does not re-run a cached step (the value is not part of the key), as in BuildKit.
    writeFileSync(join(secretDir, 'tok'), 'another value');
    const again = build(args, { STRATA_TEST_TOKEN: value });
    ok(again);
    assert.equal(stepTitled(plainSteps(again.stderr), /id=tok stat/).at(-1), 'CACHED');
  });

  it('a required secret that was not given, and a bad --secret, are clear errors', () => {
    const dir = ctx({ 'Dockerfile': `FROM ${BUSYBOX}\nRUN --mount=type=secret,id=npmrc,required cat /run/secrets/npmrc\n` });
    const missing = build([dir]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /secret "npmrc" is required but was not given/);
    assert.match(missing.stderr, /--secret id=npmrc,src=FILE/);
    const bad = build(['--secret', 'src=/nowhere', dir]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--secret src=\/nowhere: no id/);
    const unreadable = build(['--secret', 'id=npmrc,src=/nonexistent/npmrc', dir]);
    assert.equal(unreadable.code, 1);
    assert.match(unreadable.stderr, /secret "npmrc": cannot read \/nonexistent\/npmrc: ENOENT/);
  });

  it('ssh: the agent given with --ssh answers through $SSH_AUTH_SOCK, a 0600 root socket that stays in no layer', { skip: canBuildDebian() ? false : DEBIAN_MISSING }, async () => {
    const dir = suite.temp('ssh-');
    const sock = join(dir, 'agent.sock');
    const agent = spawn('ssh-agent', ['-D', '-a', sock], { stdio: 'ignore' });
    try {
      assert.ok(await waitFor(() => existsSync(sock), 10_000), 'ssh-agent did not start');
      assert.equal(spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'key')]).status, 0);
      assert.equal(spawnSync('ssh-add', ['-q', join(dir, 'key')], { env: { ...process.env, SSH_AUTH_SOCK: sock } }).status, 0);
      ok(runStrata(['--root', suite.root, 'import', await debianRootfsTar(), DEBIAN]));
      // perl-base is in every Debian: ask the agent for its identities (SSH2_AGENTC_REQUEST_IDENTITIES = 11).
      const ask = `perl -MIO::Socket::UNIX -e 'my $s = IO::Socket::UNIX->new(Peer => $ENV{SSH_AUTH_SOCK}) or die "connect: $!"; print $s pack("N", 1), chr(11); read($s, my $n, 4) == 4 or die "no reply"; read($s, my $b, unpack("N", $n)); printf "%d %d\\n", ord($b), unpack("N", substr($b, 1, 4));'`;
      const ctxDir = ctx({
        'Dockerfile': `FROM ${DEBIAN}
RUN --mount=type=ssh stat -c '%F %a %u:%g' "$SSH_AUTH_SOCK" > /sock.stat && echo "$SSH_AUTH_SOCK" > /sock.path && ${ask} > /agent.txt
RUN --mount=type=ssh,id=other if [ -n "$SSH_AUTH_SOCK" ]; then echo set; else echo unset; fi > /other.txt
`,
      });
      const r = build(['-t', 'localhost/ssh/ok', '--ssh', `default=${sock}`, ctxDir]);
      ok(r);
      const fs = await tree('localhost/ssh/ok');
      assert.equal(readFileSync(join(fs, 'sock.stat'), 'utf8'), 'socket 600 0:0\n');
      assert.equal(readFileSync(join(fs, 'sock.path'), 'utf8'), '/run/buildkit/ssh_agent.0\n');
      assert.equal(readFileSync(join(fs, 'agent.txt'), 'utf8'), '12 1\n', 'the agent answered with its one identity');
      assert.equal(readFileSync(join(fs, 'other.txt'), 'utf8'), 'unset\n', 'an optional agent that was not given is not mounted');
      assert.ok(!existsSync(join(fs, 'run/buildkit')), 'the socket\'s mount point is in no layer');
    } finally {
      agent.kill();
    }
  });

  it('ssh: a required agent that was not given, and an --ssh that is not a socket, are clear errors', () => {
    const dir = ctx({ 'Dockerfile': `FROM ${BUSYBOX}\nRUN --mount=type=ssh,required true\n` });
    const missing = build([dir]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /ssh agent "default" is required but was not given/);
    const notSocket = build(['--ssh', `default=${join(dir, 'Dockerfile')}`, dir]);
    assert.equal(notSocket.code, 2);
    assert.match(notSocket.stderr, /is not a socket \(key files are not supported\)/);
  });
});
