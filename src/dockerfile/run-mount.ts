/**
 * `RUN --mount=type=cache,target=/root/.cache,sharing=locked`: the option syntax (CSV fields of
 * key=value) and the checks BuildKit makes on it.
 */
import { InstructionError } from '../errors.js';
import { suggest } from '../util/suggest.js';
import type { MountSpec } from './instructions.js';

const TYPES = ['bind', 'cache', 'tmpfs', 'secret', 'ssh'] as const;
const SHARING = ['shared', 'private', 'locked'] as const;
const KEYS = ['type', 'from', 'source', 'src', 'target', 'dst', 'destination', 'readonly', 'ro', 'readwrite', 'rw', 'required', 'size', 'id', 'sharing', 'mode', 'uid', 'gid', 'env'];

/** Splits a CSV record (double quotes group, `""` is a quote). */
export function splitCsv(text: string): string[] {
  const fields: string[] = [];
  let i = 0;
  for (;;) {
    let field = '';
    if (text[i] === '"') {
      i++;
      for (;;) {
        if (i >= text.length) throw new InstructionError(`unterminated quote in ${JSON.stringify(text)}`);
        if (text[i] === '"') {
          if (text[i + 1] === '"') { field += '"'; i += 2; continue; }
          i++;
          break;
        }
        field += text[i++];
      }
      if (i < text.length && text[i] !== ',') throw new InstructionError(`unexpected text after a quoted field in ${JSON.stringify(text)}`);
    } else {
      const end = text.indexOf(',', i);
      field = text.slice(i, end < 0 ? text.length : end);
      i = end < 0 ? text.length : end;
    }
    fields.push(field);
    if (i >= text.length) return fields;
    i++; // the comma
  }
}

function boolValue(key: string, value: string | undefined): boolean {
  if (value === undefined) return true;
  const v = value.toLowerCase();
  if (v === 'true' || v === '1') return true;
  if (v === 'false' || v === '0') return false;
  throw new InstructionError(`invalid value for ${key}: ${value}`, { hint: `use ${key}=true or ${key}=false` });
}

/** Parses one `--mount` value. Values holding `$` are kept for expansion at build time. */
export function parseMount(raw: string): MountSpec {
  const m: MountSpec = { type: 'bind', raw };
  for (const field of splitCsv(raw)) {
    const eq = field.indexOf('=');
    const key = (eq < 0 ? field : field.slice(0, eq)).trim().toLowerCase();
    const value = eq < 0 ? undefined : field.slice(eq + 1);
    if (value === undefined && !['readonly', 'ro', 'readwrite', 'rw', 'required'].includes(key)) {
      throw new InstructionError(`invalid field '${field}' must be a key=value pair`, { hint: 'write --mount=type=cache,target=/path' });
    }
    const v = value ?? '';
    switch (key) {
      case 'type': {
        const t = v.toLowerCase();
        if (!(TYPES as readonly string[]).includes(t)) {
          const close = suggest(t, TYPES);
          throw new InstructionError(`unsupported mount type "${v}"`, { hint: close ? `did you mean ${close}?` : `use one of ${TYPES.join(', ')}` });
        }
        m.type = t as MountSpec['type'];
        break;
      }
      case 'from':
        if (v.includes('$')) throw new InstructionError(`'from' doesn't support variable expansion, define alias stage instead`, { hint: 'add FROM <image> AS <name> and mount from=<name>' });
        m.from = v;
        break;
      case 'source': case 'src': m.source = v; break;
      case 'target': case 'dst': case 'destination': m.target = v; break;
      case 'readonly': case 'ro': m.readonly = boolValue(key, value); break;
      case 'readwrite': case 'rw': m.readonly = !boolValue(key, value); break;
      case 'required': m.required = boolValue(key, value); break;
      case 'size': m.size = v; break;
      case 'id': m.id = v; break;
      case 'sharing': {
        const s = v.toLowerCase();
        if (!(SHARING as readonly string[]).includes(s)) throw new InstructionError(`unsupported sharing value "${v}"`, { hint: `use one of ${SHARING.join(', ')}` });
        m.sharing = s as MountSpec['sharing'];
        break;
      }
      case 'mode':
        if (!v.includes('$') && !/^[0-7]{1,4}$/.test(v)) throw new InstructionError(`invalid value ${v} for mode`, { hint: 'give an octal mode such as 0755' });
        m.mode = v;
        break;
      case 'uid': case 'gid':
        if (!v.includes('$') && !/^[0-9]+$/.test(v)) throw new InstructionError(`invalid value ${v} for ${key}`, { hint: 'give a numeric id' });
        m[key] = v;
        break;
      case 'env': m.env = v; break;
      default: {
        const close = suggest(key, KEYS);
        throw new InstructionError(`unexpected key '${key}' in '${field}'`, { hint: close ? `did you mean ${close}?` : `known keys: ${KEYS.join(', ')}` });
      }
    }
  }
  checkMount(m);
  return m;
}

function checkMount(m: MountSpec): void {
  const onlyFor = (what: string, value: unknown, types: string[]): void => {
    if (value !== undefined && !types.includes(m.type)) throw new InstructionError(`${what} not allowed for "${m.type}" type mounts`);
  };
  onlyFor('mode', m.mode, ['cache', 'secret', 'ssh']);
  onlyFor('uid', m.uid, ['cache', 'secret', 'ssh']);
  onlyFor('gid', m.gid, ['cache', 'secret', 'ssh']);
  onlyFor('sharing', m.sharing, ['cache']);
  onlyFor('size', m.size, ['tmpfs']);
  onlyFor('required', m.required, ['secret', 'ssh']);
  if (m.type === 'secret') {
    if (m.from !== undefined) throw new InstructionError('secret mount should not have a from');
    if (!m.source && !m.target && !m.id && !m.env) throw new InstructionError('invalid secret mount. one of source, target required', { hint: 'add id=<secret> or target=<path>' });
  }
  if ((m.type === 'bind' || m.type === 'cache' || m.type === 'tmpfs') && !m.target) {
    throw new InstructionError(`mount type "${m.type}" needs a target`, { hint: `add target=/path to --mount=${m.raw}` });
  }
}
