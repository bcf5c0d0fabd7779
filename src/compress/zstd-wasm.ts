/**
 * Loads zstd-codec's WebAssembly build so that each stream gets its own instance with a heap
 * sized for it.
 *
 * Why not use the package as shipped: its module is built with a fixed 16 MiB heap (5 MiB of it
 * static data), the wasm declares that as its maximum memory, and running out calls emscripten's
 * abort(), which throws a string and leaves that instance unusable. 16 MiB is enough for zstd
 * levels 1-9 and for decoding windows up to 8 MiB, not for `zstd --long` (128 MiB windows) or
 * levels above 9. So we take the wasm bytes out of the package's JS, raise the maximum memory
 * its import section declares (the code itself asks the JS glue for the heap size, so nothing
 * else needs changing), compile it once, and instantiate it per stream with TOTAL_MEMORY chosen
 * from the compression level or the frame's window size. Wasm pages are only backed by RAM once
 * touched, so a generous heap costs address space, not RSS. One instance per stream also means
 * an abort can only ever take down the stream that caused it.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { CompressionError } from './errors.js';

const require = createRequire(import.meta.url);
const GLUE = 'zstd-codec/lib/zstd-codec-binding-wasm.js';
const MIB = 1 << 20;
const PAGE = 1 << 16;
/** Declared maximum after patching: 2 GiB, the most the glue's signed sbrk arithmetic allows. */
const MAX_PAGES = 32768;

/** Output callback of the binding: a fresh copy of the produced bytes, owned by the caller. */
export type BindingSink = (bytes: Uint8Array) => void;

/** zstd-codec's embind wrapper of a ZSTD_CStream (begin → transform* → end). */
export interface CompressBinding {
  begin(level: number): boolean;
  transform(chunk: Uint8Array, sink: BindingSink): boolean;
  end(sink: BindingSink): boolean;
  delete(): void;
}

/** zstd-codec's embind wrapper of a ZSTD_DStream; `flush` decodes bytes it held back. */
export interface DecompressBinding {
  begin(): boolean;
  transform(chunk: Uint8Array, sink: BindingSink): boolean;
  flush(sink: BindingSink): boolean;
  end(sink: BindingSink): boolean;
  delete(): void;
}

/** One instantiated codec module with its own heap. */
export interface ZstdInstance {
  readonly heapBytes: number;
  newCompressor(): CompressBinding;
  newDecompressor(): DecompressBinding;
}

/** The part of the WebAssembly global we use (the project's lib settings do not declare it). */
interface WasmApi {
  compile(bytes: Uint8Array): Promise<WasmModule>;
  Instance: new (module: WasmModule, imports: object) => { exports: object };
}
type WasmModule = object;
const Wasm = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

interface EmscriptenModule {
  TOTAL_MEMORY: number;
  print(): void;
  printErr(): void;
  instantiateWasm(info: object, receive: (instance: { exports: object }, module: WasmModule) => void): object;
  onRuntimeInitialized?: () => void;
  then?: unknown;
  ZstdCompressStreamBinding?: new () => CompressBinding;
  ZstdDecompressStreamBinding?: new () => DecompressBinding;
}

let compiled: Promise<{ module: WasmModule; factory: (m: EmscriptenModule) => unknown }> | undefined;

/** Compiles the patched wasm once per process. */
function load(): Promise<{ module: WasmModule; factory: (m: EmscriptenModule) => unknown }> {
  if (compiled) return compiled;
  compiled = (async () => {
    const gluePath = require.resolve(GLUE);
    const m = /wasmBinaryFile="data:application\/octet-stream;base64,([A-Za-z0-9+/=]+)"/.exec(readFileSync(gluePath, 'utf8'));
    if (!m) throw new CompressionError(`cannot find the wasm binary inside ${gluePath}`, { hint: 'the installed zstd-codec is not the 0.1.x build strata expects' });
    const module = await Wasm.compile(raiseMemoryMaximum(Buffer.from(m[1], 'base64'), MAX_PAGES));
    const factory = require(gluePath) as (m: EmscriptenModule) => unknown;
    return { module, factory };
  })();
  // A failed load is not cached: the next stream tries again.
  compiled.catch(() => (compiled = undefined));
  return compiled;
}

/** Starts a codec instance with (at least) `heapBytes` of heap. */
export async function createZstdInstance(heapBytes: number): Promise<ZstdInstance> {
  const { module, factory } = await load();
  const total = Math.max(16 * MIB, Math.ceil(heapBytes / PAGE) * PAGE);
  return new Promise((resolve, reject) => {
    const m: EmscriptenModule = {
      TOTAL_MEMORY: total,
      // The glue prints aborts and instantiation failures; the library must stay silent.
      print() {},
      printErr() {},
      instantiateWasm(info, receive) {
        try {
          const instance = new Wasm.Instance(module, info);
          receive(instance, module);
          return instance.exports;
        } catch (e) {
          reject(new CompressionError(`cannot start the zstd codec: ${String(e)}`, { cause: e }));
          throw e;
        }
      },
    };
    m.onRuntimeInitialized = () => {
      // The MODULARIZE glue makes the module a thenable that resolves to itself; resolving a
      // promise with it would loop forever.
      delete m.then;
      const C = m.ZstdCompressStreamBinding;
      const D = m.ZstdDecompressStreamBinding;
      if (!C || !D) return reject(new CompressionError('zstd-codec has no stream bindings'));
      resolve({ heapBytes: total, newCompressor: () => new C(), newDecompressor: () => new D() });
    };
    try {
      factory(m);
    } catch (e) {
      reject(new CompressionError(`cannot start the zstd codec: ${String(e)}`, { cause: e }));
    }
  });
}

/**
 * Smallest heap (MiB) measured to work per level 1-19, fed 1 MiB chunks with the input size
 * unknown (so zstd picks its large-input parameters, the most memory it ever uses per level).
 */
const COMPRESS_HEAP_MIB = [16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 24, 36, 32, 36, 36, 44, 36, 48, 64, 96];

/** Heap for a compressor at `level`: the measured minimum plus 8 MiB of allocator slack. */
export function compressHeapBytes(level: number): number {
  const measured = COMPRESS_HEAP_MIB[Math.min(Math.max(level, 0), COMPRESS_HEAP_MIB.length - 1)];
  return (measured + 8) * MIB;
}

/**
 * Heap for decoding frames with `windowBytes` windows: measured need is window + ~7 MiB (static
 * data, DStream buffers, our input chunk); 12 MiB extra leaves room for allocator slack.
 */
export function decompressHeapBytes(windowBytes: number): number {
  return Math.max(16 * MIB, windowBytes + 12 * MIB);
}

/** True for what emscripten's abort() throws (a string such as "abort(OOM). Build with ..."). */
export function isEmscriptenAbort(e: unknown): boolean {
  return typeof e === 'string' && e.startsWith('abort(');
}

// --- wasm binary patching ---------------------------------------------------------------------

function readLeb(buf: Uint8Array, pos: number): [value: number, next: number] {
  let value = 0;
  let shift = 0;
  let byte: number;
  do {
    byte = buf[pos++];
    value += (byte & 0x7f) * 2 ** shift;
    shift += 7;
  } while (byte & 0x80);
  return [value, pos];
}

function leb(n: number): number[] {
  const out: number[] = [];
  do {
    let byte = n & 0x7f;
    n = Math.floor(n / 128);
    if (n) byte |= 0x80;
    out.push(byte);
  } while (n);
  return out;
}

/**
 * Rewrites the import section so the imported memory declares `maxPages` as its maximum; every
 * other byte is copied unchanged. Throws if the binary has no imported memory.
 */
export function raiseMemoryMaximum(bin: Uint8Array, maxPages: number): Uint8Array {
  const parts: Uint8Array[] = [bin.subarray(0, 8)];
  let patched = false;
  let p = 8;
  while (p < bin.length) {
    const id = bin[p];
    const [size, body] = readLeb(bin, p + 1);
    const end = body + size;
    if (id !== 2) {
      parts.push(bin.subarray(p, end));
      p = end;
      continue;
    }
    const [count, first] = readLeb(bin, body);
    const out: number[] = leb(count);
    let s = first;
    for (let i = 0; i < count; i++) {
      const start = s;
      let [len, q] = readLeb(bin, s);
      [len, q] = readLeb(bin, q + len);
      q += len;
      const kind = bin[q++];
      out.push(...bin.subarray(start, q));
      if (kind === 0) {
        s = readLeb(bin, q)[1];
        out.push(...bin.subarray(q, s));
      } else if (kind === 1) {
        const flags = bin[q + 1];
        s = readLeb(bin, q + 2)[1];
        if (flags & 1) s = readLeb(bin, s)[1];
        out.push(...bin.subarray(q, s));
      } else if (kind === 2) {
        const flags = bin[q];
        const [min, next] = readLeb(bin, q + 1);
        s = flags & 1 ? readLeb(bin, next)[1] : next;
        out.push(1, ...leb(min), ...leb(maxPages));
        patched = true;
      } else if (kind === 3) {
        out.push(bin[q], bin[q + 1]);
        s = q + 2;
      } else {
        throw new CompressionError(`unexpected import kind ${kind} in the zstd wasm`);
      }
    }
    parts.push(Uint8Array.from([2, ...leb(out.length), ...out]));
    p = end;
  }
  if (!patched) throw new CompressionError('the zstd wasm imports no memory');
  return Buffer.concat(parts);
}
