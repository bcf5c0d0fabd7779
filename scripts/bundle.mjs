#!/usr/bin/env node
// Bundles the CLI into one file, dist/bundle/strata.mjs, which the `strata` command runs.
// Loading ~200 small ESM modules costs Node ~100 ms at every start (resolution, file reads,
// compilation); one file starts in about half the time, and per-command overhead is what a
// build of a small Dockerfile mostly pays for. The tsc output (dist/src) stays as it is for tests.
//
// The file starts as a shell script that execs Node on itself (the second line is a string and a
// comment to JavaScript): it moves NODE_EXTRA_CA_CERTS to STRATA_EXTRA_CA_CERTS, because Node
// reads that file at every start (~40 ms here, a third of a cached build) while strata needs it
// only for an https download (src/util/http-get.ts adds those CAs there).
import { readFileSync, writeFileSync } from 'node:fs';
import { build } from 'esbuild';

const LAUNCHER = [
  '#!/bin/sh',
  `':' //; if [ -n "\${NODE_EXTRA_CA_CERTS:-}" ]; then STRATA_EXTRA_CA_CERTS=$NODE_EXTRA_CA_CERTS; export STRATA_EXTRA_CA_CERTS; unset NODE_EXTRA_CA_CERTS; fi; exec node "$0" "$@"`,
].join('\n');
const outfile = new URL('../dist/bundle/strata.mjs', import.meta.url).pathname;

await build({
  entryPoints: [new URL('../dist/src/cli/main.js', import.meta.url).pathname],
  outfile,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  // Native and wasm-carrying packages are loaded from node_modules at run time.
  external: ['@napi-rs/xattr', 'zstd-codec'],
  banner: { js: "import { createRequire as __strataRequire } from 'node:module';\nconst require = __strataRequire(import.meta.url);" },
  logLevel: 'warning',
  sourcemap: 'linked',
});

const code = readFileSync(outfile, 'utf8');
if (!code.startsWith('#!/usr/bin/env node\n')) throw new Error(`${outfile}: expected the entry point's #! line first`);
writeFileSync(outfile, LAUNCHER + code.slice('#!/usr/bin/env node'.length), { mode: 0o755 });
// The launcher is one line longer than the #! line it replaces: shift the source map to match.
const map = JSON.parse(readFileSync(`${outfile}.map`, 'utf8'));
map.mappings = ';' + map.mappings;
writeFileSync(`${outfile}.map`, JSON.stringify(map));
