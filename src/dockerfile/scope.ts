/**
 * Variable scopes for expansion, as BuildKit defines them:
 *  - the global scope (predefined platform ARGs and the meta ARGs before the first FROM) serves
 *    FROM lines only;
 *  - a stage sees its base image's environment, its own ENV, and the ARGs it declares; a global
 *    ARG is visible in a stage only when the stage redeclares it (`ARG NAME`);
 *  - ENV wins over an ARG of the same name.
 */
import type { EnvLookup } from './expand.js';

/** The predefined ARGs for the build and target platforms (BUILDPLATFORM, TARGETARCH, ...). */
export function platformArgs(target: Platform, build: Platform = hostPlatform()): Map<string, string> {
  return new Map([
    ['BUILDPLATFORM', formatPlatform(build)],
    ['BUILDOS', build.os],
    ['BUILDARCH', build.architecture],
    ['BUILDVARIANT', build.variant ?? ''],
    ['TARGETPLATFORM', formatPlatform(target)],
    ['TARGETOS', target.os],
    ['TARGETARCH', target.architecture],
    ['TARGETVARIANT', target.variant ?? ''],
  ]);
}

/** Build args usable without an ARG line; passed to RUN but never recorded in the image. */
export const PROXY_ARGS = new Set([
  'HTTP_PROXY', 'http_proxy', 'HTTPS_PROXY', 'https_proxy', 'FTP_PROXY', 'ftp_proxy',
  'NO_PROXY', 'no_proxy', 'ALL_PROXY', 'all_proxy',
]);

/** An OCI platform. */
export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

const NODE_ARCH: Record<string, { architecture: string; variant?: string }> = {
  x64: { architecture: 'amd64' },
  arm64: { architecture: 'arm64' },
  arm: { architecture: 'arm', variant: 'v7' },
  ia32: { architecture: '386' },
  ppc64: { architecture: 'ppc64le' },
  s390x: { architecture: 's390x' },
  riscv64: { architecture: 'riscv64' },
};

/** The platform strata runs on. */
export function hostPlatform(): Platform {
  const a = NODE_ARCH[process.arch] ?? { architecture: process.arch };
  return { os: process.platform === 'win32' ? 'windows' : process.platform, ...a };
}

/** `linux/arm/v7`. */
export function formatPlatform(p: Platform): string {
  return [p.os, p.architecture, p.variant].filter(Boolean).join('/');
}

/** Parses `linux/amd64`, `linux/arm64/v8`, `amd64` (os defaults to linux). */
export function parsePlatform(text: string): Platform | undefined {
  const parts = text.trim().toLowerCase().split('/');
  if (parts.some((p) => p === '' || !/^[a-z0-9_.-]+$/.test(p)) || parts.length > 3) return undefined;
  const [a, b, c] = parts as [string, string?, string?];
  const p: Platform = b === undefined ? { os: 'linux', architecture: a } : { os: a, architecture: b };
  if (c) p.variant = c;
  if (p.architecture === 'x86_64' || p.architecture === 'x86-64') p.architecture = 'amd64';
  if (p.architecture === 'aarch64') p.architecture = 'arm64';
  return p;
}

/**
 * A stage's variables. `env` holds the image environment plus ENV; `args` the declared ARGs with
 * their values. Lookups prefer ENV.
 */
export class StageScope {
  readonly env: Map<string, string>;
  readonly args = new Map<string, string>();
  /** Every name declared by ENV or ARG (even ARGs without a value), for the undefined-variable check. */
  readonly declared = new Set<string>();

  constructor(baseEnv: Iterable<string> = []) {
    this.env = new Map();
    for (const kv of baseEnv) {
      const eq = kv.indexOf('=');
      if (eq > 0) this.env.set(kv.slice(0, eq), kv.slice(eq + 1));
      else if (kv !== '') this.env.set(kv, '');
    }
    for (const k of this.env.keys()) this.declared.add(k);
  }

  /** The lookup function used by the expansion lexer. */
  readonly lookup: EnvLookup = (name: string): string | undefined => this.env.get(name) ?? this.args.get(name);

  /** Copies the scope (a child stage starts from its parent stage's environment, not its ARGs). */
  static fromEnv(env: ReadonlyMap<string, string>): StageScope {
    const s = new StageScope();
    for (const [k, v] of env) {
      s.env.set(k, v);
      s.declared.add(k);
    }
    return s;
  }
}
