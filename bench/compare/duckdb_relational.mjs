// SPDX-License-Identifier: MIT
// duckdb_relational.mjs - the queries of bench/bench_relational.c run in
// DuckDB over the same data, exported by the bench as CSV files
// (facts.csv, sales.csv, dim.csv, dim2.csv in DIR). Tables are loaded first (not
// timed); each query materialises its result sorted by key, as eau2's
// rowers do, and reports the best of REPS runs per thread count.
//
// --only TEXT runs the queries whose label contains TEXT (and loads only
// the tables they read); --unlink-csv deletes each CSV file once loaded
// (bench_relational passes it: its temporary files, and memory under
// /dev/shm). The peak RSS of this process is printed at the end.
//
// Usage: node duckdb_relational.mjs [--only TEXT] [--unlink-csv] DIR [REPS] [THREADS...]
import { unlinkSync } from 'node:fs';
import { DuckDBInstance } from '@duckdb/node-api';
import { bestOf } from './best_of.mjs';

const argv = process.argv.slice(2);
let only = null;
let unlinkCsv = false;
const pos = [];
for (let i = 0; i < argv.length; i++) {
  if (argv[i] === '--only' && i + 1 < argv.length) only = argv[++i];
  else if (argv[i] === '--unlink-csv') unlinkCsv = true;
  else pos.push(argv[i]);
}
const [dir, repsArg, ...threadArgs] = pos;
if (!dir) {
  console.error('usage: node duckdb_relational.mjs [--only TEXT] [--unlink-csv] DIR [REPS] [THREADS...]');
  process.exit(2);
}
const reps = Number(repsArg || 3);
const threads = [...new Set((threadArgs.length ? threadArgs : ['1']).map(Number))];

const queries = [
  ['groupby int key, 100 groups', 'facts',
    'SELECT k100, sum(v) AS sum_v, avg(x) AS mean_x FROM facts GROUP BY k100 ORDER BY k100 NULLS LAST'],
  ['groupby string key, 100 groups', 'facts',
    'SELECT s100, sum(v) AS sum_v, avg(x) AS mean_x FROM facts GROUP BY s100 ORDER BY s100 NULLS LAST'],
  ['groupby 2 string keys, 1000 groups', 'facts',
    'SELECT sa, sb, sum(v) AS sum_v, avg(x) AS mean_x FROM facts GROUP BY sa, sb ORDER BY sa NULLS LAST, sb NULLS LAST'],
  ['groupby int key, 1e5 groups', 'facts',
    'SELECT k1e5, sum(v) AS sum_v, avg(x) AS mean_x FROM facts GROUP BY k1e5 ORDER BY k1e5 NULLS LAST'],
  ['groupby int key, 1e6 groups', 'facts',
    'SELECT k1e6, sum(v) AS sum_v, avg(x) AS mean_x FROM facts GROUP BY k1e6 ORDER BY k1e6 NULLS LAST'],
  // Same columns and order as eau2's join: input rows in order, then the
  // dimension's columns but its key.
  ['join with 1e5-row dim (inner)', 'sales',
    'SELECT s.dk, s.v, s.x, d.name, d.w FROM sales s JOIN dim d ON s.dk = d.dk'],
  ['join, dim lacking 1 key (copies)', 'sales',
    'SELECT s.dk, s.v, s.x, d.name, d.w FROM sales s JOIN dim2 d ON s.dk = d.dk'],
  ['filter v < 5000 and x > 25 (~25%)', 'sales',
    'SELECT * FROM sales WHERE v < 5000 AND x > 25'],
  ['map y = v * 2 + dk', 'sales',
    'SELECT *, v * 2 + dk AS y FROM sales'],
];

const selected = queries.filter(([label]) => !only || label.includes(only));
const needs = new Set(selected.map(([, input]) => input));
if (selected.some(([, , sql]) => sql.includes('JOIN dim d'))) needs.add('dim');
if (selected.some(([, , sql]) => sql.includes('JOIN dim2 d'))) needs.add('dim2');

const inst = await DuckDBInstance.create(':memory:');
const con = await inst.connect();
const version = (await con.runAndReadAll('SELECT version()')).getRows()[0][0];
const t0 = performance.now();
const load = async (name, cols) => {
  if (!needs.has(name)) return;
  await con.run(`CREATE TABLE ${name} AS SELECT * FROM read_csv('${dir}/${name}.csv', header = true, columns = ${cols})`);
  if (unlinkCsv) unlinkSync(`${dir}/${name}.csv`);
};
await load('facts', "{'k100': 'BIGINT', 's100': 'VARCHAR', 'sa': 'VARCHAR', 'sb': 'VARCHAR', 'k1e5': 'BIGINT', 'k1e6': 'BIGINT', 'v': 'BIGINT', 'x': 'DOUBLE'}");
await load('sales', "{'dk': 'BIGINT', 'v': 'BIGINT', 'x': 'DOUBLE'}");
await load('dim', "{'dk': 'BIGINT', 'name': 'VARCHAR', 'w': 'DOUBLE'}");
await load('dim2', "{'dk': 'BIGINT', 'name': 'VARCHAR', 'w': 'DOUBLE'}");
const count = async (t) => (await con.runAndReadAll(`SELECT count(*) FROM ${t}`)).getRows()[0][0];
const loaded = await Promise.all([...needs].filter((t) => !t.startsWith('dim')).map(count));
console.log(`\n  DuckDB ${version}: loaded ${loaded.join(' + ')} rows in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
console.log(`  ${'query (DuckDB)'.padEnd(38)} ${'threads'.padStart(8)} ${'seconds'.padStart(10)} ${'rows/s'.padStart(12)} ${'out rows'.padStart(10)}`);
for (const [label, input, sql] of selected) {
  const inRows = Number(await count(input));
  for (const t of threads) {
    await con.run(`SET threads = ${t}`);
    const { best, outRows } = await bestOf(con, sql, reps);
    console.log(`  ${label.padEnd(38)} ${String(t).padStart(8)} ${best.toFixed(3).padStart(10)} ${(inRows / best).toPrecision(3).padStart(12)} ${String(outRows).padStart(10)}`);
  }
}
console.log(`  DuckDB (node) peak RSS ${(process.resourceUsage().maxRSS / 1048576).toFixed(2)} GB`);
