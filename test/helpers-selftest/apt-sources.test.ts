import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hostAptSources, mirrorLinesFor, parseDeb822, parseOneLine } from '../helpers/apt-sources.js';

const DEB822 = `Types: deb
# http://snapshot.debian.org/archive/debian/20250520T000000Z
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main contrib
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: main

Types: deb
URIs: http://off.example/debian
Suites: bookworm
Components: main
Enabled: no

Types: deb
URIs: https://repo.example/apt
Suites: stable
Components: main
Signed-By:
 -----BEGIN PGP PUBLIC KEY BLOCK-----
 .
 mQINBF...
 -----END PGP PUBLIC KEY BLOCK-----
`;

test('deb822: binary, enabled paragraphs; one entry per URI and suite; inline keys dropped', () => {
  assert.deepEqual(parseDeb822(DEB822), [
    { uri: 'http://deb.debian.org/debian', suite: 'bookworm', components: ['main', 'contrib'], signedBy: '/usr/share/keyrings/debian-archive-keyring.gpg' },
    { uri: 'http://deb.debian.org/debian', suite: 'bookworm-updates', components: ['main', 'contrib'], signedBy: '/usr/share/keyrings/debian-archive-keyring.gpg' },
    { uri: 'https://repo.example/apt', suite: 'stable', components: ['main'] },
  ]);
});

test('one-line: options, comments and deb-src', () => {
  const text = [
    '# comment',
    'deb [arch=amd64 signed-by=/k.gpg] http://m.example/debian bookworm main non-free # trailing',
    'deb-src http://m.example/debian bookworm main',
    'deb http://security.example/debian-security bookworm-security main',
    '',
  ].join('\n');
  assert.deepEqual(parseOneLine(text), [
    { uri: 'http://m.example/debian', suite: 'bookworm', components: ['main', 'non-free'], signedBy: '/k.gpg' },
    { uri: 'http://security.example/debian-security', suite: 'bookworm-security', components: ['main'] },
  ]);
});

test('mirror lines keep the release and its pockets only, without duplicates', () => {
  const lines = mirrorLinesFor(
    [
      { uri: 'http://a/debian', suite: 'bookworm', components: ['main'], signedBy: '/k.gpg' },
      { uri: 'http://a/debian', suite: 'bookworm', components: ['main'], signedBy: '/k.gpg' },
      { uri: 'http://a/debian', suite: 'bookworm-updates', components: [] },
      { uri: 'https://cloud.example/apt', suite: 'cloud-sdk-bookworm', components: ['main'] },
      { uri: 'http://a/debian', suite: 'trixie', components: ['main'] },
    ],
    'bookworm',
  );
  assert.deepEqual(lines, ['deb [signed-by=/k.gpg] http://a/debian bookworm main', 'deb http://a/debian bookworm-updates main']);
});

test('host sources read sources.list, *.list and *.sources, and ignore other files like apt does', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'strata-apt-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'sources.list.d'));
  writeFileSync(join(dir, 'sources.list'), 'deb http://one/debian bookworm main\n');
  writeFileSync(join(dir, 'sources.list.d', 'b.sources'), 'Types: deb\nURIs: http://three/debian\nSuites: bookworm\nComponents: main\n');
  writeFileSync(join(dir, 'sources.list.d', 'a.list'), 'deb http://two/debian bookworm main\n');
  writeFileSync(join(dir, 'sources.list.d', 'c.list.disabled-by-farm'), 'deb http://nope/debian bookworm main\n');
  assert.deepEqual(
    hostAptSources(dir).map((s) => s.uri),
    ['http://one/debian', 'http://two/debian', 'http://three/debian'],
  );
});
