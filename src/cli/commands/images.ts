/**
 * `strata images`, `strata tag`, `strata rmi`, `strata prune`: listing and naming images.
 */
import type { Command } from 'commander';
import { BuildCache } from '../../build/cache.js';
import { familiarReference, parseReference } from '../../image/reference.js';
import { checkFormat, openImages } from '../context.js';
import { humanSize, renderTable, shortId, timeAgo } from '../format.js';
import { renderJson } from '../render.js';

/** Registers the image management commands. */
export function registerImages(program: Command): void {
  program
    .command('images')
    .description('list images in the store')
    .option('-q, --quiet', 'only print image IDs')
    .option('--no-trunc', 'show full image IDs')
    .option('--format <format>', 'table or json', 'table')
    .addHelpText('after', `
Examples:
  $ strata images
  $ strata images -q
  $ strata images --format json | jq -r '.[].Repository'`)
    .action(async (opts: { quiet?: boolean; trunc: boolean; format: string }, cmd: Command) => {
      const format = checkFormat(opts.format, ['table', 'json'] as const);
      const images = await (await openImages(cmd)).list();
      const rows = images.flatMap((img) =>
        img.names.length === 0 ? [{ img, repo: '<none>', tag: '<none>' }] : img.names.map((name) => {
          const ref = parseReference(name);
          const familiar = familiarReference(name);
          const repo = ref.tag ? familiar.slice(0, familiar.length - ref.tag.length - 1) : familiar;
          return { img, repo, tag: ref.tag ?? '<none>' };
        }),
      );
      if (opts.quiet) {
        const ids = [...new Set(images.map((i) => (opts.trunc ? shortId(i.id) : i.id)))];
        process.stdout.write(ids.map((i) => i + '\n').join(''));
        return;
      }
      if (format === 'json') {
        process.stdout.write(renderJson(rows.map(({ img, repo, tag }) => ({
          Repository: repo, Tag: tag, ID: img.id, Digest: img.manifestDigest,
          Created: img.created ?? null, CreatedSince: timeAgo(img.created), Size: img.size,
        }))));
        return;
      }
      process.stdout.write(renderTable(
        ['REPOSITORY', 'TAG', 'IMAGE ID', 'CREATED', 'SIZE'],
        rows.map(({ img, repo, tag }) => [repo, tag, opts.trunc ? shortId(img.id) : img.id, timeAgo(img.created), humanSize(img.size)]),
      ));
    });

  program
    .command('tag')
    .description('give an image another name')
    .argument('<source>', 'image name or ID')
    .argument('<target>', 'new name[:tag]')
    .addHelpText('after', `
Examples:
  $ strata tag busybox localhost:5000/tools/busybox:1.36`)
    .action(async (source: string, target: string, _opts: unknown, cmd: Command) => {
      await (await openImages(cmd)).tag(source, target);
    });

  program
    .command('rmi')
    .description('remove images (by name: that name; by ID: all its names)')
    .argument('<image...>', 'image names or IDs')
    .option('-f, --force', 'remove an image ID that has several names')
    .addHelpText('after', `
Examples:
  $ strata rmi busybox:latest
  $ strata rmi -f 3f57d9401f8d`)
    .action(async (names: string[], opts: { force?: boolean }, cmd: Command) => {
      const images = await openImages(cmd);
      const { untagged, deleted } = await images.remove(names, opts.force === true);
      for (const n of untagged) process.stdout.write(`Untagged: ${familiarReference(n)}\n`);
      for (const id of deleted) process.stdout.write(`Deleted: ${id}\n`);
      if (deleted.length > 0) {
        // Reclaim space now when nothing else is running; a build in progress holds a lease.
        try {
          const report = await images.prune({ roots: await new BuildCache(images.store).roots(), lockTimeoutMs: 2000 });
          if (report.bytesFreed > 0) process.stdout.write(`Reclaimed ${humanSize(report.bytesFreed)}\n`);
        } catch {
          process.stdout.write('Space will be reclaimed by `strata prune` (the store is busy)\n');
        }
      }
    });

  program
    .command('prune')
    .description('remove blobs and unpacked layers that no image needs, and say how much that freed')
    .option('--dry-run', 'only report what would be removed')
    .option('--cache', 'also drop the build cache (later builds start cold)')
    .option('--format <format>', 'table or json', 'table')
    .addHelpText('after', `
Examples:
  $ strata prune
  $ strata prune --cache
  $ strata prune --dry-run --format json`)
    .action(async (opts: { dryRun?: boolean; cache?: boolean; format: string }, cmd: Command) => {
      const format = checkFormat(opts.format, ['table', 'json'] as const);
      const images = await openImages(cmd);
      const cache = new BuildCache(images.store);
      // The build cache keeps its step results alive unless it is dropped too.
      if (opts.cache && !opts.dryRun) await cache.clear();
      const roots = opts.cache ? [] : await cache.roots();
      const report = await images.prune({ roots, ...(opts.dryRun ? { dryRun: true } : {}) });
      if (format === 'json') {
        process.stdout.write(renderJson(report));
        return;
      }
      const verb = opts.dryRun ? 'Would remove' : 'Removed';
      process.stdout.write(
        `${verb} ${report.removedBlobs.length} blob${report.removedBlobs.length === 1 ? '' : 's'} and ` +
          `${report.removedLayers.length} unpacked layer${report.removedLayers.length === 1 ? '' : 's'}\n` +
          `${opts.dryRun ? 'Would reclaim' : 'Total reclaimed space'}: ${humanSize(report.bytesFreed)}\n`,
      );
    });
}
