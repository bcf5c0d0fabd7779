#!/usr/bin/env node
// Bundles the CLI for the `strata` command: dist/bundle/strata-core.cjs (every module in one
// file) and dist/bundle/strata.cjs, the command itself. Start-up is what a cached build mostly
// pays for, so:
// - one file instead of ~200 modules (resolution and file reads cost Node ~50 ms);
// - CommonJS, not ESM: Node's ESM loader costs ~10 ms more to start, and only a CommonJS script
//   can be compiled with a V8 code cache (vm.Script cachedData), which spares the ~15 ms V8
//   spends parsing 800 KB of code. The cache is made here, by running the command once; a cache
//   V8 rejects (another Node version) is simply not used;
// - the first lines of strata.cjs are a shell launcher (a string and a comment to JavaScript)
//   that moves NODE_EXTRA_CA_CERTS to STRATA_EXTRA_CA_CERTS: Node reads that file at every start
//   (~40 ms here) while strata needs it only for an https download (src/util/http-get.ts).
// The tsc output (dist/src) stays as it is for the tests.
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { build } from 'esbuild';

const dir = new URL('../dist/bundle/', import.meta.url).pathname;
const core = `${dir}strata-core.cjs`;
const command = `${dir}strata.cjs`;

await build({
  entryPoints: [new URL('../dist/src/cli/bundle-entry.js', import.meta.url).pathname],
  outfile: core,
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  // Native and wasm-carrying packages are loaded from node_modules at run time.
  external: ['@napi-rs/xattr', 'zstd-codec'],
  // Modules that find files beside themselves use import.meta.url: the core file's own URL.
  define: { 'import.meta.url': '__strataModuleUrl' },
  banner: { js: "var __strataModuleUrl = require('node:url').pathToFileURL(__filename).href;" },
  logLevel: 'warning',
  sourcemap: 'linked',
});

// The loader runs the core as a plain script, where a run-time import() has no loader behind it
// on every Node 20 (vm's USE_MAIN_CONTEXT_DEFAULT_LOADER came later): load lazily with require.
if (/\bimport\(/.test(readFileSync(core, 'utf8'))) throw new Error(`${core}: a dynamic import() slipped in; use createRequire for lazy loading`);

const LOADER = `#!/bin/sh
':' //; if [ -n "\${NODE_EXTRA_CA_CERTS:-}" ]; then STRATA_EXTRA_CA_CERTS=$NODE_EXTRA_CA_CERTS; export STRATA_EXTRA_CA_CERTS; unset NODE_EXTRA_CA_CERTS; fi; exec node "$0" "$@"
'use strict';
// Runs strata-core.cjs as a CommonJS module, compiled with the V8 code cache beside it when V8
// accepts it. STRATA_WRITE_CODE_CACHE=1 (used by scripts/bundle.mjs) writes that cache on exit.
const { readFileSync, renameSync, writeFileSync } = require('node:fs');
const { createRequire, wrap } = require('node:module');
const { dirname, join } = require('node:path');
const { Script } = require('node:vm');
const file = join(__dirname, 'strata-core.cjs');
let cachedData;
try {
  cachedData = readFileSync(file + '.v8cache');
} catch {}
const script = new Script(wrap(readFileSync(file, 'utf8')), { filename: file, cachedData });
const module_ = { exports: {}, filename: file, id: file, loaded: false };
if (process.env.STRATA_WRITE_CODE_CACHE === '1') {
  process.on('exit', () => {
    writeFileSync(file + '.v8cache.tmp', script.createCachedData());
    renameSync(file + '.v8cache.tmp', file + '.v8cache');
  });
}
script.runInThisContext().call(module_.exports, module_.exports, createRequire(file), module_, file, dirname(file));
`;
writeFileSync(command, LOADER, { mode: 0o755 });

// The cache: made by running the command (V8 includes the functions compiled so far).
rmSync(`${core}.v8cache`, { force: true });
const run = spawnSync(process.execPath, [command, '--help'], { env: { ...process.env, STRATA_WRITE_CODE_CACHE: '1' }, encoding: 'utf8' });
if (run.status !== 0) throw new Error(`${command} --help failed while making the code cache: ${run.stderr}`);
readFileSync(`${core}.v8cache`); // it must exist now
// The old single-file ESM bundle, if an earlier build left one.
rmSync(`${dir}strata.mjs`, { force: true });
rmSync(`${dir}strata.mjs.map`, { force: true });
