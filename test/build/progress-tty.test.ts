import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createProgress, resolveMode } from '../../src/build/progress.js';
import { TtySink } from '../../src/build/progress-tty.js';
import { PlainSink } from '../../src/build/progress-plain.js';
import { textWidth } from '../../src/build/progress-text.js';
import { Capture, events, fakeClock, fakeTty, stripAnsi } from './progress-helpers.js';

function tty(columns = 80, rows = 24, frameIntervalMs = 60_000) {
  const out = fakeTty(columns, rows);
  const clock = fakeClock();
  const sink = createProgress('tty', out, { now: clock.now, frameIntervalMs, color: true }) as TtySink;
  return { out, clock, sink, ev: events(sink, clock.t0) };
}

/** The lines the last write drew (each frame is one write), without colours and line clears. */
function lastFrame(out: Capture): string[] {
  const last = out.chunks[out.chunks.length - 1]!.toString('utf8');
  return stripAnsi(last).split('\n').slice(0, -1);
}

test('tty: a frame lists steps with status and time, and output under running steps', () => {
  const { out, clock, sink, ev } = tty();
  ev.start(1, '[internal] load metadata for busybox', 0);
  ev.done(1, 100);
  ev.start(2, '[build 1/3] FROM busybox', 100);
  ev.cached(2, 100);
  ev.start(3, '[build 2/3] RUN make', 200);
  for (let i = 1; i <= 10; i++) ev.log(3, `compiling file${i}.c\n`, 300);
  clock.set(3600);
  sink.renderNow();
  const frame = lastFrame(out);
  assert.equal(frame[0]!.trimEnd(), '[+] Building 3.6s (2/3)');
  assert.match(frame[1]!, /^ => \[internal\] load metadata for busybox +0\.1s$/);
  assert.match(frame[2]!, /^ => CACHED \[build 1\/3\] FROM busybox +0\.0s$/);
  assert.match(frame[3]!, /^ => \[build 2\/3\] RUN make +3\.4s$/);
  // The last 6 lines of output, in order.
  assert.deepEqual(
    frame.slice(4),
    [5, 6, 7, 8, 9, 10].map((i) => ` => => # compiling file${i}.c`),
  );
  for (const l of frame) assert.ok(textWidth(l) <= 79, `too wide: ${l}`);
});

test('tty: a finished step collapses to one line; frames redraw in place', () => {
  const { out, clock, sink, ev } = tty();
  ev.start(1, 'RUN a', 0);
  ev.log(1, 'one\ntwo\n', 10);
  clock.set(500);
  sink.renderNow();
  assert.equal(lastFrame(out).length, 4);
  ev.done(1, 1000);
  ev.start(2, 'RUN b', 1000);
  ev.log(2, 'three\n', 1100);
  clock.set(1500);
  sink.renderNow();
  const frame = lastFrame(out);
  assert.match(frame[1]!, /^ => RUN a +1\.0s$/);
  assert.match(frame[2]!, /^ => RUN b +0\.5s$/);
  assert.equal(frame[3], ' => => # three');
  assert.equal(frame.length, 4);
  // The second frame moved the cursor up over the 4 lines of the first, then cleared below.
  const raw = out.chunks[out.chunks.length - 1]!.toString('utf8');
  assert.ok(raw.includes('\x1b[4A'), 'cursor up over the previous frame');
  assert.ok(raw.includes('\x1b[J'), 'clears what is left below');
  // Finished steps are drawn in colour, running ones are not.
  assert.ok(raw.includes('\x1b[34m => RUN a'));
});

test('tty: close() draws a static summary with every step on one line', async () => {
  const { out, clock, sink, ev } = tty();
  ev.start(1, 'RUN a', 0);
  ev.log(1, 'noise\n', 10);
  ev.done(1, 1200);
  ev.start(2, 'RUN b', 1200);
  ev.cached(2, 1200);
  ev.built('sha256:feedface', ['demo:latest'], 1300);
  clock.set(1300);
  await sink.close();
  const frame = lastFrame(out);
  assert.deepEqual(frame.map((l) => l.trimEnd().replace(/ {2,}/g, ' | ')), [
    '[+] Building 1.3s (2/2) FINISHED',
    ' => RUN a | 1.2s',
    ' => CACHED RUN b | 0.0s',
    ' => writing image sha256:feedface',
    ' => naming to demo:latest',
  ]);
  assert.ok(!out.text().includes('noise', out.text().lastIndexOf('[+]')));
});

test('tty: failed and unfinished steps are marked in the summary', async () => {
  const { out, clock, sink, ev } = tty();
  ev.start(1, 'RUN bad', 0);
  ev.start(2, 'RUN other', 0);
  ev.error(1, 'exit 1', 700, 1);
  clock.set(900);
  await sink.close();
  const frame = lastFrame(out);
  assert.equal(frame[0]!.trimEnd(), '[+] Building 0.9s (1/2)');
  assert.match(frame[1]!, /^ => ERROR RUN bad +0\.7s$/);
  assert.match(frame[2]!, /^ => CANCELED RUN other +0\.9s$/);
  assert.ok(out.chunks[out.chunks.length - 1]!.toString().includes('\x1b[31m => ERROR RUN bad'));
});

test('tty: hostile output is cleaned: escapes, carriage returns, invalid UTF-8, wide text, long lines', () => {
  const { out, clock, sink, ev } = tty();
  ev.start(1, 'RUN hostile\nname', 0);
  ev.log(1, Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(' bad bytes\n')]), 1);
  ev.log(1, '\x1b[31mred\x1b[0m \x1b]0;title\x07done\n', 2);
  ev.log(1, 'progress 10%\rprogress 50%\rprogress 90%\n', 3);
  ev.log(1, 'tab\there\x07\x00\n', 4);
  ev.log(1, '漢字'.repeat(100) + '\n', 5);
  ev.log(1, 'x'.repeat(10_000) + '\n', 6);
  clock.set(100);
  sink.renderNow();
  const frame = lastFrame(out);
  assert.equal(frame.length, 8);
  assert.match(frame[1]!, /^ => RUN hostile name +0\.1s$/);
  assert.equal(frame[2], ' => => # \ufffd\ufffd bad bytes');
  assert.equal(frame[3], ' => => # red done');
  assert.equal(frame[4], ' => => # progress 90%');
  assert.equal(frame[5], ' => => # tab     here');
  assert.ok(frame[6]!.startsWith(' => => # 漢字漢字'));
  assert.equal(frame[7], ' => => # ' + 'x'.repeat(70));
  for (const l of frame) assert.ok(textWidth(l) <= 79, `too wide (${textWidth(l)}): ${l}`);
  // Raw frame: no control characters except our own escapes and newlines.
  const raw = out.chunks[out.chunks.length - 1]!.toString('utf8');
  assert.ok(!/[\x00-\x08\x0b-\x1a\x1c-\x1f\x7f]/.test(raw));
});

test('tty: narrow terminals cut lines to their width', () => {
  const { out, clock, sink, ev } = tty(40);
  ev.start(1, '[build 2/5] RUN a very long command line that does not fit', 0);
  ev.log(1, 'output line that is also far too long for forty columns\n', 1);
  clock.set(2000);
  sink.renderNow();
  const frame = lastFrame(out);
  for (const l of frame) assert.ok(textWidth(l) <= 39, `too wide: ${l}`);
  assert.match(frame[1]!, /^ => \[build 2\/5\] RUN a very long c +2\.0s$/);
});

test('tty: the view fits the terminal height, running steps first', () => {
  const { out, clock, sink, ev } = tty(80, 10);
  for (let i = 1; i <= 12; i++) {
    ev.start(i, `RUN step ${i}`, 0);
    ev.done(i, 10);
  }
  ev.start(13, 'RUN last', 10);
  for (let i = 0; i < 20; i++) ev.log(13, `out ${i}\n`, 20);
  clock.set(100);
  sink.renderNow();
  const frame = lastFrame(out);
  assert.ok(frame.length <= 9, `frame has ${frame.length} lines`);
  assert.ok(frame.some((l) => /^ => RUN last/.test(l)));
  assert.ok(frame.some((l) => l === ' => => # out 19'));
});

test('tty: frames are throttled to about 10 per second', async () => {
  const out = fakeTty();
  const sink = createProgress('tty', out, { frameIntervalMs: 100 });
  const t0 = Date.now();
  sink.emit({ type: 'step-start', id: 1, name: 'RUN chatty', time: t0 });
  const until = Date.now() + 450;
  let emitted = 0;
  while (Date.now() < until) {
    sink.emit({ type: 'step-log', id: 1, stream: 'stdout', data: Buffer.from(`line ${emitted++}\n`), time: Date.now() });
    if (emitted % 500 === 0) await new Promise((r) => setTimeout(r, 1));
  }
  await new Promise((r) => setTimeout(r, 120));
  const frames = out.chunks.length;
  sink.emit({ type: 'step-done', id: 1, time: Date.now() });
  await sink.close();
  assert.ok(emitted > 1000, `emitted ${emitted}`);
  assert.ok(frames >= 2 && frames <= 8, `${frames} frames for ${emitted} events in ~0.55 s`);
  assert.ok(out.text().includes('FINISHED'));
});

test('auto picks tty for a terminal and plain otherwise', (t) => {
  const term = process.env['TERM'];
  process.env['TERM'] = 'xterm';
  t.after(() => (term === undefined ? delete process.env['TERM'] : (process.env['TERM'] = term)));
  assert.equal(resolveMode('auto', fakeTty()), 'tty');
  assert.equal(resolveMode('auto', new Capture()), 'plain');
  assert.equal(resolveMode('json', fakeTty()), 'json');
  assert.ok(createProgress('auto', fakeTty()) instanceof TtySink);
  assert.ok(createProgress('auto', new Capture()) instanceof PlainSink);
  process.env['TERM'] = 'dumb';
  assert.equal(resolveMode('auto', fakeTty()), 'plain');
});
