/**
 * `strata export IMAGE [-o FILE]`: the image's flattened root filesystem as one tar, like
 * `docker export` (whiteouts applied, hardlinks kept).
 */
import type { Command } from 'commander';
import { StrataError, UsageError } from '../../errors.js';
import { exportImage, exportImageToFile } from '../../image/export.js';
import { openImages } from '../context.js';

/** Registers `export`. */
export function registerExport(program: Command): void {
  program
    .command('export')
    .description("write an image's root filesystem (all layers applied) as one tar")
    .argument('<image>', 'image name or ID')
    .option('-o, --output <file>', 'write to FILE instead of stdout (- for stdout)')
    .addHelpText('after', `
Examples:
  $ strata export busybox -o rootfs.tar
  $ strata export busybox | tar -t | head`)
    .action(async (name: string, opts: { output?: string }, cmd: Command) => {
      const toFile = opts.output !== undefined && opts.output !== '-';
      if (!toFile && process.stdout.isTTY) {
        throw new UsageError('refusing to write a tar archive to a terminal', { hint: 'use -o FILE or redirect stdout' });
      }
      const images = await openImages(cmd);
      const image = await images.resolve(name);
      const controller = new AbortController();
      const stop = () => controller.abort(new StrataError('INTERRUPTED', 'export interrupted; nothing was written to the output file'));
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      try {
        if (toFile) await exportImageToFile(images, image, opts.output!, { signal: controller.signal });
        else await exportImage(images, image, process.stdout, { signal: controller.signal });
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'EPIPE') {
          throw new StrataError('EXPORT_OUTPUT', 'the reader closed standard output before the archive was complete', { hint: 'the tar on stdout is cut short' });
        }
        throw e;
      } finally {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
      }
    });
}
