#!/usr/bin/env node
// Bundles the CLI into one file, dist/bundle/strata.mjs, which the `strata` command runs.
// Loading ~200 small ESM modules costs Node ~100 ms at every start (resolution, file reads,
// compilation); one file starts in about half the time, and per-command overhead is what a
// build of a small Dockerfile mostly pays for. The tsc output (dist/src) stays as it is for tests.
import { build } from 'esbuild';

await build({
  entryPoints: [new URL('../dist/src/cli/main.js', import.meta.url).pathname],
  outfile: new URL('../dist/bundle/strata.mjs', import.meta.url).pathname,
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
