#!/bin/bash
# SPDX-License-Identifier: MIT
# bench_dbbench.sh - the five group-by questions of the public db-benchmark
# (h2oai, now duckdblabs) on its group-by table, as whole `eau2` commands,
# against DuckDB (and Arrow, when pyarrow imports) in the same run, with
# the answers checked equal:
#   q1 sum v1 by id1            q2 sum v1 by id1, id2
#   q3 sum v1, mean v3 by id3   q4 mean v1, v2, v3 by id4
#   q5 sum v1, v2, v3 by id6
# The table comes from `eau2 gen dbbench` (K = --groups: id1, id2, id4,
# id5 have K values, id3 and id6 N/K) and is loaded into a private store
# (load times are reported, not counted). Each question runs REPS times
# as `eau2 run groupby ... --threads T --as qN` (half before DuckDB and
# Arrow, half after, against drifting load); the best wall time of
# the command (process start to exit) and the best in-process time (run
# and store, as the command reports it, 10 ms resolution) are printed,
# with DuckDB's best in-process time (the query materialised as a table,
# sorted by key) and Arrow's (group_by + sort_by), and the ratios.
#
# DuckDB: @duckdb/node-api is installed by npm into bench/.cache/npm (not
# committed) on the first run; Arrow: pyarrow from the python3 path or
# bench/.cache/python (--install-arrow puts it there with pip). Without
# them their columns say "skipped". --base PATH runs another eau2 build
# right after each of eau2's runs (same store, same question) and prints
# its best times and the ratio: before/after figures from one run.
#
# Warm runs: an eau2-node (next to --eau2) serves the store during the
# run, and every question also runs as the same command with the node
# there ("warm cmd": the node executes it on its open mappings), while
# the in-process command runs with EAU2_NODE=0, in the same passes; the
# warm answers are checked equal to the in-process ones byte for byte
# (and to DuckDB's). --no-node leaves the node out.
#
# Usage: bench/bench_dbbench.sh [--rows N] [--groups K] [--threads T]
#        [--reps R] [--eau2 PATH] [--base PATH] [--no-duckdb] [--no-arrow]
#        [--install-arrow] [--no-node] [--keep]
# Defaults: 1e7 rows, K = 100, 2 threads, 3 reps, build/eau2. Data go to
# a temporary directory under $TMPDIR (default /dev/shm), removed at the
# end unless --keep.
set -u

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
rows=10000000 groups=100 threads=2 reps=3 eau2=$root/build/eau2
duck=1 arrow=1 install_arrow=0 keep=0 base_bin= warm=1
while [ $# -gt 0 ]; do
	case $1 in
	--rows) rows=$2; shift ;;
	--groups) groups=$2; shift ;;
	--threads) threads=$2; shift ;;
	--reps) reps=$2; shift ;;
	--eau2) eau2=$2; shift ;;
	--base) base_bin=$2; shift ;;
	--no-duckdb) duck=0 ;;
	--no-arrow) arrow=0 ;;
	--install-arrow) install_arrow=1 ;;
	--keep) keep=1 ;;
	--no-node) warm=0 ;;
	-h|--help) sed -n '3,37p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "bench_dbbench: unknown option '$1' (see --help)" >&2; exit 2 ;;
	esac
	shift
done
[ -x "$eau2" ] || { echo "bench_dbbench: $eau2 is missing (build first)" >&2; exit 2; }
cache=$here/.cache
base=${TMPDIR:-/dev/shm}
D=$(mktemp -d "$base/eau2-dbbench-XXXXXX") || exit 2
node_pid=
stop_node() { [ -z "$node_pid" ] || { kill "$node_pid" 2>/dev/null; wait_gone; node_pid=; }; }
wait_gone() { for _ in $(seq 100); do kill -0 "$node_pid" 2>/dev/null || return 0; sleep 0.05; done; }
if [ "$keep" = 1 ]; then trap 'stop_node' EXIT; else trap 'stop_node; rm -rf "$D"' EXIT; fi
trap 'exit 1' INT TERM
S=$D/store
E() { "$eau2" --store "$S" "$@"; }
now() { date +%s.%N; }
# best of a list of numbers on stdin
best() { sort -g | head -n 1; }

echo "bench_dbbench: $rows rows, K = $groups, $threads threads, best of $reps; data in $D"
t0=$(now)
# The table is written by this tree's eau2 (--eau2 may name an older
# build, without the generator, to measure it).
gen=$root/build/eau2
[ -x "$gen" ] || gen=$eau2
"$gen" gen dbbench --rows "$rows" --groups "$groups" --out "$D/g.csv" 2>"$D/err" ||
	{ cat "$D/err" >&2; exit 1; }
t1=$(now)
E load "$D/g.csv" --as x >/dev/null 2>&1 || { echo "bench_dbbench: load failed" >&2; exit 1; }
t2=$(now)
awk -v a="$t0" -v b="$t1" -v c="$t2" 'BEGIN { printf "eau2: gen %.2f s, load %.2f s (not counted)\n", b - a, c - b }'
node_bin=$(dirname "$eau2")/eau2-node
if [ "$warm" = 1 ] && [ -x "$node_bin" ]; then
	node_pid=$("$node_bin" --store "$S" --daemon --quiet 2>"$D/err") ||
		{ cat "$D/err" >&2; echo "bench_dbbench: the node did not start; warm runs skipped" >&2; warm=0; node_pid=; }
else
	warm=0
fi

qs="q1 q2 q3 q4 q5"
declare -A by agg
by[q1]=id1 agg[q1]=sum:v1
by[q2]=id1,id2 agg[q2]=sum:v1
by[q3]=id3 agg[q3]=sum:v1,mean:v3
by[q4]=id4 agg[q4]=mean:v1,mean:v2,mean:v3
by[q5]=id6 agg[q5]=sum:v1,sum:v2,sum:v3
declare -A cmd inproc cpu bcmd bcpu wcmd

# eau2_pass: every question once more, appending its times to $D/cmd_qN
# and $D/in_qN. The passes run before and after the other engines, so a
# load that drifts during the run (a shared host) falls on both sides.
# time_q BIN Q SUFFIX: question Q once as a command of BIN; appends the
# wall time to $D/cmd_Q$SUFFIX, the in-process time to $D/in_Q$SUFFIX and
# the CPU time (user + system) to $D/cpu_Q$SUFFIX.
# The in-process command runs with EAU2_NODE=0, the warm one (SUFFIX
# _warm) with the node.
time_q() {
	local s e n=0
	[ "$3" = _warm ] && n=1
	s=$(now)
	EAU2_NODE=$n /usr/bin/time -f '%U %S' -o "$D/cpu" "$1" --store "$S" run groupby -i x \
		-a "by=${by[$2]}" -a "agg=${agg[$2]}" -j "$threads" --as "$2$3" \
		2>"$D/err" >/dev/null || { cat "$D/err" >&2; exit 1; }
	e=$(now)
	awk -v a="$s" -v b="$e" 'BEGIN { printf "%.4f\n", b - a }' >>"$D/cmd_$2$3"
	sed -n 's/.* in \([0-9.]*\) s$/\1/p' "$D/err" >>"$D/in_$2$3"
	awk '{ print $1 + $2 }' "$D/cpu" >>"$D/cpu_$2$3"
}
# eau2_pass: every question once more (and with --base, the base build
# right after it). The passes run before and after the other engines, so
# a load that drifts during the run (a shared host) falls on both sides.
eau2_pass() {
	for q in $qs; do
		time_q "$eau2" "$q" ""
		[ "$warm" = 0 ] || time_q "$eau2" "$q" _warm
		[ -z "$base_bin" ] || time_q "$base_bin" "$q" _base
	done
}
for r in $(seq $(((reps + 1) / 2))); do
	eau2_pass
done
for q in $qs; do
	E export "$q" "$D/eau2_$q.csv" >/dev/null 2>&1 || exit 1
	if [ "$warm" = 1 ]; then
		E export "${q}_warm" "$D/warm_$q.csv" >/dev/null 2>&1 || exit 1
	fi
done

if [ "$duck" = 1 ] && command -v node >/dev/null 2>&1; then
	if [ ! -d "$cache/npm/node_modules/@duckdb/node-api" ]; then
		echo "installing @duckdb/node-api into $cache/npm (once)"
		mkdir -p "$cache/npm"
		npm install --silent --no-audit --no-fund --prefix "$cache/npm" \
			@duckdb/node-api@1.5.6-r.1 >/dev/null 2>&1 ||
			echo "bench_dbbench: npm install failed; DuckDB skipped" >&2
	fi
	if [ -d "$cache/npm/node_modules/@duckdb/node-api" ]; then
		EAU2_NPM_CACHE=$cache/npm node "$here/compare/duckdb_dbbench.mjs" \
			"$D/g.csv" "$D" "$reps" "$threads" >"$D/duck.json" ||
			echo "bench_dbbench: DuckDB failed" >&2
	fi
fi
if [ "$arrow" = 1 ] && command -v python3 >/dev/null 2>&1; then
	export PYTHONPATH=$cache/python${PYTHONPATH:+:$PYTHONPATH}
	if ! python3 -c 'import pyarrow' 2>/dev/null && [ "$install_arrow" = 1 ]; then
		echo "installing pyarrow into $cache/python (once)"
		python3 -m pip install -q --target "$cache/python" pyarrow >/dev/null 2>&1 ||
			echo "bench_dbbench: pip install pyarrow failed" >&2
	fi
	if python3 -c 'import pyarrow' 2>/dev/null; then
		python3 "$here/compare/arrow_dbbench.py" "$D/g.csv" "$D" "$reps" \
			"$threads" >"$D/arrow.json" || echo "bench_dbbench: Arrow failed" >&2
	fi
fi
for r in $(seq $((reps / 2))); do
	eau2_pass
done
for q in $qs; do
	cmd[$q]=$(best <"$D/cmd_$q")
	inproc[$q]=$(best <"$D/in_$q")
	cpu[$q]=$(best <"$D/cpu_$q")
	[ "$warm" = 0 ] || wcmd[$q]=$(best <"$D/cmd_${q}_warm")
	if [ -n "$base_bin" ]; then
		bcmd[$q]=$(best <"$D/cmd_${q}_base")
		bcpu[$q]=$(best <"$D/cpu_${q}_base")
	fi
done
# best time of question $2 in JSON lines file $1, or empty
jbest() { [ -s "$1" ] && sed -n "s/.*\"q\":\"$2\",\"best\":\([0-9.e-]*\).*/\1/p" "$1"; }
[ -s "$D/duck.json" ] && sed -n 's/.*"load":\([0-9.]*\).*/DuckDB: load \1 s (not counted)/p' "$D/duck.json"
[ -s "$D/arrow.json" ] && sed -n 's/.*"load": \([0-9.]*\).*/Arrow: read \1 s (not counted)/p' "$D/arrow.json"
sed -i 's/"best": /"best":/; s/"q": /"q":/; s/", "/","/g' "$D/arrow.json" 2>/dev/null

printf '\n%-4s %-28s %9s %9s %9s %9s %9s %9s %9s %7s %9s %7s\n' q question "eau2 cmd" "eau2 in" \
	"eau2 cpu" DuckDB "cmd/Duck" "warm cmd" "warm/Duck" answer Arrow "cmd/Arr"
fail=0
for q in $qs; do
	d=$(jbest "$D/duck.json" "$q") a=$(jbest "$D/arrow.json" "$q")
	ans=-
	if [ -n "$d" ]; then
		if python3 "$here/compare/same_answer.py" "$D/eau2_$q.csv" "$D/duckdb_$q.csv" >"$D/diff"; then
			ans=equal
		else
			ans=DIFFER
			fail=1
			echo "$q: eau2 and DuckDB differ: $(cat "$D/diff")" >&2
		fi
	fi
	if [ "$warm" = 1 ] && ! cmp -s "$D/eau2_$q.csv" "$D/warm_$q.csv"; then
		ans="$ans/W!"
		fail=1
		echo "$q: the warm run's answer differs from the in-process one" >&2
	fi
	if [ -n "$a" ] && ! python3 "$here/compare/same_answer.py" "$D/eau2_$q.csv" "$D/arrow_$q.csv" >"$D/diff"; then
		ans="$ans/A!"
		fail=1
		echo "$q: eau2 and Arrow differ: $(cat "$D/diff")" >&2
	fi
	awk -v q="$q" -v what="${by[$q]}: ${agg[$q]}" -v c="${cmd[$q]}" -v i="${inproc[$q]}" \
		-v u="${cpu[$q]}" -v d="$d" -v a="$a" -v ans="$ans" -v w="${wcmd[$q]:-}" 'BEGIN {
		printf "%-4s %-28s %8.3fs %8.2fs %8.2fs ", q, substr(what, 1, 28), c, i, u
		if (d != "") printf "%8.3fs %8.2fx ", d, c / d; else printf "%9s %9s ", "skipped", "-"
		if (w == "") printf "%9s %9s ", "skipped", "-"
		else if (d != "") printf "%8.3fs %8.2fx ", w, w / d
		else printf "%8.3fs %9s ", w, "-"
		printf "%7s ", ans
		if (a != "") printf "%8.3fs %6.2fx\n", a, c / a; else printf "%9s %7s\n", "skipped", "-"
	}'
done
if [ -n "$base_bin" ]; then
	printf '\nagainst the base build %s (same run, interleaved):\n' "$base_bin"
	printf '%-4s %9s %9s %9s %9s %9s %9s\n' q "eau2 cmd" "base cmd" ratio "eau2 cpu" \
		"base cpu" ratio
	for q in $qs; do
		awk -v q="$q" -v c="${cmd[$q]}" -v b="${bcmd[$q]}" -v u="${cpu[$q]}" \
			-v v="${bcpu[$q]}" 'BEGIN {
			printf "%-4s %8.3fs %8.3fs %8.2fx %8.2fs %8.2fs %8.2fx\n", q, c, b,
			       c / b, u, v, (v > 0 ? u / v : 0) }'
	done
fi
[ "$fail" = 0 ] || echo "bench_dbbench: answers differ (above)" >&2
exit "$fail"
