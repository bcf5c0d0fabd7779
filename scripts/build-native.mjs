#!/usr/bin/env node
// Compiles strata's one native helper, src/exec/native/strata-init.c, into dist/native/.
// Node cannot call unshare/mount/pivot_root/capset, and no host tool is reachable after
// pivot_root, so the isolated-process setup lives in this small C program. Rebuilt only when the
// source is newer than the binary. Without a C compiler the rest of strata still works; commands
// that run build steps or containers then say how to get the helper.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, statSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const src = join(root, 'src/exec/native/strata-init.c');
const outDir = join(root, 'dist/native');
const out = join(outDir, 'strata-init');

if (existsSync(out) && statSync(out).mtimeMs >= statSync(src).mtimeMs) process.exit(0);
const cc = process.env.CC || 'cc';
mkdirSync(outDir, { recursive: true });
const tmp = `${out}.${process.pid}.tmp`;
const r = spawnSync(cc, ['-O2', '-Wall', '-Wextra', '-Werror', '-o', tmp, src], { stdio: 'inherit' });
if (r.error || r.status !== 0) {
  console.error(`strata: could not compile ${src} with ${cc}${r.error ? `: ${r.error.message}` : ''}`);
  console.error('strata: install a C compiler (apt-get install gcc libc6-dev) and run `npm run build`; build and run need this helper');
  process.exit(process.env.STRATA_REQUIRE_NATIVE ? 1 : 0);
}
renameSync(tmp, out);
