/**
 * `strata save IMAGE... [-o FILE]`: images to one tar that docker, podman and skopeo load as a
 * docker-archive or as an OCI layout.
 */
import type { Command } from 'commander';
import { UsageError } from '../../errors.js';
import { saveImages, saveImagesToFile, type SaveCompression } from '../../transports/save.js';
import { openImages } from '../context.js';

const COMPRESSIONS: readonly SaveCompression[] = ['none', 'gzip', 'zstd'];

/** Registers `save`. */
export function registerSave(program: Command): void {
  program
    .command('save')
    .description('write images to a tar archive (docker-archive and OCI layout in one)')
    .argument('<image...>', 'image names or IDs (a bare repository saves all its tags)')
    .option('-o, --output <file>', 'write to FILE instead of stdout (- for stdout)')
    .option('--compression <kind>', 'layer compression: none, gzip or zstd (default: none, or what build --compression chose)')
    .addHelpText('after', `
Examples:
  $ strata save busybox -o busybox.tar
  $ strata save busybox alpine:3.20 --compression zstd -o images.tar
  $ strata save busybox | podman load`)
    .action(async (names: string[], opts: { output?: string; compression?: string }, cmd: Command) => {
      if (opts.compression !== undefined && !(COMPRESSIONS as readonly string[]).includes(opts.compression)) {
        throw new UsageError(`unknown compression "${opts.compression}"`, { hint: `use --compression ${COMPRESSIONS.join('|')}` });
      }
      const compression = opts.compression as SaveCompression | undefined;
      const images = await openImages(cmd);
      if (opts.output !== undefined && opts.output !== '-') {
        await saveImagesToFile(images, names, opts.output, compression ? { compression } : {});
        return;
      }
      if (process.stdout.isTTY) {
        throw new UsageError('refusing to write an image archive to a terminal', { hint: 'use -o FILE or redirect stdout' });
      }
      await saveImages(images, names, process.stdout, compression ? { compression } : {});
    });
}
