# SPDX-License-Identifier: MIT
"""arrow_dbbench.py - the five db-benchmark group-by questions (see
bench/bench_dbbench.sh) in Arrow's C++ engine through pyarrow: the CSV is
read into a table first (not counted), then each question is grouped,
aggregated and sorted by its keys REPS times with THREADS threads; the
best time is printed as one JSON line per question, and the last result
is written to OUTDIR/arrow_qN.csv (keys, then the aggregates in order)
for the answer check.

Usage: python3 arrow_dbbench.py CSV OUTDIR REPS THREADS
"""
import json
import sys
import time

import pyarrow as pa
import pyarrow.csv as pcsv

QUESTIONS = [
    ("q1", ["id1"], [("v1", "sum")]),
    ("q2", ["id1", "id2"], [("v1", "sum")]),
    ("q3", ["id3"], [("v1", "sum"), ("v3", "mean")]),
    ("q4", ["id4"], [("v1", "mean"), ("v2", "mean"), ("v3", "mean")]),
    ("q5", ["id6"], [("v1", "sum"), ("v2", "sum"), ("v3", "sum")]),
]


def main():
    path, outdir = sys.argv[1], sys.argv[2]
    reps = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    threads = int(sys.argv[4]) if len(sys.argv) > 4 else 2
    pa.set_cpu_count(threads)
    pa.set_io_thread_count(threads)
    types = {c: pa.string() for c in ("id1", "id2", "id3")}
    types.update({c: pa.int64() for c in ("id4", "id5", "id6", "v1", "v2")})
    types["v3"] = pa.float64()
    t0 = time.perf_counter()
    table = pcsv.read_csv(path, convert_options=pcsv.ConvertOptions(column_types=types))
    print(json.dumps({"load": time.perf_counter() - t0}), flush=True)
    for q, keys, aggs in QUESTIONS:
        best, res = float("inf"), None
        for _ in range(reps):
            t0 = time.perf_counter()
            res = table.group_by(keys).aggregate(aggs)
            res = res.sort_by([(k, "ascending") for k in keys])
            best = min(best, time.perf_counter() - t0)
        names = [f"{c}_{f}" for c, f in aggs]
        res = res.select(keys + names)
        pcsv.write_csv(res, f"{outdir}/arrow_{q}.csv")
        print(json.dumps({"q": q, "best": best, "rows": res.num_rows}), flush=True)


if __name__ == "__main__":
    main()
