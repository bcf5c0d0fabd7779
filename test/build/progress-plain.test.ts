import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createProgress } from '../../src/build/progress.js';
import { Capture, events } from './progress-helpers.js';

const T0 = 1_700_000_000_000;

function plain(opts: { logLimitBytes?: number } = {}) {
  const out = new Capture();
  const sink = createProgress('plain', out, opts);
  return { out, sink, ev: events(sink, T0) };
}

test('plain: golden output of a sequential build', async () => {
  const { out, sink, ev } = plain();
  ev.start(1, '[internal] load metadata for docker.io/library/busybox:latest', 0);
  ev.done(1, 120);
  ev.start(2, '[build 1/3] FROM busybox', 130);
  ev.cached(2, 130);
  ev.start(3, '[build 2/3] RUN make', 200);
  ev.note(3, 'cache miss: the instruction changed', 200);
  ev.log(3, 'cc -c main.c\nli', 712);
  ev.log(3, 'nk\n', 900);
  ev.log(3, 'warning: slow', 1000, 'stderr');
  ev.done(3, 1400);
  ev.start(4, '[build 3/3] RUN false', 1500);
  ev.log(4, 'oops\n', 1600, 'stderr');
  ev.error(4, 'process "/bin/sh -c false" did not complete successfully', 1700, 1);
  ev.built('sha256:0123abcd', ['demo:latest', 'demo:1'], 1800);
  await sink.close();
  assert.equal(
    out.text(),
    [
      '#1 [internal] load metadata for docker.io/library/busybox:latest',
      '#1 DONE 0.1s',
      '',
      '#2 [build 1/3] FROM busybox',
      '#2 CACHED',
      '',
      '#3 [build 2/3] RUN make',
      '#3 cache miss: the instruction changed',
      '#3 0.512 cc -c main.c',
      '#3 0.512 link',
      '#3 0.800 warning: slow',
      '#3 DONE 1.2s',
      '',
      '#4 [build 3/3] RUN false',
      '#4 0.100 oops',
      '#4 ERROR: process "/bin/sh -c false" did not complete successfully: exit code: 1',
      '',
      '#5 writing image sha256:0123abcd done',
      '#5 naming to demo:latest done',
      '#5 naming to demo:1 done',
      '',
    ].join('\n'),
  );
});

test('plain: interleaved steps re-open their block with the header, `...` marks the cut', async () => {
  const { out, sink, ev } = plain();
  ev.start(1, '[a 2/2] RUN build-a', 0);
  ev.start(2, '[b 2/2] RUN build-b', 0);
  ev.log(1, 'a1\n', 100);
  ev.log(2, 'b1\n', 200);
  ev.log(2, 'b2\n', 300);
  ev.done(1, 400);
  ev.done(2, 2500);
  await sink.close();
  assert.equal(
    out.text(),
    [
      '#1 [a 2/2] RUN build-a',
      '#1 ...',
      '',
      '#2 [b 2/2] RUN build-b',
      '#2 ...',
      '',
      '#1 [a 2/2] RUN build-a',
      '#1 0.100 a1',
      '#1 ...',
      '',
      '#2 [b 2/2] RUN build-b',
      '#2 0.200 b1',
      '#2 0.300 b2',
      '#2 ...',
      '',
      '#1 [a 2/2] RUN build-a',
      '#1 DONE 0.4s',
      '',
      '#2 [b 2/2] RUN build-b',
      '#2 DONE 2.5s',
      '',
    ].join('\n'),
  );
  // Every non-blank line names its step.
  for (const l of out.text().split('\n')) if (l) assert.match(l, /^#[12] /);
});

test('plain: partial lines wait for their newline, per stream, and are flushed at the end', async () => {
  const { out, sink, ev } = plain();
  ev.start(7, 'RUN x', 0);
  ev.log(7, 'hel', 10);
  ev.log(7, 'err-part', 20, 'stderr');
  ev.log(7, 'lo wor', 30);
  ev.log(7, 'ld\nnext\r\n', 40);
  ev.log(7, 'tail without newline', 50);
  ev.done(7, 60);
  await sink.close();
  assert.equal(
    out.text(),
    [
      '#7 RUN x',
      '#7 0.010 hello world',
      '#7 0.040 next\r',
      '#7 0.050 tail without newline',
      '#7 0.020 err-part',
      '#7 DONE 0.1s',
      '',
    ].join('\n'),
  );
});

test('plain: log time stamps use 3, 2 then 1 decimals like BuildKit', async () => {
  const { out, sink, ev } = plain();
  ev.start(1, 'RUN slow', 0);
  ev.log(1, 'a\n', 9_999);
  ev.log(1, 'b\n', 12_500);
  ev.log(1, 'c\n', 123_400);
  ev.done(1, 125_000);
  await sink.close();
  const lines = out.text().split('\n');
  assert.deepEqual(lines.slice(1, 4), ['#1 9.999 a', '#1 12.50 b', '#1 123.4 c']);
  assert.equal(lines[4], '#1 DONE 125.0s');
});

test('plain: bytes that are not UTF-8 pass through unchanged', async () => {
  const { out, sink, ev } = plain();
  ev.start(1, 'RUN bin', 0);
  const raw = Buffer.from([0xff, 0xfe, 0x00, 0x1b, 0x5b, 0x33, 0x31, 0x6d, 0xc3, 0x0a]);
  ev.log(1, raw, 1);
  ev.done(1, 2);
  await sink.close();
  const bytes = out.bytes();
  const expected = Buffer.concat([Buffer.from('#1 RUN bin\n#1 0.001 '), raw, Buffer.from('#1 DONE 0.0s\n')]);
  assert.deepEqual(bytes, expected);
});

test('plain: several lines in one chunk each get the prefix', async () => {
  const { out, sink, ev } = plain();
  ev.start(2, 'RUN many', 0);
  ev.log(2, 'l1\nl2\n\nl4\n', 5);
  ev.done(2, 10);
  await sink.close();
  assert.equal(out.text(), '#2 RUN many\n#2 0.005 l1\n#2 0.005 l2\n#2 0.005 \n#2 0.005 l4\n#2 DONE 0.0s\n');
});

test('plain: a step still running at close is flushed and marked CANCELED; later events are ignored', async () => {
  const { out, sink, ev } = plain();
  ev.start(1, 'RUN forever', 0);
  ev.log(1, 'half a line', 100);
  await sink.close();
  ev.log(1, 'late\n', 200);
  assert.equal(out.text(), '#1 RUN forever\n#1 0.100 half a line\n#1 CANCELED\n');
});

test('plain: events for a step never started still render, and a second end is ignored', async () => {
  const { out, sink, ev } = plain();
  ev.log(9, 'x\n', 0);
  ev.done(9, 10);
  ev.done(9, 20);
  ev.error(9, 'late failure', 30);
  await sink.close();
  assert.equal(out.text(), '#9 step 9\n#9 0.000 x\n#9 DONE\n');
});

test('plain: multi-line notes and error messages keep one #id per line', async () => {
  const { out, sink, ev } = plain();
  ev.start(3, 'COPY . /src', 0);
  ev.note(3, 'cache miss: 2 files changed\n  a.txt\n  b.txt', 0);
  ev.error(3, 'copy failed\nno space left', 50, 2);
  await sink.close();
  assert.equal(
    out.text(),
    '#3 COPY . /src\n#3 cache miss: 2 files changed\n#3   a.txt\n#3   b.txt\n#3 ERROR: copy failed no space left: exit code: 2\n',
  );
});

test('plain: output past the memory cap is still streamed whole; lastLines keeps the tail', async () => {
  const { out, sink, ev } = plain({ logLimitBytes: 1024 });
  ev.start(1, 'RUN chatty', 0);
  for (let i = 0; i < 1000; i++) ev.log(1, `line ${i}\n`, 1);
  assert.deepEqual(sink.lastLines(1, 2), ['line 998', 'line 999']);
  ev.done(1, 2);
  await sink.close();
  const lines = out.text().split('\n');
  assert.equal(lines.filter((l) => l.startsWith('#1 0.001 line ')).length, 1000);
  assert.equal(lines[1000], '#1 0.001 line 999');
  // Nothing was left out of the stream, so plain never claims it clipped anything.
  assert.ok(!out.text().includes('clipped'));
});
