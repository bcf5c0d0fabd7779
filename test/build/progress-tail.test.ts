import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createProgress } from '../../src/build/progress.js';
import { TailBuffer } from '../../src/build/progress-tail.js';
import { LineSplitter } from '../../src/build/progress-steps.js';
import { clipNote, formatSize } from '../../src/build/progress-text.js';
import { Capture, events } from './progress-helpers.js';

const T0 = 1_700_000_000_000;

test('lastLines returns the last n lines in order, partial lines included', async () => {
  const sink = createProgress('quiet', new Capture());
  const ev = events(sink, T0);
  ev.start(3, 'RUN x', 0);
  ev.log(3, 'one\ntwo\r\nthr', 1);
  ev.log(3, 'ee\nfour', 2);
  ev.log(3, 'err line\n', 3, 'stderr');
  assert.deepEqual(sink.lastLines(3, 10), ['one', 'two', 'three', 'err line', 'four']);
  assert.deepEqual(sink.lastLines(3, 2), ['err line', 'four']);
  assert.deepEqual(sink.lastLines(3, 0), []);
  ev.error(3, 'bad', 4, 1);
  assert.deepEqual(sink.lastLines(3, 2), ['err line', 'four']);
  await sink.close();
});

test('a chatty step keeps at most the cap, notes the clipping once, and keeps its latest lines', async () => {
  const limit = 64 * 1024;
  const sink = createProgress('quiet', new Capture(), { logLimitBytes: limit });
  const ev = events(sink, T0);
  ev.start(1, 'RUN chatty', 0);
  const line = 'x'.repeat(90);
  for (let i = 0; i < 20_000; i++) ev.log(1, `${i} ${line}\n`, 1);
  const all = sink.lastLines(1, 1_000_000);
  assert.equal(all[0], clipNote(limit));
  assert.equal(all.filter((l) => l.includes('output clipped')).length, 1);
  assert.equal(all[all.length - 1], `19999 ${line}`);
  const kept = all.slice(1).reduce((n, l) => n + l.length + 1, 0);
  assert.ok(kept <= limit && kept > limit / 2, `kept ${kept}`);
  // Consecutive: no line missing inside what is kept.
  const nums = all.slice(1).map((l) => Number(l.split(' ')[0]));
  for (let i = 1; i < nums.length; i++) assert.equal(nums[i], nums[i - 1]! + 1);
  // A small request never mentions it: the lines asked for are all there.
  assert.equal(sink.lastLines(1, 5).length, 5);
  assert.ok(!sink.lastLines(1, 5)[0]!.includes('clipped'));
  await sink.close();
});

test('clip note names the limit', () => {
  assert.equal(clipNote(4 * 1024 * 1024), '[output clipped, log limit 4MiB reached]');
  assert.equal(formatSize(512 * 1024), '512KiB');
  assert.equal(formatSize(1000), '1000B');
});

test('TailBuffer: one run larger than the cap keeps only its last whole lines', () => {
  const t = new TailBuffer(20);
  const clippedNow = t.push({ data: Buffer.from('aaaaaaaaaa\nbbbbbbbbbb\ncccccccccc\n'), time: 0 });
  assert.equal(clippedNow, true);
  assert.ok(t.bytes <= 20);
  assert.deepEqual(t.lastRuns(5).map((r) => r.line.toString()), ['cccccccccc']);
  assert.equal(t.push({ data: Buffer.from('d\n'), time: 1 }), false, 'reports the clipping only once');
});

test('TailBuffer: trim() shrinks what a finished step keeps', () => {
  const t = new TailBuffer(1 << 20);
  for (let i = 0; i < 100; i++) t.push({ data: Buffer.from(`${i}\n${i}b\n`), time: i });
  t.trim(10);
  assert.ok(t.bytes <= 10, `${t.bytes}`);
  assert.deepEqual(t.lastRuns(2).map((r) => r.line.toString()), ['99', '99b']);
  assert.equal(t.clipped, false, 'nothing was lost while the step ran');
  t.push({ data: Buffer.from('next\n'), time: 100 });
  assert.deepEqual(t.lastRuns(1).map((r) => r.line.toString()), ['next']);
});

test('TailBuffer: the ring wraps around and keeps whole runs in order', () => {
  const t = new TailBuffer(100);
  for (let i = 0; i < 1000; i++) t.push({ data: Buffer.from(`line-${i}\nmore-${i}\n`), time: i });
  assert.ok(t.bytes <= 100);
  const lines = t.lastRuns(1000).map((r) => `${r.time}:${r.line.toString()}`);
  assert.deepEqual(lines.slice(-4), ['998:line-998', '998:more-998', '999:line-999', '999:more-999']);
  assert.ok(lines.length >= 6, `${lines.length}`);
  for (let i = 0; i < lines.length; i += 2) assert.match(lines[i]!, /^(\d+):line-\1$/);
  assert.equal(t.clipped, true);
});

test('TailBuffer copies what it keeps: a short line does not pin the chunk it came from', () => {
  const t = new TailBuffer(1024);
  const chunk = Buffer.alloc(64 * 1024, 0x61);
  chunk[chunk.length - 1] = 0x0a;
  t.push({ data: chunk.subarray(chunk.length - 5), time: 0 });
  const [r] = t.lastRuns(1);
  assert.notEqual(r!.line.buffer, chunk.buffer);
  chunk.fill(0x62);
  assert.equal(r!.line.toString(), 'aaaa');
});

test('LineSplitter: a partial line past the limit is passed on as a line', () => {
  const sp = new LineSplitter(8);
  assert.deepEqual(sp.feed(Buffer.from('abc'), 1), []);
  const runs = sp.feed(Buffer.from('defghij'), 2);
  assert.equal(runs.length, 1);
  assert.equal(runs[0]!.data.toString(), 'abcdefghij\n');
  assert.equal(runs[0]!.time, 1);
  assert.equal(sp.pending, false);
  // The caller's buffer may be reused: held bytes are copies.
  const reused = Buffer.from('xy');
  sp.feed(reused, 3);
  reused.fill(0x7a);
  assert.equal(sp.flush()!.data.toString(), 'xy\n');
});
