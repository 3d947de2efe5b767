// Vector files by path, for Node only: every Node API is loaded by a dynamic import inside the functions (as the wasm
// loader does), so importing vqwasm in a browser never touches node:fs. The parsing is io/vectors.ts.
import { fail, raw } from '../errors.js';
import {
  parseBvecs, parseFvecs, parseIvecs, parseNpy, parseRawF32, vectorChunks, VECTOR_FORMATS,
  type ByteSource, type VectorChunk, type VectorChunkOptions, type VectorFormat, type Vectors,
} from './vectors.js';

export interface ReadVectorFileOptions {
  /** Default: from the extension (.npy, .fvecs, .ivecs, .bvecs; .f32 / .bin / .raw are raw float32). */
  format?: VectorFormat;
  /** Vector dimension, required for raw float32. */
  d?: number;
}

const EXT: Record<string, VectorFormat> = { npy: 'npy', fvecs: 'fvecs', ivecs: 'ivecs', bvecs: 'bvecs', f32: 'f32', bin: 'f32', raw: 'f32' };

function formatOf(where: string, path: unknown, format: unknown): VectorFormat {
  if (typeof path !== 'string' && !(path instanceof URL)) fail('INVALID_TYPE', where, 'path must be a string or a URL', path, 'a file path');
  if (format !== undefined) {
    if (!(VECTOR_FORMATS as readonly unknown[]).includes(format)) fail('INVALID_OPTION', where, 'unknown format', format, VECTOR_FORMATS.map((f) => `'${f}'`).join(', '));
    return format as VectorFormat;
  }
  const name = String(path);
  const ext = name.slice(name.lastIndexOf('.') + 1).toLowerCase();
  if (!Object.hasOwn(EXT, ext)) fail('INVALID_OPTION', where, 'cannot tell the format from the file name', raw(name), "a .npy, .fvecs, .ivecs, .bvecs or .f32 name, or options.format");
  return EXT[ext];
}

async function fsp(where: string): Promise<typeof import('node:fs/promises')> {
  try {
    return await import('node:fs/promises');
  } catch {
    return fail('UNSUPPORTED', where, 'file paths need Node (node:fs)', raw('no node:fs in this runtime'), 'Node, or parse the bytes with parseNpy / parseFvecs ...');
  }
}

/** Reads a whole vector file (Node). Use vectorFileChunks for files larger than memory. */
export async function readVectorFile(path: string | URL, options: ReadVectorFileOptions = {}): Promise<Vectors> {
  const where = 'readVectorFile';
  const format = formatOf(where, path, options?.format);
  const bytes = await (await fsp(where)).readFile(path).catch((e: unknown) => unreadable(where, path, e));
  const d = options.d;
  if (format === 'f32') return parseRawF32(bytes, d as number);
  const v = { npy: parseNpy, fvecs: parseFvecs, ivecs: parseIvecs, bvecs: parseBvecs }[format](bytes);
  // d is checked against the file, as vectorFileChunks checks it
  if (d !== undefined && v.d !== d) fail('INVALID_SIZE', where, 'the file holds vectors of another dimension', raw(`d = ${v.d}`), `d = ${d}`);
  return v;
}

/** A file that cannot be opened or read (missing, a directory, no permission): INVALID_OPTION naming path and reason. */
function unreadable(where: string, path: string | URL, e: unknown): never {
  const code = (e as { code?: unknown })?.code;
  return fail('INVALID_OPTION', where, `cannot read ${String(path)}`, raw(typeof code === 'string' ? code : String(e)), 'a readable file');
}

/**
 * The vectors of a .fvecs, .npy or raw float32 file in blocks (Node): an async iterator of VectorChunk that reads the
 * file as it goes, so files larger than memory can be encoded in chunks. The file is closed when the loop ends
 * (also on break or error).
 */
export async function* vectorFileChunks(path: string | URL, options: Partial<VectorChunkOptions> = {}): AsyncGenerator<VectorChunk, void, undefined> {
  const where = 'vectorFileChunks';
  const format = formatOf(where, path, options?.format);
  if (format !== 'fvecs' && format !== 'npy' && format !== 'f32') fail('UNSUPPORTED', where, `.${format} files are not read in chunks`, format, "'fvecs', 'npy' or 'f32'");
  const fh = await (await fsp(where)).open(path, 'r').catch((e: unknown) => unreadable(where, path, e));
  try {
    const { size } = await fh.stat();
    const source: ByteSource = {
      size,
      async read(offset, length) {
        const buf = new Uint8Array(length);
        let got = 0;
        while (got < length) {
          // (a directory opens, and fails here: EISDIR)
          const { bytesRead } = await fh.read(buf, got, length - got, offset + got).catch((e: unknown) => unreadable(where, path, e));
          if (bytesRead === 0) break;
          got += bytesRead;
        }
        return got === length ? buf : buf.subarray(0, got);
      },
    };
    yield* vectorChunks(source, { ...options, format });
  } finally {
    await fh.close();
  }
}
