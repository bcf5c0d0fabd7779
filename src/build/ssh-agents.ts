/**
 * SSH agents a build may use (`strata build --ssh default` or `--ssh ID=SOCKET`, buildx's
 * spelling) and the forwarder that shows one to a RUN step: a socket of the step's own, owned and
 * moded as the mount asks, relaying each connection to the agent. The agent's keys never leave
 * it; the step can only ask it to sign while the step runs.
 */
import { chmod, chown } from 'node:fs/promises';
import { statSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { BuildError, UsageError } from '../errors.js';

/** One agent: the id a mount names, and its socket on the host. */
export interface SshAgentSource {
  id: string;
  socket: string;
}

/** Parses one `--ssh` value: `default`, `ID` (both: $SSH_AUTH_SOCK), or `ID=SOCKET`. */
export function parseSshSpec(spec: string, env: NodeJS.ProcessEnv = process.env): SshAgentSource {
  const eq = spec.indexOf('=');
  const id = eq < 0 ? spec : spec.slice(0, eq);
  if (!/^[A-Za-z0-9._-]+$/.test(id)) throw new UsageError(`--ssh ${spec}: "${id}" is not a valid id`, { hint: 'write --ssh default or --ssh ID=/path/to/agent.sock' });
  const socket = eq < 0 ? env.SSH_AUTH_SOCK : spec.slice(eq + 1);
  if (!socket) throw new UsageError(`--ssh ${spec}: SSH_AUTH_SOCK is not set`, { hint: 'start an agent (eval $(ssh-agent); ssh-add) or give its socket: --ssh ID=/path/to/agent.sock' });
  if (socket.includes(',')) {
    throw new UsageError(`--ssh ${spec}: only an agent socket is supported, not key files`, { hint: 'load the keys into an agent with ssh-add and pass its socket' });
  }
  let isSocket = false;
  try {
    isSocket = statSync(socket).isSocket();
  } catch {
    throw new UsageError(`--ssh ${spec}: ${socket} does not exist`, { hint: 'give the socket of a running ssh-agent' });
  }
  if (!isSocket) throw new UsageError(`--ssh ${spec}: ${socket} is not a socket (key files are not supported)`, { hint: 'load the key into an agent with ssh-add and pass the agent\'s socket' });
  return { id, socket };
}

/** A forwarding socket at `path`; `close` stops it and ends every relayed connection. */
export async function forwardAgent(agent: SshAgentSource, path: string, owner: { uid: number; gid: number; mode: number }): Promise<{ close(): Promise<void> }> {
  const open = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect(agent.socket);
    for (const s of [client, upstream]) {
      open.add(s);
      s.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
      s.on('close', () => open.delete(s));
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e) => reject(new BuildError(`ssh forwarding for "${agent.id}": cannot listen on ${path}: ${e.message}`, { cause: e })));
    server.listen(path, resolve);
  });
  await chown(path, owner.uid, owner.gid);
  await chmod(path, owner.mode);
  return {
    close: () => new Promise<void>((resolve) => {
      for (const s of open) s.destroy();
      server.close(() => resolve());
    }),
  };
}
