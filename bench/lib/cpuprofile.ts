/**
 * Reading `node --cpu-prof` output for the bench reports: self time by function and by source
 * file, so a missed goal comes with where strata's time went rather than a guess.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** Self time of one function or file. */
export interface SelfTime {
  name: string;
  ms: number;
}

/** A profile reduced to what a report needs. */
export interface ProfileSummary {
  wallMs: number;
  /** Time the main thread sat idle (waiting for I/O or a child process). */
  idleMs: number;
  gcMs: number;
  functions: SelfTime[];
  files: SelfTime[];
}

function shortUrl(url: string, root: string): string {
  if (url === '') return '(native)';
  const path = url.startsWith('file://') ? new URL(url).pathname : url;
  if (path.startsWith('node:')) return path;
  const rel = relative(root, path);
  return rel.startsWith('..') ? path : rel;
}

/** Summarises one .cpuprofile file; `root` shortens file paths. */
export function summarizeProfile(file: string, root: string): ProfileSummary {
  const p = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const fn = new Map<string, number>();
  const fileTimes = new Map<string, number>();
  let idle = 0;
  let gc = 0;
  for (let i = 0; i < p.samples.length; i++) {
    const node = byId.get(p.samples[i]!)!;
    const us = p.timeDeltas[i + 1] ?? 0; // a sample's delta is the gap before the next one
    const { functionName, url, lineNumber } = node.callFrame;
    if (functionName === '(idle)') idle += us;
    if (functionName === '(garbage collector)') gc += us;
    const where = shortUrl(url, root);
    const key = url === '' ? functionName : `${functionName || '(anonymous)'} ${where}:${lineNumber + 1}`;
    fn.set(key, (fn.get(key) ?? 0) + us);
    const fileKey = url === '' ? functionName : where;
    fileTimes.set(fileKey, (fileTimes.get(fileKey) ?? 0) + us);
  }
  const sorted = (m: Map<string, number>) => [...m].map(([name, us]) => ({ name, ms: us / 1000 })).sort((a, b) => b.ms - a.ms);
  return { wallMs: (p.endTime - p.startTime) / 1000, idleMs: idle / 1000, gcMs: gc / 1000, functions: sorted(fn), files: sorted(fileTimes) };
}

/** The newest .cpuprofile in `dir` (node names them by time and pid). */
export function latestProfile(dir: string): string | undefined {
  const files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile')).sort();
  return files.length ? join(dir, files[files.length - 1]!) : undefined;
}

/** Prints a summary: wall, idle, GC, then the top functions and files by self time. */
export function printProfile(title: string, s: ProfileSummary, top = 12): void {
  const pct = (ms: number) => `${((100 * ms) / s.wallMs).toFixed(1)}%`;
  console.log(`\n  profile: ${title} — ${s.wallMs.toFixed(0)} ms on the main thread, idle ${s.idleMs.toFixed(0)} ms (${pct(s.idleMs)}), GC ${s.gcMs.toFixed(0)} ms (${pct(s.gcMs)})`);
  console.log('    top self time by function:');
  for (const f of s.functions.slice(0, top)) console.log(`      ${f.ms.toFixed(0).padStart(6)} ms ${pct(f.ms).padStart(6)}  ${f.name}`);
  console.log('    by file:');
  for (const f of s.files.slice(0, Math.ceil(top / 2))) console.log(`      ${f.ms.toFixed(0).padStart(6)} ms ${pct(f.ms).padStart(6)}  ${f.name}`);
}
