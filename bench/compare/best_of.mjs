// SPDX-License-Identifier: MIT
// best_of.mjs - how the DuckDB comparison scripts time a query: the result
// is materialised into a table (as eau2's rowers build a dataframe), REPS
// times on connection CON; returns the best wall time in seconds and the
// result's row count.
export async function bestOf(con, sql, reps) {
  let best = Infinity;
  let outRows = 0;
  for (let r = 0; r < reps; r++) {
    await con.run('DROP TABLE IF EXISTS result');
    const t0 = performance.now();
    await con.run(`CREATE TABLE result AS ${sql}`);
    best = Math.min(best, (performance.now() - t0) / 1000);
    outRows = (await con.runAndReadAll('SELECT count(*) FROM result')).getRows()[0][0];
  }
  return { best, outRows };
}
