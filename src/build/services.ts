/**
 * What every step of a build shares: the store and its tools, the cache, progress, and the
 * build-wide options. One object per build.
 */
import type { EscapeToken } from '../../grammar/dockerfile.js';
import type { Dockerfile } from '../dockerfile/instructions.js';
import type { Platform } from '../dockerfile/scope.js';
import type { ImageStore } from '../image/image-store.js';
import type { Snapshotter } from '../snapshot/snapshotter.js';
import type { Store } from '../store/store.js';
import type { BuildCache } from './cache.js';
import type { BuildContext } from './context.js';
import type { SecretSource } from './secrets.js';
import type { SshAgentSource } from './ssh-agents.js';
import type { StageResult } from './state.js';
import type { ProgressSink } from './progress.js';

/** Options of a build, as the CLI gives them. */
export interface BuildOptions {
  /** The build context directory. */
  contextDir: string;
  /** The Dockerfile's path (for messages and .dockerignore lookup) and content. */
  dockerfilePath: string;
  dockerfileContent: Buffer;
  tags: string[];
  buildArgs: Map<string, string>;
  target?: string;
  noCache: boolean;
  network: 'host' | 'none';
  labels: Record<string, string>;
  /** `--platform`; only the host platform is accepted. */
  platform?: string;
  /** Seconds since the epoch for created times and file-time clamping; 'now' keeps real times. */
  timestamp: number | 'now';
  squash: boolean;
  /** Layer compression to record for a later `save` without --compression. */
  compression?: 'none' | 'gzip' | 'zstd';
  /** `--secret`s: what `RUN --mount=type=secret` may show. */
  secrets?: SecretSource[];
  /** `--ssh` agents: what `RUN --mount=type=ssh` may forward. */
  sshAgents?: SshAgentSource[];
  progress: ProgressSink;
  signal?: AbortSignal;
}

/** Shared by the steps of one build. */
export interface BuildServices {
  opts: BuildOptions;
  store: Store;
  images: ImageStore;
  snapshotter: Snapshotter;
  cache: BuildCache;
  progress: ProgressSink;
  dockerfile: Dockerfile;
  escapeToken: EscapeToken;
  platform: Platform;
  /** Created time for history and config, in seconds. */
  created: number;
  /** Clamp new files' mtimes to this (undefined: keep them). */
  clampMtime?: number;
  /** Allocates progress step ids. */
  nextStepId(): number;
  /** The global scope (platform ARGs and meta ARGs), which stage ARGs may redeclare. */
  globalArgs: ReadonlyMap<string, string>;
  /** The build context, walked on first use (only builds that COPY from it pay for the walk). */
  context(): Promise<BuildContext>;
  /** The result of an earlier stage (for COPY --from / RUN --mount from). */
  stageResult(index: number): Promise<StageResult>;
  /** Build args some ARG declared (for the unused-argument warning). */
  usedBuildArgs: Set<string>;
}
