#!/bin/sh
# SPDX-License-Identifier: MIT
# cli_run.sh - `eau2 run` and `eau2 rowers` end to end: count, sum, min,
# max and wordcount over data made here, checked against awk; printed
# results, stored results (--as), thread-count independence, and the user
# errors (unknown rower, column, bad --arg, missing input key or plugin).
# Needs EAU2_BIN_DIR; EAU2_TEST_QUICK shrinks the data.
set -u

NAME=cli_run
. "$(dirname "$0")/lib/cli.sh"
# same FILE: stdout equals FILE
same() {
	cmp -s "$1" "$T/out" || {
		echo "--- want" >&2; head -n 20 "$1" >&2
		echo "--- got" >&2; head -n 20 "$T/out" >&2
		fail "$2"
	}
}
# num_is COLUMN VALUE: the one result row's column COLUMN (1-based) equals
# VALUE numerically (doubles may print in any round-trip form).
num_is() {
	awk -F, -v c="$1" -v w="$2" 'NR == 2 { ok = ($c + 0 == w + 0) } END { exit !(ok && NR == 2) }' "$T/out" ||
		{ cat "$T/out" >&2; fail "column $1: want $2 ($3)"; }
}

N=200000 # several row groups, so per-thread states are joined
[ -n "${EAU2_TEST_QUICK:-}" ] && N=70000

# --- numeric data: x int with nulls (every 97th row), y double, tag string
awk -v n="$N" 'BEGIN {
	print "id,x,y,tag"
	for (i = 0; i < n; i++) {
		x = (i * 7919) % 1000 - 300
		printf "%d,%s,%s,t%d\n", i, (i % 97 == 0) ? "" : x, (i % 13) * 0.5, i % 5
	}
}' >"$T/num.csv"
expect 0 E load "$T/num.csv" --as num
awk -F, 'NR > 1 {
	rows++
	if ($2 != "") { nx++; sx += $2; if (nx == 1 || $2 < mn) mn = $2; if (nx == 1 || $2 > mx) mx = $2 }
	sy += $3
} END {
	printf "rows=%d\nnx=%d\nsx=%d\nsy=%.1f\nmn=%d\nmx=%d\n", rows, nx, sx, sy, mn, mx
}' "$T/num.csv" >"$T/ref"
rows='' nx='' sx='' sy='' mn='' mx=''
# shellcheck source=/dev/null
. "$T/ref"
[ "$rows" -eq "$N" ] || fail "reference rows $rows"

expect 0 E rowers
for r in count sum min max wordcount; do
	grep -q "^$r  " "$T/out" || { cat "$T/out" >&2; fail "rowers lacks $r"; }
done

expect 0 E run count --input num
printf 'count\n%d\n' "$rows" >"$T/want"
same "$T/want" "count"
expect 0 E run count --input num --arg column=x
printf 'count\n%d\n' "$nx" >"$T/want"
same "$T/want" "count column=x"
expect 0 E run sum --input num --arg columns=x,y
head -n 1 "$T/out" | grep -qx 'sum_x,sum_y' || { cat "$T/out"; fail "sum header"; }
num_is 1 "$sx" "sum x"
num_is 2 "$sy" "sum y"
expect 0 E run min --input num --arg columns=x
num_is 1 "$mn" "min x"
expect 0 E run max --input num --arg columns=x
num_is 1 "$mx" "max x"
for t in 1 2 3; do
	expect 0 E run sum --input num --arg columns=x,y --threads "$t"
	num_is 1 "$sx" "sum x with $t threads"
	num_is 2 "$sy" "sum y with $t threads"
done

# --- wordcount over text loaded as lines ------------------------------------
expect 0 E gen text --out "$T/words.txt" --rows $((N / 10)) --seed 11
expect 0 E load "$T/words.txt" --as words
{
	echo "word,count"
	awk '{ for (i = 1; i <= NF; i++) c[$i]++ } END { for (w in c) print w "," c[w] }' "$T/words.txt" |
		sort -t, -k2,2nr -k1,1
} >"$T/wc.want"
expect 0 E run wordcount --input words
same "$T/wc.want" "wordcount"
expect 0 E run wordcount --input words --threads 1
same "$T/wc.want" "wordcount --threads 1"
expect 0 E run wordcount --input words --arg column=line --as wc
err_has "stored wc: $(($(wc -l <"$T/wc.want") - 1)) rows, 2 columns"
[ ! -s "$T/out" ] || fail "run --as printed the result"
expect 0 E export wc -
same "$T/wc.want" "stored wordcount"
expect 0 E head wc -n 3
head -n 4 "$T/wc.want" >"$T/want"
same "$T/want" "head of stored wordcount"

# --- plugins (the example plugin the build makes from examples/plugin) -------
P=$EAU2_BIN_DIR/plugins
SRC=${EAU2_SRC_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
if [ -f "$SRC/examples/plugin/even_count.c" ]; then
	[ -f "$P/eau2_even_count.so" ] || fail "$P/eau2_even_count.so was not built"
	expect 0 E rowers
	grep -q '^even_count ' "$T/out" && fail "even_count listed without --plugin"
	expect 0 E rowers --plugin "$P/eau2_even_count.so"
	grep -q '^even_count ' "$T/out" || { cat "$T/out"; fail "rowers --plugin"; }
	even=$(awk -F, 'NR > 1 && $2 != "" && $2 % 2 == 0 { n++ } END { print n + 0 }' "$T/num.csv")
	expect 0 E run even_count --plugin "$P/eau2_even_count.so" --input num --arg column=x
	printf 'even_count\n%d\n' "$even" >"$T/want"
	same "$T/want" "even_count plugin"
	expect 1 E run even_count --input num --arg column=x
	err_has even_count
	# a plugin that registers a built-in's name fails as a whole
	expect 1 E rowers --plugin "$P/eau2_broken_clash.so"
fi

# --- user errors ---------------------------------------------------------------
expect 1 E run no_such_rower --input num
err_has no_such_rower
expect 1 E run sum --arg columns=a
err_has "rower 'sum' needs an input dataframe"
expect 1 E run count --input no_such_key
err_has no_such_key
expect 1 E run count --input num --arg column=no_such_col
err_has no_such_col
expect 1 E run sum --input num --arg columns=tag
expect 1 E run count --input num --arg justaname
err_has justaname
expect 1 E run count --input num --arg =v
expect 1 E run count --input num --plugin "$T/no_such_plugin.so"
err_has no_such_plugin.so
expect 1 E rowers --plugin "$T/no_such_plugin.so"
err_has no_such_plugin.so
expect 1 E run count --input num --as "bad key"
expect 1 E run count --input num --threads lots
expect 1 E run
expect 0 E ls
[ "$(wc -l <"$T/out")" -eq 3 ] || { cat "$T/out"; fail "failed runs stored keys"; }

echo "cli_run: ok"
