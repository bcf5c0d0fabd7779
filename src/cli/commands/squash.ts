/**
 * `strata squash IMAGE [--from N | --from-layer DIGEST] -t NAME`: merges the layers from N (or
 * from the layer with that diff_id) to the top into one, as a new image; history is kept.
 */
import type { Command } from 'commander';
import { StrataError, UsageError } from '../../errors.js';
import { goTimestamp } from '../../image/apply-instruction.js';
import { squashImage } from '../../image/squash.js';
import { openImages } from '../context.js';

interface SquashFlags {
  from?: string;
  fromLayer?: string;
  tag: string[];
  message?: string;
  timestamp?: string;
}

/** Registers `squash`. */
export function registerSquash(program: Command): void {
  program
    .command('squash')
    .description('merge layers of an image (all, or from a layer on) into one, as a new image')
    .argument('<image>', 'image name or ID')
    .option('--from <n>', 'index (from 0, the base layer) of the first layer to merge (default 0: all)')
    .option('--from-layer <digest>', 'diff_id (or a unique prefix) of the first layer to merge')
    .option('-t, --tag <name>', 'name of the new image (required); repeatable', collect, [])
    .option('-m, --message <text>', 'put before the history comment of the merged layer')
    .option('--timestamp <seconds>', 'created time of the new history entry (default $SOURCE_DATE_EPOCH, else the image\'s)')
    .addHelpText('after', `
Examples:
  $ strata squash myapp -t myapp:squashed
  $ strata squash myapp --from 1 -t myapp:slim --message "release build"
  $ strata squash myapp --from-layer sha256:3f57d940 -t myapp:slim`)
    .action(async (name: string, flags: SquashFlags, cmd: Command) => {
      if (flags.tag.length === 0) throw new UsageError('squash needs a name for the new image', { hint: 'add -t NAME' });
      if (flags.from !== undefined && flags.fromLayer !== undefined) {
        throw new UsageError('give --from or --from-layer, not both', { hint: '--from counts layers from 0; --from-layer names one by diff_id' });
      }
      const images = await openImages(cmd);
      const image = await images.resolve(name);
      const diffIds = (await image.image.config()).rootfs.diff_ids;
      const from = flags.fromLayer !== undefined ? layerIndex(diffIds, flags.fromLayer) : flags.from !== undefined ? layerNumber(flags.from, diffIds.length) : 0;
      const created = createdTime(flags.timestamp);
      const controller = new AbortController();
      const stop = () => controller.abort(new StrataError('INTERRUPTED', 'squash interrupted; the store is unchanged'));
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      try {
        const result = await squashImage(images, image, {
          from,
          names: flags.tag,
          ...(flags.message !== undefined ? { message: flags.message } : {}),
          ...(created !== undefined ? { created } : {}),
          signal: controller.signal,
        });
        process.stdout.write(result.id + '\n');
      } finally {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
      }
    });
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** `--from` as a layer index of an image with `count` layers. */
function layerNumber(text: string, count: number): number {
  if (!/^\d+$/.test(text)) throw new UsageError(`--from ${text}: not a layer index`, { hint: 'give a number from 0 (the base layer)' });
  const n = Number(text);
  if (n >= count) throw new UsageError(`--from ${n}: the image has ${count} layer${count === 1 ? '' : 's'} (0 to ${count - 1})`, { hint: '`strata inspect IMAGE` lists the layers' });
  return n;
}

/** The index of the layer whose diff_id is, or starts with, `text` (`sha256:` optional). */
function layerIndex(diffIds: readonly string[], text: string): number {
  const hex = text.startsWith('sha256:') ? text.slice(7) : text;
  if (!/^[0-9a-f]{1,64}$/.test(hex)) throw new UsageError(`--from-layer ${text}: not a sha256 digest or prefix`, { hint: 'give a diff_id from `strata inspect IMAGE`' });
  const found = diffIds.flatMap((d, i) => (d.slice(7).startsWith(hex) ? [i] : []));
  if (found.length === 0) throw new UsageError(`--from-layer ${text}: no layer of the image has that diff_id`, { hint: '`strata inspect IMAGE` lists the layers' });
  if (new Set(found.map((i) => diffIds[i])).size > 1) throw new UsageError(`--from-layer ${text}: the prefix matches ${found.length} layers`, { hint: 'give more digits' });
  if (found.length > 1) throw new UsageError(`--from-layer ${text}: the image has that layer ${found.length} times (at ${found.join(', ')})`, { hint: 'use --from with the index' });
  return found[0]!;
}

/** --timestamp, else SOURCE_DATE_EPOCH, as an RFC 3339 time; undefined keeps the image's. */
function createdTime(flag: string | undefined): string | undefined {
  const [what, v] = flag !== undefined ? ['--timestamp', flag] : ['SOURCE_DATE_EPOCH', process.env.SOURCE_DATE_EPOCH];
  if (v === undefined || v === '') return undefined;
  if (!/^\d+$/.test(v)) throw new UsageError(`${what}=${v} is not a number of seconds`, { hint: 'give whole seconds since 1970' });
  return goTimestamp(new Date(Number(v) * 1000));
}
