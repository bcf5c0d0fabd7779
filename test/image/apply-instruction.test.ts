/**
 * applyToConfig / applyChanges: the config effects of ENV, CMD, ENTRYPOINT, WORKDIR, USER, EXPOSE,
 * LABEL, VOLUME, STOPSIGNAL (and the other config-only instructions), as docker applies them.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InstructionError, StrataError } from '../../src/errors.js';
import { applyChanges } from '../../src/image/apply-changes.js';
import { applyToConfig, goTimestamp, normalizeWorkdir, orderContainerConfig, parsePortSpec } from '../../src/image/apply-instruction.js';
import type { ImageConfig } from '../../src/image/types.js';

const empty = (): ImageConfig => ({ architecture: 'amd64', os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: [] } });
const run = (changes: string[], base: ImageConfig = empty()) => applyChanges(base, changes).config ?? {};

test('CMD and ENTRYPOINT: exec form as written, shell form through /bin/sh -c (or the SHELL)', () => {
  assert.deepEqual(run(['CMD ["echo", "hi"]']).Cmd, ['echo', 'hi']);
  assert.deepEqual(run(['CMD echo $HOME && ls']).Cmd, ['/bin/sh', '-c', 'echo $HOME && ls']);
  assert.deepEqual(run(['ENTRYPOINT top -b']).Entrypoint, ['/bin/sh', '-c', 'top -b']);
  const base = empty();
  base.config = { Shell: ['/bin/bash', '-lc'] };
  assert.deepEqual(run(['CMD make all'], base).Cmd, ['/bin/bash', '-lc', 'make all']);
});

test('ENTRYPOINT clears an inherited CMD unless CMD was set in the same change set', () => {
  const base = empty();
  base.config = { Cmd: ['sh'] };
  assert.equal(run(['ENTRYPOINT ["/init"]'], base).Cmd, undefined);
  assert.deepEqual(run(['CMD ["x"]', 'ENTRYPOINT ["/init"]'], base).Cmd, ['x']);
});

test('ENV replaces a variable in place or appends, and expands against the variables before it', () => {
  const base = empty();
  base.config = { Env: ['PATH=/usr/bin', 'A=1'] };
  const c = run(['ENV PATH=/opt/bin:$PATH B=${A}x', 'ENV C=$B'], base);
  assert.deepEqual(c.Env, ['PATH=/opt/bin:/usr/bin', 'A=1', 'B=1x', 'C=1x']);
});

test('LABEL, VOLUME, USER, STOPSIGNAL', () => {
  const c = run(['LABEL a=1 "b c"=2', 'LABEL a=3', 'VOLUME /data', 'VOLUME ["/logs", "/tmp/x"]', 'USER app:app', 'STOPSIGNAL SIGQUIT']);
  assert.deepEqual(c.Labels, { a: '3', 'b c': '2' });
  assert.deepEqual(Object.keys(c.Volumes ?? {}), ['/data', '/logs', '/tmp/x']);
  assert.equal(c.User, 'app:app');
  assert.equal(c.StopSignal, 'SIGQUIT');
  assert.throws(() => run(['STOPSIGNAL SIGNOPE']), InstructionError);
  assert.equal(run(['STOPSIGNAL 9']).StopSignal, '9');
});

test('EXPOSE: protocols, ranges, host:container forms, variables', () => {
  const base = empty();
  base.config = { Env: ['PORTS=53/udp 8080'] };
  const c = run(['EXPOSE 80 443/tcp 7000-7002/UDP 127.0.0.1:9000:9001/sctp $PORTS'], base);
  assert.deepEqual(Object.keys(c.ExposedPorts ?? {}).sort(), ['443/tcp', '53/udp', '7000/udp', '7001/udp', '7002/udp', '80/tcp', '8080/tcp', '9001/sctp']);
  assert.throws(() => parsePortSpec('80/icmp'), /unknown protocol/);
  assert.throws(() => parsePortSpec('99999'), /out of range/);
  assert.throws(() => parsePortSpec('http'), /not a port/);
});

test('WORKDIR: relative paths join the current one; the result is clean and absolute', () => {
  assert.equal(run(['WORKDIR /app/', 'WORKDIR src/../lib', 'WORKDIR ./x']).WorkingDir, '/app/lib/x');
  assert.equal(normalizeWorkdir('', 'rel'), '/rel');
  assert.equal(normalizeWorkdir('/a', '/'), '/');
});

test('HEALTHCHECK, ONBUILD and MAINTAINER', () => {
  const c = run(['HEALTHCHECK --interval=5s CMD curl -f http://localhost/', 'ONBUILD RUN make']);
  assert.deepEqual(c.Healthcheck, { Test: ['CMD-SHELL', 'curl -f http://localhost/'], Interval: 5_000_000_000 });
  assert.deepEqual(c.OnBuild, ['RUN make']);
  assert.equal(run(['HEALTHCHECK NONE']).Healthcheck?.Test?.[0], 'NONE');
  const withAuthor = applyToConfig(empty(), { kind: 'MAINTAINER', original: 'MAINTAINER me', range: { start: { line: 1, column: 1 }, end: { line: 1, column: 1 } }, maintainer: 'me' });
  assert.equal(withAuthor.author, 'me');
});

test('instructions that are not config changes are refused, naming the change', () => {
  for (const bad of ['RUN rm -rf /', 'COPY a b', 'FROM busybox', 'SHELL ["/bin/bash"]', 'ARG X']) {
    assert.throws(() => run([bad]), (e: unknown) => e instanceof InstructionError && e.describe().includes(JSON.stringify(bad)) && /not a valid change command/.test(e.message), bad);
  }
  assert.deepEqual(run(['CMD ["not json']).Cmd, ['/bin/sh', '-c', '["not json'], 'invalid JSON is shell form, as in docker');
  assert.throws(() => run(['ENV']), StrataError);
  assert.throws(() => run(['BOGUS x']), StrataError);
});

test('inputs are not modified', () => {
  const base = empty();
  base.config = { Env: ['A=1'], Labels: { x: '1' } };
  const before = JSON.stringify(base);
  run(['ENV A=2', 'LABEL x=2', 'CMD ["y"]'], base);
  assert.equal(JSON.stringify(base), before);
});

test('orderContainerConfig and goTimestamp match what Go tools write', () => {
  const c = orderContainerConfig({ Cmd: ['sh'], Labels: { a: 'b' }, Env: ['A=1'], User: 'u', Extra: 1 } as never);
  assert.deepEqual(Object.keys(c), ['User', 'Env', 'Cmd', 'Labels', 'Extra']);
  assert.equal(goTimestamp(new Date(1704067200000)), '2024-01-01T00:00:00Z');
  assert.equal(goTimestamp(new Date(1704067200120)), '2024-01-01T00:00:00.12Z');
});
