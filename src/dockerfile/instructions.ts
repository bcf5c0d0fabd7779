/**
 * Typed Dockerfile instructions, grouped into stages: the library's stable model of a Dockerfile
 * (what `strata parse --format json` prints). Values are as written: variables are expanded later,
 * at build time, by expand-instruction.ts, because they depend on the base image's environment.
 */
import type { Directive, SourceRange } from './ast.js';

/** Fields every instruction has. */
export interface InstructionBase {
  /** The instruction keyword in upper case. */
  kind: string;
  /** The instruction's text after continuation joining, as written. */
  original: string;
  range: SourceRange;
}

/** A command line given in shell form (`RUN make`) or exec form (`RUN ["make"]`). */
export interface CommandLine {
  form: 'shell' | 'exec';
  /** Shell form: one element, the whole command. Exec form: argv. */
  args: string[];
  /** Heredoc bodies handed to the command (RUN only). */
  files: InlineFile[];
}

/** A RUN heredoc. */
export interface InlineFile {
  name: string;
  /** The raw body (tabs are removed at build time when `chomp`). */
  data: string;
  chomp: boolean;
  expand: boolean;
}

/** A COPY/ADD heredoc source. */
export interface SourceContent {
  /** The heredoc name, used as the file name. */
  path: string;
  /** The body, with `<<-` tabs already removed. */
  data: string;
  expand: boolean;
}

/** `--mount=` of RUN, parsed but not expanded. */
export interface MountSpec {
  type: 'bind' | 'cache' | 'tmpfs' | 'secret' | 'ssh';
  target?: string;
  source?: string;
  from?: string;
  readonly?: boolean;
  id?: string;
  sharing?: 'shared' | 'private' | 'locked';
  mode?: string;
  uid?: string;
  gid?: string;
  required?: boolean;
  size?: string;
  env?: string;
  /** The option text as written. */
  raw: string;
}

export interface FromInstruction extends InstructionBase { kind: 'FROM'; image: string; stageName?: string; platform?: string }
export interface RunInstruction extends InstructionBase {
  kind: 'RUN';
  command: CommandLine;
  mounts: MountSpec[];
  network?: 'default' | 'none' | 'host';
  security?: 'sandbox' | 'insecure';
}
export interface CmdInstruction extends InstructionBase { kind: 'CMD'; command: CommandLine }
export interface EntrypointInstruction extends InstructionBase { kind: 'ENTRYPOINT'; command: CommandLine }
export interface KeyValue { key: string; value: string }
export interface EnvInstruction extends InstructionBase { kind: 'ENV'; pairs: KeyValue[]; legacy: boolean }
export interface LabelInstruction extends InstructionBase { kind: 'LABEL'; pairs: KeyValue[]; legacy: boolean }
export interface ArgDeclaration { key: string; value?: string; docComment: string }
export interface ArgInstruction extends InstructionBase { kind: 'ARG'; args: ArgDeclaration[] }
export interface MaintainerInstruction extends InstructionBase { kind: 'MAINTAINER'; maintainer: string }
export interface ExposeInstruction extends InstructionBase { kind: 'EXPOSE'; ports: string[] }
export interface UserInstruction extends InstructionBase { kind: 'USER'; user: string }
export interface WorkdirInstruction extends InstructionBase { kind: 'WORKDIR'; path: string }
export interface VolumeInstruction extends InstructionBase { kind: 'VOLUME'; paths: string[] }
export interface StopSignalInstruction extends InstructionBase { kind: 'STOPSIGNAL'; signal: string }
export interface ShellInstruction extends InstructionBase { kind: 'SHELL'; shell: string[] }

/** Shared by COPY and ADD. */
export interface CopyLike extends InstructionBase {
  sources: string[];
  contents: SourceContent[];
  dest: string;
  chown?: string;
  chmod?: string;
  link: boolean;
  exclude: string[];
}
export interface CopyInstruction extends CopyLike { kind: 'COPY'; from?: string; parents: boolean }
export interface AddInstruction extends CopyLike { kind: 'ADD'; checksum?: string; keepGitDir: boolean; unpack?: boolean }

/** HEALTHCHECK: `test` as in the image config (`["NONE"]`, `["CMD", ...]`, `["CMD-SHELL", cmd]`). */
export interface HealthcheckInstruction extends InstructionBase {
  kind: 'HEALTHCHECK';
  test: string[];
  /** Durations in nanoseconds, as the image config stores them; absent when not given. */
  interval?: number;
  timeout?: number;
  startPeriod?: number;
  startInterval?: number;
  retries?: number;
}

/** ONBUILD: the trigger's text, run when a child image builds FROM this one. */
export interface OnbuildInstruction extends InstructionBase { kind: 'ONBUILD'; expression: string; trigger: string }

/** Any instruction that can appear in a stage. */
export type Instruction =
  | RunInstruction | CmdInstruction | EntrypointInstruction | EnvInstruction | LabelInstruction
  | ArgInstruction | MaintainerInstruction | ExposeInstruction | UserInstruction | WorkdirInstruction
  | VolumeInstruction | StopSignalInstruction | ShellInstruction | CopyInstruction | AddInstruction
  | HealthcheckInstruction | OnbuildInstruction;

/** A build stage: a FROM and the instructions after it. */
export interface Stage {
  /** Position among the file's stages, from 0 (`COPY --from=0`). */
  index: number;
  /** The `AS` name, lower-cased, if any. */
  name?: string;
  from: FromInstruction;
  instructions: Instruction[];
  /** The comment documenting the stage (`# <name> <text>` just before FROM). */
  docComment: string;
}

/** A non-fatal finding, shown on stderr with its line. */
export interface Diagnostic {
  rule: string;
  message: string;
  line: number;
}

/** The typed form of a whole Dockerfile. */
export interface Dockerfile {
  file: string;
  directives: Directive[];
  /** ARGs before the first FROM: they serve FROM lines (and stages that redeclare them). */
  metaArgs: ArgInstruction[];
  stages: Stage[];
  warnings: Diagnostic[];
}
