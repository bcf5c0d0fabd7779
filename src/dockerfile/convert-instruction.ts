/**
 * One syntax node → one typed instruction, with the instruction-level checks: argument counts,
 * flags, values, heredoc placement and ONBUILD restrictions.
 *
 * Where BuildKit and buildah disagree on what to accept (blank ENV/LABEL names, flags on
 * instructions that take none, HEALTHCHECK intervals), strata follows buildah and warns; see
 * docs/dockerfile-compat.md.
 */
import { InstructionError } from '../errors.js';
import { formatDuration, parseDuration } from '../util/duration.js';
import { suggest } from '../util/suggest.js';
import type { InstructionNode } from './ast.js';
import { parseFlags, type FlagSpec, type ParsedFlags } from './flags.js';
import { heredocBody, parseHeredocWord } from './heredoc.js';
import type {
  AddInstruction, CommandLine, CopyInstruction, FromInstruction, HealthcheckInstruction, Instruction,
  KeyValue, SourceContent,
} from './instructions.js';
import { parseMount } from './run-mount.js';

/** Receives warnings found while converting (rule name, message). */
export type Warn = (rule: string, message: string) => void;

/** Every instruction keyword, upper case. */
export const INSTRUCTION_NAMES = [
  'ADD', 'ARG', 'CMD', 'COPY', 'ENTRYPOINT', 'ENV', 'EXPOSE', 'FROM', 'HEALTHCHECK', 'LABEL',
  'MAINTAINER', 'ONBUILD', 'RUN', 'SHELL', 'STOPSIGNAL', 'USER', 'VOLUME', 'WORKDIR',
] as const;

const FLAGS: Record<string, FlagSpec> = {
  FROM: { platform: 'string' },
  RUN: { mount: 'strings', network: 'string', security: 'string' },
  COPY: { from: 'string', chown: 'string', chmod: 'string', link: 'bool', parents: 'bool', exclude: 'strings' },
  ADD: { chown: 'string', chmod: 'string', link: 'bool', 'keep-git-dir': 'bool', checksum: 'string', unpack: 'bool', exclude: 'strings' },
  HEALTHCHECK: { interval: 'string', timeout: 'string', 'start-period': 'string', 'start-interval': 'string', retries: 'string' },
};

const VALID_STAGE_NAME = /^[a-z][a-z0-9-_.]*$/;

/** Converts one node. FROM gives a FromInstruction, which starts a stage. */
export function convertNode(node: InstructionNode, warn: Warn): Instruction | FromInstruction {
  const kind = node.keyword.toUpperCase();
  const base = { original: node.original, range: node.range };
  const spec = FLAGS[kind];
  const flags = (): ParsedFlags =>
    parseFlags(kind, node.flags, spec ?? {}, {
      lenient: spec === undefined,
      ignored: (f) => warn('IgnoredFlag', `${kind} takes no flags; ${f} is ignored (docker build rejects it)`),
    });
  const a = node.args;

  switch (kind) {
    case 'FROM': {
      const f = flags();
      let stageName: string | undefined;
      if (a.length === 3 && a[1]!.toLowerCase() === 'as') {
        stageName = a[2]!.toLowerCase();
        if (!VALID_STAGE_NAME.test(stageName)) {
          throw new InstructionError(`invalid name for build stage: "${a[2]}", name can't start with a number or contain symbols`, {
            hint: 'stage names start with a letter and use letters, digits, -, _ and .',
          });
        }
        if (a[2] !== stageName) warn('StageNameCasing', `Stage name '${a[2]}' should be lowercase`);
        const asUpper = a[1] === a[1]!.toUpperCase();
        const fromUpper = node.keyword === node.keyword.toUpperCase();
        if (asUpper !== fromUpper) warn('FromAsCasing', `'${a[1]}' and '${node.keyword}' keywords' casing do not match`);
      } else if (a.length !== 1) {
        throw new InstructionError('FROM requires either one or three arguments', { hint: 'write FROM <image> [AS <name>]' });
      }
      const out: FromInstruction = { kind: 'FROM', ...base, image: a[0]! };
      if (stageName !== undefined) out.stageName = stageName;
      const platform = f.string('platform');
      if (platform !== undefined) out.platform = platform;
      return out;
    }
    case 'RUN': {
      const f = flags();
      const network = f.string('network');
      if (network !== undefined && !['default', 'none', 'host'].includes(network)) {
        throw new InstructionError(`invalid network mode "${network}"`, { hint: 'use --network=default, none or host' });
      }
      const security = f.string('security');
      if (security !== undefined && !['sandbox', 'insecure'].includes(security)) {
        throw new InstructionError(`security "${security}" is not valid`, { hint: 'use --security=sandbox or insecure' });
      }
      return {
        kind: 'RUN', ...base,
        command: commandLine(node, true),
        mounts: f.strings('mount').map(parseMount),
        ...(network !== undefined ? { network: network as 'default' } : {}),
        ...(security !== undefined ? { security: security as 'sandbox' } : {}),
      };
    }
    case 'CMD':
      flags();
      return { kind: 'CMD', ...base, command: commandLine(node, false) };
    case 'ENTRYPOINT':
      flags();
      return { kind: 'ENTRYPOINT', ...base, command: commandLine(node, false) };
    case 'ENV':
    case 'LABEL': {
      flags();
      if (a.length === 0) throw new InstructionError(`${kind} requires at least one argument`, { hint: `write ${kind} name=value` });
      const pairs: KeyValue[] = [];
      for (let i = 0; i < a.length; i += 3) {
        if (a[i] === '') warn('BlankName', `${kind} names can not be blank ("=${a[i + 1]}"); kept as buildah does, docker build rejects it`);
        pairs.push({ key: a[i]!, value: a[i + 1] ?? '' });
      }
      const legacy = a[2] === '';
      if (legacy) warn('LegacyKeyValueFormat', `"${kind} key=value" should be used instead of legacy "${kind} key value" format`);
      return { kind, ...base, pairs, legacy } as Instruction;
    }
    case 'ARG': {
      flags();
      if (a.length === 0) throw new InstructionError('ARG requires at least one argument', { hint: 'write ARG name[=default]' });
      return {
        kind: 'ARG', ...base,
        args: a.map((word) => {
          const eq = word.indexOf('=');
          const key = eq < 0 ? word : word.slice(0, eq);
          if (key === '') throw new InstructionError('ARG names can not be blank', { hint: 'write ARG name[=default]' });
          const docComment = docCommentFor(node.comments, key);
          return eq < 0 ? { key, docComment } : { key, value: word.slice(eq + 1), docComment };
        }),
      };
    }
    case 'MAINTAINER':
      exactlyOne(kind, a);
      flags();
      warn('MaintainerDeprecated', 'Maintainer instruction is deprecated in favor of using label');
      return { kind: 'MAINTAINER', ...base, maintainer: a[0]! };
    case 'WORKDIR':
      exactlyOne(kind, a);
      flags();
      return { kind: 'WORKDIR', ...base, path: a[0]! };
    case 'USER':
      exactlyOne(kind, a);
      flags();
      return { kind: 'USER', ...base, user: a[0]! };
    case 'STOPSIGNAL':
      exactlyOne(kind, a);
      flags();
      return { kind: 'STOPSIGNAL', ...base, signal: a[0]! };
    case 'EXPOSE':
      if (a.length === 0) throw new InstructionError('EXPOSE requires at least one argument', { hint: 'write EXPOSE <port>[/tcp|/udp]' });
      flags();
      return { kind: 'EXPOSE', ...base, ports: [...a] };
    case 'VOLUME': {
      if (a.length === 0) throw new InstructionError('VOLUME requires at least one argument', { hint: 'write VOLUME /path' });
      flags();
      const paths = a.map((v) => v.trim());
      if (paths.includes('')) throw new InstructionError('VOLUME specified can not be an empty string');
      return { kind: 'VOLUME', ...base, paths };
    }
    case 'SHELL':
      flags();
      if (a.length === 0) throw new InstructionError('SHELL requires at least one argument', { hint: 'write SHELL ["/bin/sh", "-c"]' });
      if (!node.json) throw new InstructionError('SHELL requires the arguments to be in JSON form', { hint: `write SHELL ${JSON.stringify(a[0]!.split(/\s+/))}` });
      return { kind: 'SHELL', ...base, shell: [...a] };
    case 'COPY':
    case 'ADD':
      return copyLike(kind, node, flags(), base);
    case 'HEALTHCHECK':
      return healthcheck(node, flags, base, warn);
    case 'ONBUILD':
      return onbuild(node, flags, base);
    default: {
      const close = suggest(node.keyword, INSTRUCTION_NAMES);
      throw new InstructionError(`unknown instruction "${node.keyword}"`, {
        hint: close ? `did you mean ${close}?` : 'see the Dockerfile reference for the instructions',
      });
    }
  }
}

function exactlyOne(kind: string, args: string[]): void {
  if (args.length !== 1) throw new InstructionError(`${kind} requires exactly one argument`, { hint: `write ${kind} <value>` });
}

/** The comment line `<name> <text>` that documents `name` (doc comments). */
export function docCommentFor(comments: readonly string[], name: string): string {
  if (name === '') return '';
  const prefix = name + ' ';
  const line = comments.find((c) => c.startsWith(prefix));
  return line === undefined ? '' : line.slice(prefix.length);
}

function commandLine(node: InstructionNode, withFiles: boolean): CommandLine {
  return {
    form: node.json ? 'exec' : 'shell',
    args: [...node.args],
    files: withFiles ? node.heredocs.map((h) => ({ name: h.name, data: h.content, chomp: h.chomp, expand: h.expand })) : [],
  };
}

function copyLike(kind: 'COPY' | 'ADD', node: InstructionNode, f: ParsedFlags, base: { original: string; range: InstructionNode['range'] }): CopyInstruction | AddInstruction {
  const a = node.args;
  if (a.length < 2) {
    throw new InstructionError(
      a.length === 1
        ? `${kind} requires at least two arguments, but only one was provided. Destination could not be determined`
        : `${kind} requires at least two arguments: one or more sources and a destination`,
      { hint: `write ${kind} <src>... <dest>` },
    );
  }
  const dest = a[a.length - 1]!;
  const isHeredoc = (w: string): ReturnType<typeof parseHeredocWord> => (node.json ? undefined : safeHeredoc(w));
  if (isHeredoc(dest)) throw new InstructionError(`${kind} cannot accept a heredoc as a destination`, { hint: 'put the heredoc before the destination path' });
  const byName = new Map(node.heredocs.map((h) => [h.name, h]));
  const sources: string[] = [];
  const contents: SourceContent[] = [];
  for (const src of a.slice(0, -1)) {
    const h = isHeredoc(src);
    if (!h) { sources.push(src); continue; }
    const body = byName.get(h.name);
    contents.push({ path: h.name, data: body ? heredocBody({ ...body, chomp: h.chomp }) : '', expand: h.expand });
  }
  const common = {
    ...base, sources, contents, dest, link: f.bool('link'), exclude: f.strings('exclude'),
    ...(f.string('chown') !== undefined ? { chown: f.string('chown')! } : {}),
    ...(f.string('chmod') !== undefined ? { chmod: checkChmod(f.string('chmod')!) } : {}),
  };
  if (kind === 'COPY') {
    const from = f.string('from');
    return { kind, ...common, parents: f.bool('parents'), ...(from !== undefined ? { from } : {}) };
  }
  const checksum = f.string('checksum');
  return {
    kind, ...common, keepGitDir: f.bool('keep-git-dir'),
    ...(checksum !== undefined ? { checksum } : {}),
    ...(f.used.includes('unpack') ? { unpack: f.bool('unpack') } : {}),
  };
}

function safeHeredoc(word: string): ReturnType<typeof parseHeredocWord> {
  try {
    return parseHeredocWord(word);
  } catch {
    return undefined;
  }
}

function checkChmod(mode: string): string {
  if (mode.includes('$') || /^[0-7]{3,4}$/.test(mode)) return mode;
  throw new InstructionError(`invalid --chmod value "${mode}"`, { hint: 'give an octal mode such as 755 or 0644' });
}

function healthcheck(node: InstructionNode, flags: () => ParsedFlags, base: { original: string; range: InstructionNode['range'] }, warn: Warn): HealthcheckInstruction {
  const a = node.args;
  if (a.length === 0) throw new InstructionError('HEALTHCHECK requires at least one argument', { hint: 'write HEALTHCHECK CMD <command> or HEALTHCHECK NONE' });
  const type = a[0]!.toUpperCase();
  const rest = a.slice(1);
  if (type === 'NONE') {
    if (rest.length > 0) throw new InstructionError('HEALTHCHECK NONE takes no arguments');
    return { kind: 'HEALTHCHECK', ...base, test: ['NONE'] };
  }
  const f = flags();
  if (type !== 'CMD') throw new InstructionError(`Unknown type "${a[0]}" in HEALTHCHECK (try CMD)`, { hint: 'write HEALTHCHECK CMD <command>' });
  if (rest.length === 0) throw new InstructionError('Missing command after HEALTHCHECK CMD');
  const out: HealthcheckInstruction = { kind: 'HEALTHCHECK', ...base, test: node.json ? ['CMD', ...rest] : ['CMD-SHELL', rest.join(' ')] };
  const durations = [['interval', 'interval'], ['timeout', 'timeout'], ['start-period', 'startPeriod'], ['start-interval', 'startInterval']] as const;
  for (const [flag, field] of durations) {
    const text = f.string(flag);
    if (text === undefined || text === '') continue;
    const ns = parseDuration(text);
    if (ns === undefined) throw new InstructionError(`invalid duration "${text}" for --${flag}`, { hint: 'use a duration such as 30s, 1m30s or 500ms' });
    // buildah's rule: durations must be positive. Docker also refuses to run under 1ms.
    if (ns <= 0) throw new InstructionError(`Interval "${flag}" must be positive`, { hint: `give --${flag} a positive duration such as 30s` });
    if (ns < 1e6) warn('HealthcheckInterval', `--${flag}=${formatDuration(ns)} is less than 1ms: buildah accepts it, but docker build and docker run reject it`);
    out[field] = ns;
  }
  const retries = f.string('retries');
  if (retries !== undefined && retries !== '') {
    if (!/^[+-]?[0-9]+$/.test(retries) || Math.abs(Number(retries)) > 2 ** 31 - 1) {
      throw new InstructionError(`invalid --retries value "${retries}"`, { hint: 'give a whole number' });
    }
    if (Number(retries) < 0) throw new InstructionError(`--retries cannot be negative (${Number(retries)})`);
    out.retries = Number(retries);
  }
  return out;
}

function onbuild(node: InstructionNode, flags: () => ParsedFlags, base: { original: string; range: InstructionNode['range'] }): Instruction {
  if (!node.child) throw new InstructionError('ONBUILD requires at least one argument', { hint: 'write ONBUILD <instruction>' });
  flags();
  const trigger = node.child.keyword.toUpperCase();
  if (trigger === 'ONBUILD') throw new InstructionError('Chaining ONBUILD via `ONBUILD ONBUILD` isn\'t allowed');
  if (trigger === 'MAINTAINER' || trigger === 'FROM') throw new InstructionError(`${trigger} isn't allowed as an ONBUILD trigger`);
  let expression = node.original.replace(/^\s*ONBUILD\s*/i, '');
  for (const h of node.heredocs) expression += '\n' + h.content + h.name;
  return { kind: 'ONBUILD', ...base, expression, trigger };
}
