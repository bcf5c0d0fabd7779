/**
 * bench/parse: strata's Dockerfile parser against the npm package `dockerfile-ast`, on the same
 * generated Dockerfiles, in one run. Prints times, the ratio, and how time grows with size.
 *
 *   node dist/bench/parse.js [--runs N]
 *
 * Both parsers do the same job: text → instruction nodes with their arguments. strata's full
 * front end (typed instructions, lint) is shown too, for reference.
 */
import { createRequire } from 'node:module';
import { loadDockerfile } from '../src/dockerfile/index.js';
import { parseDockerfile } from '../src/dockerfile/parser.js';

const require = createRequire(import.meta.url);
const { DockerfileParser } = require('dockerfile-ast') as { DockerfileParser: { parse(text: string): { getInstructions(): { getArguments(): { getValue(): string }[] }[] } } };

/** A Dockerfile of `n` instructions mixing every common shape (continuations, JSON, heredocs). */
export function generateDockerfile(n: number): string {
  const out: string[] = ['# syntax=docker/dockerfile:1', 'ARG BASE=debian:bookworm', 'FROM ${BASE} AS base'];
  let i = 0;
  let instructions = 2;
  while (instructions < n) {
    i++;
    instructions += i % 10 === 9 ? 2 : 1;
    switch (i % 10) {
      case 0: out.push(`RUN apt-get update \\`, `    && apt-get install -y pkg${i} \\`, `    && rm -rf /var/lib/apt/lists/*`); break;
      case 1: out.push(`ENV VAR_${i}="value ${i}" TOOL_HOME=/opt/${i} PATH=/opt/tool/bin:/usr/bin:/bin`); break;
      case 2: out.push(`COPY --chown=1000:1000 --chmod=0644 src/${i}/ /app/${i}/`); break;
      case 3: out.push(`RUN ["/bin/sh", "-c", "echo ${i}"]`); break;
      case 4: out.push(`LABEL com.example.item${i}="item ${i}" version=${i}`); break;
      case 5: out.push(`# a comment about step ${i}`, `WORKDIR /work/${i}`); break;
      case 6: out.push(`RUN <<EOF`, `echo heredoc ${i}`, `ls -la /`, `EOF`); break;
      case 7: out.push(`ARG ARG_${i}=default${i}`); break;
      case 8: out.push(`EXPOSE ${1000 + (i % 60000)}/tcp`); break;
      case 9: out.push(`USER ${i % 2000}`, `HEALTHCHECK --interval=30s CMD curl -f http://localhost/${i}`); break;
    }
  }
  return out.join('\n') + '\n';
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function time(fn: () => unknown, runs: number): number {
  fn(); // warm-up
  const samples: number[] = [];
  for (let r = 0; r < runs; r++) {
    const t = performance.now();
    fn();
    samples.push(performance.now() - t);
  }
  return median(samples);
}

function main(): void {
  const runsArg = process.argv.indexOf('--runs');
  const runs = runsArg > 0 ? Number(process.argv[runsArg + 1]) : 7;
  console.log(`bench/parse — node ${process.version}, median of ${runs} runs\n`);
  console.log('instructions  strata parse  dockerfile-ast   ratio (strata/peer)  strata full front end');
  const rows: { n: number; strata: number; peer: number }[] = [];
  for (const n of [2_000, 20_000, 200_000]) {
    const text = generateDockerfile(n);
    const count = parseDockerfile(text).instructions.length;
    const peerCount = DockerfileParser.parse(text).getInstructions().length;
    if (count !== peerCount) throw new Error(`parsers disagree on instruction count: ${count} vs ${peerCount}`);
    const r = n >= 200_000 ? Math.max(3, Math.ceil(runs / 2)) : runs;
    const strata = time(() => parseDockerfile(text), r);
    const peer = time(() => DockerfileParser.parse(text).getInstructions().map((x) => x.getArguments().map((a) => a.getValue())), r);
    const full = time(() => loadDockerfile(text), r);
    rows.push({ n: count, strata, peer });
    console.log(
      `${String(count).padStart(12)}  ${strata.toFixed(1).padStart(9)} ms  ${peer.toFixed(1).padStart(11)} ms  ${(strata / peer).toFixed(2).padStart(10)}×  (${(peer / strata).toFixed(1)}× faster)  ${full.toFixed(1).padStart(9)} ms`,
    );
  }
  const [small, mid, big] = rows as [typeof rows[0], typeof rows[0], typeof rows[0]];
  console.log(`\ngrowth (time per instruction, µs): ${[small, mid, big].map((r) => ((r.strata * 1000) / r.n).toFixed(2)).join(' → ')} (flat = linear)`);
  console.log(`peer growth (µs/instruction):      ${[small, mid, big].map((r) => ((r.peer * 1000) / r.n).toFixed(2)).join(' → ')}`);
}

if (process.argv[1]?.endsWith("parse.js")) main();
