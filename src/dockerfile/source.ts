/**
 * Turning Dockerfile bytes into text without losing anything. Dockerfiles are UTF-8, but a file
 * may hold stray bytes that are not; BuildKit keeps those bytes, so strata decodes them as lone
 * surrogates U+DC80..U+DCFF ("surrogateescape") and can render or re-encode them exactly.
 */

const strict = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Decodes UTF-8, mapping each invalid byte 0xHH to the lone surrogate U+DCHH. */
export function decodeSource(input: string | Uint8Array): string {
  if (typeof input === 'string') return input;
  try {
    return strict.decode(input);
  } catch {
    return decodeLossless(input);
  }
}

/** True for a code unit that stands for one invalid input byte. */
export function isEscapedByte(code: number): boolean {
  return code >= 0xdc80 && code <= 0xdcff;
}

function decodeLossless(b: Uint8Array): string {
  let out = '';
  let i = 0;
  const n = b.length;
  while (i < n) {
    const c = b[i]!;
    if (c < 0x80) {
      out += String.fromCharCode(c);
      i++;
      continue;
    }
    let need = 0;
    let cp = 0;
    let min = 0;
    if (c >= 0xc2 && c <= 0xdf) { need = 1; cp = c & 0x1f; min = 0x80; }
    else if (c >= 0xe0 && c <= 0xef) { need = 2; cp = c & 0x0f; min = 0x800; }
    else if (c >= 0xf0 && c <= 0xf4) { need = 3; cp = c & 0x07; min = 0x10000; }
    let ok = need > 0 && i + need < n;
    if (ok) {
      for (let k = 1; k <= need; k++) {
        const cc = b[i + k];
        if (cc === undefined || (cc & 0xc0) !== 0x80) { ok = false; break; }
        cp = (cp << 6) | (cc & 0x3f);
      }
    }
    // Overlong forms, surrogates and values past U+10FFFF are invalid UTF-8, as in Go.
    if (ok && (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))) ok = false;
    if (ok) {
      out += String.fromCodePoint(cp);
      i += need + 1;
    } else {
      out += String.fromCharCode(0xdc00 | c);
      i++;
    }
  }
  return out;
}

/** Encodes text back to bytes, restoring escaped invalid bytes. */
export function encodeSource(text: string): Buffer {
  let hasEscapes = false;
  for (let i = 0; i < text.length; i++) {
    if (isEscapedByte(text.charCodeAt(i))) { hasEscapes = true; break; }
  }
  if (!hasEscapes) return Buffer.from(text, 'utf8');
  const parts: Buffer[] = [];
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    // A high surrogate followed by a low one is a real pair, not escaped bytes.
    if (code >= 0xd800 && code <= 0xdbff && i + 1 < text.length) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) { i++; continue; }
    }
    if (isEscapedByte(code)) {
      parts.push(Buffer.from(text.slice(start, i), 'utf8'), Buffer.of(code & 0xff));
      start = i + 1;
    }
  }
  parts.push(Buffer.from(text.slice(start), 'utf8'));
  return Buffer.concat(parts);
}

/** Removes a UTF-8 byte order mark at the start of the text. */
export function stripBom(text: string): string {
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}
