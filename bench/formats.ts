/**
 * bench/formats: strata's `save`, `load` and `export` against the peer tool doing the same work,
 * in one run, on a ~300 MB 3-layer image; then strata's peak RSS on a 1 GiB single-layer image.
 *
 *   node dist/bench/formats.js [--runs N] [--work DIR] [--no-big] [--profile] [--markdown]
 *                              [--cli PATH] [--unset ENVVAR]
 *
 * The image is an OCI layout written by hand (bench/lib/oci-fixture.ts): Debian minbase
 * (mmdebstrap, 170 MB, 8,700 entries) + 4,000 generated files with links (~64 MB) + big files,
 * rewrites, 100 whiteouts, an opaque dir and the deletion of /usr/share/doc (~70 MB). Layers are
 * uncompressed everywhere, as in strata's store, so nobody pays for (de)compression.
 *
 * The peer operations, and why each is the fair one:
 * - save ≈ `skopeo copy oci:LAYOUT docker-archive:FILE`. strata reads its content-addressed store
 *   and writes one tar; skopeo reads the same blobs from an OCI layout directory (the closest
 *   thing to strata's store that skopeo reads without re-diffing layers, which
 *   containers-storage: would do) and writes a docker-archive. Both verify/compute digests.
 * - load ≈ `skopeo copy docker-archive:FILE oci:DIR`, from strata's own save: both read the
 *   archive and store the blobs content-addressed, fsynced, without unpacking layers (strata
 *   also validates every layer tar entry by entry; skopeo does not look inside them).
 * - export ≈ `umoci raw unpack`: the only peer that flattens an OCI image without a daemon. It
 *   applies the three layers (whiteouts, opaque dirs, hardlinks) into a directory; strata writes
 *   the flattened tree as one tar. `raw unpack` (not `unpack`) so umoci skips building the mtree
 *   manifest and runtime config, work strata does not do. Writing files costs umoci more inodes
 *   than strata's single tar; the line after the table shows `umoci + tar -c` for scale.
 *
 * Every command is run through /usr/bin/time (peak RSS, CPU); each timed command starts after a
 * `sync` and once the CPUs are quiet (this machine is shared; see waitQuiet), with a warm page
 * cache for inputs and the previous output removed (untimed). Medians of --runs.
 */
import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { latestProfile, printProfile, summarizeProfile } from './lib/cpuprofile.js';
import { strataCli } from './lib/strata-cli.js';
import { ensureBigRootfs, ensureFormatsLayout, FIXTURE_IMAGE } from './lib/oci-fixture.js';
import { benchEnv, flag, fmtMiB, fmtSeconds, have, loadAverage, measureSettled, median, noisy, numberFlag, printMarkdown, printTable, run, startupNote, type Measured } from './lib/proc.js';

const repo = resolve(new URL('../..', import.meta.url).pathname);
const strata = strataCli(repo);
const cliNote = strata.note;
const GOAL_RATIO = 0.5;
const GOAL_RSS_KIB = 200 * 1024;

interface Op {
  name: string;
  peerName: string;
  /** Untimed preparation before each strata / peer run (remove the previous output). */
  prepStrata: () => void;
  prepPeer: () => void;
  /** strata's arguments (strata.argv makes the command). */
  strata: string[];
  peer: [string, string[]];
}

interface Row {
  op: Op;
  strata: Measured[];
  peer: Measured[];
}

function env(work: string): NodeJS.ProcessEnv {
  // skopeo spools blobs of unknown size to TMPDIR; keep it on the same (fast) disk as the rest.
  return { ...benchEnv(), TMPDIR: join(work, 'tmp') };
}

async function timeOps(ops: readonly Op[], runs: number, work: string): Promise<Row[]> {
  const rows: Row[] = ops.map((op) => ({ op, strata: [], peer: [] }));
  for (let r = 0; r < runs; r++) {
    for (const row of rows) {
      // Alternate who goes first, so neither always runs right after the other's writes.
      const order = r % 2 === 0 ? ['strata', 'peer'] : ['peer', 'strata'];
      for (const who of order) {
        if (who === 'strata') {
          row.op.prepStrata();
          row.strata.push(await measureSettled(...strata.argv(row.op.strata), { env: env(work) }));
        } else {
          row.op.prepPeer();
          row.peer.push(await measureSettled(row.op.peer[0], row.op.peer[1], { env: env(work) }));
        }
      }
    }
    process.stdout.write(`  run ${r + 1}/${runs} done\n`);
  }
  return rows;
}

/** Paths in a tar listing or a find listing, normalised for comparison. */
function pathSet(lines: string): Set<string> {
  const out = new Set<string>();
  for (let l of lines.split('\n')) {
    l = l.replace(/^\.\//, '').replace(/\/$/, '');
    if (l !== '' && l !== '.') out.add(l);
  }
  return out;
}

/** Checks that strata's export and umoci's unpack hold the same paths (untimed; the ops are only comparable if so). */
function crossCheck(strataTar: string, umociRootfs: string): string {
  const a = pathSet(run('tar', ['-tf', strataTar]));
  const b = pathSet(run('sh', ['-c', `cd "${umociRootfs}" && find . -mindepth 1`]));
  const onlyA = [...a].filter((p) => !b.has(p));
  const onlyB = [...b].filter((p) => !a.has(p));
  if (onlyA.length === 0 && onlyB.length === 0) return `same ${a.size} paths`;
  return `DIFFER: ${a.size} vs ${b.size} paths; only strata: ${onlyA.slice(0, 5).join(', ')}; only umoci: ${onlyB.slice(0, 5).join(', ')}`;
}

async function profileOps(ops: readonly Op[], work: string): Promise<void> {
  const dir = join(work, 'profiles');
  for (const op of ops) {
    const sub = join(dir, op.name);
    rmSync(sub, { recursive: true, force: true });
    mkdirSync(sub, { recursive: true });
    op.prepStrata();
    await measureSettled('node', ['--cpu-prof', `--cpu-prof-dir=${sub}`, strata.script, ...op.strata], { env: env(work) });
    const file = latestProfile(sub);
    if (file) printProfile(`strata ${op.name}`, summarizeProfile(file, repo));
  }
}

async function bigImage(work: string, fixtures: string, markdown: boolean): Promise<void> {
  const tar = join(fixtures, 'rootfs-1g.tar');
  console.log('\n1 GiB single-layer image (16 × 48 MiB + 16,384 × 16 KiB files)');
  const size = ensureBigRootfs(tar);
  const src = join(work, 'big-src');
  const dst = join(work, 'big-dst');
  const out = join(work, 'out');
  const peerLayout = join(work, 'big-oci');
  const peerRootfs = join(work, 'big-rootfs');
  for (const d of [src, dst, peerLayout, peerRootfs]) rmSync(d, { recursive: true, force: true });
  const results: [string, Measured, string, Measured | undefined][] = [];
  const e = env(work);
  results.push(['import', await measureSettled(...strata.argv(['--root', src, 'import', tar, 'bench-big:latest']), { env: e }), '', undefined]);
  const saveS = await measureSettled(...strata.argv(['--root', src, 'save', 'bench-big:latest', '-o', join(out, 'big-save.tar')]), { env: e });
  const loadS = await measureSettled(...strata.argv(['--root', dst, 'load', '-i', join(out, 'big-save.tar')]), { env: e });
  const exportS = await measureSettled(...strata.argv(['--root', src, 'export', 'bench-big:latest', '-o', join(out, 'big-export.tar')]), { env: e });
  // The peers once each, for scale: load makes the OCI layout that save and unpack then read.
  const loadP = await measureSettled('skopeo', ['--insecure-policy', 'copy', '--quiet', `docker-archive:${join(out, 'big-save.tar')}`, `oci:${peerLayout}:latest`], { env: e });
  rmSync(join(out, 'big-save.tar'));
  const saveP = await measureSettled('skopeo', ['--insecure-policy', 'copy', '--quiet', `oci:${peerLayout}:latest`, `docker-archive:${join(out, 'big-skopeo.tar')}:bench-big:latest`], { env: e });
  const exportP = await measureSettled('umoci', ['raw', 'unpack', '--image', `${peerLayout}:latest`, peerRootfs], { env: e });
  results.push(['save', saveS, 'skopeo copy', saveP], ['load', loadS, 'skopeo copy', loadP], ['export', exportS, 'umoci raw unpack', exportP]);
  const header = ['operation', 'strata time', 'strata peak RSS', `RSS < ${GOAL_RSS_KIB / 1024} MiB`, 'peer', 'peer time', 'peer peak RSS'];
  const rows = results.map(([name, s, peerName, p]) => [
    name, fmtSeconds(s.seconds), fmtMiB(s.maxRssKiB), s.maxRssKiB < GOAL_RSS_KIB ? 'met' : 'MISSED',
    peerName || '—', p ? fmtSeconds(p.seconds) : '—', p ? fmtMiB(p.maxRssKiB) : '—',
  ]);
  console.log(`layer: ${(size / 1e6).toFixed(0)} MB`);
  printTable(header, rows, [0, 4]);
  if (markdown) printMarkdown(header, rows);
  for (const d of [src, dst, peerLayout, peerRootfs, join(out, 'big-export.tar'), join(out, 'big-skopeo.tar')]) rmSync(d, { recursive: true, force: true });
}

async function main(): Promise<void> {
  const runs = numberFlag('--runs', 3);
  const work = resolve(flag('--work') ?? join(repo, '.cache/tmp/bench-formats'));
  const markdown = process.argv.includes('--markdown');
  for (const tool of ['skopeo', 'umoci', '/usr/bin/time']) if (!have(tool)) throw new Error(`${tool} is not installed (apt-get install skopeo umoci time)`);
  const fixtures = join(work, 'fixtures');
  const out = join(work, 'out');
  for (const d of [fixtures, out, join(work, 'tmp')]) mkdirSync(d, { recursive: true });

  console.log(`bench/formats — node ${process.version}, ${run('skopeo', ['--version']).trim()}, ${run('umoci', ['--version']).trim()}`);
  console.log(`strata: ${cliNote}; ${startupNote(env(work))}`);
  console.log(`load average at start: ${loadAverage()}; median of ${runs} runs`);
  const debian = run('node', [join(repo, 'dist/test/helpers/base-images.js'), 'debian']).trim();
  const layout = join(fixtures, 'layout');
  const total = ensureFormatsLayout(layout, debian);

  // strata's source store: the fixture loaded once (untimed).
  const store = join(work, 'store');
  rmSync(store, { recursive: true, force: true });
  run(...strata.argv(['--root', store, 'load', '-q', '-i', layout]));
  const image = FIXTURE_IMAGE;
  console.log(`image: 3 layers, ${(total / 1e6).toFixed(0)} MB uncompressed\n`);

  const strataSave = join(out, 'strata-save.tar');
  const loadStore = join(work, 'load-store');
  const skopeoLoad = join(work, 'skopeo-load');
  const umociRootfs = join(work, 'umoci-rootfs');
  const ops: Op[] = [
    {
      name: 'save', peerName: 'skopeo copy oci: → docker-archive:',
      prepStrata: () => rmSync(strataSave, { force: true }),
      prepPeer: () => rmSync(join(out, 'skopeo-save.tar'), { force: true }),
      strata: ['--root', store, 'save', image, '-o', strataSave],
      peer: ['skopeo', ['--insecure-policy', 'copy', '--quiet', `oci:${layout}:latest`, `docker-archive:${join(out, 'skopeo-save.tar')}:bench-formats:latest`]],
    },
    {
      name: 'load', peerName: 'skopeo copy docker-archive: → oci:',
      prepStrata: () => rmSync(loadStore, { recursive: true, force: true }),
      prepPeer: () => rmSync(skopeoLoad, { recursive: true, force: true }),
      strata: ['--root', loadStore, 'load', '-q', '-i', strataSave],
      peer: ['skopeo', ['--insecure-policy', 'copy', '--quiet', `docker-archive:${strataSave}`, `oci:${skopeoLoad}:latest`]],
    },
    {
      name: 'export', peerName: 'umoci raw unpack',
      prepStrata: () => rmSync(join(out, 'strata-export.tar'), { force: true }),
      prepPeer: () => rmSync(umociRootfs, { recursive: true, force: true }),
      strata: ['--root', store, 'export', image, '-o', join(out, 'strata-export.tar')],
      peer: ['umoci', ['raw', 'unpack', '--image', `${layout}:latest`, umociRootfs]],
    },
  ];
  const rows = await timeOps(ops, runs, work);

  const header = ['operation', 'strata', 'peer', 'peer time', 'ratio (strata/peer)', `goal ≤ ${GOAL_RATIO}×`, 'strata peak RSS', 'peer peak RSS'];
  const cells = rows.map(({ op, strata, peer }) => {
    const s = median(strata.map((m) => m.seconds));
    const p = median(peer.map((m) => m.seconds));
    return [
      op.name, fmtSeconds(s), op.peerName, fmtSeconds(p), `${(s / p).toFixed(2)}×`, s / p <= GOAL_RATIO ? 'met' : 'MISSED',
      fmtMiB(Math.max(...strata.map((m) => m.maxRssKiB))), fmtMiB(Math.max(...peer.map((m) => m.maxRssKiB))),
    ];
  });
  console.log('');
  printTable(header, cells, [0, 2]);
  if (markdown) printMarkdown(header, cells);
  const cpu = rows.map(({ op, strata }) => `${op.name} ${median(strata.map((m) => m.userSeconds)).toFixed(2)}+${median(strata.map((m) => m.systemSeconds)).toFixed(2)}`);
  console.log(`strata CPU (user+sys s, median): ${cpu.join(', ')}`);

  // Scale for export: what umoci + writing the tree back out as one tar costs.
  const tarBack = await measureSettled('tar', ['-C', umociRootfs, '-cf', join(out, 'umoci-tree.tar'), '.']);
  const umociExport = median(rows[2]!.peer.map((m) => m.seconds));
  const strataExport = median(rows[2]!.strata.map((m) => m.seconds));
  console.log(`export, for scale: umoci raw unpack + tar -c = ${fmtSeconds(umociExport + tarBack.seconds)} → strata ${(strataExport / (umociExport + tarBack.seconds)).toFixed(2)}× of that`);
  console.log(`export cross-check (strata tar vs umoci tree): ${crossCheck(join(out, 'strata-export.tar'), umociRootfs)}`);

  if (process.argv.includes('--profile')) await profileOps(ops, work);
  if (!process.argv.includes('--no-big')) await bigImage(work, fixtures, markdown);

  for (const d of [store, loadStore, skopeoLoad, umociRootfs]) rmSync(d, { recursive: true, force: true });
  for (const f of existsSync(out) ? readdirSync(out) : []) rmSync(join(out, f), { force: true });
  console.log(`\nload average at end: ${loadAverage()}; waited ${noisy.waitedSeconds.toFixed(0)} s for other work to calm down, ${noisy.samples} sample(s) taken while the machine stayed busy`);
}

await main();
