/**
 * `strata build`: commander wiring for buildImage, progress on stderr, the image ID on stdout.
 */
import { readFile, rm, stat, writeFile } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { isAbsolute, join, resolve } from 'node:path';
import type { Command } from 'commander';
import { buildImage } from '../../build/build.js';
import { createProgress, PROGRESS_MODES, type ProgressMode } from '../../build/progress.js';
import { parseSecretSpec } from '../../build/secrets.js';
import { parseSshSpec } from '../../build/ssh-agents.js';
import { BuildError, NotFoundError, UsageError } from '../../errors.js';
import { openDecompressed } from '../../compress/index.js';
import { applyLayer } from '../../fs/apply-layer.js';
import { openImages } from '../context.js';
import { renderWarning } from '../render.js';

interface BuildFlags {
  tag: string[];
  file?: string;
  buildArg: string[];
  target?: string;
  cache: boolean;
  network: string;
  label: string[];
  progress: string;
  quiet?: boolean;
  iidfile?: string;
  compression?: string;
  squash?: boolean;
  platform?: string;
  timestamp?: string;
  secret: string[];
  ssh: string[];
}

const collect = (v: string, prev: string[]) => [...prev, v];

function keyValues(list: string[], flag: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const item of list) {
    const eq = item.indexOf('=');
    // `--build-arg NAME` takes the value from the environment, as docker does.
    if (eq < 0) {
      if (flag === '--build-arg' && process.env[item] !== undefined) out.set(item, process.env[item]!);
      else if (flag === '--build-arg') continue;
      else throw new UsageError(`${flag} wants KEY=VALUE, got "${item}"`);
    } else out.set(item.slice(0, eq), item.slice(eq + 1));
  }
  return out;
}

/** `--timestamp` / SOURCE_DATE_EPOCH: seconds, or 'now'; reproducible (0) when neither is given. */
export function buildTimestamp(flag: string | undefined, env = process.env): number | 'now' {
  const value = flag ?? env.SOURCE_DATE_EPOCH;
  if (value === undefined || value === '') return 0;
  if (value === 'now') return 'now';
  if (!/^\d+$/.test(value)) throw new UsageError(`invalid timestamp "${value}"`, { hint: 'give seconds since 1970 (as SOURCE_DATE_EPOCH does) or "now"' });
  return Number(value);
}

/** Registers `build`. */
export function registerBuild(program: Command): void {
  program
    .command('build')
    .description('build an image from a Dockerfile and a context directory')
    .argument('<context>', 'the build context directory, or - to read a tar context (or a Dockerfile) from stdin')
    .option('-t, --tag <name>', 'name the image (repeatable)', collect, [])
    .option('-f, --file <path>', 'the Dockerfile (default: CONTEXT/Dockerfile), - for stdin')
    .option('--build-arg <key=value>', 'set a build-time variable (repeatable)', collect, [])
    .option('--target <stage>', 'build this stage (and only what it needs)')
    .option('--no-cache', 'do not reuse cached steps')
    .option('--network <mode>', 'network for RUN steps: host or none', 'host')
    .option('--label <key=value>', 'add a label to the image (repeatable)', collect, [])
    .option('--progress <mode>', `progress output: ${PROGRESS_MODES.join(', ')}`, 'auto')
    .option('-q, --quiet', 'print only the image ID')
    .option('--iidfile <file>', 'write the image ID to this file')
    .option('--compression <kind>', 'layer compression used when the image is saved without --compression: none, gzip or zstd')
    .option('--squash', 'squash the layers this build adds into one')
    .option('--secret <id=NAME,src=FILE|env=VAR>', 'a secret RUN --mount=type=secret can read (repeatable)', collect, [])
    .option('--ssh <default|ID[=SOCKET]>', 'an ssh-agent RUN --mount=type=ssh can use (default: $SSH_AUTH_SOCK; repeatable)', collect, [])
    .option('--platform <platform>', 'target platform (only this machine\'s is supported)')
    .option('--timestamp <seconds|now>', 'created time and file-time clamp (default: $SOURCE_DATE_EPOCH, else 0 for reproducible images)')
    .addHelpText('after', `
Examples:
  $ strata build -t app:1.0 .
  $ strata build -f docker/Dockerfile --target test --build-arg VERSION=2 --progress plain .
  $ tar -c . | strata build -t app -`)
    .action(async (contextArg: string, flags: BuildFlags, cmd: Command) => {
      const mode = (flags.quiet ? 'quiet' : flags.progress) as ProgressMode;
      if (!PROGRESS_MODES.includes(mode)) throw new UsageError(`unknown progress mode "${flags.progress}"`, { hint: `use ${PROGRESS_MODES.join('|')}` });
      if (flags.network !== 'host' && flags.network !== 'none') throw new UsageError(`unknown network "${flags.network}"`, { hint: 'use --network host or --network none' });
      if (flags.compression !== undefined && !['none', 'gzip', 'zstd'].includes(flags.compression)) {
        throw new UsageError(`unknown compression "${flags.compression}"`, { hint: 'use none, gzip or zstd' });
      }
      const secrets = flags.secret.map(parseSecretSpec);
      const sshAgents = flags.ssh.map((spec) => parseSshSpec(spec));
      const images = await openImages(cmd);
      const { contextDir, cleanup, stdinDockerfile } = await prepareContext(contextArg, () => images.store.stagingDir('context'));
      const controller = new AbortController();
      const stop = () => controller.abort(new Error('interrupted'));
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      const progress = createProgress(mode, process.stderr);
      try {
        const dockerfilePath = flags.file === undefined ? join(contextDir, 'Dockerfile') : flags.file === '-' ? '-' : resolve(flags.file);
        const content = dockerfilePath === '-' ? await readStdin() : stdinDockerfile ?? await readDockerfile(dockerfilePath);
        const result = await buildImage(images, {
          contextDir,
          dockerfilePath: dockerfilePath === '-' || stdinDockerfile ? '<stdin>' : displayPath(dockerfilePath),
          dockerfileContent: content,
          tags: flags.tag,
          buildArgs: keyValues(flags.buildArg, '--build-arg'),
          ...(flags.target !== undefined ? { target: flags.target } : {}),
          noCache: !flags.cache,
          network: flags.network as 'host' | 'none',
          labels: Object.fromEntries(keyValues(flags.label, '--label')),
          ...(flags.platform !== undefined ? { platform: flags.platform } : {}),
          timestamp: buildTimestamp(flags.timestamp),
          squash: flags.squash === true,
          progress,
          signal: controller.signal,
          ...(flags.compression !== undefined ? { compression: flags.compression as 'none' | 'gzip' | 'zstd' } : {}),
          secrets,
          sshAgents,
        });
        await progress.close();
        for (const w of result.warnings) {
          process.stderr.write(w.line !== undefined ? renderWarning(flags.file ?? 'Dockerfile', w.line, w.message, w.rule ?? 'Build') + '\n' : `warning: ${w.message}\n`);
        }
        if (flags.iidfile) await writeFile(flags.iidfile, result.imageId);
        process.stdout.write(result.imageId + '\n');
      } catch (e) {
        await progress.close();
        // Whatever a step was doing when the signal came, the build was interrupted: exit 130.
        if (controller.signal.aborted) throw new BuildError('build interrupted', { hint: 'nothing was named; steps that finished stay cached', cause: e }, 'BUILD_INTERRUPTED');
        throw e;
      } finally {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
        await cleanup();
      }
    });
}

function displayPath(p: string): string {
  const rel = p.startsWith(process.cwd() + '/') ? p.slice(process.cwd().length + 1) : p;
  return isAbsolute(rel) ? p : rel;
}

async function readDockerfile(path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new NotFoundError(`${path}: no such file`, { hint: 'name the Dockerfile with -f, or put one in the context directory' });
    }
    throw e;
  }
}

async function readStdin(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/**
 * The context directory. `-` reads stdin: a tar (possibly compressed) becomes a temp context
 * (extracted with the safe extractor); anything else is taken as the Dockerfile, with an empty
 * context, as docker does.
 */
async function prepareContext(arg: string, staging: () => Promise<string>): Promise<{ contextDir: string; cleanup: () => Promise<void>; stdinDockerfile?: Buffer }> {
  if (arg !== '-') {
    const dir = resolve(arg);
    const st = await stat(dir).catch(() => undefined);
    if (!st?.isDirectory()) throw new NotFoundError(`build context ${arg}: not a directory`, { hint: 'give the directory with the files the Dockerfile copies (often .)' });
    return { contextDir: dir, cleanup: async () => undefined };
  }
  const dir = await staging();
  const cleanup = () => rm(dir, { recursive: true, force: true });
  const data = await readStdin();
  const { compression, stream } = await openDecompressed(Readable.from([data]));
  const head = compression === 'none' ? data : undefined;
  if (head && !(head.length >= 512 && head.subarray(257, 262).toString() === 'ustar')) {
    return { contextDir: dir, cleanup, stdinDockerfile: data };
  }
  await applyLayer(stream, dir, { mode: 'merge', label: 'build context from stdin' });
  return { contextDir: dir, cleanup };
}
