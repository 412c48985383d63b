// SPDX-License-Identifier: MIT
// duckdb_dbbench.mjs - the five group-by questions of the db-benchmark
// (q1..q5, see bench/bench_dbbench.sh) in DuckDB over the table that
// `eau2 gen dbbench` wrote: the CSV is loaded into an in-memory table
// first (load time reported, not counted), then each question is
// materialised sorted by its keys (as eau2's groupby builds a dataframe
// sorted by key) REPS times with THREADS threads; the best time is
// printed as one JSON line per question, and the last result is written
// to OUTDIR/duckdb_qN.csv for the answer check.
//
// @duckdb/node-api is looked up from EAU2_NPM_CACHE (a folder holding
// node_modules; bench_dbbench.sh installs it there), else from here.
//
// Usage: node duckdb_dbbench.mjs CSV OUTDIR REPS THREADS
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { bestOf } from './best_of.mjs';

const [csv, outdir, repsArg, threadsArg] = process.argv.slice(2);
if (!csv || !outdir) {
  console.error('usage: node duckdb_dbbench.mjs CSV OUTDIR [REPS] [THREADS]');
  process.exit(2);
}
const reps = Number(repsArg || 3);
const threads = Number(threadsArg || 2);
const req = createRequire((process.env.EAU2_NPM_CACHE ||
  fileURLToPath(new URL('.', import.meta.url))) + '/');
const { DuckDBInstance } = await import(pathToFileURL(req.resolve('@duckdb/node-api')).href);

export const questions = [
  ['q1', 'SELECT id1, sum(v1) AS sum_v1 FROM x GROUP BY id1 ORDER BY id1 NULLS LAST'],
  ['q2', 'SELECT id1, id2, sum(v1) AS sum_v1 FROM x GROUP BY id1, id2 ' +
         'ORDER BY id1 NULLS LAST, id2 NULLS LAST'],
  ['q3', 'SELECT id3, sum(v1) AS sum_v1, avg(v3) AS mean_v3 FROM x GROUP BY id3 ' +
         'ORDER BY id3 NULLS LAST'],
  ['q4', 'SELECT id4, avg(v1) AS mean_v1, avg(v2) AS mean_v2, avg(v3) AS mean_v3 ' +
         'FROM x GROUP BY id4 ORDER BY id4 NULLS LAST'],
  ['q5', 'SELECT id6, sum(v1) AS sum_v1, sum(v2) AS sum_v2, sum(v3) AS sum_v3 ' +
         'FROM x GROUP BY id6 ORDER BY id6 NULLS LAST'],
];

const db = await DuckDBInstance.create(':memory:');
const con = await db.connect();
await con.run(`SET threads = ${threads}`);
let t0 = performance.now();
await con.run(`CREATE TABLE x AS SELECT * FROM read_csv('${csv}', header = true, ` +
  "columns = {'id1': 'VARCHAR', 'id2': 'VARCHAR', 'id3': 'VARCHAR', " +
  "'id4': 'BIGINT', 'id5': 'BIGINT', 'id6': 'BIGINT', 'v1': 'BIGINT', " +
  "'v2': 'BIGINT', 'v3': 'DOUBLE'})");
console.log(JSON.stringify({ load: (performance.now() - t0) / 1000 }));
for (const [q, sql] of questions) {
  const { best, outRows } = await bestOf(con, sql, reps);
  await con.run(`COPY result TO '${outdir}/duckdb_${q}.csv' (HEADER)`);
  console.log(JSON.stringify({ q, best, rows: Number(outRows) }));
}
