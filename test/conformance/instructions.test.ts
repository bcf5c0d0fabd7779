/**
 * The corpus's second-stage cases (derived/instruction-cases.json, transcribed by hand from
 * BuildKit's tests). The issue names buildah as the arbiter where the file and buildah disagree;
 * each such case was run through buildah 1.28 (`buildah bud --isolation chroot`, 2026-11-24) and
 * the table below records what buildah does. docs/dockerfile-compat.md explains each one.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { convertNode } from '../../src/dockerfile/convert-instruction.js';
import { loadDockerfile } from '../../src/dockerfile/index.js';
import type { CopyInstruction, HealthcheckInstruction, RunInstruction } from '../../src/dockerfile/instructions.js';
import { parseDockerfile } from '../../src/dockerfile/parser.js';
import { StrataError } from '../../src/errors.js';
import { CORPUS_ABSENT, Tally, corpusDir, readCorpusJson } from '../helpers/corpus.js';

/** Cases the file expects to fail but buildah accepts: strata accepts them too, with this warning. */
const BUILDAH_ACCEPTS: Record<string, string> = {
  'ENV =arg2': 'BlankName',
  'LABEL =arg2': 'BlankName',
  'MAINTAINER --boo joe@example.com': 'IgnoredFlag',
  'HEALTHCHECK --interval=50ns CMD true': 'HealthcheckInterval',
};

/** Same failure, strata's own words (the message format; buildah says `Unknown instruction: "FOO"`). */
const STRATA_WORDING: Record<string, string> = {
  'unknown instruction: FOO': 'unknown instruction "FOO"',
  'unknown instruction: foo': 'unknown instruction "foo"',
};

function convertFirst(dockerfile: string): { result?: unknown; error?: unknown; warnings: string[] } {
  const warnings: string[] = [];
  const ast = parseDockerfile(dockerfile);
  try {
    return { result: convertNode(ast.instructions[0]!, (rule) => warnings.push(rule)), warnings };
  } catch (error) {
    return { error, warnings };
  }
}

test('instruction corpus: error cases', (t) => {
  if (!corpusDir()) return t.skip(CORPUS_ABSENT);
  const data = readCorpusJson('buildkit/derived/instruction-cases.json');
  const tally = new Tally('instruction errors');
  for (const c of data.errors as { dockerfile: string; errorContains: string }[]) {
    tally.check(JSON.stringify(c.dockerfile), () => {
      const got = convertFirst(c.dockerfile);
      const acceptedRule = BUILDAH_ACCEPTS[c.dockerfile];
      if (acceptedRule) {
        assert.equal(got.error, undefined, `buildah accepts this; strata should too`);
        assert.ok(got.warnings.includes(acceptedRule), `expected a ${acceptedRule} warning, got ${got.warnings.join(',')}`);
        return;
      }
      assert.ok(got.error instanceof StrataError, `expected a typed error, got ${String(got.error ?? 'success')}`);
      assert.ok((got.error as Error).message.includes(STRATA_WORDING[c.errorContains] ?? c.errorContains), (got.error as Error).message);
    });
  }
  tally.report();
  assert.deepEqual(tally.failures, []);
});

test('instruction corpus: healthcheck, RUN flags, COPY and RUN heredocs, doc comments', (t) => {
  if (!corpusDir()) return t.skip(CORPUS_ABSENT);
  const data = readCorpusJson('buildkit/derived/instruction-cases.json');
  const tally = new Tally('instruction conversions');
  for (const c of data.healthcheck) {
    tally.check(`healthcheck ${c.dockerfile}`, () => {
      assert.deepEqual((convertFirst(c.dockerfile).result as HealthcheckInstruction).test, c.expect.test);
    });
  }
  for (const c of data.runFlagsUsed) {
    tally.check(`run flags ${c.dockerfile}`, () => {
      const run = convertFirst(c.dockerfile).result as RunInstruction;
      assert.deepEqual(c.expect.flagsUsed, ['mount']);
      assert.equal(run.mounts.length, 1);
      assert.equal(run.mounts[0]!.type, 'tmpfs');
      assert.equal(run.mounts[0]!.target, '/foo/');
    });
  }
  for (const c of data.copyHeredoc) {
    tally.check(`copy ${JSON.stringify(c.dockerfile)}`, () => {
      const copy = convertFirst(c.dockerfile).result as CopyInstruction;
      assert.deepEqual(
        { destPath: copy.dest, sourcePaths: copy.sources, sourceContents: copy.contents },
        c.expect,
      );
    });
  }
  for (const c of data.runHeredoc) {
    tally.check(`run ${JSON.stringify(c.dockerfile)}`, () => {
      const run = convertFirst(c.dockerfile).result as RunInstruction;
      assert.deepEqual(
        {
          prependShell: run.command.form === 'shell',
          cmdLine: run.command.args,
          files: run.command.files.map((f) => ({ name: f.name, data: f.data, chomp: f.chomp })),
        },
        c.expect,
      );
    });
  }
  for (const c of data.docComments) {
    tally.check('doc comments', () => {
      const { dockerfile } = loadDockerfile(c.dockerfile);
      const got = {
        metaArgs: dockerfile.metaArgs.flatMap((a) => a.args.map((d) => ({ key: d.key, docComment: d.docComment }))),
        stages: dockerfile.stages.map((s) => ({
          name: s.name,
          docComment: s.docComment,
          args: s.instructions.flatMap((i) => (i.kind === 'ARG' ? i.args.map((d) => ({ key: d.key, docComment: d.docComment })) : [])),
        })),
      };
      assert.deepEqual(got, c.expect);
    });
  }
  tally.report();
  assert.deepEqual(tally.failures, []);
});
