/**
 * `strata parse`: reads a Dockerfile and prints its typed stages (json), BuildKit's AST dump
 * (dump), or a readable outline (text). Warnings go to stderr.
 */
import type { Command } from 'commander';
import { dumpAst } from '../../dockerfile/dump.js';
import { loadDockerfile, type Dockerfile } from '../../dockerfile/index.js';
import { UsageError } from '../../errors.js';
import { readInput } from '../io.js';
import { renderJson, renderWarning } from '../render.js';

const FORMATS = ['text', 'json', 'dump'] as const;

/** Registers `parse` on the program. */
export function registerParse(program: Command): void {
  program
    .command('parse')
    .description('parse a Dockerfile and print its stages, instructions and warnings')
    .option('-f, --file <path>', 'the Dockerfile to read, or - for stdin', 'Dockerfile')
    .option('--format <format>', `output format: ${FORMATS.join(', ')}`, 'text')
    .addHelpText('after', `
Examples:
  $ strata parse -f fixtures/demo/Dockerfile
  $ strata parse -f Dockerfile --format json | jq '.stages[].name'
  $ cat Dockerfile | strata parse -f - --format dump`)
    .action(async (opts: { file: string; format: string }) => {
      if (!(FORMATS as readonly string[]).includes(opts.format)) {
        throw new UsageError(`unknown format "${opts.format}"`, { hint: `use --format ${FORMATS.join('|')}` });
      }
      const file = opts.file === '-' ? '<stdin>' : opts.file;
      const { ast, dockerfile } = loadDockerfile(await readInput(opts.file), { file });
      for (const w of dockerfile.warnings) process.stderr.write(renderWarning(file, w.line, w.message, w.rule) + '\n');
      if (opts.format === 'dump') process.stdout.write(dumpAst(ast));
      else if (opts.format === 'json') process.stdout.write(renderJson(dockerfile));
      else process.stdout.write(renderOutline(dockerfile));
    });
}

/** A readable outline: one block per stage, one line per instruction with its line number. */
export function renderOutline(df: Dockerfile): string {
  const lines: string[] = [];
  const count = df.stages.reduce((n, s) => n + s.instructions.length + 1, 0) + df.metaArgs.length;
  lines.push(`${df.file}: ${df.stages.length} stage${df.stages.length === 1 ? '' : 's'}, ${count} instruction${count === 1 ? '' : 's'}`);
  for (const a of df.metaArgs) lines.push(`  ${pad(a.range.start.line)}  ${a.original}`);
  for (const s of df.stages) {
    const label = s.name !== undefined ? `stage ${s.index} "${s.name}"` : `stage ${s.index}`;
    lines.push(`${label}: FROM ${s.from.image}${s.from.platform ? ` (platform ${s.from.platform})` : ''}`);
    for (const i of s.instructions) {
      const text = i.original.length > 100 ? i.original.slice(0, 97) + '...' : i.original;
      lines.push(`  ${pad(i.range.start.line)}  ${text}`);
    }
  }
  return lines.join('\n') + '\n';
}

function pad(n: number): string {
  return String(n).padStart(4);
}
