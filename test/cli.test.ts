// The command line (bin/vqwasm.js), run as a child process on files written through the API: train / add / search /
// eval / info give what the API gives on the same data; chunked adds equal one add; every output format holds the same
// results; errors exit non-zero with a message naming what was wrong; --help works for every command; nothing is
// written to stderr on success when it is not a TTY.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FlatIndex, init, IVFFlatIndex, loadIndex, PQIndex, parseFvecs, parseIvecs, writeFaissIndex, writeFvecs, writeIvecs, writeNpy } from '../dist/index.js';
import { clustered, floatVectors } from './helpers/data.js';
import { REPO_ROOT } from './helpers/server.js';

const CLI = join(REPO_ROOT, 'bin', 'vqwasm.js');
let dir: string;
const d = 16;
const n = 20000; // more than one 16384-row chunk of `add`
let x: Float32Array;
let q: Float32Array;
const nq = 37;

function run(...args: string[]): { code: number; out: string; err: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: dir, encoding: 'utf8', timeout: 120_000 });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
}
const f = (name: string) => join(dir, name);

beforeAll(async () => {
  await init();
  dir = mkdtempSync(join(tmpdir(), 'vqwasm-cli-'));
  x = clustered(40, n / 40, d, 5).x;
  q = floatVectors(nq, d, 6, 4);
  writeFileSync(f('base.fvecs'), writeFvecs(x, d));
  writeFileSync(f('q.fvecs'), writeFvecs(q, d));
  writeFileSync(f('ids.ivecs'), writeIvecs(Int32Array.from({ length: n }, (_, i) => 100000 + 3 * i), 1));
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('vqwasm CLI', () => {
  it('train + search + eval + info: the same results as the API, in every output format', () => {
    const t = run('train', '--type', 'pq', '--m', '4', '--nbits', '6', '--metric', 'ip', '--seed', '7', '--input', 'base.fvecs', '--output', 'pq.vqw');
    expect(t.code, t.err).toBe(0);
    expect(t.err).toBe('');
    expect(t.out).toContain(`${n} vectors added`);
    const api = new PQIndex({ d, m: 4, nbits: 6, metric: 'ip', seed: 7 });
    api.train(x);
    api.add(x);
    expect(Buffer.from(readFileSync(f('pq.vqw')))).toEqual(Buffer.from(api.save()));
    const want = api.search(q, 10);

    expect(run('search', '--index', 'pq.vqw', '--queries', 'q.fvecs', '--output', 'r.ivecs', '--distances', 'r.fvecs').code).toBe(0);
    const ids = parseIvecs(readFileSync(f('r.ivecs')));
    expect(ids.n).toBe(nq);
    expect(ids.d).toBe(10);
    expect(ids.data).toEqual(want.ids);
    expect(parseFvecs(readFileSync(f('r.fvecs'))).data).toEqual(want.distances);
    expect(run('search', '--index', 'pq.vqw', '--queries', 'q.fvecs', '--output', 'r.json').code).toBe(0);
    const json = JSON.parse(readFileSync(f('r.json'), 'utf8'));
    expect(json.ids.flat()).toEqual(Array.from(want.ids));
    expect(run('search', '--index', 'pq.vqw', '--queries', 'q.fvecs', '--output', 'r.csv').code).toBe(0);
    const csv = readFileSync(f('r.csv'), 'utf8').trim().split('\n');
    expect(csv[0]).toBe('query,rank,id,distance');
    expect(csv).toHaveLength(nq * 10 + 1);
    expect(csv[12]).toBe(`1,1,${want.ids[11]},${want.distances[11]}`);

    // exclusion from a ragged .ivecs: each query's own list
    const ex = Array.from({ length: nq }, (_, i) => want.ids.slice(i * 10, i * 10 + (i % 4)));
    const rows = ex.map((r) => [r.length, ...r]).flat();
    writeFileSync(f('seen.ivecs'), new Uint8Array(Int32Array.from(rows).buffer));
    expect(run('search', '--index', 'pq.vqw', '--queries', 'q.fvecs', '--exclude', 'seen.ivecs', '--output', 'rx.ivecs').code).toBe(0);
    expect(parseIvecs(readFileSync(f('rx.ivecs'))).data).toEqual(api.search(q, 10, { exclude: ex }).ids);

    // eval: against a ground-truth file and against exact search over the base, the recall the API computes
    const flat = new FlatIndex({ d, metric: 'ip' });
    flat.add(x);
    const gt = flat.search(q, 10).ids;
    flat.dispose();
    writeFileSync(f('gt.ivecs'), writeIvecs(gt, 10));
    let hits = 0;
    for (let i = 0; i < nq; i++) for (let j = 0; j < 10; j++) if (gt.subarray(i * 10, i * 10 + 10).includes(want.ids[i * 10 + j])) hits++;
    for (const truth of [['--gt', 'gt.ivecs'], ['--base', 'base.fvecs']]) {
      const e = run('eval', '--index', 'pq.vqw', '--queries', 'q.fvecs', ...truth, '--json');
      expect(e.code, e.err).toBe(0);
      expect(JSON.parse(e.out).recall).toBeCloseTo(hits / (nq * 10), 10);
    }
    // --threads: a shared-memory pool, the same bytes out (search, with and without exclusion) and the same recall
    for (const t of ['2', '0']) {
      expect(run('search', '--index', 'pq.vqw', '--queries', 'q.fvecs', '--threads', t, '--output', 'rt.ivecs').code).toBe(0);
      expect(Buffer.from(readFileSync(f('rt.ivecs')))).toEqual(Buffer.from(readFileSync(f('r.ivecs'))));
    }
    expect(run('search', '--index', 'pq.vqw', '--queries', 'q.fvecs', '--exclude', 'seen.ivecs', '--threads', '2', '--output', 'rxt.ivecs').code).toBe(0);
    expect(Buffer.from(readFileSync(f('rxt.ivecs')))).toEqual(Buffer.from(readFileSync(f('rx.ivecs'))));
    const et = run('eval', '--index', 'pq.vqw', '--queries', 'q.fvecs', '--base', 'base.fvecs', '--threads', '2', '--json');
    expect(et.code, et.err).toBe(0);
    expect(JSON.parse(et.out).recall).toBeCloseTo(hits / (nq * 10), 10);
    // (the searches ran on the pool: the same results would come from this thread alone)
    expect(JSON.parse(et.out).threads).toBe(2);
    const bad = run('search', '--index', 'pq.vqw', '--queries', 'q.fvecs', '--threads', '-1', '--output', 'rt.ivecs');
    expect(bad.code).toBe(2);
    expect(bad.err).toContain('--threads');
    const info = run('info', '--index', 'pq.vqw', '--json');
    expect(JSON.parse(info.out)).toMatchObject({ kind: 'PQIndex', d, size: n, m: 4, nbits: 6, metric: 'ip', format: 'vqwasm' });
    api.dispose();
  }, 120_000);

  it('add in chunks (and with ids) gives the same index as training and adding at once', () => {
    expect(run('train', '--type', 'ivfpq', '--nlist', '8', '--m', '4', '--input', 'base.fvecs', '--output', 'empty.vqw', '--no-add').code).toBe(0);
    const a = run('add', '--index', 'empty.vqw', '--input', 'base.fvecs', '--ids', 'ids.ivecs', '--output', 'full.vqw');
    expect(a.code, a.err).toBe(0);
    expect(run('train', '--type', 'ivfpq', '--nlist', '8', '--m', '4', '--input', 'base.fvecs', '--ids', 'ids.ivecs', '--output', 'once.vqw').code).toBe(0);
    expect(Buffer.from(readFileSync(f('full.vqw')))).toEqual(Buffer.from(readFileSync(f('once.vqw'))));
    // --threads: the k-means and PQ runs (rq's levels too) and the encoding of the added vectors on a pool, the same bytes
    for (const extra of [['--type', 'ivfpq', '--nlist', '8', '--m', '4'], ['--type', 'ivfflat', '--nlist', '8'], ['--type', 'pq', '--m', '4'], ['--type', 'pq', '--opq', '--m', '4'], ['--type', 'sq'], ['--type', 'rq', '--levels', '2', '--nbits', '5', '--beam', '3']]) {
      expect(run('train', ...extra, '--input', 'base.fvecs', '--output', 'one.vqw').code).toBe(0);
      const t2 = run('train', ...extra, '--input', 'base.fvecs', '--threads', '2', '--output', 'two.vqw');
      expect(t2.code, t2.err).toBe(0);
      expect(Buffer.from(readFileSync(f('two.vqw'))), extra.join(' ')).toEqual(Buffer.from(readFileSync(f('one.vqw'))));
    }
    const a2 = run('add', '--index', 'empty.vqw', '--input', 'base.fvecs', '--ids', 'ids.ivecs', '--threads', '2', '--output', 'full2.vqw');
    expect(a2.code, a2.err).toBe(0);
    expect(Buffer.from(readFileSync(f('full2.vqw')))).toEqual(Buffer.from(readFileSync(f('once.vqw'))));
    const back = loadIndex(readFileSync(f('full.vqw')));
    expect(back.size).toBe(n);
    const r = back.search(q, 5, { nprobe: 8 });
    for (const id of r.ids) expect(id >= 100000 && (id - 100000) % 3 === 0).toBe(true);
    back.dispose();
  }, 120_000);

  it('remove: the ids in the file go, the rest keep theirs (index.remove), saved in place or to --output', () => {
    expect(run('train', '--type', 'sq', '--input', 'base.fvecs', '--ids', 'ids.ivecs', '--output', 'sq.vqw').code).toBe(0);
    const gone = Int32Array.from({ length: 500 }, (_, i) => 100000 + 3 * (7 * i + 1));
    writeFileSync(f('gone.ivecs'), writeIvecs(gone, 1));
    const r = run('remove', '--index', 'sq.vqw', '--ids', 'gone.ivecs', '--output', 'sq-less.vqw');
    expect(r.code, r.err).toBe(0);
    expect(r.err).toBe('');
    expect(r.out).toContain(`500 vectors removed, ${n - 500} left`);
    const api = loadIndex(readFileSync(f('sq.vqw')));
    expect(api.remove(gone)).toBe(500);
    expect(Buffer.from(readFileSync(f('sq-less.vqw')))).toEqual(Buffer.from(api.save()));
    api.dispose();
    // in place (no --output), then again: nothing left to remove
    expect(run('remove', '--index', 'sq-less.vqw', '--ids', 'gone.ivecs').out).toContain(`0 vectors removed, ${n - 500} left`);
    // errors: --ids missing (usage, exit 2), ids that are not int32 (exit 1, saying so); the index file is untouched
    const before = readFileSync(f('sq-less.vqw'));
    const u = run('remove', '--index', 'sq-less.vqw');
    expect(u.code).toBe(2);
    expect(u.err).toContain('--ids');
    const e = run('remove', '--index', 'sq-less.vqw', '--ids', 'q.fvecs');
    expect(e.code).toBe(1);
    expect(e.err).toContain('int32 ids');
    expect(readFileSync(f('sq-less.vqw'))).toEqual(before);
    expect(run('remove', '--help').out).toContain('--ids FILE');
  }, 60_000);

  it('reads Faiss index files for info and search', () => {
    const flat = new FlatIndex({ d, metric: 'l2' });
    flat.add(x.subarray(0, 500 * d));
    writeFileSync(f('flat.faiss'), writeFaissIndex(flat));
    const info = JSON.parse(run('info', '--index', 'flat.faiss', '--json').out);
    expect(info).toMatchObject({ kind: 'FlatIndex', size: 500, d });
    expect(info.format).toMatch(/^Faiss/);
    expect(run('search', '--index', 'flat.faiss', '--queries', 'q.fvecs', '--k', '3', '--output', 'ff.ivecs').code).toBe(0);
    expect(parseIvecs(readFileSync(f('ff.ivecs'))).data).toEqual(flat.search(q, 3).ids);
    flat.dispose();
  });

  it('search --radius: index.rangeSearch in every output format, on a pool too; --nprobe for IVFFlat files', () => {
    const t = run('train', '--type', 'ivfpq', '--nlist', '8', '--m', '4', '--seed', '3', '--input', 'base.fvecs', '--output', 'ivf.vqw');
    expect(t.code, t.err).toBe(0);
    const index = loadIndex(new Uint8Array(readFileSync(f('ivf.vqw')))) as InstanceType<typeof import('../dist/index.js').IVFPQIndex>;
    const r = index.search(q.subarray(0, d), 30, { nprobe: 3 }).distances[29];
    const want = index.rangeSearch(q, r, { nprobe: 3 });
    expect(want.ids.length).toBeGreaterThan(nq * 5);
    const rows = (a: Int32Array | Float32Array) => Array.from({ length: nq }, (_, i) => Array.from(a.subarray(want.lims[i], want.lims[i + 1])));
    const args = ['search', '--index', 'ivf.vqw', '--queries', 'q.fvecs', '--radius', String(r), '--nprobe', '3'];
    // .ivecs / .fvecs: one row per query, as long as its hits (the row length in front, as readRagged reads them)
    expect(run(...args, '--output', 'rr.ivecs', '--distances', 'rr.fvecs').code).toBe(0);
    const ragged = (b: Buffer, float: boolean) => {
      const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
      const out: number[][] = [];
      for (let o = 0; o < b.byteLength; ) {
        const c = v.getInt32(o, true);
        out.push(Array.from({ length: c }, (_, j) => (float ? v.getFloat32(o + 4 + 4 * j, true) : v.getInt32(o + 4 + 4 * j, true))));
        o += 4 + 4 * c;
      }
      return out;
    };
    expect(ragged(readFileSync(f('rr.ivecs')), false)).toEqual(rows(want.ids));
    expect(ragged(readFileSync(f('rr.fvecs')), true)).toEqual(rows(want.distances));
    expect(run(...args, '--output', 'rr.json').code).toBe(0);
    expect(JSON.parse(readFileSync(f('rr.json'), 'utf8'))).toEqual({ radius: r, ids: rows(want.ids), distances: rows(want.distances) });
    expect(run(...args, '--output', 'rr.csv').code).toBe(0);
    const csv = readFileSync(f('rr.csv'), 'utf8').trim().split('\n');
    expect(csv).toHaveLength(want.ids.length + 1);
    const i2 = Array.from({ length: nq }, (_, i) => i).find((i) => i > 0 && want.lims[i + 1] - want.lims[i] >= 2)!;
    expect(csv[want.lims[i2] + 2]).toBe(`${i2},1,${want.ids[want.lims[i2] + 1]},${want.distances[want.lims[i2] + 1]}`);
    // the same bytes from a shared-memory pool, and with an exclusion file
    expect(run(...args, '--threads', '2', '--output', 'rrt.ivecs').code).toBe(0);
    expect(Buffer.from(readFileSync(f('rrt.ivecs')))).toEqual(Buffer.from(readFileSync(f('rr.ivecs'))));
    const ex = rows(want.ids).map((row) => row.slice(0, 2));
    writeFileSync(f('rex.ivecs'), new Uint8Array(Int32Array.from(ex.map((e) => [e.length, ...e]).flat()).buffer));
    expect(run(...args, '--exclude', 'rex.ivecs', '--output', 'rrx.ivecs').code).toBe(0);
    expect(ragged(readFileSync(f('rrx.ivecs')), false)).toEqual(rows(want.ids).map((row) => row.slice(2)));
    index.dispose();
    // usage errors: both --k and --radius, --rerank with --radius, a radius that is not a number
    for (const [extra, what] of [[['--k', '5'], '--k or --radius'], [['--rerank', '5'], '--rerank'], [['--radius', 'x'], '--radius']] as const) {
      const a = extra[0] === '--radius' ? ['search', '--index', 'ivf.vqw', '--queries', 'q.fvecs', ...extra] : [...args, ...extra];
      const e = run(...a, '--output', 'bad.ivecs');
      expect(e.code, e.err).toBe(2);
      expect(e.err).toContain(what);
    }
    // an IVFFlat index (here from a Faiss file) takes --nprobe, with --k and with --radius
    const ivfflat = new IVFFlatIndex({ d, nlist: 6, seed: 2 });
    ivfflat.train(x.subarray(0, 3000 * d));
    ivfflat.add(x.subarray(0, 3000 * d));
    writeFileSync(f('ivfflat.faiss'), writeFaissIndex(ivfflat));
    expect(run('search', '--index', 'ivfflat.faiss', '--queries', 'q.fvecs', '--k', '4', '--nprobe', '2', '--output', 'iff.ivecs').code).toBe(0);
    expect(parseIvecs(readFileSync(f('iff.ivecs'))).data).toEqual(ivfflat.search(q, 4, { nprobe: 2 }).ids);
    const rf = ivfflat.search(q.subarray(0, d), 20, { nprobe: 6 }).distances[19];
    expect(run('search', '--index', 'ivfflat.faiss', '--queries', 'q.fvecs', '--radius', String(rf), '--nprobe', '6', '--output', 'iff.json').code).toBe(0);
    expect(JSON.parse(readFileSync(f('iff.json'), 'utf8')).ids.flat()).toEqual(Array.from(ivfflat.rangeSearch(q, rf, { nprobe: 6 }).ids));
    ivfflat.dispose();
  }, 120_000);

  it('errors: missing and damaged files exit 1, bad usage exits 2, each with a message', () => {
    const missing = run('search', '--index', 'nope.vqw', '--queries', 'q.fvecs', '--output', 'x.ivecs');
    expect(missing.code).toBe(1);
    expect(missing.err).toMatch(/nope\.vqw.*ENOENT/);
    // a directory: named too (Node's EISDIR carries no path)
    mkdirSync(f('adir'), { recursive: true });
    for (const args of [['info', '--index', 'adir'], ['search', '--index', 'pq.vqw', '--queries', 'q.fvecs', '--exclude', 'adir', '--output', 'x.ivecs']]) {
      const dir1 = run(...args);
      expect(dir1.code, args.join(' ')).toBe(1);
      expect(dir1.err, args.join(' ')).toMatch(/cannot read adir: EISDIR/);
    }
    writeFileSync(f('junk.vqw'), 'not an index at all');
    const junk = run('info', '--index', 'junk.vqw');
    expect(junk.code).toBe(1);
    expect(junk.err).toMatch(/CORRUPT_DATA.*junk\.vqw/);
    const good = readFileSync(f('pq.vqw'));
    writeFileSync(f('cut.vqw'), good.subarray(0, good.length - 100));
    expect(run('info', '--index', 'cut.vqw').err).toMatch(/CORRUPT_DATA/);
    const base = readFileSync(f('base.fvecs'));
    writeFileSync(f('cut.fvecs'), base.subarray(0, base.length - 3));
    const cut = run('train', '--type', 'flat', '--input', 'cut.fvecs', '--output', 'z.vqw');
    expect(cut.code).toBe(1);
    expect(cut.err).toMatch(/CORRUPT_DATA/);
    writeFileSync(f('raw.f32'), new Uint8Array(x.buffer, x.byteOffset, 10 * d * 4));
    for (const args of [
      ['train', '--type', 'pq', '--input', 'base.fvecs', '--output', 'z.vqw'], // no --m
      ['train', '--type', 'ivfflat', '--input', 'base.fvecs', '--output', 'z.vqw'], // no --nlist
      ['train', '--type', 'flat', '--input', 'raw.f32', '--output', 'z.vqw'], // a raw float32 file without --d
      ['train', '--type', 'hnsw', '--input', 'base.fvecs', '--output', 'z.vqw'],
      ['search', '--index', 'pq.vqw', '--queries', 'q.fvecs', '--output', 'r.txt'],
      ['search', '--index', 'pq.vqw', '--queries', 'q.fvecs', '--output', 'r.ivecs', '--k', '0'],
      ['eval', '--index', 'pq.vqw', '--queries', 'q.fvecs'],
      ['info', '--index', 'pq.vqw', '--bogus'],
      ['frobnicate'],
      [],
    ]) {
      const r = run(...args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.err.length + r.out.length, args.join(' ')).toBeGreaterThan(0);
    }
    // a negative number is the option's value, checked as such (parseArgs alone called it "ambiguous")
    const neg = run('search', '--index', 'pq.vqw', '--queries', 'q.fvecs', '--output', 'r.ivecs', '--k', '-3');
    expect(neg.code).toBe(2);
    expect(neg.err).toMatch(/--k must be an integer >= 1 \(got "-3"\)/);
    // d mismatch between index and queries is the library's error, exit 1
    writeFileSync(f('q8.fvecs'), writeFvecs(floatVectors(3, 8, 1), 8));
    const dm = run('search', '--index', 'pq.vqw', '--queries', 'q8.fvecs', '--output', 'r.ivecs');
    expect(dm.code).toBe(1);
    expect(dm.err).toMatch(/d = 8.*d = 16/);
    // and between index and vectors to add (10 rows of 8 would otherwise be cut into 5 rows of 16), by add and by
    // train --input, in chunks (.fvecs) and whole (.npy): exit 1, the index file untouched
    writeFileSync(f('x8.fvecs'), writeFvecs(floatVectors(10, 8, 2), 8));
    writeFileSync(f('x8.npy'), writeNpy(floatVectors(10, 8, 2), 8));
    const before = readFileSync(f('pq.vqw'));
    for (const file of ['x8.fvecs', 'x8.npy']) {
      const add = run('add', '--index', 'pq.vqw', '--input', file);
      expect(add.code, file).toBe(1);
      expect(add.err).toMatch(/d = 8.*d = 16/);
      const tr = run('train', '--type', 'flat', '--train', 'base.fvecs', '--input', file, '--output', 'z.vqw');
      expect(tr.code, file).toBe(1);
      expect(tr.err).toMatch(/d = 8.*d = 16/);
    }
    expect(readFileSync(f('pq.vqw'))).toEqual(before);
    expect(existsSync(f('z.vqw'))).toBe(false);
  }, 60_000);

  it.skipIf(!existsSync('/usr/bin/script'))('a progress bar on a TTY (run under script(1)), none otherwise', () => {
    const r = spawnSync('/usr/bin/script', ['-qec', `${process.execPath} ${CLI} search --index pq.vqw --queries q.fvecs --output t.ivecs`, '/dev/null'], { cwd: dir, encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/search \[#+\] 100% 37\/37/);
    expect(r.stdout).toMatch(/search: done in/);
    const plain = run('search', '--index', 'pq.vqw', '--queries', 'q.fvecs', '--output', 't.ivecs');
    expect(plain.err).toBe('');
  });

  it('--help for every command, exit 0', () => {
    for (const c of ['train', 'add', 'search', 'eval', 'info']) {
      const r = run(c, '--help');
      expect(r.code).toBe(0);
      expect(r.out).toContain(`Usage: vqwasm ${c}`);
      expect(r.out).toContain('--');
    }
    const top = run('--help');
    expect(top.code).toBe(0);
    for (const c of ['train', 'add', 'search', 'eval', 'info']) expect(top.out).toContain(c);
  });
});
