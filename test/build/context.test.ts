import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, readFileSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { BuildContext, memoFileFor, statCacheFileFor } from '../../src/build/context.js';
import type { Selection } from '../../src/build/context.js';
import { describeChanges, diffFingerprints } from '../../src/build/checksum.js';
import { RACY_MS } from '../../src/build/stat-cache.js';
import { BuildError } from '../../src/errors.js';
import { makeTemp, makeTree, rmTemp } from './helpers.js';

/** "source → rel" lines of a selection, for compact comparisons. */
function listing(sel: Selection): string[] {
  return sel.items.flatMap((item) => item.entries.map((e) => `${item.name}:${e.rel || '.'}=${e.entry.path || '.'}${e.implied ? '(implied)' : ''}`));
}

function codeOf(code: string, text?: RegExp) {
  return (e: unknown) => e instanceof BuildError && e.code === code && (text === undefined || text.test(e.message));
}

describe('BuildContext', () => {
  let tmp: string;
  let ctxDir: string;
  beforeEach(() => {
    tmp = makeTemp('context-');
    ctxDir = join(tmp, 'ctx');
    mkdirSync(ctxDir);
  });
  afterEach(() => rmTemp(tmp));

  describe('open', () => {
    it('walks everything, never following symlinks', async () => {
      makeTree(tmp, { 'outside/secret': 'no' });
      makeTree(ctxDir, { 'a.txt': 'a', 'd/b.txt': 'b', 'link-out': { link: '../outside' }, 'link-abs': { link: '/etc' } });
      const ctx = await BuildContext.open(ctxDir);
      assert.deepEqual([...ctx.files()].map((f) => f.path).sort(), ['', 'a.txt', 'd', 'd/b.txt', 'link-abs', 'link-out']);
      assert.equal(ctx.lookup('link-out')?.type, 'symlink');
      assert.equal(ctx.lookup('link-out')?.linkTarget, '../outside');
      assert.equal(ctx.lookup('link-out/secret'), undefined);
      assert.equal(ctx.lookup('a.txt')?.size, 1);
    });

    it('honours .dockerignore, skipping excluded directories and keeping re-included paths', async () => {
      makeTree(ctxDir, {
        '.dockerignore': 'node_modules\n*.log\n!keep.log\nbuild\n!build/keep\n',
        'node_modules/x/y.js': '1',
        'a.log': 'x',
        'keep.log': 'k',
        'build/out.o': 'o',
        'build/keep': 'kept',
        'src/main.c': 'c',
      });
      const ctx = await BuildContext.open(ctxDir);
      const all = [...ctx.files()].map((f) => f.path).sort();
      assert.deepEqual(all, ['', '.dockerignore', 'build', 'build/keep', 'keep.log', 'src', 'src/main.c']);
      assert.deepEqual([...ctx.files()].map((f) => f.path), ['', '.dockerignore', 'build', 'build/keep', 'keep.log', 'src', 'src/main.c'], 'walk order, parents first');
      assert.equal(ctx.lookup('build/keep')?.size, 4);
      assert.equal(ctx.lookup('build/out.o'), undefined);
      assert.equal(ctx.ignoreFile, join(ctx.root, '.dockerignore'));
    });

    it('prefers <Dockerfile>.dockerignore next to the Dockerfile', async () => {
      makeTree(ctxDir, {
        '.dockerignore': 'a.txt\n',
        'docker/app.Dockerfile': 'FROM scratch\n',
        'docker/app.Dockerfile.dockerignore': 'b.txt\n',
        'a.txt': 'a',
        'b.txt': 'b',
      });
      const ctx = await BuildContext.open(ctxDir, { dockerfilePath: join(ctxDir, 'docker/app.Dockerfile') });
      assert.ok(ctx.lookup('a.txt'));
      assert.equal(ctx.lookup('b.txt'), undefined);
      const plain = await BuildContext.open(ctxDir, { dockerfilePath: join(ctxDir, 'Dockerfile') });
      assert.equal(plain.lookup('a.txt'), undefined);
      assert.ok(plain.lookup('b.txt'));
    });

    it('fails clearly for a missing context', async () => {
      await assert.rejects(BuildContext.open(join(tmp, 'nope')), /build context .* does not exist/);
    });
  });

  describe('select', () => {
    beforeEach(() => {
      makeTree(ctxDir, {
        'a.txt': 'a',
        'b.txt': 'b',
        'c.md': 'c',
        'arr[0].txt': 'arr',
        'dir/x.c': 'x',
        'dir/sub/y.c': 'y',
        'dir/sub/z.h': 'z',
        'other/x.c': 'ox',
        'link-file': { link: 'dir/x.c' },
        'link-dir': { link: '/dir/' },
        'link-out': { link: '../../../etc/passwd' },
        'loop1': { link: 'loop2' },
        'loop2': { link: 'loop1' },
        'dir/inner-link': { link: '../a.txt' },
      });
    });

    it('selects a file, a directory (its contents) and the root', async () => {
      const ctx = await BuildContext.open(ctxDir);
      assert.deepEqual(listing(await ctx.select(['a.txt'])), ['a.txt:.=a.txt']);
      assert.deepEqual(listing(await ctx.select(['dir/'])), [
        'dir:.=dir', 'dir:inner-link=dir/inner-link', 'dir:sub=dir/sub', 'dir:sub/y.c=dir/sub/y.c', 'dir:sub/z.h=dir/sub/z.h', 'dir:x.c=dir/x.c',
      ]);
      const root = await ctx.select(['.']);
      assert.equal(root.items[0]!.root.path, '');
      assert.equal(root.items[0]!.entries.length, ctx.size);
      assert.deepEqual(listing(await ctx.select(['/dir/sub/../x.c'])), ['x.c:.=dir/x.c']);
    });

    it('expands wildcards per path element with Go filepath.Match rules', async () => {
      const ctx = await BuildContext.open(ctxDir);
      assert.deepEqual(listing(await ctx.select(['*.txt'])), ['a.txt:.=a.txt', 'arr[0].txt:.=arr[0].txt', 'b.txt:.=b.txt']);
      assert.deepEqual(listing(await ctx.select(['?.txt'])), ['a.txt:.=a.txt', 'b.txt:.=b.txt']);
      assert.deepEqual(listing(await ctx.select(['[ab].txt'])), ['a.txt:.=a.txt', 'b.txt:.=b.txt']);
      assert.deepEqual(listing(await ctx.select(['arr[[]0].txt'])), ['arr[0].txt:.=arr[0].txt']);
      assert.deepEqual(listing(await ctx.select(['*/x.c'])), ['x.c:.=dir/x.c', 'x.c:.=other/x.c']);
      assert.deepEqual(listing(await ctx.select(['dir/*/*.h'])), ['z.h:.=dir/sub/z.h']);
      // `*` never crosses a slash, and the match of a directory means its contents.
      assert.deepEqual(listing(await ctx.select(['d*'])).slice(0, 2), ['dir:.=dir', 'dir:inner-link=dir/inner-link']);
    });

    it('follows a symlink source inside the context, but copies links below a directory as links', async () => {
      const ctx = await BuildContext.open(ctxDir);
      assert.deepEqual(listing(await ctx.select(['link-file'])), ['link-file:.=dir/x.c']);
      const viaDir = await ctx.select(['link-dir']);
      assert.equal(viaDir.items[0]!.root.path, 'dir');
      assert.equal(viaDir.items[0]!.entries.find((e) => e.rel === 'inner-link')?.entry.type, 'symlink');
    });

    it('names a missing source, an unmatched wildcard, a link leading out and a symlink loop', async () => {
      const ctx = await BuildContext.open(ctxDir);
      await assert.rejects(ctx.select(['a.txt', 'missing.txt']), codeOf('COPY_SOURCE_NOT_FOUND', /"missing\.txt" not found/));
      await assert.rejects(ctx.select(['*.none']), codeOf('COPY_SOURCE_NOT_FOUND', /"\*\.none" matches no files/));
      await assert.rejects(ctx.select(['link-out']), codeOf('COPY_SOURCE_NOT_FOUND'));
      await assert.rejects(ctx.select(['loop1']), codeOf('COPY_SYMLINK_LOOP'));
      await assert.rejects(ctx.select(['[']), codeOf('COPY_BAD_PATTERN'));
      assert.deepEqual((await ctx.select(['*.none'], { allowEmptyWildcard: true })).items, []);
    });

    it('refuses a source outside the context', async () => {
      const ctx = await BuildContext.open(ctxDir);
      await assert.rejects(ctx.select(['../x']), codeOf('COPY_OUTSIDE_CONTEXT', /"\.\.\/x" is outside the build context/));
      await assert.rejects(ctx.select(['dir/../../x']), codeOf('COPY_OUTSIDE_CONTEXT'));
      await assert.rejects(ctx.select(['/../etc/passwd']), codeOf('COPY_OUTSIDE_CONTEXT'));
    });

    it('says when a missing source is excluded by .dockerignore', async () => {
      writeFileSync(join(ctxDir, '.dockerignore'), 'c.md\n');
      const ctx = await BuildContext.open(ctxDir);
      await assert.rejects(ctx.select(['c.md']), codeOf('COPY_SOURCE_NOT_FOUND', /excluded by .*\.dockerignore/));
    });

    it('applies --exclude relative to each selected directory, with exceptions', async () => {
      const ctx = await BuildContext.open(ctxDir);
      assert.deepEqual(listing(await ctx.select(['dir'], { exclude: ['*.c', 'sub/*.h'] })), ['dir:.=dir', 'dir:inner-link=dir/inner-link', 'dir:sub=dir/sub', 'dir:sub/y.c=dir/sub/y.c']);
      assert.deepEqual(listing(await ctx.select(['dir'], { exclude: ['sub', '!sub/z.h', 'inner-link'] })), ['dir:.=dir', 'dir:sub=dir/sub(implied)', 'dir:sub/z.h=dir/sub/z.h', 'dir:x.c=dir/x.c']);
      assert.deepEqual(listing(await ctx.select(['.'], { exclude: ['*/*.c', '*.txt', 'link*', 'loop*', '*.md', 'dir/sub', 'dir/inner-link'] })), ['.:.=.', '.:dir=dir', '.:other=other']);
    });

    it('keeps parent paths with --parents, from the root or from a /./ pivot, with ** patterns', async () => {
      const ctx = await BuildContext.open(ctxDir);
      assert.deepEqual(listing(await ctx.select(['dir/sub/y.c', 'other/x.c'], { parents: true })), [
        '.:.=.', '.:dir=dir(implied)', '.:dir/sub=dir/sub(implied)', '.:dir/sub/y.c=dir/sub/y.c',
        '.:.=.', '.:other=other(implied)', '.:other/x.c=other/x.c',
      ]);
      assert.deepEqual(listing(await ctx.select(['./dir/./sub/*.c'], { parents: true })), ['.:.=dir', '.:sub=dir/sub(implied)', '.:sub/y.c=dir/sub/y.c']);
      assert.deepEqual(listing(await ctx.select(['dir/**/*.h'], { parents: true })), ['.:.=.', '.:dir=dir(implied)', '.:dir/sub=dir/sub(implied)', '.:dir/sub/z.h=dir/sub/z.h']);
      assert.deepEqual(listing(await ctx.select(['dir/sub'], { parents: true, exclude: ['**/*.h'] })), ['.:.=.', '.:dir=dir(implied)', '.:dir/sub=dir/sub', '.:dir/sub/y.c=dir/sub/y.c']);
      await assert.rejects(ctx.select(['dir/nope.c'], { parents: true }), codeOf('COPY_SOURCE_NOT_FOUND'));
      await assert.rejects(ctx.select(['dir/**/*.zz'], { parents: true }), codeOf('COPY_SOURCE_NOT_FOUND', /matches no files/));
    });
  });

  describe('checksum', () => {
    it('changes with content, mode, link targets and membership, and explains what changed', async () => {
      makeTree(ctxDir, { 'a.txt': 'a', 'd/b.txt': 'b', 'd/l': { link: 'b.txt' } });
      const sum = async () => {
        const ctx = await BuildContext.open(ctxDir);
        return ctx.checksum(await ctx.select(['.']));
      };
      const s0 = await sum();
      assert.equal((await sum()).digest, s0.digest, 'stable');
      writeFileSync(join(ctxDir, 'd/b.txt'), 'B');
      const s1 = await sum();
      assert.notEqual(s1.digest, s0.digest);
      assert.deepEqual(diffFingerprints(s0.files, s1.files), { changed: ['d/b.txt'], added: [], removed: [] });
      chmodSync(join(ctxDir, 'a.txt'), 0o600);
      const s2 = await sum();
      assert.deepEqual(diffFingerprints(s1.files, s2.files).changed, ['a.txt']);
      unlinkSync(join(ctxDir, 'd/l'));
      symlinkSync('other', join(ctxDir, 'd/l'));
      writeFileSync(join(ctxDir, 'new.txt'), 'n');
      const s3 = await sum();
      const diff = diffFingerprints(s2.files, s3.files);
      assert.deepEqual(diff, { changed: ['d/l'], added: ['new.txt'], removed: [] });
      assert.equal(describeChanges(diff), '1 file changed: d/l; 1 file added: new.txt');
      assert.equal(describeChanges({ changed: ['a', 'b', 'c', 'd', 'e'], added: [], removed: ['x'] }), '5 files changed: a, b, c, … (+2); 1 file removed: x');
      // mtime alone is not a cache input (as in BuildKit).
      const t = new Date('2001-01-01');
      const { utimesSync } = await import('node:fs');
      utimesSync(join(ctxDir, 'a.txt'), t, t);
      assert.equal((await sum()).digest, s3.digest);
    });

    it('reads each file once and, through the stat cache, not again in a later build', async () => {
      makeTree(ctxDir, { 'a.txt': 'aaa', 'd/b.txt': 'bb', 'd/c.txt': 'c' });
      await sleep(RACY_MS + 50); // older than the racy window, so the cache can vouch for them
      const cacheFile = statCacheFileFor(join(tmp, 'cache'), ctxDir);
      const ctx1 = await BuildContext.open(ctxDir, { statCacheFile: cacheFile });
      const first = await ctx1.checksum(await ctx1.select(['.']));
      assert.equal(first.hashed, 3);
      assert.equal(first.hashedBytes, 6);
      assert.equal((await ctx1.checksum(await ctx1.select(['d']))).hashed, 0, 'the same context object remembers digests');
      const ctx2 = await BuildContext.open(ctxDir, { statCacheFile: cacheFile });
      const second = await ctx2.checksum(await ctx2.select(['.']));
      assert.equal(second.hashed, 0);
      assert.equal(second.digest, first.digest);
      writeFileSync(join(ctxDir, 'd/b.txt'), 'BB');
      const ctx3 = await BuildContext.open(ctxDir, { statCacheFile: cacheFile });
      const third = await ctx3.checksum(await ctx3.select(['.']));
      assert.equal(third.hashed, 1, 'only the changed file is read');
      assert.notEqual(third.digest, first.digest);
    });

    it('hashes a file again when it changed within the racy window', async () => {
      makeTree(ctxDir, { 'a.txt': 'one' });
      const cacheFile = join(tmp, 'cache.bin');
      const ctx1 = await BuildContext.open(ctxDir, { statCacheFile: cacheFile });
      await ctx1.checksum(await ctx1.select(['.']));
      const ctx2 = await BuildContext.open(ctxDir, { statCacheFile: cacheFile });
      assert.equal((await ctx2.checksum(await ctx2.select(['.']))).hashed, 1, 'a just-written file is never trusted from the cache');
    });
  });

  describe('state digest and remembered source checksums', () => {
    const files = (cacheDir: string) => ({ statCacheFile: statCacheFileFor(cacheDir, ctxDir), memoFile: memoFileFor(cacheDir, ctxDir) });

    it('the state digest follows what the walk keeps: a same-size edit or a new file changes it, an ignored file does not', async () => {
      makeTree(ctxDir, { '.dockerignore': 'tmp/\n', 'a.txt': 'aaa', 'd/b.txt': 'bb', 'tmp/x': 'x' });
      const digest = async () => (await BuildContext.open(ctxDir)).stateDigest;
      const first = await digest();
      assert.equal(await digest(), first);
      writeFileSync(join(ctxDir, 'tmp/x'), 'changed, but ignored');
      assert.equal(await digest(), first);
      await sleep(50); // past the clock tick the files were written in, so the edit gets a new ctime
      writeFileSync(join(ctxDir, 'd/b.txt'), 'BB');
      const edited = await digest();
      assert.notEqual(edited, first);
      writeFileSync(join(ctxDir, 'd/new.txt'), '');
      assert.notEqual(await digest(), edited);
    });

    it('remembers a settled state\'s digests: the next open selects nothing until resolve, which gives the same selection', async () => {
      makeTree(ctxDir, { 'a.txt': 'aaa', 'd/b.txt': 'bb', 'd/c.txt': 'c', 'l': { link: 'a.txt' } });
      await sleep(RACY_MS + 50);
      const cache = join(tmp, 'cache');
      const ctx1 = await BuildContext.open(ctxDir, files(cache));
      const first = await ctx1.checksumSources(['d', 'a.txt'], { exclude: ['*.c'] });
      assert.equal(first.remembered, false);
      const ctx2 = await BuildContext.open(ctxDir, files(cache));
      const second = await ctx2.checksumSources(['d', 'a.txt'], { exclude: ['*.c'] });
      assert.equal(second.remembered, true);
      assert.equal(second.digest, first.digest);
      assert.equal((await ctx2.checksumSources(['d', 'a.txt'])).remembered, false, 'other options are another entry');
      const [r1, r2] = [await first.resolve(), await second.resolve()];
      assert.deepEqual(listing(r2.selection), listing(r1.selection));
      assert.deepEqual([...r2.files], [...r1.files]);
      // A new open of a changed state computes again.
      writeFileSync(join(ctxDir, 'a.txt'), 'AAA');
      const third = await (await BuildContext.open(ctxDir, files(cache))).checksumSources(['d', 'a.txt'], { exclude: ['*.c'] });
      assert.equal(third.remembered, false);
      assert.notEqual(third.digest, first.digest);
    });

    it('does not remember a state changed within the racy window, and ignores a torn memo', async () => {
      makeTree(ctxDir, { 'a.txt': 'one' });
      const cache = join(tmp, 'cache');
      await (await BuildContext.open(ctxDir, files(cache))).checksumSources(['.']);
      assert.equal((await (await BuildContext.open(ctxDir, files(cache))).checksumSources(['.'])).remembered, false);
      await sleep(RACY_MS + 50);
      await (await BuildContext.open(ctxDir, files(cache))).checksumSources(['.']);
      writeFileSync(files(cache).memoFile, '{"format":1,"snap');
      const again = await (await BuildContext.open(ctxDir, files(cache))).checksumSources(['.']);
      assert.equal(again.remembered, false);
    });

    it('a remembered digest that the files no longer give fails resolve with CONTEXT_CHANGED', async () => {
      makeTree(ctxDir, { 'a.txt': 'one' });
      await sleep(RACY_MS + 50);
      const cache = join(tmp, 'cache');
      const real = await (await BuildContext.open(ctxDir, files(cache))).checksumSources(['.']);
      const memo = JSON.parse(readFileSync(files(cache).memoFile, 'utf8')) as { sums: Record<string, string> };
      for (const k of Object.keys(memo.sums)) memo.sums[k] = 'sha256:' + '0'.repeat(64);
      writeFileSync(files(cache).memoFile, JSON.stringify(memo));
      const wrong = await (await BuildContext.open(ctxDir, files(cache))).checksumSources(['.']);
      assert.equal(wrong.remembered, true);
      assert.notEqual(wrong.digest, real.digest);
      await assert.rejects(wrong.resolve(), codeOf('CONTEXT_CHANGED'));
    });

    it('finds entries whose names sort differently by UTF-16 units and by bytes', async () => {
      makeTree(ctxDir, { '\u{e000}': 'private use', '\u{1f600}': 'emoji', 'a': 'a' });
      const ctx = await BuildContext.open(ctxDir);
      assert.deepEqual([...ctx.files()].map((f) => f.path), ['', 'a', '\u{e000}', '\u{1f600}']);
      for (const name of ['a', '\u{e000}', '\u{1f600}']) assert.equal(ctx.lookup(name)?.path, name);
    });
  });
});
