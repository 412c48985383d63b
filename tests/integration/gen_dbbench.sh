#!/bin/sh
# SPDX-License-Identifier: MIT
# gen_dbbench.sh - `eau2 gen dbbench`: the db-benchmark group-by table has
# its header, the asked rows, values in their ranges (K groups for id1,
# id2, id4, id5; N/K for id3, id6), the same bytes for the same seed, and
# it loads with the types the questions need; --groups is refused for
# other generators.
# Needs EAU2_BIN_DIR (the build directory holding eau2).
set -u

NAME=gen_dbbench
. "$(dirname "$0")/lib/cli.sh"

expect 0 "$BIN" gen dbbench --rows 2000 --groups 10 --out "$T/a.csv"
expect 0 "$BIN" gen dbbench --rows 2000 --groups 10 --out "$T/b.csv"
cmp -s "$T/a.csv" "$T/b.csv" || fail "same seed, other bytes"
[ "$(head -n 1 "$T/a.csv")" = "id1,id2,id3,id4,id5,id6,v1,v2,v3" ] ||
	fail "header is '$(head -n 1 "$T/a.csv")'"
[ "$(wc -l <"$T/a.csv")" -eq 2001 ] || fail "want 2000 rows"
awk -F, 'NR > 1 {
	if ($1 !~ /^id0(0[1-9]|10)$/ || $2 !~ /^id0(0[1-9]|10)$/) exit 1
	if ($3 !~ /^id[0-9]+$/ || length($3) != 12) exit 1
	n3 = substr($3, 3) + 0
	if (n3 < 1 || n3 > 200 || $6 < 1 || $6 > 200) exit 1
	if ($4 < 1 || $4 > 10 || $5 < 1 || $5 > 10) exit 1
	if ($7 < 1 || $7 > 5 || $8 < 1 || $8 > 15) exit 1
	if ($9 !~ /^[0-9]+\.[0-9][0-9]$/ || $9 > 100) exit 1
	s1[$1]; s6[$6]
} END { if (length(s1) != 10 || length(s6) < 150) exit 1 }' "$T/a.csv" ||
	fail "a value is out of range, or groups are missing"
expect 0 "$BIN" gen dbbench --rows 2000 --groups 10 --seed 2 --out "$T/c.csv"
cmp -s "$T/a.csv" "$T/c.csv" && fail "seeds 1 and 2 gave the same bytes"

expect 0 E load "$T/a.csv" --as x
expect 0 E describe x
for c in "id1 *string" "id3 *string" "id4 *int" "id6 *int" "v1 *int" "v3 *double"; do
	grep -q "$c" "$T/out" || { cat "$T/out" >&2; fail "describe lacks '$c'"; }
done
expect 0 E run groupby --input x --arg by=id1 --arg agg=sum:v1
[ "$(wc -l <"$T/out")" -eq 11 ] || fail "groupby by=id1 gave $(wc -l <"$T/out") lines"
want=$(awk -F, 'NR > 1 { s += $7 } END { print s }' "$T/a.csv")
got=$(awk -F, 'NR > 1 { s += $2 } END { print s }' "$T/out")
[ "$want" = "$got" ] || fail "sum of v1: $got, want $want"

expect 1 "$BIN" gen mixed --groups 5 --out "$T/m.csv"
err_has "--groups"
exit 0
