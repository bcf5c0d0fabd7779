/**
 * `strata history IMAGE`: the steps of an image, newest first, like `docker history`.
 */
import type { Command } from 'commander';
import { imageHistory } from '../../inspect/history.js';
import { checkFormat, openImages } from '../context.js';
import { humanSize, renderTable, shortId, timeAgo } from '../format.js';
import { renderJson } from '../render.js';

/** Registers `history`. */
export function registerHistory(program: Command): void {
  program
    .command('history')
    .description('show the steps an image was made of, newest first')
    .argument('<image>', 'image name or ID')
    .option('--no-trunc', 'do not shorten the CREATED BY column')
    .option('-q, --quiet', 'only print layer IDs')
    .option('--format <format>', 'table or json', 'table')
    .addHelpText('after', `
Examples:
  $ strata history busybox
  $ strata history --no-trunc --format json app:1.0`)
    .action(async (name: string, opts: { trunc: boolean; quiet?: boolean; format: string }, cmd: Command) => {
      const format = checkFormat(opts.format, ['table', 'json'] as const);
      const stored = await (await openImages(cmd)).resolve(name);
      const rows = await imageHistory(stored);
      if (opts.quiet) {
        process.stdout.write(rows.map((r) => (r.layer ? (opts.trunc ? shortId(r.layer) : r.layer) : '<missing>') + '\n').join(''));
        return;
      }
      if (format === 'json') {
        process.stdout.write(renderJson(rows.map((r) => ({ Layer: r.layer ?? null, Created: r.created ?? null, CreatedBy: r.createdBy, Size: r.size, Comment: r.comment }))));
        return;
      }
      const clip = (s: string) => (opts.trunc && s.length > 45 ? s.slice(0, 44) + '…' : s);
      process.stdout.write(renderTable(
        ['LAYER', 'CREATED', 'CREATED BY', 'SIZE', 'COMMENT'],
        rows.map((r) => [r.layer ? shortId(r.layer) : '<none>', timeAgo(r.created), clip(r.createdBy.replace(/\s+/g, ' ')), humanSize(r.size), clip(r.comment)]),
      ));
    });
}
