/**
 * Reads this machine's apt sources (one-line `.list` and deb822 `.sources`) so mmdebstrap fetches
 * from the same mirror apt already uses here, which may be the only one the network allows.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

/** One binary (`deb`) source: a URI, one suite, its components. */
export interface AptSource {
  uri: string;
  suite: string;
  components: string[];
  /** A keyring path; inline (armored) keys are dropped, mmdebstrap then finds the key itself. */
  signedBy?: string;
}

/** Parses one-line style (`deb [signed-by=/k.gpg arch=amd64] URI SUITE COMP...`). */
export function parseOneLine(text: string): AptSource[] {
  const out: AptSource[] = [];
  for (const raw of text.split('\n')) {
    let line = raw.replace(/#.*$/, '').trim();
    if (!line.startsWith('deb ') && !line.startsWith('deb\t')) continue; // deb-src and junk
    line = line.slice(3).trim();
    let signedBy: string | undefined;
    const opts = /^\[([^\]]*)\]\s*/.exec(line);
    if (opts) {
      for (const kv of opts[1]!.trim().split(/\s+/)) {
        const [k, v] = kv.split('=', 2);
        if (k === 'signed-by' && v) signedBy = v.split(',')[0];
      }
      line = line.slice(opts[0].length);
    }
    const [uri, suite, ...components] = line.split(/\s+/);
    if (!uri || !suite) continue;
    out.push({ uri, suite, components, ...(signedBy ? { signedBy } : {}) });
  }
  return out;
}

/** Parses deb822 style (paragraphs of `Key: value`, continuation lines indented). */
export function parseDeb822(text: string): AptSource[] {
  const out: AptSource[] = [];
  for (const para of text.split(/\n\s*\n/)) {
    const fields = new Map<string, string>();
    let last: string | undefined;
    for (const line of para.split('\n')) {
      if (line.startsWith('#')) continue;
      if (/^\s/.test(line)) {
        if (last !== undefined && line.trim() !== '') fields.set(last, fields.get(last) + '\n' + line.trim());
        continue;
      }
      const m = /^([A-Za-z0-9-]+):\s*(.*)$/.exec(line);
      if (!m) continue;
      last = m[1]!.toLowerCase();
      fields.set(last, m[2]!.trim());
    }
    const words = (k: string) => (fields.get(k) ?? '').split(/\s+/).filter(Boolean);
    if (!words('types').includes('deb')) continue;
    if (/^(no|false)$/i.test(fields.get('enabled') ?? '')) continue;
    const signed = fields.get('signed-by');
    const signedBy = signed && !signed.includes('\n') && !signed.includes('BEGIN PGP') ? signed.split(/[\s,]+/)[0] : undefined;
    for (const uri of words('uris')) {
      for (const suite of words('suites')) {
        out.push({ uri, suite, components: words('components'), ...(signedBy ? { signedBy } : {}) });
      }
    }
  }
  return out;
}

/** Every enabled binary source configured under `aptDir` (default /etc/apt), in apt's file order. */
export function hostAptSources(aptDir = '/etc/apt'): AptSource[] {
  const out: AptSource[] = [];
  const main = join(aptDir, 'sources.list');
  if (existsSync(main)) out.push(...parseOneLine(readFileSync(main, 'utf8')));
  const dir = join(aptDir, 'sources.list.d');
  if (existsSync(dir)) {
    for (const name of readdirSync(dir).sort()) {
      // apt itself ignores other extensions (e.g. `*.disabled`), so do we.
      if (name.endsWith('.list')) out.push(...parseOneLine(readFileSync(join(dir, name), 'utf8')));
      else if (name.endsWith('.sources')) out.push(...parseDeb822(readFileSync(join(dir, name), 'utf8')));
    }
  }
  return out;
}

/**
 * mmdebstrap MIRROR arguments (one-line entries) for a release: the sources whose suite is the
 * release itself or one of its pockets (`bookworm-updates`, `bookworm-security`). Third-party
 * repositories name other suites and are left out of the base image.
 */
export function mirrorLinesFor(sources: AptSource[], release: string): string[] {
  const lines: string[] = [];
  for (const s of sources) {
    if (s.suite !== release && !s.suite.startsWith(release + '-')) continue;
    const opts = s.signedBy ? `[signed-by=${s.signedBy}] ` : '';
    const comps = s.components.length > 0 ? s.components.join(' ') : 'main';
    const line = `deb ${opts}${s.uri} ${s.suite} ${comps}`;
    if (!lines.includes(line)) lines.push(line);
  }
  return lines;
}
