/**
 * `strata parse` through the real CLI: formats, stdin, one-line errors, exit codes, warnings.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { runStrata, STRATA_BIN } from '../helpers/cli.js';

test('parse prints an outline of the demo Dockerfile', () => {
  const r = runStrata(['parse', '-f', 'fixtures/demo/Dockerfile']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^fixtures\/demo\/Dockerfile: 3 stages, /);
  assert.match(r.stdout, /stage 1 "build": FROM base/);
  assert.match(r.stdout, /COPY --from=build \/app\/out\/ \.\/data\//);
});

test('parse --format json prints the typed stages', () => {
  const r = runStrata(['parse', '-f', 'fixtures/demo/Dockerfile', '--format', 'json']);
  assert.equal(r.code, 0, r.stderr);
  const df = JSON.parse(r.stdout);
  assert.deepEqual(df.stages.map((s: { name: string }) => s.name), ['base', 'build', 'final']);
  assert.equal(df.metaArgs[0].args[0].key, 'BASE');
  const final = df.stages[2].instructions;
  const copy = final.find((i: { kind: string; from?: string }) => i.kind === 'COPY' && i.from === 'build');
  assert.deepEqual(copy.sources, ['/app/out/']);
  const hc = final.find((i: { kind: string }) => i.kind === 'HEALTHCHECK');
  assert.deepEqual(hc.test, ['CMD', './greet.sh', '--check']);
  assert.equal(hc.interval, 30e9);
  const run = df.stages[1].instructions.find((i: { kind: string }) => i.kind === 'RUN');
  assert.equal(run.command.files[0].name, 'EOF');
  assert.ok(run.range.end.line > run.range.start.line);
});

test('parse --format dump reads stdin and prints BuildKit\'s dump', () => {
  const r = runStrata(['parse', '-f', '-', '--format', 'dump'], {
    input: 'FROM busybox AS b\nRUN --mount=type=cache,target=/c echo "hi" \\\n  there\nCMD ["a", "b"]\nONBUILD COPY a b\n',
  });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(
    r.stdout,
    '(from "busybox" "AS" "b")\n(run ["--mount=type=cache,target=/c"] "echo \\"hi\\"   there")\n(cmd "a" "b")\n(onbuild (copy "a" "b"))\n',
  );
});

test('a bad Dockerfile gives one located line and exit code 1', () => {
  const r = runStrata(['parse', '-f', '-'], { input: 'FROM scratch\n\n    COPPY a b\n' });
  assert.equal(r.code, 1);
  assert.equal(r.stdout, '');
  assert.equal(r.stderr, '<stdin>:3:5: unknown instruction "COPPY" (did you mean COPY?)\n');
});

test('syntax errors name the file and line', () => {
  const dir = mkdtempSync(join(tmpdir(), 'strata-parse-'));
  try {
    const file = join(dir, 'Dockerfile');
    writeFileSync(file, 'FROM a\nRUN ["echo", 1]\n');
    const r = runStrata(['parse', '-f', file]);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, `${file}:2:1: when using JSON array syntax, arrays must be comprised of strings only\n`);
    writeFileSync(file, 'FROM a\nRUN <<EOF\necho hi\n');
    const h = runStrata(['parse', '-f', file]);
    assert.equal(h.code, 1);
    assert.match(h.stderr, new RegExp(`^${file}:2:1: unterminated heredoc \\(end the heredoc with a line that is exactly "EOF"\\)\\n$`));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a missing file is an error naming it; bad usage exits 2', () => {
  const missing = runStrata(['parse', '-f', '/nonexistent/Dockerfile']);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /^strata: \/nonexistent\/Dockerfile: no such file/);
  const badFormat = runStrata(['parse', '-f', 'fixtures/demo/Dockerfile', '--format', 'xml']);
  assert.equal(badFormat.code, 2);
  assert.match(badFormat.stderr, /unknown format "xml"/);
  const badOption = runStrata(['parse', '--nope']);
  assert.equal(badOption.code, 2);
  assert.match(badOption.stderr, /unknown option '--nope'/);
  const badCommand = runStrata(['parsee']);
  assert.equal(badCommand.code, 2);
});

test('warnings go to stderr with their line and never fail the parse', () => {
  const r = runStrata(['parse', '-f', '-'], {
    input: 'FROM scratch\nMAINTAINER me\nENV A b\nRUN a \\\n\n  b\nWORKDIR $NOPE\n',
  });
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stderr.trim().split('\n');
  assert.deepEqual(lines, [
    '<stdin>:2: warning: Maintainer instruction is deprecated in favor of using label [MaintainerDeprecated]',
    '<stdin>:3: warning: "ENV key=value" should be used instead of legacy "ENV key value" format [LegacyKeyValueFormat]',
    '<stdin>:4: warning: Empty continuation line found in: RUN a   b [EmptyContinuation]',
    "<stdin>:7: warning: Usage of undefined variable '$NOPE' [UndefinedVar]",
  ]);
});

test('# check=error=true turns warnings into a failure; skip hides rules', () => {
  const failing = runStrata(['parse', '-f', '-'], { input: '# check=error=true\nFROM scratch\nMAINTAINER me\n' });
  assert.equal(failing.code, 1);
  assert.match(failing.stderr, /^<stdin>:3: 1 build check warning\(s\) and # check=error=true/);
  const skipped = runStrata(['parse', '-f', '-'], { input: '# check=skip=MaintainerDeprecated\nFROM scratch\nMAINTAINER me\n' });
  assert.equal(skipped.code, 0);
  assert.equal(skipped.stderr, '');
});

test('--help shows an example for every command, --version prints the version', () => {
  const help = runStrata(['parse', '--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /Examples:\n {2}\$ strata parse/);
  const top = runStrata(['--help']);
  assert.equal(top.code, 0);
  assert.match(top.stdout, /Examples:/);
  const version = runStrata(['--version']);
  assert.equal(version.code, 0);
  assert.match(version.stdout, /^\d+\.\d+\.\d+\n$/);
});

test('a reader that closes early ends the command quietly with 141, as SIGPIPE would', () => {
  const dir = mkdtempSync(join(tmpdir(), 'strata-pipe-'));
  try {
    const file = join(dir, 'Dockerfile');
    writeFileSync(file, 'FROM scratch\n' + 'LABEL a=b\n'.repeat(20_000));
    // `head` reads a few bytes and exits; the rest of the (large) output meets a closed pipe.
    const r = spawnSync('bash', ['-c', 'set -o pipefail; "$0" "$1" parse -f "$2" --format json | head -c 16 >/dev/null; echo "status=${PIPESTATUS[0]}" >&2', process.execPath, STRATA_BIN, file], { encoding: 'utf8' });
    assert.match(r.stderr, /status=141\n$/);
    assert.doesNotMatch(r.stderr, /EPIPE|at /, r.stderr);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
