/**
 * `strata load [-i FILE|DIR]`: images from a docker-archive, an OCI layout tar or an OCI layout
 * directory (stdin when no -i), printed like docker: `Loaded image: NAME` or `Loaded image ID: ID`.
 */
import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import type { Command } from 'commander';
import { NotFoundError, UsageError } from '../../errors.js';
import { familiarReference } from '../../image/reference.js';
import { loadArchive, loadArchiveFile, loadLayoutDirectory, type LoadedImage } from '../../transports/load.js';
import { openImages } from '../context.js';

/** Registers `load`. */
export function registerLoad(program: Command): void {
  program
    .command('load')
    .description('load images from a docker-archive or OCI layout (tar or directory)')
    .option('-i, --input <path>', 'read from a tar file or an OCI layout directory instead of stdin')
    .option('-q, --quiet', 'print nothing on success')
    .addHelpText('after', `
Examples:
  $ strata load -i busybox.tar
  $ podman save --format oci-archive busybox | strata load
  $ strata load -i ./oci-layout/`)
    .action(async (opts: { input?: string; quiet?: boolean }, cmd: Command) => {
      const images = await openImages(cmd);
      const print = (img: LoadedImage) => {
        if (opts.quiet) return;
        if (img.names.length === 0) process.stdout.write(`Loaded image ID: ${img.id}\n`);
        for (const n of img.names) process.stdout.write(`Loaded image: ${familiarReference(n)}\n`);
      };
      const input = opts.input;
      if (input === undefined || input === '-') {
        if (process.stdin.isTTY) throw new UsageError('load reads an archive from stdin, but stdin is a terminal', { hint: 'use -i FILE or pipe an archive in' });
        await loadArchive(images, process.stdin, 'archive on stdin', { onImage: print });
        return;
      }
      const st = await stat(input).catch(() => undefined);
      if (!st) throw new NotFoundError(`${input}: no such file or directory`, { hint: 'give -i an archive file or an OCI layout directory' });
      await access(input, constants.R_OK).catch((e: NodeJS.ErrnoException) => {
        throw new UsageError(`${input}: cannot read it (${e.code})`, { hint: 'check the permissions' });
      });
      if (st.isDirectory()) await loadLayoutDirectory(images, input, { onImage: print });
      else await loadArchiveFile(images, input, `archive ${input}`, { onImage: print });
    });
}
