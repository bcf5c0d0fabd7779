/**
 * The expansion pass and ARG/ENV scoping: which instructions expand, with which variables.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { applyToScope, expandFrom, expandInstruction, globalScope } from '../../src/dockerfile/expand-instruction.js';
import { loadDockerfile } from '../../src/dockerfile/index.js';
import type { Instruction } from '../../src/dockerfile/instructions.js';
import { parsePlatform, platformArgs, StageScope } from '../../src/dockerfile/scope.js';

/** Runs a stage's instructions through the pass and returns them expanded. */
function expandStage(text: string, buildArgs: Record<string, string> = {}, baseEnv: string[] = []): { from: string; insts: Instruction[] } {
  const { dockerfile } = loadDockerfile(text);
  const args = new Map(Object.entries(buildArgs));
  const global = globalScope(dockerfile.metaArgs, args, platformArgs({ os: 'linux', architecture: 'arm64', variant: 'v8' }), '\\');
  const stage = dockerfile.stages[dockerfile.stages.length - 1]!;
  const scope = new StageScope(baseEnv);
  const insts: Instruction[] = [];
  for (const inst of stage.instructions) {
    const { instruction } = expandInstruction(inst, scope, '\\');
    applyToScope(instruction, scope, args, global);
    insts.push(instruction);
  }
  return { from: expandFrom(stage.from, global, '\\').instruction.image, insts };
}

test('a global ARG serves FROM, and a stage sees it only when it redeclares it', () => {
  const { from, insts } = expandStage('ARG V=1.0\nARG IMG=alpine\nFROM ${IMG}:$V\nWORKDIR /a/$V\nARG V\nWORKDIR /b/$V\n');
  assert.equal(from, 'alpine:1.0');
  assert.deepEqual(insts.filter((i) => i.kind === 'WORKDIR').map((i) => (i as { path: string }).path), ['/a/', '/b/1.0']);
});

test('build args override defaults; ENV wins over an ARG of the same name', () => {
  const { insts } = expandStage('FROM x\nARG A=default\nUSER $A\nENV A=fromenv\nUSER $A\n', { A: 'cli' });
  assert.deepEqual(insts.filter((i) => i.kind === 'USER').map((i) => (i as { user: string }).user), ['cli', 'fromenv']);
});

test('one ENV sees the values from before it; the next sees the new ones', () => {
  const { insts } = expandStage('FROM x\nENV A=1\nENV A=2 B=$A\nLABEL b=$B a=$A\n');
  const label = insts.find((i) => i.kind === 'LABEL') as { pairs: { key: string; value: string }[] };
  assert.deepEqual(label.pairs, [{ key: 'b', value: '1' }, { key: 'a', value: '2' }]);
});

test('platform ARGs are global, and visible in a stage only when declared', () => {
  const { from, insts } = expandStage('FROM img-$TARGETARCH\nWORKDIR /$TARGETARCH\nARG TARGETARCH TARGETVARIANT\nWORKDIR /$TARGETARCH$TARGETVARIANT\n');
  assert.equal(from, 'img-arm64');
  assert.deepEqual(insts.filter((i) => i.kind === 'WORKDIR').map((i) => (i as { path: string }).path), ['/', '/arm64v8']);
});

test('the base image environment is visible; RUN, CMD and HEALTHCHECK are not expanded', () => {
  const { insts } = expandStage('FROM x\nENV PATH=/opt/bin:$PATH\nRUN echo $PATH\nCMD echo $HOME\n', {}, ['PATH=/usr/bin', 'HOME=/root']);
  const env = insts.find((i) => i.kind === 'ENV') as { pairs: { value: string }[] };
  assert.equal(env.pairs[0]!.value, '/opt/bin:/usr/bin');
  assert.deepEqual((insts.find((i) => i.kind === 'RUN') as { command: { args: string[] } }).command.args, ['echo $PATH']);
  assert.deepEqual((insts.find((i) => i.kind === 'CMD') as { command: { args: string[] } }).command.args, ['echo $HOME']);
});

test('COPY sources, destination, --chown and --from expand; quotes are removed', () => {
  const { insts } = expandStage('FROM x\nARG U=app SRC=build\nCOPY --chown=$U:$U --from=$SRC ["/out dir/", "${DEST:-/srv}"]\n');
  const copy = insts.find((i) => i.kind === 'COPY') as { chown: string; from: string; sources: string[]; dest: string };
  assert.equal(copy.chown, 'app:app');
  assert.equal(copy.from, 'build');
  assert.deepEqual(copy.sources, ['/out dir/']);
  assert.equal(copy.dest, '/srv');
  // Shell form splits on spaces before expansion, so a quoted space breaks the quote, as in BuildKit.
  assert.throws(() => expandStage('FROM x\nCOPY "a b" /d\n'), /matching double-quote/);
});

test('EXPOSE expands and splits; RUN --mount options expand', () => {
  const { insts } = expandStage('FROM x\nARG PORTS="80 443/udp" CACHE=/root/.cache\nEXPOSE $PORTS 8080\nRUN --mount=type=cache,target=$CACHE make\n');
  assert.deepEqual((insts.find((i) => i.kind === 'EXPOSE') as { ports: string[] }).ports, ['80', '443/udp', '8080']);
  const run = insts.find((i) => i.kind === 'RUN') as { mounts: { target: string }[] };
  assert.equal(run.mounts[0]!.target, '/root/.cache');
});

test('platforms parse and format', () => {
  assert.deepEqual(parsePlatform('linux/arm/v7'), { os: 'linux', architecture: 'arm', variant: 'v7' });
  assert.deepEqual(parsePlatform('amd64'), { os: 'linux', architecture: 'amd64' });
  assert.deepEqual(parsePlatform('linux/x86_64'), { os: 'linux', architecture: 'amd64' });
  assert.equal(parsePlatform('linux//x'), undefined);
  assert.equal(platformArgs({ os: 'linux', architecture: 'arm', variant: 'v7' }).get('TARGETPLATFORM'), 'linux/arm/v7');
});
