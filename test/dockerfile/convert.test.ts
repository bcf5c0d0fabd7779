/**
 * Typed instructions and stages: checks on flags, values and structure beyond the corpus.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadDockerfile } from '../../src/dockerfile/index.js';
import type { AddInstruction, CopyInstruction, OnbuildInstruction, RunInstruction } from '../../src/dockerfile/instructions.js';
import { InstructionError, StrataError } from '../../src/errors.js';

function fails(text: string, message: RegExp, hint?: RegExp): void {
  assert.throws(() => loadDockerfile(text, { file: 'Df' }), (e: unknown) => {
    assert.ok(e instanceof StrataError, String(e));
    assert.match(e.message, message);
    if (hint) assert.match(e.hint ?? '', hint);
    assert.equal(e.location?.file, 'Df');
    return true;
  });
}

test('stages: names, indexes, meta ARGs and doc comments', () => {
  const { dockerfile } = loadDockerfile('ARG A=1\n# build compiles things\nFROM golang AS build\nRUN make\nFROM scratch\nCOPY --from=build /x /x\n');
  assert.equal(dockerfile.metaArgs.length, 1);
  assert.deepEqual(dockerfile.stages.map((s) => [s.index, s.name, s.from.image]), [[0, 'build', 'golang'], [1, undefined, 'scratch']]);
  assert.equal(dockerfile.stages[0]!.docComment, 'compiles things');
});

test('structural errors name the line', () => {
  fails('RUN x\nFROM a\n', /RUN cannot come before the first FROM/);
  fails('ARG A\n', /no FROM instruction/);
  fails('FROM a AS x\nFROM b AS X\n', /duplicate stage name "x"/, /line 1/);
  fails('FROM a AS 1st\n', /invalid name for build stage: "1st"/);
  fails('FROM a b\n', /FROM requires either one or three arguments/);
});

test('flags: unknown ones on flag-taking instructions are errors with a suggestion', () => {
  fails('FROM a\nCOPY --chwon=1 a b\n', /unknown flag: --chwon/, /did you mean --chown\?/);
  fails('FROM a\nRUN --netwrk=none x\n', /unknown flag: --netwrk/, /--network/);
  fails('FROM a\nCOPY --from a b\n', /missing a value on flag: --from/);
  fails('FROM a\nCOPY --link=maybe a b\n', /expecting boolean value for flag --link, not: maybe/);
  fails('FROM a\nCOPY --from=x --from=y a b\n', /duplicate flag specified: --from/);
  fails('FROM a\nRUN --network=bridge x\n', /invalid network mode "bridge"/);
  fails('FROM a\nCOPY --chmod=rwx a b\n', /invalid --chmod value "rwx"/);
});

test('flags: instructions that take none ignore them with a warning (as buildah does)', () => {
  const { dockerfile } = loadDockerfile('FROM a\nWORKDIR --foo /x\n');
  assert.deepEqual(dockerfile.warnings.map((w) => w.rule), ['IgnoredFlag']);
});

test('COPY and ADD carry every flag', () => {
  const { dockerfile } = loadDockerfile(
    'FROM a\nCOPY --from=b --chown=1:2 --chmod=0644 --link --parents --exclude=*.md --exclude=x a b /d/\n' +
      'ADD --checksum=sha256:abc --keep-git-dir=true --unpack=false --exclude=y https://e.x/a.tgz /d/\n',
  );
  const [copy, add] = dockerfile.stages[0]!.instructions as [CopyInstruction, AddInstruction];
  assert.deepEqual(
    { from: copy.from, chown: copy.chown, chmod: copy.chmod, link: copy.link, parents: copy.parents, exclude: copy.exclude, sources: copy.sources, dest: copy.dest },
    { from: 'b', chown: '1:2', chmod: '0644', link: true, parents: true, exclude: ['*.md', 'x'], sources: ['a', 'b'], dest: '/d/' },
  );
  assert.deepEqual(
    { checksum: add.checksum, keepGitDir: add.keepGitDir, unpack: add.unpack, exclude: add.exclude },
    { checksum: 'sha256:abc', keepGitDir: true, unpack: false, exclude: ['y'] },
  );
});

test('RUN --mount, --network and --security', () => {
  const { dockerfile } = loadDockerfile(
    'FROM a\nRUN --mount=type=cache,target=/c,sharing=locked,id=x --mount=type=secret,id=tok,required --network=none --security=insecure make\n',
  );
  const run = dockerfile.stages[0]!.instructions[0] as RunInstruction;
  assert.equal(run.network, 'none');
  assert.equal(run.security, 'insecure');
  assert.deepEqual(run.mounts.map((m) => [m.type, m.target, m.id, m.sharing, m.required]), [
    ['cache', '/c', 'x', 'locked', undefined],
    ['secret', undefined, 'tok', undefined, true],
  ]);
  fails('FROM a\nRUN --mount=type=volume,target=/x y\n', /unsupported mount type "volume"/);
  fails('FROM a\nRUN --mount=type=bind,src=. y\n', /needs a target/);
  fails('FROM a\nRUN --mount=type=tmpfs,target=/t,sharing=locked y\n', /sharing not allowed/);
  fails('FROM a\nRUN --mount=type=cache,target=/c,from=$X y\n', /doesn't support variable expansion/);
  fails('FROM a\nRUN --mount=type=cache,taget=/c y\n', /unexpected key 'taget'/, /did you mean target\?/);
});

test('HEALTHCHECK options become nanoseconds; bad ones are errors', () => {
  const { dockerfile } = loadDockerfile('FROM a\nHEALTHCHECK --interval=1m30s --timeout=500ms --start-period=2s --start-interval=1s --retries=3 CMD ["true"]\n');
  assert.deepEqual(dockerfile.stages[0]!.instructions[0], {
    ...dockerfile.stages[0]!.instructions[0],
    test: ['CMD', 'true'], interval: 90e9, timeout: 5e8, startPeriod: 2e9, startInterval: 1e9, retries: 3,
  });
  fails('FROM a\nHEALTHCHECK --interval=soon CMD true\n', /invalid duration "soon"/);
  fails('FROM a\nHEALTHCHECK --retries=-1 CMD true\n', /--retries cannot be negative/);
  fails('FROM a\nHEALTHCHECK NONE x\n', /HEALTHCHECK NONE takes no arguments/);
  fails('FROM a\nHEALTHCHECK RUN x\n', /Unknown type "RUN" in HEALTHCHECK/);
});

test('ONBUILD keeps its trigger text (with heredocs) and refuses FROM, MAINTAINER and ONBUILD', () => {
  const { dockerfile } = loadDockerfile('FROM a\nONBUILD RUN <<EOF\necho hi\nEOF\n');
  const ob = dockerfile.stages[0]!.instructions[0] as OnbuildInstruction;
  assert.equal(ob.trigger, 'RUN');
  assert.equal(ob.expression, 'RUN <<EOF\necho hi\nEOF');
  fails('FROM a\nONBUILD MAINTAINER x\n', /MAINTAINER isn't allowed as an ONBUILD trigger/);
});

test('SHELL must be JSON; USER/WORKDIR take one argument; VOLUME entries are not empty', () => {
  fails('FROM a\nSHELL /bin/bash -c\n', /SHELL requires the arguments to be in JSON form/);
  fails('FROM a\nVOLUME [""]\n', /VOLUME specified can not be an empty string/);
  const err = (() => { try { loadDockerfile('FROM a\nUSER\n'); } catch (e) { return e; } })();
  assert.ok(err instanceof InstructionError);
  assert.equal(err.code, 'DOCKERFILE_INSTRUCTION');
  assert.deepEqual(err.location, { file: 'Dockerfile', line: 2, column: 1 });
});
