/**
 * Image references by Docker's rules: `[domain/]path[:tag][@digest]`, normalized so that
 * `busybox` is `docker.io/library/busybox:latest`, and rendered back in the short "familiar" form
 * users type. The first path component is a registry domain only when it looks like one (contains
 * `.` or `:`, is `localhost`, or has uppercase letters, which repository paths never do).
 *
 * Image-ID prefixes (`3f57d9`) are not names; resolving them needs the image list, so this module
 * only says whether a string could be one (isDigestOrIdPrefix).
 */
import { InvalidReferenceError } from '../errors.js';

/** A parsed, normalized reference. */
export interface ImageReference {
  /** Registry host with optional port: `docker.io`, `localhost:5000`. */
  domain: string;
  /** Repository path within the registry: `library/busybox`, `a/b`. */
  path: string;
  tag?: string;
  /** `algorithm:hex`, e.g. `sha256:<64 hex>`. */
  digest?: string;
}

/** Options of parseReference. */
export interface ParseReferenceOptions {
  /** Add `:latest` when neither tag nor digest is given (default true). */
  defaultTag?: boolean;
}

/** Docker Hub's canonical domain. */
export const DEFAULT_DOMAIN = 'docker.io';
/** The tag a bare name means. */
export const DEFAULT_TAG = 'latest';
const OFFICIAL_PREFIX = 'library/';
const MAX_NAME_LENGTH = 255;

const TAG = /^[\w][\w.-]{0,127}$/;
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const DOMAIN_LABEL = /^(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])$/;
const IPV6 = /^\[[a-fA-F0-9:]+\]$/;
const DIGEST = /^([a-z0-9]+(?:[.+_-][a-z0-9]+)*):([a-zA-Z0-9=_-]+)$/;
const DIGEST_HEX_LENGTH: Record<string, number> = { sha256: 64, sha384: 96, sha512: 128 };

/**
 * Parses and normalizes a reference. Throws InvalidReferenceError (with a hint) for anything
 * Docker would reject: uppercase repository paths, bad tags, bad digests, 64-hex strings (IDs).
 */
export function parseReference(text: string, opts: ParseReferenceOptions = {}): ImageReference {
  if (text === '') throw invalid(text, 'the reference is empty', 'give an image name such as busybox or busybox:1.36');
  if (/^[a-f0-9]{64}$/.test(text)) {
    throw invalid(text, 'a 64-character hexadecimal string is an image ID, not a repository name', 'refer to the image by its ID or use a name');
  }
  let rest = text;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = parseDigest(text, rest.slice(at + 1));
    rest = rest.slice(0, at);
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) {
      throw invalid(text, `invalid tag ${JSON.stringify(tag)}`,
        'a tag is up to 128 letters, digits, "_", "." and "-", and cannot start with "." or "-"');
    }
  }
  const { domain, path } = splitDomain(text, rest);
  if (`${domain}/${path}`.length > MAX_NAME_LENGTH) {
    throw invalid(text, `repository name is longer than ${MAX_NAME_LENGTH} characters`, 'use a shorter name');
  }
  if (tag === undefined && digest === undefined && opts.defaultTag !== false) tag = DEFAULT_TAG;
  const ref: ImageReference = { domain, path };
  if (tag !== undefined) ref.tag = tag;
  if (digest !== undefined) ref.digest = digest;
  return ref;
}

/** Splits `name` into registry domain and repository path, applying Docker Hub defaults. */
function splitDomain(text: string, name: string): { domain: string; path: string } {
  if (name === '') throw invalid(text, 'the repository name is empty', 'give a name before ":" or "@"');
  const slash = name.indexOf('/');
  const first = slash < 0 ? '' : name.slice(0, slash);
  let domain: string;
  let path: string;
  if (slash < 0 || (!/[.:]/.test(first) && first !== 'localhost' && first === first.toLowerCase())) {
    domain = DEFAULT_DOMAIN;
    path = name;
  } else {
    domain = first;
    path = name.slice(slash + 1);
    checkDomain(text, domain);
  }
  if (domain === 'index.docker.io') domain = DEFAULT_DOMAIN;
  if (domain === DEFAULT_DOMAIN && !path.includes('/')) path = OFFICIAL_PREFIX + path;
  if (path !== path.toLowerCase()) {
    throw invalid(text, `repository name ${JSON.stringify(path)} must be lowercase`, `try ${JSON.stringify(name.toLowerCase() + text.slice(name.length))}`);
  }
  for (const component of path.split('/')) {
    if (!PATH_COMPONENT.test(component)) {
      throw invalid(text, `invalid repository path component ${JSON.stringify(component)}`,
        'path components are lowercase letters and digits, joined by single ".", "_", "__" or runs of "-"');
    }
  }
  return { domain, path };
}

function checkDomain(text: string, domain: string): void {
  const colon = domain.startsWith('[') ? domain.indexOf(':', domain.indexOf(']')) : domain.indexOf(':');
  const host = colon < 0 ? domain : domain.slice(0, colon);
  const port = colon < 0 ? undefined : domain.slice(colon + 1);
  const hostOk = IPV6.test(host) || (host !== '' && host.split('.').every((label) => DOMAIN_LABEL.test(label)));
  if (!hostOk || (port !== undefined && !/^[0-9]+$/.test(port))) {
    throw invalid(text, `invalid registry domain ${JSON.stringify(domain)}`, 'a registry is host[:port], such as registry.example.com:5000');
  }
}

function parseDigest(text: string, digest: string): string {
  const m = DIGEST.exec(digest);
  if (!m) throw invalid(text, `invalid digest ${JSON.stringify(digest)}`, 'a digest is sha256:<64 hexadecimal characters>');
  const want = DIGEST_HEX_LENGTH[m[1]!];
  if (want === undefined) throw invalid(text, `unsupported digest algorithm ${JSON.stringify(m[1])}`, 'use a sha256, sha384 or sha512 digest');
  if (m[2]!.length !== want || !/^[a-f0-9]+$/.test(m[2]!)) {
    throw invalid(text, `invalid ${m[1]} digest ${JSON.stringify(digest)}`, `a ${m[1]} digest has ${want} lowercase hexadecimal characters`);
  }
  return digest;
}

function invalid(text: string, why: string, hint: string): InvalidReferenceError {
  return new InvalidReferenceError(`invalid reference ${JSON.stringify(text)}: ${why}`, { hint });
}

/** The repository name: `docker.io/library/busybox`. */
export function repositoryName(ref: ImageReference): string {
  return `${ref.domain}/${ref.path}`;
}

/** The canonical full form: `docker.io/library/busybox:latest`, `…@sha256:…`, or both. */
export function formatReference(ref: ImageReference): string {
  return repositoryName(ref) + (ref.tag !== undefined ? `:${ref.tag}` : '') + (ref.digest !== undefined ? `@${ref.digest}` : '');
}

/** Parses and renders in canonical form in one step (`busybox` → `docker.io/library/busybox:latest`). */
export function normalizeReference(text: string, opts?: ParseReferenceOptions): string {
  return formatReference(parseReference(text, opts));
}

/** The short repository name users type: `busybox`, `x/y`, `localhost:5000/a/b`. */
export function familiarName(ref: ImageReference): string {
  if (ref.domain !== DEFAULT_DOMAIN) return repositoryName(ref);
  const rest = ref.path.slice(OFFICIAL_PREFIX.length);
  return ref.path.startsWith(OFFICIAL_PREFIX) && !rest.includes('/') ? rest : ref.path;
}

/** The short form for display: `busybox:latest`, `localhost:5000/a/b:tag`, `x/y@sha256:…`. */
export function familiarReference(ref: ImageReference | string): string {
  const r = typeof ref === 'string' ? parseReference(ref) : ref;
  return familiarName(r) + (r.tag !== undefined ? `:${r.tag}` : '') + (r.digest !== undefined ? `@${r.digest}` : '');
}

/**
 * True when `text` could be an image ID or a prefix of one: 1–64 lowercase hex characters,
 * optionally after `sha256:`. Such text may also be a valid name (`beef`); callers look it up as
 * a name first and as an ID prefix second, except that a full 64-hex ID is never a name.
 */
export function isDigestOrIdPrefix(text: string): boolean {
  return /^(?:sha256:)?[a-f0-9]{1,64}$/.test(text);
}

/** The hex part of an ID or ID prefix (`sha256:` removed), or undefined when `text` is not one. */
export function idPrefixHex(text: string): string | undefined {
  return isDigestOrIdPrefix(text) ? text.replace(/^sha256:/, '') : undefined;
}

/** True for a complete image ID: `sha256:<64 hex>` or the bare 64 hex. */
export function isFullImageId(text: string): boolean {
  return /^(?:sha256:)?[a-f0-9]{64}$/.test(text);
}
