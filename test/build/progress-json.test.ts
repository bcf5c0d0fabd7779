import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createProgress } from '../../src/build/progress.js';
import { incompleteTail } from '../../src/build/progress-json.js';
import { Capture, events } from './progress-helpers.js';

const T0 = 1_700_000_000_000;

function records(out: Capture): Record<string, unknown>[] {
  const text = out.text();
  assert.ok(text.endsWith('\n'));
  return text
    .slice(0, -1)
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

test('json: one parseable object per event, with the documented fields', async () => {
  const out = new Capture();
  const sink = createProgress('json', out);
  const ev = events(sink, T0);
  ev.start(1, '[build 1/2] FROM busybox', 0);
  ev.cached(1, 0);
  ev.start(2, '[build 2/2] RUN make', 10);
  ev.note(2, 'cache miss: instruction changed', 10);
  ev.log(2, 'hello\n', 20);
  ev.log(2, Buffer.from([0xff, 0x00]), 30, 'stderr');
  ev.error(2, 'failed', 1210, 3);
  ev.built('sha256:abc', ['x:latest'], 1300);
  await sink.close();
  assert.deepEqual(records(out), [
    { type: 'step-start', id: 1, name: '[build 1/2] FROM busybox', time: T0 },
    { type: 'step-cached', id: 1, time: T0, durationMs: 0 },
    { type: 'step-start', id: 2, name: '[build 2/2] RUN make', time: T0 + 10 },
    { type: 'step-note', id: 2, text: 'cache miss: instruction changed', time: T0 + 10 },
    { type: 'step-log', id: 2, stream: 'stdout', text: 'hello\n', time: T0 + 20 },
    { type: 'step-log', id: 2, stream: 'stderr', data: Buffer.from([0xff, 0x00]).toString('base64'), time: T0 + 30 },
    { type: 'step-error', id: 2, message: 'failed', exitCode: 3, time: T0 + 1210, durationMs: 1200 },
    { type: 'build-done', imageId: 'sha256:abc', names: ['x:latest'], time: T0 + 1300 },
  ]);
});

test('json: a character split across chunks stays text; the bytes survive exactly', async () => {
  const out = new Capture();
  const sink = createProgress('json', out);
  const ev = events(sink, T0);
  const text = Buffer.from('héllo wörld 漢字 😀 end');
  ev.start(1, 'RUN utf8', 0);
  // Cut at every byte: many cuts fall inside a multi-byte character.
  for (let i = 0; i < text.length; i++) ev.log(1, text.subarray(i, i + 1), i);
  ev.log(1, Buffer.from([0xe6, 0xbc]), 99); // a character that never completes
  ev.done(1, 100);
  await sink.close();
  const logs = records(out).filter((r) => r['type'] === 'step-log');
  for (const r of logs.slice(0, -1)) assert.equal(typeof r['text'], 'string');
  const last = logs[logs.length - 1]!;
  assert.equal(last['data'], Buffer.from([0xe6, 0xbc]).toString('base64'));
  const bytes = Buffer.concat(
    logs.map((r) => (typeof r['text'] === 'string' ? Buffer.from(r['text']) : Buffer.from(r['data'] as string, 'base64'))),
  );
  assert.deepEqual(bytes, Buffer.concat([text, Buffer.from([0xe6, 0xbc])]));
  // The step-done record comes after the flushed bytes.
  assert.equal(records(out).at(-1)!['type'], 'step-done');
});

test('incompleteTail finds only a character the next chunk can finish', () => {
  assert.equal(incompleteTail(Buffer.from('abc')), 0);
  assert.equal(incompleteTail(Buffer.from([0x61, 0xc3])), 1);
  assert.equal(incompleteTail(Buffer.from([0xe6, 0xbc])), 2);
  assert.equal(incompleteTail(Buffer.from([0xf0, 0x9f, 0x98])), 3);
  assert.equal(incompleteTail(Buffer.from('é')), 0);
  assert.equal(incompleteTail(Buffer.from('😀')), 0);
  assert.equal(incompleteTail(Buffer.alloc(0)), 0);
});

test('quiet writes nothing but still keeps the tail for lastLines', async () => {
  const out = new Capture();
  const sink = createProgress('quiet', out);
  const ev = events(sink, T0);
  ev.start(1, 'RUN x', 0);
  ev.log(1, 'a\nb\nc', 1);
  ev.error(1, 'boom', 2, 1);
  ev.built('sha256:abc', [], 3);
  await sink.close();
  assert.equal(out.bytes().length, 0);
  assert.deepEqual(sink.lastLines(1, 2), ['b', 'c']);
  assert.deepEqual(sink.lastLines(42, 2), []);
});
