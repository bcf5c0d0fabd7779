/**
 * BuildKit's AST dump format (the `result` files of its parser corpus): one `(keyword "arg"...)`
 * line per instruction, every string quoted the way Go's strconv.Quote does it.
 */
import type { DockerfileAst, InstructionNode } from './ast.js';
import { isEscapedByte } from './source.js';

const PRINTABLE = /[\p{L}\p{M}\p{N}\p{P}\p{S} ]/u;
const SHORT_ESCAPES: Record<number, string> = { 7: '\\a', 8: '\\b', 9: '\\t', 10: '\\n', 11: '\\v', 12: '\\f', 13: '\\r' };

/** Go's strconv.Quote: a double-quoted literal; escaped invalid bytes come out as \xHH. */
export function goQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    if (ch === '"' || ch === '\\') out += '\\' + ch;
    else if (cp >= 0x20 && cp < 0x7f) out += ch;
    else if (isEscapedByte(cp)) out += '\\x' + hex(cp & 0xff, 2);
    else if (cp >= 0x80 && PRINTABLE.test(ch)) out += ch;
    else if (SHORT_ESCAPES[cp]) out += SHORT_ESCAPES[cp];
    else if (cp < 0x20 || cp === 0x7f) out += '\\x' + hex(cp, 2);
    else if (cp < 0x10000) out += '\\u' + hex(cp, 4);
    else out += '\\U' + hex(cp, 8);
  }
  return out + '"';
}

function hex(n: number, width: number): string {
  return n.toString(16).padStart(width, '0');
}

/** One instruction in dump form, without the surrounding parentheses. */
export function dumpNode(node: InstructionNode | Omit<InstructionNode, 'heredocs' | 'original' | 'comments' | 'range'>): string {
  let s = node.keyword.toLowerCase();
  if (node.flags.length > 0) s += ' [' + node.flags.map(goQuote).join(' ') + ']';
  if (node.child) s += ' (' + dumpNode(node.child) + ')';
  for (const a of node.args) s += ' ' + goQuote(a);
  return s.trim();
}

/** The whole file in dump form: one `(…)` line per instruction, each ending in `\n`. */
export function dumpAst(ast: DockerfileAst): string {
  let out = '';
  for (const node of ast.instructions) out += '(' + dumpNode(node) + ')\n';
  return out;
}
