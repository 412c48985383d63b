// SPDX-License-Identifier: MIT
// duckdb_rowers.mjs - the operations of bench/bench_rowers.c in DuckDB, in
// the same run: sum of an int64 column of ROWS rows (made inside DuckDB
// from range(), 30-bit values like the bench's), and wordcount over the
// bench's text, exported one line per row to TEXT (split on ASCII
// whitespace, empty words dropped, result materialised). Tables are
// loaded first (not timed); each query reports the best of REPS runs per
// thread count, with GB/s over the same byte counts the bench uses.
//
// Usage: node duckdb_rowers.mjs ROWS TEXT TEXT_BYTES [REPS] [THREADS...]
import { DuckDBInstance } from '@duckdb/node-api';
import { bestOf } from './best_of.mjs';

const [rowsArg, text, textBytesArg, repsArg, ...threadArgs] = process.argv.slice(2);
if (!rowsArg || !text || !textBytesArg) {
  console.error('usage: node duckdb_rowers.mjs ROWS TEXT TEXT_BYTES [REPS] [THREADS...]');
  process.exit(2);
}
const rows = Number(rowsArg);
const textBytes = Number(textBytesArg);
const reps = Number(repsArg || 3);
const threads = [...new Set((threadArgs.length ? threadArgs : ['1']).map(Number))];

const inst = await DuckDBInstance.create(':memory:');
const con = await inst.connect();
const version = (await con.runAndReadAll('SELECT version()')).getRows()[0][0];
const t0 = performance.now();
await con.run(`CREATE TABLE t AS SELECT (hash(i) >> 34)::BIGINT AS v FROM range(${rows}) r(i)`);
await con.run(`CREATE TABLE text AS SELECT * FROM read_csv('${text}', columns = {'line': 'VARCHAR'}, ` +
  `header = false, delim = '\x01', quote = '', escape = '', auto_detect = false)`);
console.log(`\n  DuckDB ${version}: made ${rows} int64 rows and loaded the text in ` +
  `${((performance.now() - t0) / 1000).toFixed(1)} s`);

const queries = [
  ['sum of an int64 column', rows * 8, 'SELECT sum(v) AS sum_v FROM t'],
  ['wordcount', textBytes,
    "SELECT w AS word, count(*) AS count FROM (SELECT unnest(string_split_regex(line, " +
    "'[ \\t\\n\\v\\f\\r]+')) AS w FROM text) WHERE w <> '' GROUP BY w"],
];
console.log(`  ${'operation (DuckDB)'.padEnd(26)} ${'threads'.padStart(8)} ${'seconds'.padStart(10)} ${'GB/s'.padStart(8)} ${'out rows'.padStart(10)}`);
for (const [label, bytes, sql] of queries) {
  for (const th of threads) {
    await con.run(`SET threads = ${th}`);
    const { best, outRows } = await bestOf(con, sql, reps);
    console.log(`  ${label.padEnd(26)} ${String(th).padStart(8)} ${best.toFixed(3).padStart(10)} ` +
      `${(bytes / best / 1e9).toFixed(2).padStart(8)} ${String(outRows).padStart(10)}`);
  }
}
