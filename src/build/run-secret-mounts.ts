/**
 * `RUN --mount=type=secret`: a build secret shown to one step as a read-only file (default
 * `/run/secrets/<id>`, mode 0400, owned by root unless `mode`/`uid`/`gid` say otherwise) and/or
 * as an environment variable (`env=`). The file is a private copy in the step's scratch
 * directory, removed with it; the mount point is not part of the layer, and the value is never
 * part of the cache key (a changed secret does not re-run a cached step, as in BuildKit).
 */
import { chmod, chown, mkdir, writeFile } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { BuildError } from '../errors.js';
import type { RunInstruction } from '../dockerfile/instructions.js';
import type { Bind } from '../exec/executor.js';
import { mountOwner, mountTarget } from './mount-options.js';
import { readSecret, type SecretSource } from './secrets.js';

/** What the step gets: files to bind and variables to set. */
export interface SecretMounts {
  binds: Bind[];
  env: string[];
}

/** Prepares the secret mounts of `inst` under `scratch` (a directory removed with the step). */
export async function prepareSecretMounts(inst: RunInstruction, secrets: readonly SecretSource[], workdir: string, scratch: string): Promise<SecretMounts> {
  const out: SecretMounts = { binds: [], env: [] };
  let n = 0;
  for (const m of inst.mounts) {
    if (m.type !== 'secret') continue;
    const id = m.id ?? (m.target ? posix.basename(m.target) : m.env);
    const source = secrets.find((s) => s.id === id);
    if (source === undefined) {
      if (m.required) {
        throw new BuildError(`--mount=${m.raw}: secret "${id}" is required but was not given`, { hint: `pass --secret id=${id},src=FILE (or env=VAR) to strata build` }, 'SECRET_MISSING');
      }
      continue; // an optional secret that was not given: nothing is mounted, as in BuildKit
    }
    const value = readSecret(source);
    if (m.env !== undefined) out.env.push(`${m.env}=${value.toString('utf8')}`);
    if (m.env !== undefined && m.target === undefined) continue;
    const dir = join(scratch, 'secrets');
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const file = join(dir, String(n++));
    const owner = mountOwner(m, 0o400);
    await writeFile(file, value, { mode: 0o600 });
    await chown(file, owner.uid, owner.gid);
    await chmod(file, owner.mode);
    out.binds.push({ source: file, target: m.target !== undefined ? mountTarget(m, workdir) : `/run/secrets/${id}`, readonly: true });
  }
  return out;
}
