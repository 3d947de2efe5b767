// The saved-file container (bindings/io/format.ts): layout pinned byte for byte against an encoder written here from
// the documented layout, round trips of every section type, and refusal of every damaged or crafted file with VQError
// CORRUPT_DATA (never another error, never a silent success). Crafted files get a valid checksum from `reseal`, so
// that the check under test, not the CRC, is what catches them.
import * as zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { VQError, type VQErrorCode } from '../dist/errors.js';
import {
  crc32,
  FORMAT_VERSION,
  KIND_CODES,
  KINDS_BY_CODE,
  paramBool,
  paramInt,
  paramString,
  readContainer,
  sectionF32,
  sectionF64,
  sectionI32,
  sectionU8,
  writeContainer,
  type Container,
  type Kind,
  type Section,
} from '../dist/io/format.js';

// ---------------------------------------------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------------------------------------------

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  return undefined;
}

/** Asserts a VQError with this code whose message starts with `where:`, has a (got, expected) clause and the parts. */
function expectRefusal(fn: () => unknown, code: VQErrorCode, parts: readonly (string | RegExp)[] = [], where = 'Test.load'): VQError {
  const e = thrown(fn);
  expect(e, 'expected a refusal, got success').toBeInstanceOf(VQError);
  const err = e as VQError;
  expect(err.code, err.message).toBe(code);
  expect(err.message.startsWith(`${where}: `), err.message).toBe(true);
  expect(err.message, err.message).toMatch(/\(got .+, expected .+\)$/);
  for (const p of parts) {
    if (typeof p === 'string') expect(err.message).toContain(p);
    else expect(err.message).toMatch(p);
  }
  return err;
}

/** Bit-at-a-time CRC-32 straight from the definition, independent of the table-driven one under test. */
function crcRef(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1;
  }
  return (c ^ 0xffffffff) >>> 0;
}

const ascii = (s: string): Uint8Array => new TextEncoder().encode(s);

/** Recomputes the trailing checksum in place (crc of everything before the last 4 bytes). */
function reseal(f: Uint8Array): Uint8Array {
  new DataView(f.buffer, f.byteOffset, f.byteLength).setUint32(f.length - 4, crcRef(f.subarray(0, f.length - 4)), true);
  return f;
}

interface RawFile {
  magic?: string;
  version?: number;
  kind?: number;
  totalBytes?: number; // default: the true length
  paramsJson?: string;
  paramsBytes?: number; // default: the true length of paramsJson
  nsections?: number; // default: sections.length
  sections?: { tag: string; bytes: Uint8Array; byteLength?: number }[];
  extra?: Uint8Array; // bytes between the last section and the checksum
}

/** An encoder written from the documented layout, with every field overridable so that files can be crafted. */
function rawFile(o: RawFile): Uint8Array {
  const json = ascii(o.paramsJson ?? '{}');
  const pad = (n: number) => (4 - (n % 4)) % 4;
  const parts: number[] = [];
  const u16 = (v: number) => parts.push(v & 0xff, (v >>> 8) & 0xff);
  const u32 = (v: number) => parts.push(v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff);
  const bytes = (b: Uint8Array) => parts.push(...b);
  bytes(ascii(o.magic ?? 'VQWF'));
  u16(o.version ?? 1);
  u16(o.kind ?? 6);
  u32(0); // totalBytes, patched below
  u32(o.paramsBytes ?? json.length);
  bytes(json);
  for (let i = 0; i < pad(json.length); i++) parts.push(0);
  const secs = o.sections ?? [];
  u32(o.nsections ?? secs.length);
  for (const s of secs) {
    bytes(ascii(s.tag));
    u32(s.byteLength ?? s.bytes.length);
    bytes(s.bytes);
    for (let i = 0; i < pad(s.bytes.length); i++) parts.push(0);
  }
  if (o.extra) bytes(o.extra);
  u32(0); // crc, sealed below
  const f = new Uint8Array(parts);
  new DataView(f.buffer).setUint32(8, o.totalBytes ?? f.length, true);
  return reseal(f);
}

const f32Data = new Float32Array([1.5, -2.25, 0, -0, 3.4028234663852886e38, 1.401298464324817e-45, -1e-30]);
const i32Data = new Int32Array([0, -1, 2147483647, -2147483648, 12345]);
const f64Data = new Float64Array([Math.PI, -0, 5e-324, -1.7976931348623157e308]);
const u8Odd = new Uint8Array([1, 2, 3, 250, 255]); // 5 bytes: 3 bytes of padding

/** A few hundred bytes touching every field: params of each type and sections of each type, odd and empty. */
function sampleFile(): Uint8Array {
  return writeContainer(
    'PQIndex',
    { d: 16, M: 4, nbits: 8, metric: 'l2', normalize: false, scale: -0.125, note: 'héllo ✓' },
    [
      { tag: 'CENT', data: f32Data },
      { tag: 'IDS_', data: i32Data },
      { tag: 'F64_', data: f64Data },
      { tag: 'CODE', data: u8Odd },
      { tag: 'EMPT', data: new Uint8Array(0) },
      { tag: 'ONE_', data: new Uint8Array([7]) },
    ],
  );
}

// ---------------------------------------------------------------------------------------------------------------
// crc32
// ---------------------------------------------------------------------------------------------------------------

describe('crc32', () => {
  it('matches the standard check values', () => {
    expect(crc32(ascii('123456789'))).toBe(0xcbf43926);
    expect(crc32(new Uint8Array(0))).toBe(0);
    expect(crc32(ascii('The quick brown fox jumps over the lazy dog'))).toBe(0x414fa339);
    expect(crc32(new Uint8Array([0]))).toBe(0xd202ef8d);
  });

  it('matches a bitwise reference and zlib on random data of every length up to 300, and on subarrays', () => {
    let s = 12345;
    const data = new Uint8Array(300);
    for (let i = 0; i < data.length; i++) data[i] = (s = (Math.imul(s, 1103515245) + 12345) >>> 0) >>> 24;
    const zcrc = (zlib as unknown as { crc32?: (b: Uint8Array) => number }).crc32;
    for (let n = 0; n <= data.length; n += 7) {
      const b = data.subarray(n >> 1, n);
      expect(crc32(b)).toBe(crcRef(b));
      if (zcrc) expect(crc32(b)).toBe(zcrc(b));
    }
  });
});

// ---------------------------------------------------------------------------------------------------------------
// layout and round trip
// ---------------------------------------------------------------------------------------------------------------

describe('layout', () => {
  it('exports the kind table both ways', () => {
    expect(FORMAT_VERSION).toBe(1);
    expect(KIND_CODES).toEqual({
      ProductQuantizer: 1, OPQ: 2, PQIndex: 3, IVFPQIndex: 4, FlatIndex: 5, KMeans: 6, OnlineVQ: 7, ResidualQuantizer: 8, RQIndex: 9, SemanticIdTokenizer: 10, ScalarQuantizer: 11, SQIndex: 12, BinaryQuantizer: 13, BinaryIndex: 14, IVFFlatIndex: 15,
    });
    for (const [k, c] of Object.entries(KIND_CODES)) expect(KINDS_BY_CODE[c]).toBe(k);
    expect(Object.keys(KINDS_BY_CODE).length).toBe(15);
  });

  it('writes exactly the documented bytes (golden file)', () => {
    const f = writeContainer('KMeans', { k: 2 }, [{ tag: 'ABCD', data: new Uint8Array([1, 2, 3]) }]);
    // prettier-ignore
    const body = [
      0x56, 0x51, 0x57, 0x46, // 'VQWF'
      1, 0, // version
      6, 0, // kind KMeans
      44, 0, 0, 0, // totalBytes
      7, 0, 0, 0, // paramsBytes
      ...ascii('{"k":2}'), 0, // params + 1 byte of padding
      1, 0, 0, 0, // nsections
      ...ascii('ABCD'), 3, 0, 0, 0, 1, 2, 3, 0, // tag, byteLength, payload, padding
    ];
    const crc = crcRef(new Uint8Array(body));
    expect(Array.from(f)).toEqual([...body, crc & 0xff, (crc >>> 8) & 0xff, (crc >>> 16) & 0xff, crc >>> 24]);
  });

  it('agrees byte for byte with the encoder written here from the layout', () => {
    const sections: Section[] = [
      { tag: 'CENT', data: f32Data },
      { tag: 'CODE', data: u8Odd },
      { tag: 'EMPT', data: new Uint8Array(0) },
    ];
    const params = { d: 16, metric: 'ip', x: true };
    const f = writeContainer('IVFPQIndex', params, sections);
    const ref = rawFile({
      kind: 4,
      paramsJson: JSON.stringify(params),
      sections: sections.map((s) => ({ tag: s.tag, bytes: new Uint8Array(s.data.buffer, s.data.byteOffset, s.data.byteLength) })),
    });
    expect(Array.from(f)).toEqual(Array.from(ref));
  });
});

describe('round trip', () => {
  it('returns the kind, version, params and every section, with aligned payloads and zero padding', () => {
    const f = sampleFile();
    expect(f.length % 4).toBe(0);
    const dv = new DataView(f.buffer, f.byteOffset, f.byteLength);
    expect(dv.getUint32(8, true)).toBe(f.length);
    expect(dv.getUint32(f.length - 4, true)).toBe(crcRef(f.subarray(0, f.length - 4)));

    const c = readContainer('Test.load', f, 'PQIndex');
    expect(c.kind).toBe('PQIndex');
    expect(c.version).toBe(1);
    expect(c.params).toEqual({ d: 16, M: 4, nbits: 8, metric: 'l2', normalize: false, scale: -0.125, note: 'héllo ✓' });
    expect([...c.sections.keys()]).toEqual(['CENT', 'IDS_', 'F64_', 'CODE', 'EMPT', 'ONE_']);
    for (const s of c.sections.values()) expect(s.byteOffset % 4).toBe(0); // the file buffer is aligned, so are payloads
    expect(Array.from(c.sections.get('CODE')!)).toEqual([1, 2, 3, 250, 255]);
    expect(c.sections.get('EMPT')!.length).toBe(0);
    expect(Array.from(c.sections.get('ONE_')!)).toEqual([7]);
    // the padding after each odd payload is zero
    const code = c.sections.get('CODE')!;
    expect(Array.from(f.subarray(code.byteOffset + 5, code.byteOffset + 8))).toEqual([0, 0, 0]);

    const f32 = sectionF32('Test.load', c, 'CENT', f32Data.length);
    expect(Array.from(f32)).toEqual(Array.from(f32Data));
    expect(Object.is(f32[3], -0)).toBe(true);
    expect(Array.from(sectionI32('Test.load', c, 'IDS_', i32Data.length))).toEqual(Array.from(i32Data));
    const f64 = sectionF64('Test.load', c, 'F64_', f64Data.length);
    expect(Array.from(f64)).toEqual(Array.from(f64Data));
    expect(Object.is(f64[1], -0)).toBe(true);
    expect(Array.from(sectionU8('Test.load', c, 'CODE', 5))).toEqual([1, 2, 3, 250, 255]);
    expect(sectionU8('Test.load', c, 'EMPT', 0).length).toBe(0);
    expect(sectionF32('Test.load', c, 'EMPT', 0).length).toBe(0);

    expect(paramInt('Test.load', c, 'd', 1, 1 << 20)).toBe(16);
    expect(paramString('Test.load', c, 'metric', ['l2', 'ip', 'cosine'])).toBe('l2');
    expect(paramBool('Test.load', c, 'normalize')).toBe(false);
  });

  it('writes typed arrays that are views at an offset (only the viewed bytes)', () => {
    const big = new Float32Array([9, 9, 1, 2, 3, 9]);
    const f = writeContainer('FlatIndex', {}, [{ tag: 'VECS', data: big.subarray(2, 5) }]);
    const c = readContainer('Test.load', f, 'FlatIndex');
    expect(Array.from(sectionF32('Test.load', c, 'VECS', 3))).toEqual([1, 2, 3]);
  });

  it('accepts an ArrayBuffer, a Node Buffer and a Uint8Array at an odd offset (accessors copy out unaligned data)', () => {
    const f = sampleFile();
    const ab = f.slice().buffer;
    expect(readContainer('Test.load', ab, 'PQIndex').params.d).toBe(16);
    expect(readContainer('Test.load', Buffer.from(f), 'PQIndex').params.d).toBe(16);
    const shifted = new Uint8Array(f.length + 1);
    shifted.set(f, 1);
    const c = readContainer('Test.load', shifted.subarray(1), 'PQIndex');
    expect(Array.from(sectionF32('Test.load', c, 'CENT', f32Data.length))).toEqual(Array.from(f32Data));
    expect(Array.from(sectionF64('Test.load', c, 'F64_', f64Data.length))).toEqual(Array.from(f64Data));
  });

  it('accessors return copies, independent of the input bytes', () => {
    const f = sampleFile();
    const c = readContainer('Test.load', f, 'PQIndex');
    const a = sectionF32('Test.load', c, 'CENT', f32Data.length);
    const b = sectionU8('Test.load', c, 'CODE', 5);
    f.fill(0);
    expect(a[0]).toBe(1.5);
    expect(b[0]).toBe(1);
  });

  it('accepts a list of expected kinds', () => {
    const f = writeContainer('IVFPQIndex', {}, []);
    expect(readContainer('Test.load', f, ['PQIndex', 'IVFPQIndex']).kind).toBe('IVFPQIndex');
  });

  it('round-trips every kind', () => {
    for (const k of Object.keys(KIND_CODES) as Kind[]) {
      const f = writeContainer(k, {}, []);
      expect(f.length).toBe(28); // 16 header + "{}" padded to 4 + nsections + crc
      expect(readContainer('Test.load', f, k).kind).toBe(k);
    }
  });

  it('ignores unknown params and sections (forward compatibility within a version)', () => {
    const f = rawFile({
      kind: 1,
      paramsJson: '{"d":8,"futureOption":"x"}',
      sections: [
        { tag: 'CENT', bytes: new Uint8Array(new Float32Array([1, 2]).buffer) },
        { tag: 'NEW!', bytes: new Uint8Array([1, 2, 3]) },
      ],
    });
    const c = readContainer('Test.load', f, 'ProductQuantizer');
    expect(paramInt('Test.load', c, 'd', 1, 100)).toBe(8);
    expect(Array.from(sectionF32('Test.load', c, 'CENT', 2))).toEqual([1, 2]);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// damaged files
// ---------------------------------------------------------------------------------------------------------------

describe('damaged files', () => {
  it('refuses every single-byte change anywhere in the file', () => {
    const f = sampleFile();
    expect(f.length).toBeGreaterThan(150);
    for (let i = 0; i < f.length; i++) {
      for (const mask of [0x01, 0x80, 0xff]) {
        const g = f.slice();
        g[i] ^= mask;
        const e = thrown(() => readContainer('Test.load', g, 'PQIndex'));
        if (!(e instanceof VQError) || e.code !== 'CORRUPT_DATA') {
          throw new Error(`byte ${i} ^ ${mask}: expected CORRUPT_DATA, got ${e instanceof Error ? e.message : String(e)}`);
        }
      }
    }
  });

  it('refuses every truncation', () => {
    const f = sampleFile();
    for (let n = 0; n < f.length; n++) {
      const e = thrown(() => readContainer('Test.load', f.subarray(0, n), 'PQIndex'));
      if (!(e instanceof VQError) || e.code !== 'CORRUPT_DATA') throw new Error(`length ${n}: expected CORRUPT_DATA, got ${String(e)}`);
      expect(e.message).toMatch(n < 24 ? /too short/ : /truncated/);
    }
  });

  it('refuses appended bytes', () => {
    const f = sampleFile();
    for (const extra of [1, 3, 4, 100]) {
      const g = new Uint8Array(f.length + extra);
      g.set(f);
      expectRefusal(() => readContainer('Test.load', g, 'PQIndex'), 'CORRUPT_DATA', ['trailing', `${f.length} bytes`]);
    }
  });

  it('says "not a vqwasm file" for other data', () => {
    expectRefusal(() => readContainer('Test.load', ascii('{"this is": "json, not a vqwasm file at all"}'), 'PQIndex'), 'CORRUPT_DATA', ['not a vqwasm file', 'VQWF']);
    expectRefusal(() => readContainer('Test.load', rawFile({ magic: 'VQWG' }), 'KMeans'), 'CORRUPT_DATA', ['not a vqwasm file']);
  });

  it('refuses a checksum mismatch', () => {
    const f = sampleFile();
    f[f.length - 1] ^= 1;
    expectRefusal(() => readContainer('Test.load', f, 'PQIndex'), 'CORRUPT_DATA', ['checksum mismatch']);
  });

  it('refuses a file of another kind, naming both kinds', () => {
    const f = writeContainer('PQIndex', { d: 4 }, []);
    expectRefusal(() => readContainer('Test.load', f, 'IVFPQIndex'), 'CORRUPT_DATA', ['a PQIndex file', 'expected an IVFPQIndex file']);
    expectRefusal(() => readContainer('Test.load', f, ['OPQ', 'KMeans']), 'CORRUPT_DATA', ['a PQIndex file', 'an OPQ or a KMeans file']);
  });

  it('refuses a file from a newer format version, and version 0', () => {
    const f = sampleFile();
    new DataView(f.buffer).setUint16(4, FORMAT_VERSION + 1, true);
    reseal(f); // only the version is wrong now
    expectRefusal(() => readContainer('Test.load', f, 'PQIndex'), 'CORRUPT_DATA', [`written by a newer vqwasm (format version ${FORMAT_VERSION + 1}), this one reads up to ${FORMAT_VERSION}`]);
    new DataView(f.buffer).setUint16(4, 0, true);
    reseal(f);
    expectRefusal(() => readContainer('Test.load', f, 'PQIndex'), 'CORRUPT_DATA', ['version 0']);
    // and the unmodified layout under version 1 reads fine, so the version field alone was the cause
    new DataView(f.buffer).setUint16(4, 1, true);
    reseal(f);
    expect(readContainer('Test.load', f, 'PQIndex').version).toBe(1);
  });

  it('refuses a header that disagrees with the length even when resealed', () => {
    const f = rawFile({ totalBytes: 1000 });
    expectRefusal(() => readContainer('Test.load', f, 'KMeans'), 'CORRUPT_DATA', ['truncated', '1000 bytes']);
    const g = rawFile({ totalBytes: 24 });
    expectRefusal(() => readContainer('Test.load', g, 'KMeans'), 'CORRUPT_DATA', ['trailing']);
  });

  it('refuses unknown kind codes', () => {
    for (const kind of [0, 16, 65535]) expectRefusal(() => readContainer('Test.load', rawFile({ kind }), 'KMeans'), 'CORRUPT_DATA', ['unknown kind code', `got ${kind}`]);
  });
});

describe('crafted files with a valid checksum', () => {
  const load = (f: Uint8Array, parts: (string | RegExp)[]) => expectRefusal(() => readContainer('Test.load', f, 'KMeans'), 'CORRUPT_DATA', parts);

  it('the encoder here makes files the reader accepts (so each refusal below is due to its one change)', () => {
    const c = readContainer(
      'Test.load',
      rawFile({ paramsJson: '{"k":3}', sections: [{ tag: 'CENT', bytes: new Uint8Array(8) }, { tag: 'IDS_', bytes: new Uint8Array(5) }] }),
      'KMeans',
    );
    expect(c.params).toEqual({ k: 3 });
    expect(c.sections.size).toBe(2);
  });

  it('refuses a params length past the end', () => {
    load(rawFile({ paramsBytes: 0xffffffff }), ['params length runs past the end']);
    load(rawFile({ paramsJson: '{}', paramsBytes: 3 }), ['not valid UTF-8 JSON']); // '{}' plus a NUL of padding
  });

  it('refuses params that are not a JSON object of finite scalars', () => {
    load(rawFile({ paramsJson: '{"k":' }), ['not valid UTF-8 JSON']);
    load(rawFile({ paramsJson: '' }), ['not valid UTF-8 JSON']);
    load(rawFile({ paramsJson: '[1,2]' }), ['not a JSON object']);
    load(rawFile({ paramsJson: 'null' }), ['not a JSON object']);
    load(rawFile({ paramsJson: '7' }), ['not a JSON object']);
    load(rawFile({ paramsJson: '{"k":{"a":1}}' }), ["param 'k'"]);
    load(rawFile({ paramsJson: '{"k":[1]}' }), ["param 'k'"]);
    load(rawFile({ paramsJson: '{"k":null}' }), ["param 'k'"]);
    load(rawFile({ paramsJson: '{"k":1e999}' }), ["param 'k'", 'Infinity']);
    // invalid UTF-8: a lone continuation byte inside a string
    const f = rawFile({ paramsJson: '{"k":"ab"}' });
    f[16 + 7] = 0x80;
    load(reseal(f), ['not valid UTF-8 JSON']);
  });

  it('refuses non-zero padding', () => {
    const f = rawFile({ paramsJson: '{"k":2}' }); // 7 bytes + 1 padding at offset 23
    f[23] = 1;
    load(reseal(f), ['padding']);
    const g = rawFile({ sections: [{ tag: 'ABCD', bytes: new Uint8Array([1]) }] });
    g[g.length - 5] = 1; // last padding byte of the section
    load(reseal(g), ['padding', "'ABCD'"]);
  });

  it('refuses a huge section length quickly, without allocating it', () => {
    const t0 = performance.now();
    load(rawFile({ sections: [{ tag: 'CENT', bytes: new Uint8Array(8), byteLength: 0xfffffff0 }] }), ["section 'CENT' length runs past the end", '4294967280 bytes']);
    load(rawFile({ sections: [{ tag: 'CENT', bytes: new Uint8Array(8), byteLength: 9 }] }), ["section 'CENT' length runs past the end"]);
    load(rawFile({ nsections: 0xffffffff }), ['section count runs past the end', '4294967295']);
    load(rawFile({ nsections: 3, sections: [{ tag: 'CENT', bytes: new Uint8Array(8) }] }), ['section count runs past the end', 'got 3']);
    // a 4 GiB allocation and copy would take seconds (or throw a RangeError, which load() would report as not CORRUPT_DATA)
    expect(performance.now() - t0).toBeLessThan(200);
  });

  it('refuses a section header cut short by the checksum', () => {
    // nsections = 2 passes the count check (16 bytes remain for 2 * 8) but the first payload leaves only 4 bytes
    load(rawFile({ nsections: 2, sections: [{ tag: 'AAAA', bytes: new Uint8Array(4) }], extra: new Uint8Array(4) }), ['section 1 header runs past the end', 'got 4 bytes left']);
    // the second header fits, its length does not
    load(rawFile({ nsections: 2, sections: [{ tag: 'AAAA', bytes: new Uint8Array(0) }], extra: new Uint8Array([0x42, 0x42, 0x42, 0x42, 8, 0, 0, 0]) }), ["section 'BBBB' length runs past the end", 'got 8 bytes', 'at most 0 bytes']);
  });

  it('refuses duplicate and invalid tags', () => {
    const s = { tag: 'CENT', bytes: new Uint8Array(4) };
    load(rawFile({ sections: [s, s] }), ["duplicate section tag 'CENT'"]);
    load(rawFile({ sections: [{ tag: 'AB\u0001D', bytes: new Uint8Array(0) }] }), ['invalid tag']);
  });

  it('refuses bytes left over after the last section', () => {
    load(rawFile({ sections: [{ tag: 'CENT', bytes: new Uint8Array(4) }], nsections: 0 }), ['bytes left over', 'got 12 bytes']);
    load(rawFile({ extra: new Uint8Array(4) }), ['bytes left over', 'got 4 bytes']);
  });
});

describe('input type', () => {
  it('refuses anything but a Uint8Array or an ArrayBuffer with INVALID_TYPE', () => {
    const f = sampleFile();
    for (const bad of [Array.from(f), 'VQWF', null, undefined, 42, new Int8Array(f.buffer), new Float32Array(8), new DataView(f.buffer), {}]) {
      expectRefusal(() => readContainer('Test.load', bad, 'PQIndex'), 'INVALID_TYPE', ['Uint8Array or an ArrayBuffer']);
    }
  });
});

// ---------------------------------------------------------------------------------------------------------------
// accessors
// ---------------------------------------------------------------------------------------------------------------

describe('accessors', () => {
  const c: Container = readContainer('Test.load', sampleFile(), 'PQIndex');

  it('refuse a section of the wrong size, naming the tag and both sizes', () => {
    expectRefusal(() => sectionF32('Test.load', c, 'CENT', 8), 'CORRUPT_DATA', ["section 'CENT' has the wrong size", 'got 28 bytes', 'expected 32 bytes (8 float32)']);
    expectRefusal(() => sectionF32('Test.load', c, 'CENT', 6), 'CORRUPT_DATA', ['got 28 bytes', 'expected 24 bytes']);
    expectRefusal(() => sectionI32('Test.load', c, 'IDS_', 4), 'CORRUPT_DATA', ["'IDS_'", 'got 20 bytes', 'expected 16 bytes (4 int32)']);
    expectRefusal(() => sectionF64('Test.load', c, 'F64_', 5), 'CORRUPT_DATA', ["'F64_'", 'got 32 bytes', 'expected 40 bytes (5 float64)']);
    expectRefusal(() => sectionU8('Test.load', c, 'CODE', 4), 'CORRUPT_DATA', ["'CODE'", 'got 5 bytes', 'expected 4 bytes']);
    expectRefusal(() => sectionU8('Test.load', c, 'EMPT', 1), 'CORRUPT_DATA', ["'EMPT'", 'got 0 bytes']);
    // sizes are checked in bytes, not by the type written: the 28-byte CENT section reads as 7 int32
    expect(sectionI32('Test.load', c, 'CENT', 7).length).toBe(7);
  });

  it('refuse a missing section', () => {
    expectRefusal(() => sectionF32('Test.load', c, 'NOPE', 1), 'CORRUPT_DATA', ["missing section 'NOPE'"]);
    expectRefusal(() => sectionI32('Test.load', c, 'NOPE', 0), 'CORRUPT_DATA', ["missing section 'NOPE'"]);
  });

  it('refuse NaN and Infinity in float sections', () => {
    for (const bad of [NaN, Infinity, -Infinity]) {
      const f = writeContainer('KMeans', {}, [
        { tag: 'F32_', data: new Float32Array([1, 2, bad]) },
        { tag: 'F64_', data: new Float64Array([bad, 1]) },
      ]);
      const cc = readContainer('Test.load', f, 'KMeans');
      expectRefusal(() => sectionF32('Test.load', cc, 'F32_', 3), 'CORRUPT_DATA', ["section 'F32_'", 'index 2', 'finite']);
      expectRefusal(() => sectionF64('Test.load', cc, 'F64_', 2), 'CORRUPT_DATA', ["section 'F64_'", 'index 0']);
    }
  });

  it('paramInt checks presence, type, integrality and range', () => {
    expect(paramInt('Test.load', c, 'M', 4, 4)).toBe(4);
    expectRefusal(() => paramInt('Test.load', c, 'd', 1, 15), 'CORRUPT_DATA', ["param 'd'", 'got 16', 'expected an integer in [1, 15]']);
    expectRefusal(() => paramInt('Test.load', c, 'd', 17, 100), 'CORRUPT_DATA', ["param 'd'"]);
    expectRefusal(() => paramInt('Test.load', c, 'scale', -1, 1), 'CORRUPT_DATA', ["param 'scale'", 'got -0.125']);
    expectRefusal(() => paramInt('Test.load', c, 'metric', 0, 10), 'CORRUPT_DATA', ["param 'metric'", 'got "l2"']);
    expectRefusal(() => paramInt('Test.load', c, 'normalize', 0, 1), 'CORRUPT_DATA', ["param 'normalize'"]);
    expectRefusal(() => paramInt('Test.load', c, 'k', 1, 10), 'CORRUPT_DATA', ["missing param 'k'"]);
    // inherited names are not params
    expectRefusal(() => paramInt('Test.load', c, 'toString', 0, 10), 'CORRUPT_DATA', ["missing param 'toString'"]);
  });

  it('paramString checks presence, type and the allowed list', () => {
    expect(paramString('Test.load', c, 'note', ['héllo ✓'])).toBe('héllo ✓');
    expectRefusal(() => paramString('Test.load', c, 'metric', ['ip', 'cosine']), 'CORRUPT_DATA', ["param 'metric'", 'got "l2"', "'ip', 'cosine'"]);
    expectRefusal(() => paramString('Test.load', c, 'd', ['16']), 'CORRUPT_DATA', ["param 'd'", 'got 16']);
    expectRefusal(() => paramString('Test.load', c, 'kind', ['a']), 'CORRUPT_DATA', ["missing param 'kind'"]);
  });

  it('paramBool checks presence and type', () => {
    expect(paramBool('Test.load', c, 'normalize')).toBe(false);
    expectRefusal(() => paramBool('Test.load', c, 'd'), 'CORRUPT_DATA', ["param 'd' is not a boolean", 'got 16']);
    expectRefusal(() => paramBool('Test.load', c, 'flag'), 'CORRUPT_DATA', ["missing param 'flag'"]);
  });
});

describe('writer refusals (a bug in the caller, so INTERNAL)', () => {
  const w = (fn: () => unknown, parts: string[]) => expectRefusal(fn, 'INTERNAL', parts, 'writeContainer');

  it('refuses bad tags, duplicate tags and unsupported data', () => {
    w(() => writeContainer('KMeans', {}, [{ tag: 'ABC', data: new Uint8Array(0) }]), ['tag']);
    w(() => writeContainer('KMeans', {}, [{ tag: 'ABCDE', data: new Uint8Array(0) }]), ['tag']);
    w(() => writeContainer('KMeans', {}, [{ tag: 'ABÇD', data: new Uint8Array(0) }]), ['tag']);
    w(() => writeContainer('KMeans', {}, [{ tag: 'ABCD', data: new Uint8Array(0) }, { tag: 'ABCD', data: new Uint8Array(0) }]), ["duplicate section tag 'ABCD'"]);
    w(() => writeContainer('KMeans', {}, [{ tag: 'ABCD', data: [1, 2] as unknown as Uint8Array }]), ['unsupported type']);
    w(() => writeContainer('KMeans', {}, [{ tag: 'ABCD', data: new Int16Array(2) as unknown as Uint8Array }]), ['unsupported type']);
  });

  it('refuses params that would not read back the same', () => {
    for (const bad of [NaN, Infinity, null, undefined, { a: 1 }, [1], 1n]) {
      w(() => writeContainer('KMeans', { x: bad as unknown as number }, []), ["param 'x'"]);
    }
    w(() => writeContainer('Nope' as Kind, {}, []), ['unknown kind']);
  });
});
