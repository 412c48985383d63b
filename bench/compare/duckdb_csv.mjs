// SPDX-License-Identifier: MIT
// duckdb_csv.mjs - DuckDB's CSV load of the same file bench/bench_load.c
// loads, for the eau2/DuckDB ratio: read_csv (types inferred, header)
// into an in-memory table, best of REPS runs per thread count, with the
// file's size, seconds, MB/s (1 MB = 1e6 bytes, as bench_load prints) and
// the process's CPU seconds for that run (user + system, all threads).
//
// When nodejs-polars is installed (npm i, see README.md) the same is
// measured for Polars' readCSV, in a child process per thread count
// (Polars sizes its pool once, from POLARS_MAX_THREADS).
//
// Usage: node duckdb_csv.mjs FILE.csv [REPS] [THREADS...]   (default 3, 1 2)
// Prints one line per tool and thread count:
//   duckdb read_csv, T thread(s): MB/s (S s, R rows); MB per CPU-second (CPU-s)
import { execFileSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpuUsage } from 'node:process';
import { fileURLToPath } from 'node:url';

const argv = process.argv.slice(2);
const polarsChild = argv[0] === '--polars-child';
if (polarsChild) argv.shift();
const [file, repsArg, ...threadArgs] = argv;
if (!file || file.startsWith('-')) {
  console.error('usage: node duckdb_csv.mjs FILE.csv [REPS] [THREADS...]');
  process.exit(file === '--help' || file === '-h' ? 0 : 2);
}
const reps = Number(repsArg || 3);
const threads = threadArgs.length ? threadArgs.map(Number) : [1, 2];
const bytes = statSync(file).size;
const quoted = `'${file.replaceAll("'", "''")}'`;

function report(tool, t, best, bestCpu, rows) {
  console.log(`${tool}, ${t} thread${t > 1 ? 's' : ''}: ${(bytes / best / 1e6).toFixed(0)} MB/s ` +
              `(${best.toFixed(2)} s, ${rows} rows); ${(bytes / bestCpu / 1e6).toFixed(0)} MB per CPU-second ` +
              `(${bestCpu.toFixed(2)} CPU-s)`);
}

// Polars, in a child: POLARS_MAX_THREADS is read when the pool starts.
if (polarsChild) {
  const pl = createRequire(import.meta.url)('nodejs-polars');
  let best = Infinity, bestCpu = 0, rows = 0;
  for (let i = 0; i < reps; i++) {
    const c0 = cpuUsage();
    const t0 = performance.now();
    const df = pl.readCSV(file);
    const s = (performance.now() - t0) / 1e3;
    const c = cpuUsage(c0);
    rows = df.height;
    if (s < best) {
      best = s;
      bestCpu = (c.user + c.system) / 1e6;
    }
  }
  report('polars readCSV', Number(process.env.POLARS_MAX_THREADS), best, bestCpu, rows);
  process.exit(0);
}

const { DuckDBInstance } = await import('@duckdb/node-api');

const inst = await DuckDBInstance.create(':memory:');
const con = await inst.connect();
for (const t of threads) {
  let best = Infinity, bestCpu = 0, rows = 0;
  await con.run(`SET threads = ${t}`);
  for (let i = 0; i < reps; i++) {
    await con.run('DROP TABLE IF EXISTS t');
    const c0 = cpuUsage();
    const t0 = performance.now();
    await con.run(`CREATE TABLE t AS SELECT * FROM read_csv(${quoted}, header = true)`);
    const s = (performance.now() - t0) / 1e3;
    const c = cpuUsage(c0);
    if (s < best) {
      best = s;
      bestCpu = (c.user + c.system) / 1e6;
    }
  }
  const r = await con.runAndReadAll('SELECT count(*) FROM t');
  rows = Number(r.getRows()[0][0]);
  report('duckdb read_csv', t, best, bestCpu, rows);
  await con.run('DROP TABLE IF EXISTS t');
}
con.closeSync?.();

let havePolars = true;
try {
  createRequire(import.meta.url)('nodejs-polars');
} catch {
  havePolars = false;
  console.log('polars: skipped (nodejs-polars not installed or its platform package missing)');
}
for (const t of havePolars ? threads : []) {
  const out = execFileSync(process.execPath,
    [fileURLToPath(import.meta.url), '--polars-child', file, String(reps)],
    { env: { ...process.env, POLARS_MAX_THREADS: String(t) }, encoding: 'utf8' });
  process.stdout.write(out);
}
