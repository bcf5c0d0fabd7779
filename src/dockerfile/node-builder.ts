/**
 * Turning one joined instruction line into a syntax node: the keyword, its builder flags, and
 * the argument nodes given by the keyword's argument rule (BuildKit's dispatch table).
 */
import { DockerfileSyntaxError } from '../errors.js';
import type { InstructionNode, SourceRange } from './ast.js';
import { goQuote } from './dump.js';
import { parseExecForm } from './json-form.js';
import { extractFlags, parseWords, splitFirstWord, splitKeyword, splitWhitespace } from './words.js';

/** The parts of a node that depend only on its text. */
export interface NodeShape extends Pick<InstructionNode, 'keyword' | 'flags' | 'args' | 'json' | 'rest'> {
  child?: NodeShape;
}

type ArgRule = (rest: string, escape: string, keyword: string) => { args: string[]; json: boolean; child?: NodeShape };

const maybeJson: ArgRule = (rest) => {
  if (rest === '') return { args: [], json: false };
  const exec = parseExecForm(rest);
  return exec ? { args: exec, json: true } : { args: [rest], json: false };
};

const maybeJsonList: ArgRule = (rest) => {
  const exec = parseExecForm(rest);
  return exec ? { args: exec, json: true } : { args: splitWhitespace(rest), json: false };
};

const whitespaceList: ArgRule = (rest) => ({ args: splitWhitespace(rest), json: false });

const wholeString: ArgRule = (rest) => ({ args: rest === '' ? [] : [rest], json: false });

const words: ArgRule = (rest, escape) => ({ args: parseWords(rest, escape), json: false });

/** ENV and LABEL: (key, value, separator) triplets, legacy `ENV key value` or `key=value...`. */
const nameValue: ArgRule = (rest, escape, keyword) => {
  const ws = parseWords(rest, escape);
  if (ws.length === 0) return { args: [], json: false };
  if (!ws[0]!.includes('=')) {
    const m = /[\t\v\f\r ]+/.exec(rest);
    if (!m) {
      throw new DockerfileSyntaxError(`${keyword.toUpperCase()} must have two arguments`, {
        hint: `write ${keyword.toUpperCase()} ${rest}=<value>`,
      });
    }
    return { args: [rest.slice(0, m.index), rest.slice(m.index + m[0].length), ''], json: false };
  }
  const args: string[] = [];
  for (const w of ws) {
    const eq = w.indexOf('=');
    if (eq < 0) {
      throw new DockerfileSyntaxError(`Syntax error - can't find = in ${goQuote(w)}. Must be of the form: name=value`, {
        hint: 'every word of this form must be name=value; quote values that contain spaces',
      });
    }
    args.push(w.slice(0, eq), w.slice(eq + 1), '=');
  }
  return { args, json: false };
};

/** HEALTHCHECK: the type word (CMD, NONE, ...) then the maybe-JSON command. */
const healthcheck: ArgRule = (rest, escape, keyword) => {
  const split = splitFirstWord(rest);
  if (!split) return { args: [], json: false };
  const cmd = maybeJson(split.rest, escape, keyword);
  return { args: [split.first, ...cmd.args], json: cmd.json };
};

/** ONBUILD: the rest is a whole instruction of its own. */
const subCommand: ArgRule = (rest, escape) => {
  if (rest === '') return { args: [], json: false };
  return { args: [], json: false, child: buildNodeShape(rest, escape) };
};

const RULES: Record<string, ArgRule> = {
  add: maybeJsonList,
  arg: words,
  cmd: maybeJson,
  copy: maybeJsonList,
  entrypoint: maybeJson,
  env: nameValue,
  expose: whitespaceList,
  from: whitespaceList,
  healthcheck,
  label: nameValue,
  maintainer: wholeString,
  onbuild: subCommand,
  run: maybeJson,
  shell: maybeJson,
  stopsignal: wholeString,
  user: wholeString,
  volume: maybeJsonList,
  workdir: wholeString,
};

/** True for keywords the parser knows (any other keyword fails later, at conversion). */
export function isKnownKeyword(lower: string): boolean {
  return Object.hasOwn(RULES, lower);
}

/** Splits a joined, trimmed instruction line into keyword, flags and argument nodes. */
export function buildNodeShape(line: string, escape: string): NodeShape {
  const { keyword, rest: afterKeyword } = splitKeyword(line);
  const { flags, rest } = afterKeyword === '' ? { flags: [], rest: '' } : extractFlags(afterKeyword, escape);
  const lower = keyword.toLowerCase();
  const rule = RULES[lower];
  // Unknown instructions keep one empty argument and fail at conversion, as in BuildKit.
  const shaped = rule ? rule(rest, escape, lower) : { args: [''], json: false };
  const node: NodeShape = { keyword, flags, args: shaped.args, json: shaped.json, rest };
  if (shaped.child) node.child = shaped.child;
  return node;
}

/** Gives a nested shape the range and bookkeeping fields of its parent. */
export function completeChild(shape: NodeShape, parent: { original: string; range: SourceRange }): InstructionNode {
  // Built field by field (not with spread/rest): this runs once per instruction and V8 keeps
  // literal objects of one shape fast.
  const node: InstructionNode = {
    keyword: shape.keyword,
    flags: shape.flags,
    args: shape.args,
    json: shape.json,
    rest: shape.rest,
    heredocs: [],
    original: parent.original,
    comments: [],
    range: parent.range,
  };
  if (shape.child) node.child = completeChild(shape.child, parent);
  return node;
}
