/**
 * The proof of `strata build`: each fixture under fixtures/build is built by strata and by
 * `buildah bud --layers --format docker --isolation chroot` (1.28) from the same base image, and
 * the results must match — (a) the root filesystem (types, modes, owners, link targets, hardlink
 * groups, contents; not mtimes), (b) the config, (c) the history (one entry per instruction, with
 * empty_layer) and the content of every layer. Where strata differs on purpose, the case or the
 * rule below says so and why:
 * - buildah's RUN layers carry stubs of its bind mounts (BUILDAH_STUB_FILES, BUILDAH_MOUNT_DIRS);
 * - a RUN or COPY that changes nothing makes no layer in strata (empty_layer, as BuildKit does);
 * - shell-form CMD/ENTRYPOINT use the SHELL in effect (docker's documented rule; not buildah 1.28);
 * - directories COPY --chmod creates on the way get its mode (BuildKit since Docker 28.1).
 * Both put a WORKDIR's directory in the next step's layer, owned by the USER of a RUN.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { busyboxRootfsTar, canBuildDebian, DEBIAN_MISSING, debianRootfsTar } from '../helpers/base-images.js';
import { runStrata } from '../helpers/cli.js';
import { repoRoot } from '../helpers/corpus.js';
import { skipReason } from '../exec/sandbox.js';
import { diffShapes, treeShape, type PathShape } from '../fs/tree-compare.js';
import { Buildah, buildahMissing } from './buildah.js';
import { makeTemp, rmTemp } from './helpers.js';
import { describeLayer, historyKind, normalizeConfig, ociLayerPaths, readLayer, strataImage, strataTree, withoutMtimes, type RawEntry } from './image-shapes.js';

const BUSYBOX = 'localhost/fixture/busybox:latest';
const DEBIAN = 'localhost/fixture/debian:bookworm';
const FIXTURES = join(repoRoot, 'fixtures', 'build');

/**
 * What buildah 1.28 leaves in RUN layers and strata does not: empty stubs of the files it
 * bind-mounts (/etc/hostname, /etc/hosts, /etc/resolv.conf) and the mount points /run and /sys
 * (copied up again by later RUNs). strata mounts its stubs outside the layer.
 */
const BUILDAH_STUB_FILES = new Set(['etc/hostname', 'etc/hosts', 'etc/resolv.conf']);
const BUILDAH_MOUNT_DIRS = new Set(['run', 'sys']);

/** A buildah layer without its artifacts (and without /etc when only the stubs put it there). */
function withoutArtifacts(entries: RawEntry[]): RawEntry[] {
  const kept = entries.filter((e) => !(BUILDAH_STUB_FILES.has(e.path) && e.kind === 'file') && !BUILDAH_MOUNT_DIRS.has(e.path));
  const etcUsed = kept.some((e) => e.path.startsWith('etc/'));
  const stubbed = entries.some((e) => BUILDAH_STUB_FILES.has(e.path));
  return kept.filter((e) => !(e.path === 'etc' && stubbed && !etcUsed));
}

/** Drops the paths strata leaves out on purpose from a buildah layer, and their parents when nothing else below them is there. */
function withoutOmitted(entries: RawEntry[], omitted: string[]): RawEntry[] {
  const kept = entries.filter((e) => !omitted.includes(e.path));
  const parentOfOmitted = (p: string) => omitted.some((o) => o.startsWith(p + '/'));
  return kept.filter((e) => !(e.kind === 'directory' && parentOfOmitted(e.path) && !kept.some((k) => k.path.startsWith(e.path + '/'))));
}

/** Removes buildah's artifacts from its final tree where strata has nothing there, checking they are only stubs. */
function dropTreeArtifacts(bh: Map<string, PathShape>, st: Map<string, PathShape>): void {
  for (const p of BUILDAH_STUB_FILES) {
    const s = bh.get(p);
    if (s && !st.has(p)) {
      assert.equal(s.sha, 'e3b0c44298fc1c14', `buildah's ${p} should be an empty stub`);
      bh.delete(p);
    }
  }
  for (const p of BUILDAH_MOUNT_DIRS) {
    if (bh.has(p) && !st.has(p)) {
      assert.ok(![...bh.keys()].some((k) => k.startsWith(p + '/')), `buildah's /${p} should be an empty mount point`);
      bh.delete(p);
    }
  }
}

/** One comparison. */
interface Case {
  name: string;
  /** Fixture directory under fixtures/build (the context). */
  dir: string;
  /** Tag both builders give the result. */
  tag: string;
  /** The image the compared stage starts from: history and layers after its own are compared. */
  base?: string;
  target?: string;
  buildArgs?: Record<string, string>;
  /** A heredoc-free Dockerfile for buildah 1.28 doing the same (history text then differs). */
  buildahFile?: string;
  /** Why history and layers are not compared (the equivalent Dockerfile.buildah needs other instructions). */
  treeOnly?: string;
  /** Paths buildah 1.28 leaves that strata leaves out on purpose (one reason for all of them). */
  strataOmits?: { paths: string[]; why: string };
  /** Modes strata gives some paths on purpose where buildah 1.28 differs (each says why). */
  modeOverrides?: Record<string, string>;
  /** Adjusts buildah's config where strata differs on purpose (each says why). */
  adjustBuildahConfig?: (config: Record<string, unknown>) => void;
  /** Files of strata's result with their exact content (the fixture really did what it says). */
  expectFiles?: Record<string, string>;
  /** Owners (`uid:gid`) of paths in strata's result. */
  expectOwners?: Record<string, string>;
  /** Checks on strata's build output. */
  checkOutput?: (stderr: string) => void;
  needsDebian?: boolean;
}

const CASES: Case[] = [
  {
    name: 'every settings instruction: Env, Labels, ExposedPorts, Volumes, StopSignal, Healthcheck, Shell, WorkingDir, User, OnBuild, Entrypoint, Cmd',
    dir: 'config',
    tag: 'localhost/cmp-config',
    // Shell-form CMD and ENTRYPOINT run through the SHELL in effect, as docker documents and
    // BuildKit does; buildah 1.28 always uses /bin/sh -c.
    adjustBuildahConfig: (c) => {
      const shell = c.Shell as string[];
      for (const k of ['Cmd', 'Entrypoint']) {
        const v = c[k] as string[];
        if (v[0] === '/bin/sh' && v[1] === '-c') c[k] = [...shell, ...v.slice(2)];
      }
    },
  },
  { name: 'ENTRYPOINT resets a CMD inherited from the base stage', dir: 'config', target: 'cmd-reset', tag: 'localhost/cmp-cmd-reset' },
  { name: 'ENTRYPOINT keeps a CMD set in its own stage', dir: 'config', target: 'cmd-kept', tag: 'localhost/cmp-cmd-kept' },
  {
    name: 'multi-stage: global ARGs, FROM <stage>, COPY --from=<stage|index|image>, unneeded stage never runs',
    dir: 'multistage',
    tag: 'localhost/cmp-multistage',
    buildArgs: { GREETING: 'bonjour', NEVER_DECLARED: 'x' },
    expectFiles: {
      'from-stage/greeting': 'bonjour from builder\n',
      'from-stage/scoping': 'not redeclared: []\n',
      'from-stage/extra': 'extended\n',
      'from-index/greeting': 'bonjour from builder\n',
      'srv/ind/file': 'independent\n',
    },
    checkOutput: (stderr) => {
      assert.match(stderr, /NEVER_DECLARED/, 'an unused --build-arg is warned about');
      assert.doesNotMatch(stderr, /broken/, 'the unneeded stage is not even started');
    },
  },
  { name: '--target builds only what the target needs', dir: 'multistage', target: 'extended', tag: 'localhost/cmp-target', expectFiles: { 'out/extra': 'extended\n', 'out/greeting': 'hello from builder\n' } },
  { name: 'a base image with ONBUILD triggers', dir: 'onbuild-base', tag: 'localhost/fixture/onbuild-base:latest' },
  {
    name: 'ONBUILD triggers of the base run first (COPY from the child context, RUN, ENV, WORKDIR)',
    dir: 'onbuild',
    tag: 'localhost/cmp-onbuild',
    base: 'localhost/fixture/onbuild-base:latest',
    expectFiles: { 'app/seen.txt': "app file from the child's context\nmade by a trigger\nFROM_TRIGGER=yes\n" },
  },
  {
    name: 'RUN: environment, exec and shell form, USER by name and number, WORKDIR made, SHELL',
    dir: 'run',
    tag: 'localhost/cmp-run',
    buildArgs: { BUILDVAL: 'from-cli' },
    expectFiles: {
      'env.txt': 'arg=from-cli env=from-env path=/opt/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin home=/root user=0\n',
      'exec.txt': 'exec form\n',
      'tmp/id-by-name.txt': 'uid=1000(app) gid=1000(app) groups=1000(app)\n',
      'tmp/home-by-name.txt': '/home/app\n',
      'tmp/id-by-number.txt': 'uid=1000(app) gid=65534(nogroup) groups=65534(nogroup)\n',
      'tmp/id-unknown.txt': 'uid=4242 gid=0(root) groups=0(root)\n',
      'tmp/home-unknown.txt': '/\n',
      'created/by/workdir/here.txt': '/created/by/workdir\n',
      'created/by/workdir/relative/here.txt': '/created/by/workdir/relative\n',
      'shell.txt': 'via-shell\n',
    },
    expectOwners: { 'srv': '1000:1000', 'srv/app-work': '1000:1000', 'srv/app-work/made-by-app': '1000:1000', 'created/by/workdir': '0:0' },
  },
  {
    name: 'COPY: names, globs, directory contents, trailing slashes, symlinks, .dockerignore, --chown, --chmod, WORKDIR',
    dir: 'copy',
    tag: 'localhost/cmp-copy',
    // A directory COPY creates on the way to its destination gets an octal --chmod's bits in
    // BuildKit since fsutil#228 (Docker 28.1), which strata follows; buildah 1.28 makes it 0755.
    modeOverrides: { chmod: '640' },
    expectFiles: { 'glob/a.txt': 'file a\n', 'logs/keep.log': 'kept by an exception\n', 'work/sub/two.txt': 'two\n', 'etc/b.txt': 'file b\n' },
  },
  {
    name: 'RUN --mount: bind (context dir, file, stage, image), cache, tmpfs; nothing mounted stays in a layer',
    dir: 'run-mounts',
    tag: 'localhost/cmp-run-mounts',
    strataOmits: {
      paths: ['var/cache'],
      why: 'mount points a step had to create are not part of its layer, as in BuildKit since v0.11 (buildah 1.28 keeps some of them)',
    },
    expectFiles: {
      'work/main.copy': 'main file\n',
      'work/src.listing': 'lib\nmain.txt\n',
      'work/util.copy': 'util\n',
      'work/util.ro': 'read-only\n',
      'work/tool.version': 'tool v1\n',
      'work/base.user': 'root\n',
      'work/cache.listing': 'entry\n',
      'work/tmpfs.copy': 'tmp\n',
    },
  },
  { name: 'layers: hardlinks, symlinks, fifo, setuid bits, whiteouts, opaque directories', dir: 'layers', tag: 'localhost/cmp-layers' },
  {
    name: 'heredocs (RUN script, #! script, inside a command, COPY) against a heredoc-free equivalent',
    dir: 'heredoc',
    tag: 'localhost/cmp-heredoc',
    buildahFile: 'Dockerfile.buildah',
    expectFiles: { 'hd/awk': 'from awk\n', 'hd/inside': 'line one /root\nline two\n', 'hd/copied.txt': 'hello world\n', 'hd/quoted.txt': 'not expanded: $NAME\n' },
  },
  {
    name: 'COPY --exclude and --parents against an equivalent without them',
    dir: 'copy-flags',
    tag: 'localhost/cmp-copy-flags',
    buildahFile: 'Dockerfile.buildah',
    treeOnly: 'without --parents, buildah needs one COPY per destination directory',
    expectFiles: { 'excluded/a.txt': 'file a\n', 'parents/dir/sub/two.txt': 'two\n', 'pivot/pkg/beta/other.go': 'package main\n' },
  },
  {
    name: 'a Debian base: useradd, groupadd, dpkg, RUN as a user with a supplementary group',
    dir: 'debian',
    tag: 'localhost/cmp-debian',
    base: DEBIAN,
    needsDebian: true,
    expectOwners: { 'home/builder/work': '1234:1234', 'home/builder/work/id.txt': '1234:1234' },
    expectFiles: { 'home/builder/work/id.txt': 'uid=1234(builder) gid=1234(builder) groups=1234(builder),2345(extra)\n', 'home/builder/work/home.txt': '/home/builder\n' },
  },
];

/** What each builder made, read the same way. */
interface Built {
  config: Record<string, unknown>;
  /** `KIND` or `KIND (no layer)` per history entry after the base's. */
  history: string[];
  /** Each layer after the base's, described. */
  layers: string[][];
}

/** Pairs history entries with layers; `emptyIfBare` turns layers with nothing left into no layer (see below). */
function shape(history: { created_by?: string; empty_layer?: boolean }[], layers: string[][], emptyIfBare: boolean): Omit<Built, 'config'> {
  const out: Omit<Built, 'config'> = { history: [], layers: [] };
  let next = 0;
  for (const h of history) {
    const kind = historyKind(h.created_by);
    if (h.empty_layer) {
      out.history.push(`${kind} (no layer)`);
      continue;
    }
    const layer = layers[next++];
    assert.ok(layer, `history entry "${h.created_by}" has no layer`);
    if (emptyIfBare && layer.length === 0) out.history.push(`${kind} (no layer)`);
    else {
      out.history.push(kind);
      out.layers.push(layer);
    }
  }
  assert.equal(next, layers.length, 'every layer has a history entry');
  return out;
}

const skip = skipReason() ?? (process.env.STRATA_REQUIRE_NATIVE ? undefined : buildahMissing());

describe('strata build against buildah bud (1.28)', { skip, timeout: 20 * 60_000 }, () => {
  let bh: Buildah;
  let root: string;
  let debianLoaded = false;

  before(async () => {
    const missing = buildahMissing();
    if (missing) throw new Error(missing);
    const tar = await busyboxRootfsTar();
    bh = Buildah.create();
    root = makeTemp('cmp-store-');
    bh.importRootfs(tar, BUSYBOX);
    const r = runStrata(['--root', root, 'import', tar, BUSYBOX]);
    assert.equal(r.code, 0, r.stderr);
  });

  after(() => {
    bh?.cleanup();
    if (root) rmTemp(root);
  });

  for (const c of CASES) {
    it(c.name, { skip: c.needsDebian && !canBuildDebian() ? DEBIAN_MISSING : false }, async () => {
      if (c.needsDebian && !debianLoaded) {
        const tar = await debianRootfsTar();
        bh.importRootfs(tar, DEBIAN);
        assert.equal(runStrata(['--root', root, 'import', tar, DEBIAN]).code, 0);
        debianLoaded = true;
      }
      const work = makeTemp('cmp-work-');
      try {
        await compare(c, work);
      } finally {
        rmTemp(work);
      }
    });
  }

  async function compare(c: Case, work: string): Promise<void> {
    const ctx = join(FIXTURES, c.dir);
    const args = ['--root', root, 'build', '--progress', 'plain', '-t', c.tag];
    if (c.target) args.push('--target', c.target);
    for (const [k, v] of Object.entries(c.buildArgs ?? {})) args.push('--build-arg', `${k}=${v}`);
    const st = runStrata([...args, ctx], { timeoutMs: 600_000 });
    assert.equal(st.code, 0, `strata build failed:\n${st.stderr}`);
    c.checkOutput?.(st.stderr);
    bh.bud(ctx, { tag: c.tag, ...(c.target ? { target: c.target } : {}), ...(c.buildArgs ? { buildArgs: c.buildArgs } : {}), ...(c.buildahFile ? { file: join(ctx, c.buildahFile) } : {}) });

    // (a) the root filesystem.
    const mine = await strataTree(root, c.tag, work);
    const theirs = await bh.withRootfs(c.tag, (dir) => withoutMtimes(treeShape(dir)));
    dropTreeArtifacts(theirs, mine.tree);
    for (const [path, mode] of Object.entries(c.modeOverrides ?? {})) theirs.get(path)!.mode = mode;
    for (const path of c.strataOmits?.paths ?? []) assert.ok(theirs.delete(path), `buildah no longer makes /${path}: drop it from strataOmits`);
    mine.tree.delete('.');
    theirs.delete('.');
    assert.deepEqual(diffShapes(mine.tree, theirs, ['strata', 'buildah']), [], 'root filesystems differ');
    for (const [path, content] of Object.entries(c.expectFiles ?? {})) {
      assert.equal(readFileSync(join(mine.dir, path), 'utf8'), content, `/${path} in strata's image`);
    }
    for (const [path, owner] of Object.entries(c.expectOwners ?? {})) assert.equal(mine.tree.get(path)?.owner, owner, `owner of /${path}`);

    // (b) the config.
    const baseName = c.base ?? BUSYBOX;
    const sImg = await strataImage(root, c.tag);
    const sBase = await strataImage(root, baseName);
    const bCfg = bh.dockerConfig(c.tag);
    const bBase = bh.dockerConfig(baseName);
    const theirConfig = normalizeConfig(bCfg.config);
    c.adjustBuildahConfig?.(theirConfig);
    assert.deepEqual(normalizeConfig(sImg.config.config as Record<string, unknown>), theirConfig, 'configs differ');

    if (c.treeOnly) return;
    // (c) history and layers after the base's. buildah commits a layer for every RUN and COPY;
    // strata commits none when a step changed nothing (as BuildKit does), so a buildah layer with
    // nothing but its artifacts stands for "no layer". buildah's history text is its own
    // (`/bin/sh -c #(nop) ENV ...`), so instructions are compared by kind.
    const theirLayers = await Promise.all(ociLayerPaths(bh.ociLayout(c.tag, join(work, 'oci'))).slice(bBase.rootfs.diff_ids.length)
      .map(async (p) => describeLayer(withoutOmitted(withoutArtifacts(await readLayer(p)), c.strataOmits?.paths ?? []).map((e) => (c.modeOverrides?.[e.path] ? { ...e, mode: c.modeOverrides[e.path]! } : e)))));
    const myLayers = await Promise.all(sImg.layers.slice(sBase.layers.length).map(async (p) => describeLayer(await readLayer(p))));
    const theirShape = shape((bCfg.history ?? []).slice(bBase.history?.length ?? 0), theirLayers, true);
    const myShape = shape((sImg.config.history ?? []).slice(sBase.config.history?.length ?? 0), myLayers, false);
    assert.deepEqual(myShape.history, theirShape.history, 'history entries differ');
    assert.equal(myShape.layers.length, theirShape.layers.length, 'layer counts differ');
    myShape.layers.forEach((layer, i) => assert.deepEqual(layer, theirShape.layers[i], `layer ${i + 1} after the base differs`));
  }
});
