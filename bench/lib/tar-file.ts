/**
 * A minimal ustar writer for bench fixtures: synchronous writes to a file descriptor (so a 1 GB
 * layer never sits in memory) and a running sha256, which for an uncompressed layer is both its
 * blob digest and its diff_id.
 */
import { createHash, type Hash } from 'node:crypto';
import { closeSync, fsyncSync, openSync, writeSync } from 'node:fs';

/** One tar entry's header fields (names relative, no leading slash). */
export interface TarHeader {
  name: string;
  type: 'file' | 'dir' | 'symlink' | 'link';
  mode?: number;
  uid?: number;
  gid?: number;
  mtime?: number;
  linkname?: string;
}

const TYPEFLAG = { file: '0', link: '1', symlink: '2', dir: '5' } as const;
const ZEROS = Buffer.alloc(1024);

function octal(buf: Buffer, offset: number, width: number, value: number): void {
  buf.write(value.toString(8).padStart(width - 1, '0') + '\0', offset, width, 'latin1');
}

/** Writes a tar file entry by entry; finish() adds the end blocks and returns the sha256. */
export class TarFile {
  private readonly fd: number;
  private readonly hash: Hash = createHash('sha256');
  /** Bytes written so far. */
  size = 0;

  constructor(path: string) {
    this.fd = openSync(path, 'w');
  }

  private write(buf: Buffer): void {
    let off = 0;
    while (off < buf.length) off += writeSync(this.fd, buf, off);
    this.hash.update(buf);
    this.size += buf.length;
  }

  /** Adds one entry; `data` only for regular files. */
  add(h: TarHeader, data?: Buffer): void {
    const header = Buffer.alloc(512);
    let name = h.name;
    let prefix = '';
    if (Buffer.byteLength(name) > 100) {
      const cut = name.lastIndexOf('/', 155);
      if (cut <= 0 || name.length - cut - 1 > 100) throw new Error(`tar name too long for ustar: ${name}`);
      prefix = name.slice(0, cut);
      name = name.slice(cut + 1);
    }
    const size = h.type === 'file' ? (data?.length ?? 0) : 0;
    header.write(name, 0, 100, 'utf8');
    octal(header, 100, 8, h.mode ?? (h.type === 'dir' ? 0o755 : 0o644));
    octal(header, 108, 8, h.uid ?? 0);
    octal(header, 116, 8, h.gid ?? 0);
    octal(header, 124, 12, size);
    octal(header, 136, 12, h.mtime ?? 1704067200);
    header.write('        ', 148, 8, 'latin1');
    header.write(TYPEFLAG[h.type], 156, 1, 'latin1');
    if (h.linkname !== undefined) header.write(h.linkname, 157, 100, 'utf8');
    header.write('ustar\u000000', 257, 8, 'latin1');
    header.write('root', 265, 32, 'latin1');
    header.write('root', 297, 32, 'latin1');
    header.write(prefix, 345, 155, 'utf8');
    let sum = 0;
    for (const b of header) sum += b;
    header.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8, 'latin1');
    this.write(header);
    if (size > 0) {
      this.write(data!);
      const pad = (512 - (size % 512)) % 512;
      if (pad) this.write(ZEROS.subarray(0, pad));
    }
  }

  /** Ends the archive, syncs and closes it; returns `sha256:<hex>`. */
  finish(): string {
    this.write(ZEROS);
    fsyncSync(this.fd);
    closeSync(this.fd);
    return `sha256:${this.hash.digest('hex')}`;
  }
}
