/**
 * `strata inspect IMAGE...`: JSON close to `docker image inspect`.
 */
import type { Command } from 'commander';
import { describeImage } from '../../inspect/describe.js';
import { openImages } from '../context.js';
import { renderJson } from '../render.js';

/** Registers `inspect`. */
export function registerInspect(program: Command): void {
  program
    .command('inspect')
    .description('show image details as JSON (like docker image inspect)')
    .argument('<image...>', 'image names or IDs')
    .addHelpText('after', `
Examples:
  $ strata inspect busybox
  $ strata inspect busybox | jq '.[0].Config.Env'`)
    .action(async (names: string[], _opts: unknown, cmd: Command) => {
      const images = await openImages(cmd);
      const out = [];
      for (const n of names) out.push(await describeImage(await images.resolve(n)));
      process.stdout.write(renderJson(out));
    });
}
