/**
 * Build secrets (`strata build --secret id=NAME,src=FILE` or `id=NAME,env=VAR`, as docker buildx
 * spells them): values a RUN step can read through `--mount=type=secret` without them entering a
 * layer, the cache key, the history or the store. Read when a step mounts them, not before.
 */
import { readFileSync } from 'node:fs';
import { BuildError, UsageError } from '../errors.js';
import { splitCsv } from '../dockerfile/run-mount.js';

/** Where one secret's value comes from. */
export interface SecretSource {
  id: string;
  file?: string;
  env?: string;
}

/** Parses one `--secret` value: `id=NAME` with `src=`/`source=FILE` or `env=VAR` (and optional `type=file|env`). */
export function parseSecretSpec(spec: string): SecretSource {
  const fields = new Map<string, string>();
  let parts: string[];
  try {
    parts = splitCsv(spec); // the CSV of --mount values: a quoted path may hold a comma
  } catch (e) {
    throw new UsageError(`--secret ${spec}: ${(e as Error).message}`, { hint: 'write --secret id=NAME,src=FILE, quoting a value that holds a comma' });
  }
  for (const part of parts) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw new UsageError(`--secret ${spec}: "${part}" is not key=value`, { hint: 'write --secret id=NAME,src=FILE or --secret id=NAME,env=VAR' });
    const key = part.slice(0, eq).trim().toLowerCase();
    if (!['id', 'src', 'source', 'env', 'type'].includes(key)) {
      throw new UsageError(`--secret ${spec}: unknown key "${key}"`, { hint: 'known keys: id, src (or source), env, type' });
    }
    fields.set(key === 'source' ? 'src' : key, part.slice(eq + 1));
  }
  const id = fields.get('id');
  if (!id) throw new UsageError(`--secret ${spec}: no id`, { hint: 'write --secret id=NAME,src=FILE' });
  const type = fields.get('type');
  if (type !== undefined && type !== 'file' && type !== 'env') throw new UsageError(`--secret ${spec}: unknown type "${type}"`, { hint: 'use type=file or type=env' });
  const src = fields.get('src');
  const env = fields.get('env');
  if (type === 'env' || (type === undefined && src === undefined)) {
    // `id=NAME` alone reads the environment variable NAME, as buildx does.
    return { id, env: env ?? src ?? id };
  }
  return { id, file: src ?? id };
}

/** The secret's value, read now; a missing file or variable is an error naming it. */
export function readSecret(s: SecretSource): Buffer {
  if (s.env !== undefined) {
    const v = process.env[s.env];
    if (v === undefined) throw new BuildError(`secret "${s.id}": environment variable ${s.env} is not set`, { hint: `set ${s.env}, or give the secret with --secret id=${s.id},src=FILE` }, 'SECRET_MISSING');
    return Buffer.from(v);
  }
  try {
    return readFileSync(s.file!);
  } catch (e) {
    throw new BuildError(`secret "${s.id}": cannot read ${s.file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { hint: 'give a readable file with src=', cause: e }, 'SECRET_MISSING');
  }
}
