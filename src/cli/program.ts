/**
 * The `strata` command: commander wiring only. Each command lives in commands/<verb>.ts and calls
 * one library function; errors become one line on stderr and an exit code. Started by main.ts
 * (the tsc output, which tests run) or bundle-entry.ts (the bundle the `strata` command runs).
 */
import { Command, CommanderError } from 'commander';
import { packageVersion } from '../util/package-root.js';
import { registerBuild } from './commands/build.js';
import { registerHistory } from './commands/history.js';
import { registerImages } from './commands/images.js';
import { registerInspect } from './commands/inspect.js';
import { registerParse } from './commands/parse.js';
import { registerImport } from './commands/import.js';
import { registerLoad } from './commands/load.js';
import { registerSave } from './commands/save.js';
import { registerExport } from './commands/export.js';
import { registerSquash } from './commands/squash.js';
import { ExitCode, exitCodeFor, isExpected } from './exit-codes.js';
import { renderError, renderInternalError } from './render.js';


/** Builds the program (exported for tests that drive commander directly). */
export function buildProgram(): Command {
  const program = new Command('strata')
    .description('strata: a daemonless, layered container image builder and inspector')
    .version(packageVersion(), '-V, --version', 'print the version')
    .option('--root <dir>', 'the image store (default: $STRATA_ROOT, else /var/lib/strata as root, else ~/.local/share/strata)')
    .showSuggestionAfterError(true)
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
  program.addHelpText('after', `
Examples:
  $ strata parse -f Dockerfile
  $ strata images
  $ strata --root /tmp/store inspect busybox`);
  registerParse(program);
  registerBuild(program);
  registerImages(program);
  registerInspect(program);
  registerHistory(program);
  registerSave(program);
  registerLoad(program);
  registerImport(program);
  registerExport(program);
  registerSquash(program);
  for (const cmd of program.commands) cmd.exitOverride();
  return program;
}

/**
 * A reader that went away (`strata images | head -1`) ends the command quietly, as SIGPIPE ends
 * docker's: a command that stops cleanly on SIGTERM (build, export, squash) is stopped that way,
 * anything else exits at once. Node ignores SIGPIPE, so without this a write raises EPIPE and
 * prints a stack trace.
 */
function endQuietlyOnClosedPipe(): void {
  let ended = false;
  const onError = (e: NodeJS.ErrnoException): void => {
    if (e.code !== 'EPIPE') throw e;
    if (ended) return;
    ended = true;
    if (process.listenerCount('SIGTERM') > 0) process.emit('SIGTERM', 'SIGTERM');
    else process.exit(ExitCode.brokenPipe);
  };
  process.stdout.on('error', onError);
  process.stderr.on('error', onError);
}

/** Runs the command line `argv` (as process.argv); resolves to the exit code. */
export async function main(argv: string[]): Promise<number> {
  endQuietlyOnClosedPipe();
  try {
    await buildProgram().parseAsync(argv);
    return ExitCode.ok;
  } catch (e) {
    if (e instanceof CommanderError) {
      // Help and version end with code 0; anything else commander rejects is bad usage.
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') return ExitCode.ok;
      return ExitCode.usage;
    }
    if (isExpected(e)) {
      process.stderr.write(renderError(e) + '\n');
      return exitCodeFor(e);
    }
    process.stderr.write('strata: ' + renderInternalError(e) + '\n');
    return ExitCode.failure;
  }
}
