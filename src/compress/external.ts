/**
 * bzip2 and xz decompression by the system tools (`bzip2 -dc`, `xz -dc`): Node has no codec for
 * either, and they are only needed to unpack local archives for ADD. Bytes stream through the
 * child's stdin and stdout with backpressure both ways.
 */
import { spawn } from 'node:child_process';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { Transform } from 'node:stream';
import type { TransformCallback } from 'node:stream';
import { CompressedDataError, CompressionError } from './errors.js';

/** The compressions handled by an external tool. */
export type ExternalCompression = 'bzip2' | 'xz';

const TOOLS: Record<ExternalCompression, { bin: string; pkg: string }> = {
  bzip2: { bin: 'bzip2', pkg: 'bzip2' },
  xz: { bin: 'xz', pkg: 'xz-utils' },
};
const STDERR_MAX = 4096;

/** Absolute path of `name` on PATH (what `command -v` finds), or undefined. */
export function findExecutable(name: string, path = process.env.PATH ?? ''): string | undefined {
  for (const dir of path.split(delimiter)) {
    if (!dir) continue;
    const p = join(dir, name);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** Decompressing Transform that runs `bzip2 -dc` or `xz -dc`; throws at once if the tool is missing. */
export function externalDecompressStream(kind: ExternalCompression): Transform {
  const { bin, pkg } = TOOLS[kind];
  const exe = findExecutable(bin);
  if (!exe) throw missingTool(kind, bin, pkg);
  return new ToolStream(kind, exe, pkg);
}

function missingTool(kind: ExternalCompression, bin: string, pkg: string, cause?: unknown): CompressionError {
  return new CompressionError(`cannot decompress ${kind}: the \`${bin}\` program is not installed`, { hint: `install it (apt-get install ${pkg})`, cause }, 'COMPRESSION_TOOL_MISSING');
}

class ToolStream extends Transform {
  private readonly child: ChildProcessWithoutNullStreams;
  private stderr = '';
  private readonly exited: Promise<Error | null>;
  private toolDone = false;

  constructor(
    private readonly kind: ExternalCompression,
    exe: string,
    pkg: string,
  ) {
    super({ readableHighWaterMark: 256 * 1024 });
    this.child = spawn(exe, ['-dc'], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, LC_ALL: 'C' } });
    const { child } = this;
    child.stdout.on('data', (d: Buffer) => {
      if (!this.push(d)) child.stdout.pause();
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (s: string) => {
      if (this.stderr.length < STDERR_MAX) this.stderr += s.slice(0, STDERR_MAX - this.stderr.length);
    });
    // EPIPE when the tool quits before reading everything; its exit status tells the story.
    child.stdin.on('error', () => {});
    this.exited = new Promise((resolve) => {
      child.on('error', (e: NodeJS.ErrnoException) => resolve(e.code === 'ENOENT' ? missingTool(kind, exe, pkg, e) : new CompressionError(`cannot run ${exe}: ${e.message}`, { cause: e })));
      // 'close' comes after the exit and after stdout has ended, so all output is pushed by then.
      child.on('close', (code, signal) => {
        this.toolDone = true;
        resolve(code === 0 ? null : this.failure(code, signal));
      });
    });
  }

  private failure(code: number | null, signal: NodeJS.Signals | null): Error {
    const how = code !== null ? `exit status ${code}` : `signal ${signal}`;
    const detail = this.stderr.trim().replace(/\s+/g, ' ');
    return new CompressedDataError(this.kind, `\`${TOOLS[this.kind].bin} -dc\` failed (${how})${detail ? `: ${detail}` : ''}`, {
      hint: 'the archive is corrupt, truncated or not really ' + this.kind,
    });
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (this.toolDone) {
      // The tool is done (it ignores trailing bytes or failed); the exit status decides in _flush.
      this.exited.then((err) => callback(err ?? undefined));
      return;
    }
    if (this.child.stdin.write(chunk)) return callback();
    // Wait for the tool to take more, or to exit (then 'drain' never comes).
    let settled = false;
    const settle = (err: Error | null) => {
      if (settled) return;
      settled = true;
      this.child.stdin.off('drain', onDrain);
      callback(err ?? undefined);
    };
    const onDrain = () => settle(null);
    this.child.stdin.once('drain', onDrain);
    this.exited.then(settle);
  }

  override _flush(callback: TransformCallback): void {
    this.child.stdin.end();
    this.exited.then((err) => callback(err ?? undefined));
  }

  override _read(size: number): void {
    this.child.stdout.resume();
    super._read(size);
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGTERM');
    this.child.stdout.destroy();
    callback(err);
  }
}
