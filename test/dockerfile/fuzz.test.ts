/**
 * Fuzz-style robustness: thousands of seeded mutations of real Dockerfiles (the corpus when it is
 * present, strata's fixtures always). The front end must either succeed or throw its own typed
 * error, and must finish each input quickly.
 */
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadDockerfile } from '../../src/dockerfile/index.js';
import { StrataError } from '../../src/errors.js';
import { corpusDir, repoRoot } from '../helpers/corpus.js';

/** mulberry32: a small, fixed-seed PRNG so failures reproduce. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const INSERTS = ['\\', '`', '$', '{', '}', '${', '"', "'", '<<', '<<-', '<<EOF', '\n', '\r\n', '\0', '[', ']', '--', '#', ' ', '\t', '=', ':-', '\\\n'].map((s) => Buffer.from(s));
const INVALID_UTF8 = [Buffer.from([0xff]), Buffer.from([0xc3]), Buffer.from([0xe2, 0x82]), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from([0xf8, 0x88, 0x80, 0x80])];

function seeds(): Buffer[] {
  const out = [
    readFileSync(join(repoRoot, 'fixtures/demo/Dockerfile')),
    Buffer.from('# escape=`\nFROM a AS b\nRUN echo `\n  hi\nCOPY <<EOF <<-X /d\n$A\nEOF\n\tx\n\tX\nENV A="1 2" B=${A:-x}\nLABEL a=b\nHEALTHCHECK --interval=1s CMD ["x"]\nONBUILD RUN <<E\nE\n'),
  ];
  const dir = corpusDir();
  if (dir) {
    const root = join(dir, 'buildkit/parser/testfiles');
    for (const name of readdirSync(root).sort()) out.push(readFileSync(join(root, name, 'Dockerfile')));
  }
  return out;
}

function mutate(input: Buffer, rand: () => number): Buffer {
  let b = input;
  const steps = 1 + Math.floor(rand() * 4);
  for (let s = 0; s < steps; s++) {
    const at = Math.floor(rand() * (b.length + 1));
    const op = Math.floor(rand() * 6);
    if (op === 0 && b.length > 0) {
      const len = 1 + Math.floor(rand() * 16);
      b = Buffer.concat([b.subarray(0, at), b.subarray(at + len)]);
    } else if (op === 1) {
      const len = 1 + Math.floor(rand() * 64);
      b = Buffer.concat([b.subarray(0, at), b.subarray(at, at + len), b.subarray(at)]);
    } else if (op === 2 && b.length > 1) {
      const other = Math.floor(rand() * b.length);
      b = Buffer.from(b);
      const i = Math.min(at, b.length - 1);
      const t = b[i]!;
      b[i] = b[other]!;
      b[other] = t;
    } else if (op === 3) {
      b = Buffer.concat([b.subarray(0, at), INVALID_UTF8[Math.floor(rand() * INVALID_UTF8.length)]!, b.subarray(at)]);
    } else {
      b = Buffer.concat([b.subarray(0, at), INSERTS[Math.floor(rand() * INSERTS.length)]!, b.subarray(at)]);
    }
  }
  return b;
}

test('mutated Dockerfiles parse or fail with a typed error, quickly', () => {
  const rand = prng(20261124);
  const inputs = seeds();
  const iterations = 6000;
  let ok = 0;
  let failed = 0;
  let slowest = 0;
  for (let i = 0; i < iterations; i++) {
    const input = mutate(inputs[i % inputs.length]!, rand);
    const start = performance.now();
    try {
      loadDockerfile(input, { file: 'fuzz' });
      ok++;
    } catch (e) {
      if (!(e instanceof StrataError)) {
        assert.fail(`iteration ${i}: untyped ${String(e)}\ninput: ${JSON.stringify(input.toString('latin1'))}`);
      }
      assert.ok(e.location?.file === 'fuzz', `iteration ${i}: error without a location: ${e.message}`);
      failed++;
    }
    const ms = performance.now() - start;
    slowest = Math.max(slowest, ms);
    assert.ok(ms < 500, `iteration ${i} took ${ms.toFixed(1)} ms`);
  }
  console.log(`fuzz: ${iterations} inputs, ${ok} parsed, ${failed} typed errors, slowest ${slowest.toFixed(1)} ms`);
  assert.equal(ok + failed, iterations);
});

test('pathological inputs stay linear', () => {
  const cases = [
    'FROM a\nRUN ' + '['.repeat(100_000),
    'FROM a\nENV A=' + '${'.repeat(20_000),
    'FROM a\nRUN ' + 'x \\\n'.repeat(50_000) + 'y',
    'FROM a\n' + 'RUN <<A <<B <<C\nA\nB\nC\n'.repeat(5_000),
    'FROM a\nCOPY ' + '"'.repeat(50_000) + ' /x',
  ];
  for (const text of cases) {
    const start = performance.now();
    try {
      loadDockerfile(text);
    } catch (e) {
      assert.ok(e instanceof StrataError, String(e));
    }
    const ms = performance.now() - start;
    assert.ok(ms < 3000, `${JSON.stringify(text.slice(0, 30))}… took ${ms.toFixed(0)} ms`);
  }
});
