/**
 * `RUN --mount=type=ssh`: an SSH agent given with `--ssh` shown to one step as a socket (default
 * `/run/buildkit/ssh_agent.<n>`, mode 0600, root), with SSH_AUTH_SOCK naming the first one, as
 * BuildKit does. The socket is a forwarder living for the step only; its mount point is not part
 * of the layer, and the agent is not part of the cache key.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BuildError } from '../errors.js';
import type { RunInstruction } from '../dockerfile/instructions.js';
import type { Bind } from '../exec/executor.js';
import { mountOwner, mountTarget } from './mount-options.js';
import { forwardAgent, type SshAgentSource } from './ssh-agents.js';

/**
 * Runs `fn` with the binds and variables of `inst`'s ssh mounts, their forwarders up meanwhile.
 * The sockets live in a private dir under the system temp dir: a socket path may not be longer
 * than 107 bytes, which a store's scratch dir can be.
 */
export async function withSshMounts<T>(inst: RunInstruction, agents: readonly SshAgentSource[], workdir: string, fn: (binds: Bind[], env: string[]) => Promise<T>): Promise<T> {
  const binds: Bind[] = [];
  const env: string[] = [];
  const forwarders: Array<{ close(): Promise<void> }> = [];
  let dir: string | undefined;
  try {
    let n = 0;
    for (const m of inst.mounts) {
      if (m.type !== 'ssh') continue;
      const id = m.id ?? 'default';
      const agent = agents.find((a) => a.id === id);
      const target = m.target !== undefined ? mountTarget(m, workdir) : `/run/buildkit/ssh_agent.${n}`;
      n++;
      if (agent === undefined) {
        if (m.required) throw new BuildError(`--mount=${m.raw}: ssh agent "${id}" is required but was not given`, { hint: `pass --ssh ${id === 'default' ? 'default' : `${id}=/path/to/agent.sock`} to strata build` }, 'SSH_MISSING');
        continue; // as in BuildKit: an optional agent that was not given is not mounted
      }
      dir ??= await mkdtemp(join(tmpdir(), 'strata-ssh-'));
      const socket = join(dir, `${n}.sock`);
      forwarders.push(await forwardAgent(agent, socket, mountOwner(m, 0o600)));
      binds.push({ source: socket, target, readonly: false });
      if (env.length === 0) env.push(`SSH_AUTH_SOCK=${target}`);
    }
    return await fn(binds, env);
  } finally {
    for (const f of forwarders) await f.close();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  }
}
