#!/usr/bin/env node
// Compiles strata's native helpers into dist/native/:
// - src/exec/native/strata-init.c: Node cannot call unshare/mount/pivot_root/capset, and no host
//   tool is reachable after pivot_root, so the isolated-process setup lives in this small program;
// - src/util/native/copy-ranges.c: copy_file_range for byte ranges, which Node lacks (save, load
//   and patched build layers copy blob bytes with it; without it they go through user space);
// - src/build/native/context-scan.c: a Node-API addon listing a context directory with statx
//   relative to its fd (a cached build of a big context is mostly that walk); compiled against
//   the headers Node ships (include/node beside its bin dir); without it the walk uses fs.lstat.
// Each is rebuilt only when its source is newer than the binary. Without a C compiler the rest of
// strata still works; commands that run build steps or containers then say how to get the helper.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const outDir = join(root, 'dist/native');
const cc = process.env.CC || 'cc';
mkdirSync(outDir, { recursive: true });

const nodeHeaders = join(dirname(process.execPath), '..', 'include', 'node');
const addonFlags = ['-shared', '-fPIC', '-I', nodeHeaders];

for (const [source, name, extra] of [
  ['src/exec/native/strata-init.c', 'strata-init', []],
  ['src/util/native/copy-ranges.c', 'copy-ranges', []],
  ['src/build/native/context-scan.c', 'context-scan.node', addonFlags],
]) {
  const src = join(root, source);
  const out = join(outDir, name);
  if (existsSync(out) && statSync(out).mtimeMs >= statSync(src).mtimeMs) continue;
  const tmp = `${out}.${process.pid}.tmp`;
  const r = spawnSync(cc, ['-O2', '-Wall', '-Wextra', '-Werror', ...extra, '-o', tmp, src], { stdio: 'inherit' });
  if (r.error || r.status !== 0) {
    console.error(`strata: could not compile ${src} with ${cc}${r.error ? `: ${r.error.message}` : ''}`);
    console.error('strata: install a C compiler (apt-get install gcc libc6-dev; Node\'s headers for the addon) and run `npm run build`; build and run need these helpers');
    if (process.env.STRATA_REQUIRE_NATIVE) process.exit(1);
    continue;
  }
  renameSync(tmp, out);
}
