/**
 * bench/compress: strata's streaming gzip and zstd against the `gzip` and `zstd` CLIs on the
 * same input, both directions. Prints throughput (MiB/s of uncompressed data), output sizes and
 * strata/CLI ratios.
 *
 *   node dist/bench/compress.js [--input FILE] [--size MiB]
 *
 * Without --input the input is the first --size MiB (default 200) of a tar of /usr: real
 * layer-like content. Decompression is measured on the CLI's output for both sides, so both
 * decode the same bytes.
 */
import { spawn } from 'node:child_process';
import { closeSync, createReadStream, mkdtempSync, openSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { compressStream, decompressStream } from '../src/compress/index.js';

const MiB = 1 << 20;

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

/** Runs a shell command, stdin from `input` and stdout to `output`; returns seconds. */
function sh(cmd: string, input: string, output: string): Promise<number> {
  const t0 = process.hrtime.bigint();
  const inFd = openSync(input, 'r');
  const outFd = openSync(output, 'w');
  return new Promise((resolve, reject) => {
    const child = spawn('sh', ['-c', cmd], { stdio: [inFd, outFd, 'inherit'] });
    child.on('error', reject);
    child.on('close', (code) => {
      closeSync(inFd);
      closeSync(outFd);
      if (code !== 0) reject(new Error(`${cmd} exited ${code}`));
      else resolve(Number(process.hrtime.bigint() - t0) / 1e9);
    });
  });
}

/** Streams `input` through `t` into a counting sink; returns seconds, bytes out and peak RSS. */
async function viaStrata(t: Transform, input: string): Promise<{ s: number; out: number; rss: number }> {
  let out = 0;
  let rss = process.memoryUsage().rss;
  let n = 0;
  const t0 = process.hrtime.bigint();
  await pipeline(
    createReadStream(input, { highWaterMark: 256 * 1024 }),
    t,
    new Writable({
      write(c: Buffer, _e, cb) {
        out += c.length;
        if ((++n & 31) === 0) rss = Math.max(rss, process.memoryUsage().rss);
        cb();
      },
    }),
  );
  return { s: Number(process.hrtime.bigint() - t0) / 1e9, out, rss };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'strata-bench-'));
  try {
    let input = arg('--input');
    if (!input) {
      const size = Number(arg('--size') ?? 200);
      input = join(dir, 'input.tar');
      await sh(`tar -cf - -C / usr 2>/dev/null | head -c ${size * MiB}`, '/dev/null', input);
    }
    const size = statSync(input).size;
    const rate = (s: number) => `${(size / MiB / s).toFixed(1)} MiB/s`;
    console.log(`input: ${input}, ${(size / MiB).toFixed(0)} MiB; ${process.version}`);
    const rows: string[][] = [['codec', 'direction', 'strata', 'CLI', 'strata/CLI speed', 'size strata / CLI (ratio to input)', 'strata peak RSS']];

    const cases = [
      { name: 'gzip -1', kind: 'gzip' as const, level: 1, cli: 'gzip -1 -c', dcli: 'gzip -dc' },
      { name: 'gzip -6 (default)', kind: 'gzip' as const, level: 6, cli: 'gzip -6 -c', dcli: 'gzip -dc' },
      { name: 'zstd -3 (default)', kind: 'zstd' as const, level: 3, cli: 'zstd -q -3 -T1 -c', dcli: 'zstd -q -dc' },
      { name: 'zstd -3, CLI on all cores', kind: 'zstd' as const, level: 3, cli: 'zstd -q -3 -T0 -c', dcli: 'zstd -q -dc' },
    ];
    for (const c of cases) {
      const cliOut = join(dir, 'cli.out');
      const cliS = await sh(c.cli, input, cliOut);
      const cliSize = statSync(cliOut).size;
      const st = await viaStrata(compressStream(c.kind, { level: c.level }), input);
      const sizeCol = `${st.out} / ${cliSize} (${(st.out / size).toFixed(3)} / ${(cliSize / size).toFixed(3)})`;
      rows.push([c.name, 'compress', rate(st.s), rate(cliS), `${(cliS / st.s).toFixed(2)}×`, sizeCol, `${(st.rss / MiB).toFixed(0)} MiB`]);
      if (c.name.includes('all cores')) continue;
      const dcliS = await sh(c.dcli, cliOut, '/dev/null');
      const dst = await viaStrata(decompressStream(c.kind), cliOut);
      if (dst.out !== size) throw new Error(`${c.kind} decompression produced ${dst.out} bytes, expected ${size}`);
      rows.push([c.name, 'decompress', rate(dst.s), rate(dcliS), `${(dcliS / dst.s).toFixed(2)}×`, '', `${(dst.rss / MiB).toFixed(0)} MiB`]);
    }
    const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
    for (const r of rows) console.log(r.map((cell, i) => cell.padEnd(widths[i])).join('  '));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
