/**
 * BuildKit's parser corpus: positive cases dumped byte-exact, negative cases failing, line
 * numbers, heredocs, directives, parse words, JSON exec forms and the corpus's extra cases.
 */
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { StrataError } from '../../src/errors.js';
import type { DockerfileAst, Heredoc } from '../../src/dockerfile/ast.js';
import { findDirective, scanDirectives } from '../../src/dockerfile/directives.js';
import { dumpAst, dumpNode } from '../../src/dockerfile/dump.js';
import { heredocsFromLine, parseHeredocWord } from '../../src/dockerfile/heredoc.js';
import { parseExecForm } from '../../src/dockerfile/json-form.js';
import { parseDockerfile } from '../../src/dockerfile/parser.js';
import { parseWords } from '../../src/dockerfile/words.js';
import { CORPUS_ABSENT, Tally, corpusDir, readCorpusJson } from '../helpers/corpus.js';

const dir = corpusDir();

interface CaseInstruction { sexp: string; startLine: number; endLine: number; heredocs: (Omit<Heredoc, 'content'> & { content: string })[] }
interface ParseCase { name: string; dockerfile: string; error: string | null; instructions: CaseInstruction[] | null; warnings: string[] | null; escapeToken: string }

/** Compares a parse with a corpus case (shape of parser-heredoc.json and extra-parser-cases.json). */
function checkCase(c: ParseCase, compareErrorText: boolean): void {
  let ast: DockerfileAst;
  try {
    ast = parseDockerfile(c.dockerfile);
  } catch (e) {
    if (c.error === null) throw e;
    assert.ok(e instanceof StrataError, `expected a typed error, got ${String(e)}`);
    if (compareErrorText) assert.equal(e.message, c.error);
    return;
  }
  assert.equal(c.error, null, `expected error ${c.error}`);
  const got = ast.instructions.map((n) => ({
    sexp: '(' + dumpNode(n) + ')',
    startLine: n.range.start.line,
    endLine: n.range.end.line,
    heredocs: n.heredocs.map((h) => ({ ...h })),
  }));
  assert.deepEqual(got, c.instructions);
  assert.deepEqual(ast.warnings.map((w) => w.message), c.warnings);
  assert.equal(ast.escapeToken, c.escapeToken);
}

test('parser corpus: positive testfiles dump byte-exact', (t) => {
  if (!dir) return t.skip(CORPUS_ABSENT);
  const tally = new Tally('parser testfiles');
  const root = join(dir, 'buildkit/parser/testfiles');
  for (const name of readdirSync(root).sort()) {
    tally.check(name, () => {
      const ast = parseDockerfile(readFileSync(join(root, name, 'Dockerfile')));
      assert.equal(dumpAst(ast), readFileSync(join(root, name, 'result'), 'utf8'));
    });
  }
  tally.report();
  assert.equal(tally.passed, 33);
  assert.deepEqual(tally.failures, []);
});

test('parser corpus: negative testfiles fail with a typed error', (t) => {
  if (!dir) return t.skip(CORPUS_ABSENT);
  const tally = new Tally('parser negative testfiles');
  const root = join(dir, 'buildkit/parser/testfiles-negative');
  for (const name of readdirSync(root).sort()) {
    tally.check(name, () => {
      assert.throws(() => parseDockerfile(readFileSync(join(root, name, 'Dockerfile'))), StrataError);
    });
  }
  tally.report();
  assert.equal(tally.passed, 4);
  assert.deepEqual(tally.failures, []);
});

test('parser corpus: line numbers of testfile-line', (t) => {
  if (!dir) return t.skip(CORPUS_ABSENT);
  const ast = parseDockerfile(readFileSync(join(dir, 'buildkit/parser/testfile-line/Dockerfile')));
  assert.deepEqual(
    ast.instructions.map((n) => [n.range.start.line, n.range.end.line]),
    [[5, 5], [11, 12], [17, 31]],
  );
});

test('parser corpus: heredoc and extra parser cases', (t) => {
  if (!dir) return t.skip(CORPUS_ABSENT);
  const tally = new Tally('parser heredoc + extra cases');
  for (const c of readCorpusJson<{ cases: ParseCase[] }>('buildkit/derived/parser-heredoc.json').cases) {
    tally.check(`parser-heredoc ${c.name}`, () => checkCase(c, true));
  }
  for (const c of readCorpusJson<{ cases: ParseCase[] }>('buildkit/derived/extra-parser-cases.json').cases) {
    tally.check(`extra ${c.name}`, () => checkCase(c, true));
  }
  tally.report();
  assert.deepEqual(tally.failures, []);
});

test('parser corpus: parser-misc (parse words, JSON arrays, continuations, line numbers)', (t) => {
  if (!dir) return t.skip(CORPUS_ABSENT);
  const misc = readCorpusJson('buildkit/derived/parser-misc.json');
  const tally = new Tally('parser-misc');
  for (const c of misc.parseWords as { input: string; words: string[] }[]) {
    tally.check(`parseWords ${JSON.stringify(c.input)}`, () => assert.deepEqual(parseWords(c.input, '\\'), c.words));
  }
  for (const c of misc.jsonArrays as { input: string; valid: boolean; values: string[] | null; error?: string }[]) {
    tally.check(`jsonArrays ${JSON.stringify(c.input)}`, () => {
      if (c.valid) assert.deepEqual(parseExecForm(c.input), c.values);
      else assert.throws(() => parseExecForm(c.input), (e: Error) => e.message === c.error);
    });
  }
  tally.check('emptyContinuation', () => checkCase(misc.emptyContinuation, true));
  tally.check('lineNumbers', () => checkCase(misc.lineNumbers, true));
  tally.check('lineNumbersRootSpan', () => {
    const ast = parseDockerfile(misc.lineNumbers.dockerfile);
    const span = [ast.instructions[0]!.range.start.line, ast.instructions.at(-1)!.range.end.line];
    assert.deepEqual(span, misc.lineNumbersRootSpan);
  });
  tally.report();
  assert.deepEqual(tally.failures, []);
});

test('parser corpus: directives', (t) => {
  if (!dir) return t.skip(CORPUS_ABSENT);
  const tally = new Tally('directives');
  for (const c of readCorpusJson('buildkit/derived/directives.json').cases as any[]) {
    tally.check(`${c.function} ${JSON.stringify(c.input)}`, () => {
      if (c.function === 'DirectiveParser.ParseAll') {
        assert.deepEqual(scanDirectives(c.input, 'Dockerfile').directives, c.directives);
        return;
      }
      const found = findDirective(c.function === 'DetectSyntax' ? 'syntax' : 'check', c.input);
      if (!c.found) assert.equal(found, undefined);
      else assert.deepEqual(found, { value: c.value, cmdline: c.cmdline, line: c.line });
    });
  }
  tally.report();
  assert.deepEqual(tally.failures, []);
});

test('parser corpus: heredoc words', (t) => {
  if (!dir) return t.skip(CORPUS_ABSENT);
  const data = readCorpusJson('buildkit/derived/heredoc-words.json');
  const tally = new Tally('heredoc words');
  for (const c of data.heredocsFromLine as { line: string; names: string[] }[]) {
    tally.check(`line ${JSON.stringify(c.line)}`, () => assert.deepEqual(heredocsFromLine(c.line).map((h) => h.name), c.names));
  }
  for (const c of data.parseHeredoc as { word: string; kind: string; heredoc: Heredoc | null }[]) {
    tally.check(`word ${JSON.stringify(c.word)}`, () => {
      if (c.kind === 'error') assert.throws(() => parseHeredocWord(c.word), StrataError);
      else if (c.kind === 'not-heredoc') assert.equal(parseHeredocWord(c.word), undefined);
      else assert.deepEqual(parseHeredocWord(c.word), c.heredoc);
    });
  }
  tally.report();
  assert.deepEqual(tally.failures, []);
});
