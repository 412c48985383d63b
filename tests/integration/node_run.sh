#!/bin/sh
# SPDX-License-Identifier: MIT
# node_run.sh - warm runs: with an eau2-node serving the store, `eau2 run`
# executes on the node (its log names each run, and the second run over a
# key finds the input open) and prints the same bytes, stores the same
# dataframes under --as and fails with the same message and exit status
# as the in-process run (EAU2_NODE=0), and so does `eau2 describe` (its
# stats come from the describe rower); a --plugin rower the node lacks
# runs in-process; a stopped node leaves runs to the command. Skipped
# (77) when eau2-node is not built.
set -u

NAME=node_run
. "$(dirname "$0")/lib/node.sh"
base=/dev/shm
[ -d "$base" ] && [ -w "$base" ] || base=${TMPDIR:-/tmp}
T=$(mktemp -d "$base/eau2-node-run-XXXXXX") || exit 1
S=$T/store
NPID=
cleanup() {
	[ -n "$NPID" ] && kill -9 "$NPID" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# The db-benchmark questions and others, printed and stored; the stored
# results exported.
queries() {
	E run groupby -i x -a by=id1 -a agg=sum:v1 -j 2
	E run groupby -i x -a by=id1,id2 -a agg=sum:v1 -j 2
	E run groupby -i x -a by=id3 -a agg=sum:v1,mean:v3 -j 2 --as q3 2>/dev/null
	E run groupby -i x -a by=id4 -a agg=mean:v1,mean:v2,mean:v3 -j 1
	E run groupby -i x -a by=id6 -a agg=sum:v1,sum:v2,sum:v3 --as q5 2>/dev/null
	E run count -i x
	E run filter -i x -a "where=v1 > 3" --as f 2>/dev/null
	E run count -i f
	E export q3 -
	E export q5 -
	E describe x
	E describe q5 --json
	E run --plugin "$B/plugins/eau2_even_count.so" even_count -i x -a column=v2
	E run mandelbrot -a width=16 -a height=8 -a iter=50
}
# Errors: stderr and the exit status.
errors() {
	E run groupby -i nokey -a by=id1 -a agg=sum:v1; echo "exit $?"
	E run groupby -i x -a by=nocol -a agg=sum:v1; echo "exit $?"
	E run groupby -i x -a bogus=1; echo "exit $?"
}

"$E2" gen dbbench --rows 100000 --groups 10 --out "$T/g.csv" 2>/dev/null || fail "gen"
E load "$T/g.csv" --as x >/dev/null 2>&1 || fail "load"
EAU2_NODE=0 queries >"$T/embedded.out" 2>"$T/q.err" || { cat "$T/q.err" >&2; fail "embedded queries"; }
EAU2_NODE=0 errors >"$T/embedded.err" 2>&1

"$NODE" --store "$S" 2>>"$T/node.log" &
NPID=$!
wait_node
for pass in 1 2; do
	queries >"$T/node$pass.out" 2>"$T/q.err" || { cat "$T/q.err" >&2; fail "queries with the node (pass $pass)"; }
	cmp -s "$T/embedded.out" "$T/node$pass.out" ||
		{ diff "$T/embedded.out" "$T/node$pass.out" | head >&2; fail "pass $pass printed other bytes than in-process"; }
done
errors >"$T/node.err" 2>&1
cmp -s "$T/embedded.err" "$T/node.err" ||
	{ diff "$T/embedded.err" "$T/node.err" >&2; fail "errors differ from in-process"; }
# The node ran them: 7 runs a pass over x or f, the second finding the
# inputs open. The plugin's rower ran in-process.
n=$(grep -c "run groupby over x" "$T/node.log")
[ "$n" -ge 10 ] || fail "the node logged $n groupby runs, want at least 10"
grep -q "run groupby over x.*(input open already)" "$T/node.log" ||
	fail "no run found its input open"
grep -q "run even_count" "$T/node.log" && fail "the plugin's rower ran on the node"
grep -q "run mandelbrot: " "$T/node.log" || fail "a run without input did not go to the node"
grep -q "run describe over x: 9 rows" "$T/node.log" || fail "describe did not run on the node"

# The node stopped: the command runs in-process, same bytes.
kill "$NPID"
wait "$NPID" || fail "node exited with $?"
NPID=
queries >"$T/after.out" 2>"$T/q.err" || { cat "$T/q.err" >&2; fail "queries after the node stopped"; }
cmp -s "$T/embedded.out" "$T/after.out" || fail "after the node stopped: other bytes"
echo "$NAME: ok"
