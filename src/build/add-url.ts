/**
 * ADD of an http(s) URL, as BuildKit does it: the body is downloaded (redirects followed) into a
 * private temp directory, hashed on the way, checked against `--checksum=sha256:…` when given,
 * and written as one file with mode 0600 whose mtime is the Last-Modified header (the Unix epoch
 * without one). Its name is the last element of the URL path (`__unnamed__` when there is none),
 * used when the destination is a directory. A URL is not unpacked unless `--unpack` asks for it.
 */
import { createWriteStream, mkdtempSync, rmSync, utimesSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { posix } from 'node:path';
import type { IncomingMessage } from 'node:http';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { BuildError, DigestMismatchError } from '../errors.js';
import { httpGet } from '../util/http-get.js';
import type { CopyRequest } from './copy.js';
import { DirSource } from './file-source.js';
import { selectSources } from './select.js';
import { addInto } from './add.js';
import type { AddResult } from './add.js';

/** A finished download. */
export interface Download {
  /** The downloaded file (inside the directory given to downloadUrl). */
  path: string;
  /** File name derived from the URL. */
  name: string;
  /** `sha256:<hex>` of the body: the cache input of the ADD. */
  digest: string;
  size: number;
  /** From Last-Modified, 0 without one. */
  mtimeMs: number;
}

/** The name an ADDed URL gets: the last element of its (decoded) path, or `__unnamed__`. */
export function urlFileName(url: string): string {
  let path: string;
  try {
    path = decodeURIComponent(new URL(url).pathname);
  } catch {
    return '__unnamed__';
  }
  const base = posix.basename(path);
  return base === '' || base === '.' || base === '/' || base === '..' ? '__unnamed__' : base;
}

/** True for the sources ADD downloads. */
export function isUrlSource(src: string): boolean {
  return /^https?:\/\//i.test(src);
}

function checkChecksum(checksum: string | undefined): string | undefined {
  if (checksum === undefined) return undefined;
  if (!/^sha256:[a-f0-9]{64}$/.test(checksum)) {
    throw new BuildError(`invalid --checksum ${JSON.stringify(checksum)}`, {
      hint: 'use --checksum=sha256:<64 lower-case hex digits> (SHA-256 is the only algorithm ADD verifies)',
    }, 'ADD_BAD_CHECKSUM');
  }
  return checksum;
}

/** Downloads `url` into directory `dir`; verifies `checksum` when given. */
export async function downloadUrl(url: string, dir: string, opts: { checksum?: string; signal?: AbortSignal } = {}): Promise<Download> {
  const want = checkChecksum(opts.checksum);
  const name = urlFileName(url);
  let res: IncomingMessage;
  try {
    res = await httpGet(url, opts.signal ? { signal: opts.signal } : {});
  } catch (e) {
    if (opts.signal?.aborted) throw e;
    throw new BuildError(`ADD ${url}: download failed: ${(e as Error).message}`, {
      cause: e,
      hint: 'check the URL and the network (for a private CA, set NODE_EXTRA_CA_CERTS)',
    }, 'ADD_DOWNLOAD');
  }
  const status = res.statusCode ?? 0;
  if (status < 200 || status > 299) {
    res.resume();
    throw new BuildError(`ADD ${url}: download failed: HTTP ${status} ${res.statusMessage ?? ''}`.trimEnd(), {
      hint: 'ADD cannot authenticate; for protected files use RUN curl/wget with a secret',
    }, 'ADD_DOWNLOAD');
  }
  const path = `${dir}/${name}`;
  const hash = createHash('sha256');
  let size = 0;
  const tap = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      size += chunk.length;
      cb(null, chunk);
    },
  });
  await pipeline(res, tap, createWriteStream(path, { mode: 0o600, flags: 'wx' }));
  const digest = `sha256:${hash.digest('hex')}`;
  if (want !== undefined && digest !== want) {
    rmSync(path, { force: true });
    throw new DigestMismatchError(`ADD ${url}: checksum mismatch: expected ${want}, got ${digest}`, {
      hint: 'the file at that URL changed, or --checksum is wrong',
    });
  }
  const lastModified = res.headers['last-modified'];
  const parsed = lastModified === undefined ? NaN : Date.parse(lastModified);
  const mtimeMs = Number.isNaN(parsed) ? 0 : parsed;
  utimesSync(path, mtimeMs / 1000, mtimeMs / 1000);
  return { path, name, digest, size, mtimeMs };
}

/** Options of addUrl: a COPY request without a selection, plus the URL side. */
export interface UrlAddRequest extends Omit<CopyRequest, 'selection'> {
  url: string;
  /** `--checksum=sha256:…`. */
  checksum?: string;
  /** `--unpack` (default false for URLs). */
  unpack?: boolean;
  /** Directory for the download (same filesystem as the store is best); a private subdirectory is made and removed. */
  tmpDir: string;
  signal?: AbortSignal;
}

/** Downloads a URL and adds it at the destination inside `rootDir`. */
export async function addUrl(rootDir: string, req: UrlAddRequest): Promise<AddResult & { download: Download }> {
  const dir = mkdtempSync(`${req.tmpDir}/add-url-`);
  try {
    const download = await downloadUrl(req.url, dir, {
      ...(req.checksum !== undefined ? { checksum: req.checksum } : {}),
      ...(req.signal ? { signal: req.signal } : {}),
    });
    const src = new DirSource(dir, `download of ${req.url}`);
    const selection = selectSources(src, [download.name]);
    selection.items[0]!.source = req.url;
    const { url: _url, checksum: _checksum, tmpDir: _tmp, signal: _signal, ...copy } = req;
    const result = await addInto(rootDir, { ...copy, selection, unpack: req.unpack ?? false, verifySources: false });
    return { ...result, download };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
