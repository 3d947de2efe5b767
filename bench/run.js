// Runs the benchmarks, each as a child process twice: with plain `node` (the engine picks the plain SIMD build on
// Node 20) and with `node --experimental-wasm-relaxed-simd` (it picks the relaxed-SIMD build).
//   npm run bench                  all benches
//   node bench/run.js kmeans       only the named ones (kmeans, search, pq, coarse, fastscan, onlinevq, semanticid, rq, sq, binary, anisotropic, pool, recsys, remove, range, ceilings)
// Speed is never asserted; the exit code is non-zero only when a bench process fails.

import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { BENCH_DIR, REPO_ROOT, fmtSeconds, printTable } from './lib/common.js';

const BENCHES = ['kmeans', 'search', 'pq', 'coarse', 'fastscan', 'onlinevq', 'semanticid', 'rq', 'sq', 'binary', 'anisotropic', 'pool', 'recsys', 'remove', 'range', 'ceilings'];
const PASSES = [
  { label: 'plain SIMD', flags: [], expect: 'simd' },
  { label: 'relaxed SIMD', flags: ['--experimental-wasm-relaxed-simd'], expect: 'relaxed' },
];

function runChild(file, flags) {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, [...flags, file], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (chunk) => {
      process.stdout.write(chunk);
      out += chunk.toString();
    });
    child.on('close', (code, signal) => {
      resolve({ code, signal, out, seconds: (performance.now() - t0) / 1000 });
    });
    child.on('error', (err) => resolve({ code: -1, signal: null, out: String(err), seconds: 0 }));
  });
}

async function main() {
  const args = process.argv.slice(2).map((a) => a.replace(/\.js$/, ''));
  const unknown = args.filter((a) => !BENCHES.includes(a));
  if (unknown.length) {
    console.error(`unknown bench: ${unknown.join(', ')} (available: ${BENCHES.join(', ')})`);
    process.exit(2);
  }
  const selected = args.length ? BENCHES.filter((b) => args.includes(b)) : BENCHES;
  if (!existsSync(join(REPO_ROOT, 'dist', 'index.js'))) {
    console.log('note: dist/index.js not found (run `npm run build`); the vqwasm columns will be skipped');
  }

  const summary = [];
  let failed = false;
  const t0 = performance.now();
  for (const name of selected) {
    const file = join(BENCH_DIR, `${name}.js`);
    for (const pass of PASSES) {
      const cmd = ['node', ...pass.flags, `bench/${name}.js`].join(' ');
      console.log(`\n${'#'.repeat(100)}\n# ${name} — ${pass.label} pass: ${cmd}\n${'#'.repeat(100)}`);
      const r = await runChild(file, pass.flags);
      const m = /engine: vqwasm build=(\S+)/.exec(r.out);
      const build = m ? m[1] : /engine: vqwasm skipped/.test(r.out) ? 'skipped' : '?';
      const ok = r.code === 0;
      if (!ok) failed = true;
      summary.push([
        name,
        pass.label,
        cmd,
        build,
        build === pass.expect ? 'yes' : build === 'skipped' ? '-' : 'NO',
        ok ? 'ok' : `FAILED (${r.signal || `exit ${r.code}`})`,
        fmtSeconds(r.seconds),
      ]);
    }
  }
  printTable(
    'bench summary',
    [
      { title: 'bench', align: 'l' },
      { title: 'pass', align: 'l' },
      { title: 'command', align: 'l' },
      { title: 'engine build used', align: 'l' },
      { title: 'as expected', align: 'l' },
      { title: 'status', align: 'l' },
      { title: 'wall time', align: 'r' },
    ],
    summary,
    [`total ${fmtSeconds((performance.now() - t0) / 1000)}`],
  );
  process.exit(failed ? 1 : 0);
}

main();
