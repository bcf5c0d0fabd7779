/**
 * `--chmod` values: octal (`755`, `0644`, up to `7777`) or chmod(1) symbolic notation
 * (`+x`, `u=rw,go=r`, `g=u`), evaluated the way BuildKit does (BSD setmode semantics with a zero
 * umask). One BSD quirk is kept on purpose because BuildKit has it: `X` only acts with `+`, so
 * `u=rwX` gives no execute bit.
 */
import { InstructionError } from '../errors.js';

const ISUID = 0o4000;
const ISGID = 0o2000;
const ISVTX = 0o1000;
const STANDARD = ISUID | ISGID | 0o777;

const SET = 1;
const CLEAR = 2;
const UB = 4;
const GB = 8;
const OB = 16;

interface Cmd {
  op: '+' | '-' | 'X' | 'u' | 'g' | 'o';
  bits: number;
  flags: number;
}

/** A parsed `--chmod`. */
export type ChmodSpec = { kind: 'octal'; mode: number; text: string } | { kind: 'symbolic'; text: string; cmds: readonly Cmd[] };

function syntax(text: string): InstructionError {
  return new InstructionError(`invalid --chmod value ${JSON.stringify(text)}: expected an octal mode up to 7777 or chmod symbolic notation`, {
    hint: 'for example --chmod=755, --chmod=0644, --chmod=+x or --chmod=u=rw,go=r',
  });
}

/** Parses a `--chmod` value (a number is taken as the mode itself). */
export function parseChmod(value: string | number): ChmodSpec {
  if (typeof value === 'number') {
    if (!Number.isInteger(value) || value < 0 || value > 0o7777) throw syntax(value.toString(8));
    return { kind: 'octal', mode: value, text: value.toString(8) };
  }
  const text = value;
  if (/^[0-9]/.test(text)) {
    if (!/^[0-7]+$/.test(text)) throw syntax(text);
    const mode = parseInt(text, 8);
    if (mode > 0o7777) throw syntax(text);
    return { kind: 'octal', mode, text };
  }
  return { kind: 'symbolic', text, cmds: parseSymbolic(text) };
}

/** The mode a copied entry gets: `mode` (07777 bits) changed by the spec; `isDir` matters for `X`. */
export function applyChmod(spec: ChmodSpec, mode: number, isDir: boolean): number {
  if (spec.kind === 'octal') return spec.mode;
  const orig = mode & 0o7777;
  let m = orig;
  const common = (c: Cmd, value: number): void => {
    if (c.flags & CLEAR) {
      const clr = c.flags & SET ? 0o7 : value;
      if (c.flags & UB) m &= ~((clr << 6) & c.bits);
      if (c.flags & GB) m &= ~((clr << 3) & c.bits);
      if (c.flags & OB) m &= ~(clr & c.bits);
    }
    if (c.flags & SET) {
      if (c.flags & UB) m |= (value << 6) & c.bits;
      if (c.flags & GB) m |= (value << 3) & c.bits;
      if (c.flags & OB) m |= value & c.bits;
    }
  };
  for (const c of spec.cmds) {
    switch (c.op) {
      case 'u': common(c, (m >> 6) & 7); break;
      case 'g': common(c, (m >> 3) & 7); break;
      case 'o': common(c, m & 7); break;
      case '+': m |= c.bits; break;
      case '-': m &= ~c.bits; break;
      case 'X': if (isDir || orig & 0o111) m |= c.bits; break;
    }
  }
  return m & 0o7777;
}

/** Mode of directories COPY creates on the way to its destination: 0755, or an octal --chmod's permission bits. */
export function createdDirMode(spec: ChmodSpec | undefined): number {
  return spec?.kind === 'octal' ? spec.mode & 0o777 : 0o755;
}

function parseSymbolic(text: string): Cmd[] {
  const cmds: Cmd[] = [];
  const add = (op: '=' | '+' | '-' | 'X', who: number, arg: number): void => {
    if (op === '=') {
      cmds.push({ op: '-', bits: who !== 0 ? who : STANDARD, flags: 0 });
      op = '+';
    }
    cmds.push({ op, bits: who !== 0 ? who & arg : arg, flags: 0 });
  };
  const copyFrom = (from: 'u' | 'g' | 'o', who: number, op: string): void => {
    let flags = who !== 0 ? (who & 0o400 ? UB : 0) | (who & 0o040 ? GB : 0) | (who & 0o004 ? OB : 0) : UB | GB | OB;
    flags |= op === '+' ? SET : op === '-' ? CLEAR : SET | CLEAR;
    cmds.push({ op: from, bits: who !== 0 ? ~0 : 0o7777, flags });
  };
  let i = 0;
  const s = text;
  for (;;) {
    let who = 0;
    for (; i < s.length; i++) {
      const c = s[i];
      if (c === 'a') who |= STANDARD;
      else if (c === 'u') who |= ISUID | 0o700;
      else if (c === 'g') who |= ISGID | 0o070;
      else if (c === 'o') who |= 0o007;
      else break;
    }
    if (i >= s.length) throw syntax(text);
    let equalDone = false;
    // One or more operations share the `who` before them (`u+x-w`).
    for (;;) {
      const op = s[i++];
      if (op !== '+' && op !== '-' && op !== '=') throw syntax(text);
      if (op === '=') equalDone = false;
      who &= ~ISVTX;
      let perm = 0;
      let permX = 0;
      for (;; i++) {
        const c = s[i];
        if (c === 'r') perm |= 0o444;
        else if (c === 'w') perm |= 0o222;
        else if (c === 'x') perm |= 0o111;
        else if (c === 's') {
          if (who === 0 || who & ~0o007) perm |= ISUID | ISGID;
        } else if (c === 't') {
          if (who === 0 || who & ~0o007) {
            who |= ISVTX;
            perm |= ISVTX;
          }
        } else if (c === 'X') {
          if (op === '+') permX = 0o111;
        } else if (c === 'u' || c === 'g' || c === 'o') {
          if (perm !== 0) {
            add(op, who, perm);
            perm = 0;
          }
          if (op === '=') equalDone = true;
          if (permX !== 0) {
            add('X', who, permX);
            permX = 0;
          }
          copyFrom(c, who, op);
        } else {
          if (perm !== 0 || (op === '=' && !equalDone)) {
            if (op === '=') equalDone = true;
            add(op, who, perm);
          }
          if (permX !== 0) add('X', who, permX);
          break;
        }
      }
      if (i >= s.length) return cmds;
      if (s[i] === ',') {
        i++;
        break;
      }
    }
  }
}
