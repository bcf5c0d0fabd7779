/**
 * `strata import FILE|- [REF]`: a one-layer image from a root filesystem tar, like docker import.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { Command } from 'commander';
import { NotFoundError, UsageError } from '../../errors.js';
import { importRootfs } from '../../transports/import.js';
import { openImages } from '../context.js';

/** Registers `import`. */
export function registerImport(program: Command): void {
  program
    .command('import')
    .description('create an image from a root filesystem tar (plain, gzip, zstd, bzip2 or xz)')
    .argument('<file>', 'the tar file, or - for stdin')
    .argument('[reference]', 'name[:tag] for the new image')
    .option('-c, --change <instruction>', 'apply a Dockerfile instruction (CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, USER, VOLUME, WORKDIR, STOPSIGNAL, HEALTHCHECK, ONBUILD); repeatable', collect, [])
    .option('-m, --message <text>', 'history comment (default "Imported from -")')
    .addHelpText('after', `
Examples:
  $ strata import rootfs.tar.gz myimage:1.0
  $ strata import --change 'CMD ["/bin/sh"]' --change 'ENV PATH=/usr/bin:/bin' rootfs.tar base
  $ tar -C rootfs -c . | strata import - localhost/mine`)
    .action(async (file: string, reference: string | undefined, opts: { change: string[]; message?: string }, cmd: Command) => {
      const images = await openImages(cmd);
      let input;
      if (file === '-') {
        if (process.stdin.isTTY) throw new UsageError('import - reads a tar from stdin, but stdin is a terminal', { hint: 'pipe a tar in, or give a file' });
        input = process.stdin;
      } else {
        const st = await stat(file).catch(() => undefined);
        if (!st) throw new NotFoundError(`${file}: no such file`, { hint: 'give a tar file, or - to read stdin' });
        if (!st.isFile()) throw new UsageError(`${file}: not a file`, { hint: 'import takes a tar archive of a root filesystem' });
        input = createReadStream(file);
      }
      const result = await importRootfs(images, input, reference, {
        changes: opts.change,
        ...(opts.message !== undefined ? { message: opts.message } : {}),
        ...sourceDateEpoch(),
        label: file === '-' ? 'import from stdin' : `import ${file}`,
      });
      process.stdout.write(result.id + '\n');
    });
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** SOURCE_DATE_EPOCH (seconds) as the creation time, for reproducible imports. */
function sourceDateEpoch(): { created?: Date } {
  const v = process.env.SOURCE_DATE_EPOCH;
  if (v === undefined || v === '') return {};
  if (!/^\d+$/.test(v)) throw new UsageError(`SOURCE_DATE_EPOCH=${v} is not a number of seconds`, { hint: 'unset it or give whole seconds since 1970' });
  return { created: new Date(Number(v) * 1000) };
}
