import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { RACY_MS, StatCache } from '../../src/build/stat-cache.js';
import { makeTemp, rmTemp } from './helpers.js';

const D1 = 'sha256:' + 'a'.repeat(64);
const D2 = 'sha256:' + '0123456789abcdef'.repeat(4);
const st = (size: number, t = 1_600_000_000_000.125) => ({ size, mtimeMs: t, ctimeMs: t + 1, ino: 123456789012, dev: 2049 });
const LONG_AGO = 1_700_000_000_000;

describe('StatCache', () => {
  let dir: string;
  beforeEach(() => (dir = makeTemp('statcache-')));
  afterEach(() => rmTemp(dir));

  it('answers only for an identical stat', () => {
    const c = StatCache.empty();
    c.record('a.txt', st(10), D1, LONG_AGO);
    assert.equal(c.lookup('a.txt', st(10)), D1);
    assert.equal(c.lookup('a.txt', st(11)), undefined);
    assert.equal(c.lookup('a.txt', { ...st(10), mtimeMs: st(10).mtimeMs + 0.001 }), undefined);
    assert.equal(c.lookup('a.txt', { ...st(10), ctimeMs: 5 }), undefined);
    assert.equal(c.lookup('a.txt', { ...st(10), ino: 1 }), undefined);
    assert.equal(c.lookup('a.txt', { ...st(10), dev: 1 }), undefined);
    assert.equal(c.lookup('b.txt', st(10)), undefined);
  });

  it('never trusts an entry changed within RACY_MS of hashing', () => {
    const c = StatCache.empty();
    const s = st(10);
    c.record('racy', s, D1, s.ctimeMs + RACY_MS - 1);
    assert.equal(c.lookup('racy', s), undefined);
    c.record('racy', s, D1, s.ctimeMs + RACY_MS + 1);
    assert.equal(c.lookup('racy', s), D1);
  });

  it('round-trips through its file, with unicode paths, and prunes', () => {
    const file = join(dir, 'sub', 'cache.bin');
    const c = StatCache.load(file);
    assert.equal(c.size, 0);
    for (let i = 0; i < 3000; i++) c.record(`dir${i % 7}/fïle-${i}.txt`, st(i), i % 2 ? D1 : D2, LONG_AGO);
    c.record('racy', st(1), D1, st(1).ctimeMs);
    c.prune((p) => !p.endsWith('-7.txt'));
    c.save();
    assert.equal(c.modified, false);
    const d = StatCache.load(file);
    assert.equal(d.size, 3000);
    assert.equal(d.lookup('dir1/fïle-8.txt', st(8)), D2);
    assert.equal(d.lookup('dir2/fïle-9.txt', st(9)), D1);
    assert.equal(d.lookup('dir0/fïle-7.txt', st(7)), undefined);
    assert.equal(d.lookup('racy', st(1)), undefined);
  });

  it('ignores a torn or foreign file', () => {
    const file = join(dir, 'cache.bin');
    const c = StatCache.load(file);
    c.record('a', st(1), D1, LONG_AGO);
    c.save();
    const good = readFileSync(file);
    writeFileSync(file, good.subarray(0, good.length - 5));
    assert.equal(StatCache.load(file).size, 0);
    const flipped = Buffer.from(good);
    flipped[20] ^= 1;
    writeFileSync(file, flipped);
    assert.equal(StatCache.load(file).size, 0);
    writeFileSync(file, '{"not":"ours"}');
    assert.equal(StatCache.load(file).size, 0);
    writeFileSync(file, good);
    assert.equal(StatCache.load(file).lookup('a', st(1)), D1);
  });

  it('saves in the given order, keeping only those paths, and answers lookups in any order', () => {
    const file = join(dir, 'cache.bin');
    const c = StatCache.load(file);
    for (const p of ['c', 'a', 'b', 'gone']) c.record(p, st(p.length), D1, LONG_AGO);
    c.record('b', st(2), D2, LONG_AGO);
    c.save({ order: ['a', 'b', 'c', 'not-recorded'] });
    const d = StatCache.load(file);
    assert.equal(d.size, 3);
    assert.equal(d.modified, false);
    assert.deepEqual(['a', 'b', 'c'].map((p) => d.lookup(p, st(p === 'b' ? 2 : 1))), [D1, D2, D1]);
    assert.deepEqual(['c', 'a', 'gone', 'b'].map((p) => d.lookup(p, st(p === 'b' ? 2 : 1))), [D1, D1, undefined, D2]);
    d.record('a', st(9), D2, LONG_AGO);
    assert.equal(d.lookup('a', st(9)), D2);
    assert.equal(d.lookup('a', st(1)), undefined);
  });

  it('does not rewrite an unchanged cache', () => {
    const file = join(dir, 'cache.bin');
    const c = StatCache.load(file);
    c.save();
    assert.throws(() => readFileSync(file), /ENOENT/);
    c.record('a', st(1), D1, LONG_AGO);
    c.save();
    assert.ok(readFileSync(file).length > 0);
  });
});
