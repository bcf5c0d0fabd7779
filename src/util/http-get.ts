/**
 * HTTP(S) GET following redirects, for downloads (ADD <url>).
 *
 * Not fetch(): fetch trusts only the CA store Node builds at start-up, and the `strata` launcher
 * keeps NODE_EXTRA_CA_CERTS away from Node, which would read that file at every start (~40 ms
 * here, a third of a cached build). The launcher passes it on as STRATA_EXTRA_CA_CERTS and the
 * extra CAs are added here, only when a TLS connection is made.
 */
import { readFileSync } from 'node:fs';
import type * as Http from 'node:http';
import type { IncomingMessage } from 'node:http';
import type * as Https from 'node:https';
import { createRequire } from 'node:module';
import type * as Tls from 'node:tls';

// Required when first used (not imported: the bundle's loader runs a plain script, which cannot
// import() at run time).
const load = createRequire(import.meta.url);

const MAX_REDIRECTS = 10;
let extraCa: string[] | undefined;

/** Node's CAs plus the PEM file the launcher moved from NODE_EXTRA_CA_CERTS; undefined when there is none. */
function trustedCas(): string[] | undefined {
  const file = process.env.STRATA_EXTRA_CA_CERTS;
  if (!file) return undefined;
  if (extraCa === undefined) {
    let pem: string;
    try {
      pem = readFileSync(file, 'utf8');
    } catch (e) {
      // Node itself only warns about an unreadable NODE_EXTRA_CA_CERTS; so does strata.
      process.emitWarning(`ignoring extra CA certificates: ${(e as Error).message}`);
      pem = '';
    }
    const { rootCertificates } = load('node:tls') as typeof Tls;
    extraCa = [...rootCertificates, ...(pem ? [pem] : [])];
  }
  return extraCa;
}

/** The response to GET `url` after following up to 10 redirects (any status; the caller checks it). */
export async function httpGet(url: string, opts: { signal?: AbortSignal } = {}): Promise<IncomingMessage> {
  let current = new URL(url);
  for (let hops = 0; ; hops++) {
    const res = await getOnce(current, opts.signal);
    const status = res.statusCode ?? 0;
    const location = res.headers.location;
    if (status < 300 || status >= 400 || status === 304 || location === undefined) return res;
    res.resume();
    if (hops === MAX_REDIRECTS) throw new Error(`more than ${MAX_REDIRECTS} redirects`);
    current = new URL(location, current);
  }
}

/** One GET. node:http, https and tls are loaded here, not at start-up: few commands download. */
async function getOnce(url: URL, signal: AbortSignal | undefined): Promise<IncomingMessage> {
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`unsupported protocol ${url.protocol}`);
  const options = { ...(signal ? { signal } : {}), headers: { 'user-agent': 'strata' } };
  if (url.protocol === 'http:') {
    const { get } = load('node:http') as typeof Http;
    return new Promise((resolve, reject) => get(url, options, resolve).on('error', reject));
  }
  const { get } = load('node:https') as typeof Https;
  const ca = trustedCas();
  return new Promise((resolve, reject) => get(url, { ...options, ...(ca ? { ca } : {}) }, resolve).on('error', reject));
}
