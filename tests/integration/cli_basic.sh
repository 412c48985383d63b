#!/bin/sh
# SPDX-License-Identifier: MIT
# cli_basic.sh - the eau2 command line end to end on a fresh store: load,
# ls, describe, head, export (round trip), rm; exit statuses and one-line
# error messages; --help of every command; gen determinism; on-error skip;
# failed loads leave no key and keep the old value of a replaced key;
# EAU2_STORE and EAU2_VERIFY as the defaults of the command line.
# Needs EAU2_BIN_DIR (the build directory holding eau2).
set -u

NAME=cli_basic
. "$(dirname "$0")/lib/cli.sh"
out_has() {
	grep -qF -- "$1" "$T/out" || { cat "$T/out" >&2; fail "stdout lacks '$1'"; }
}
have_python=0
command -v python3 >/dev/null 2>&1 && have_python=1
# json_check PYTHON-EXPR: $T/out parses as JSON and the expression on it
# (named j) is true.
json_check() {
	[ "$have_python" = 1 ] || return 0
	python3 -c "import json,sys; j=json.load(open(sys.argv[1])); sys.exit(0 if ($1) else 1)" "$T/out" ||
		{ cat "$T/out" >&2; fail "json check: $1"; }
}

# --- help and version --------------------------------------------------
expect 0 "$BIN" --help
out_has "usage: eau2"
expect 0 "$BIN" --version
grep -q '^eau2 [0-9]*\.[0-9]*$' "$T/out" || fail "--version prints '$(cat "$T/out")'"
for c in load ls describe head export rm gen run rowers; do
	expect 0 "$BIN" "$c" --help
	out_has "usage: eau2"
	out_has " $c "
	expect 0 "$BIN" "$c" -h
done
expect 1 "$BIN"
expect 1 "$BIN" frobnicate
err_has "frobnicate"
expect 1 "$BIN" --bogus ls
err_has "--bogus"

# --- load, ls, describe, head, export --------------------------------------
# Written in the form the CSV writer prints, so export is byte-identical.
cat >"$T/in.csv" <<'EOF'
id,name,score,ok
1,alice,3.5,true
2,"bob, jr",-2.25,false
3,,0.1,
4,carol,,true
EOF
expect 0 E load "$T/in.csv" --as people
err_has "loaded people: 4 rows, 4 columns"
expect 0 E ls
[ "$(wc -l <"$T/out")" -eq 1 ] || fail "ls: want one line"
grep -q '^people  *4 rows  *[0-9][0-9]* bytes$' "$T/out" || { cat "$T/out"; fail "ls line"; }
expect 0 E ls --json
json_check 'len(j) == 1 and j[0]["key"] == "people" and j[0]["rows"] == 4 and j[0]["columns"] == 4 and j[0]["bytes"] > 0'

expect 0 E describe people
out_has "rows        4"
# column, type, nulls, bytes (values + bitmap when nulls), min, max
grep -q '^id  *int  *0  *32  *1  *4$' "$T/out" || { cat "$T/out"; fail "describe id"; }
grep -q '^name  *string  *1  *58  *-  *-$' "$T/out" || { cat "$T/out"; fail "describe name"; }
grep -q '^score  *double  *1  *33  *-2.25  *3.5$' "$T/out" || { cat "$T/out"; fail "describe score"; }
grep -q '^ok  *bool  *1  *2  *-  *-$' "$T/out" || { cat "$T/out"; fail "describe ok"; }
expect 0 E describe people --json
json_check 'j["key"] == "people" and j["rows"] == 4 and j["row_groups"] == 1 and [c["name"] for c in j["schema"]] == ["id","name","score","ok"] and [c["type"] for c in j["schema"]] == ["int","string","double","bool"] and [c["nulls"] for c in j["schema"]] == [0,1,1,1] and [c["bytes"] for c in j["schema"]] == [32,58,33,2] and j["schema"][0]["min"] == 1 and j["schema"][0]["max"] == 4 and j["schema"][2]["min"] == -2.25 and j["schema"][1]["min"] is None'

expect 0 E head people -n 2
head -n 3 "$T/in.csv" | cmp -s - "$T/out" || { cat "$T/out"; fail "head -n 2"; }
expect 0 E head people
cmp -s "$T/in.csv" "$T/out" || { cat "$T/out"; fail "head (default 10)"; }
expect 0 E head people -n 0
head -n 1 "$T/in.csv" | cmp -s - "$T/out" || fail "head -n 0: header only"

expect 0 E export people "$T/exp.csv"
cmp "$T/in.csv" "$T/exp.csv" || fail "export is not the input"
[ ! -e "$T/exp.csv.tmp" ] || fail "export left its .tmp file"
expect 0 E export people -
cmp -s "$T/in.csv" "$T/out" || fail "export - is not the input"
expect 1 E export people "$T/no/such/dir/x.csv"
err_has "$T/no/such/dir/x.csv"

# --- errors ---------------------------------------------------------------
expect 1 E describe nosuchkey
err_has nosuchkey
expect 1 E head nosuchkey
err_has nosuchkey
expect 1 E export nosuchkey "$T/x.csv"
err_has nosuchkey
[ ! -e "$T/x.csv" ] || fail "export of a missing key created a file"
expect 1 E rm nosuchkey
err_has nosuchkey
expect 1 E ls --bogus
err_has "--bogus"
expect 1 E head people -n many
err_has "many"
expect 1 E head
expect 1 E head people extra
err_has extra
expect 1 E load "$T/in.csv"
err_has "--as"
expect 1 E load "$T/in.csv" --as
expect 1 E load "$T/missing.csv" --as m
err_has "$T/missing.csv"
expect 1 E load "$T" --as m
expect 1 E load "$T/in.csv" --as "bad key"
err_has "bad key"
expect 1 E load "$T/in.csv" --as k --format xml
err_has xml
expect 1 E load "$T/in.csv" --as k --schema "id:int,name:complex"
expect 1 E run no_such_rower --input people
err_has no_such_rower
expect 1 E gen nosuchgen --out "$T/g"
err_has nosuchgen
expect 1 E gen mixed
err_has "--out"
expect 1 E gen mixed --out "$T/g" --rows 1 --size 10

# --- on-error skip, failed loads ----------------------------------------------
cat >"$T/bad.csv" <<'EOF'
a,b
1,1.5
x,2.5
3,3.5
4,4.5,extra
5,5.5
EOF
expect 1 E load "$T/bad.csv" --as bad --schema a:int,b:double
err_has "bad.csv:3:"
expect 1 E describe bad
expect 0 E load "$T/bad.csv" --as bad --schema a:int,b:double --on-error skip
err_has "loaded bad: 3 rows, 2 columns"
err_has "skipped 2 bad rows"
err_has "bad.csv:3:"
err_has "bad.csv:5:"
expect 0 E export bad -
printf 'a,b\n1,1.5\n3,3.5\n5,5.5\n' | cmp -s - "$T/out" || { cat "$T/out"; fail "skip kept the wrong rows"; }

# A failed load over an existing key keeps the old value; a good one
# replaces it.
expect 1 E load "$T/bad.csv" --as people --schema a:int,b:double
expect 0 E export people -
cmp -s "$T/in.csv" "$T/out" || fail "a failed load changed 'people'"
expect 0 E load "$T/bad.csv" --as people --schema a:int,b:double --on-error skip
expect 0 E describe people --json
json_check 'j["rows"] == 3 and len(j["schema"]) == 2'

# --- rm -------------------------------------------------------------------------
expect 0 E rm people
expect 0 E rm bad
expect 0 E ls
[ ! -s "$T/out" ] || { cat "$T/out"; fail "ls after rm is not empty"; }
expect 0 E ls --json
json_check 'j == []'
expect 1 E rm people
err_has people

# --- gen ------------------------------------------------------------------------
expect 0 E gen mixed --out "$T/m1.csv" --rows 1000 --seed 42
expect 0 E gen mixed --out "$T/m2.csv" --rows 1000 --seed 42
cmp -s "$T/m1.csv" "$T/m2.csv" || fail "gen mixed: same seed, different files"
expect 0 E gen mixed --out "$T/m3.csv" --rows 1000 --seed 43
cmp -s "$T/m1.csv" "$T/m3.csv" && fail "gen mixed: different seeds, same file"
[ "$(wc -l <"$T/m1.csv")" -eq 1001 ] || fail "gen mixed --rows 1000: want 1001 lines"
expect 0 E gen mixed --out "$T/m4.csv" --rows 2000 --seed 42
head -n 1001 "$T/m4.csv" | cmp -s - "$T/m1.csv" || fail "gen: longer run is not an extension"
expect 0 E gen text --out "$T/t.txt" --size 100000 --seed 5
sz=$(wc -c <"$T/t.txt")
[ "$sz" -ge 100000 ] && [ "$sz" -lt 100400 ] || fail "gen text --size 100000 gave $sz bytes"
expect 0 E gen sor --out - --rows 20
[ "$(wc -l <"$T/out")" -eq 20 ] || fail "gen sor --rows 20"
# The shape the generators promise: ~1% empty (null) fields in every mixed
# column but id; skewed names and words (the top value is > 5% of all).
expect 0 E gen mixed --out "$T/shape.csv" --rows 20000 --seed 3
awk -F, 'NR > 1 && !/"/ {
	n++
	for (i = 2; i <= 5; i++) if ($i == "") nul[i]++
	if ($1 == "") bad = 1
	name[$4]++
} END {
	for (i = 2; i <= 5; i++) if (nul[i] < 0.005 * n || nul[i] > 0.02 * n) bad = 1
	for (k in name) if (k != "" && name[k] > top) top = name[k]
	exit (bad || top < 0.05 * n)
}' "$T/shape.csv" || fail "gen mixed: nulls not ~1% or names not skewed"
awk '{ for (i = 1; i <= NF; i++) { c[$i]++; n++ } if (NF < 5 || NF > 20) bad = 1 }
END { for (w in c) if (c[w] > top) top = c[w]; exit (bad || top < 0.05 * n) }' "$T/t.txt" ||
	fail "gen text: lines not 5-20 words or words not skewed"

# Generated data loads: the CSV with its inferred types, text as lines,
# SoR; and export(load(export(x))) == export(x).
expect 0 E load "$T/m1.csv" --as mixed
err_has "loaded mixed: 1000 rows, 5 columns"
expect 0 E describe mixed --json
json_check '[c["type"] for c in j["schema"]] == ["int","int","double","string","bool"] and j["schema"][0]["nulls"] == 0 and j["schema"][0]["max"] == 999'
expect 0 E export mixed "$T/mx1.csv"
expect 0 E load "$T/mx1.csv" --as mixed2
expect 0 E export mixed2 "$T/mx2.csv"
cmp "$T/mx1.csv" "$T/mx2.csv" || fail "export/load round trip of gen mixed"
expect 0 E load "$T/t.txt" --as text
lines=$(wc -l <"$T/t.txt")
err_has "loaded text: $lines rows, 1 columns"
expect 0 E gen sor --out "$T/s.sor" --rows 500 --seed 9
expect 0 E load "$T/s.sor" --as sor
err_has "loaded sor: 500 rows, 5 columns"
# A byte range from the middle of line 10 to the middle of line 30 holds
# the whole lines 11..29.
from=$(awk 'NR < 10 { n += length($0) + 1 } END { print n + 3 }' "$T/s.sor")
to=$(awk 'NR < 30 { n += length($0) + 1 } END { print n + 3 }' "$T/s.sor")
expect 0 E load "$T/s.sor" --as sorpart --from "$from" --len $((to - from))
err_has "loaded sorpart: 19 rows, 5 columns"
expect 0 E export sorpart -
sed -n 11p "$T/s.sor" | sed 's/^<\([0-9]*\)>.*/\1/' >"$T/want"
sed -n 2p "$T/out" | cut -d, -f1 | cmp -s - "$T/want" || fail "--from/--len first row"

# --- JSON escaping: a key with a quote and a backslash, column names with
# UTF-8, an invalid byte and a tab still give JSON that parses.
printf '"a""b",c\\d,na\303\257ve,bad\377x,"tab\tx"\n7,2,3,4,5\n' >"$T/w.csv"
expect 0 E load "$T/w.csv" --as 'k"e\y'
expect 0 E ls --json
json_check '"k\"e\\y" in [e["key"] for e in j]'
expect 0 E describe 'k"e\y' --json
json_check 'j["key"] == "k\"e\\y" and [c["name"] for c in j["schema"]] == ["a\"b", "c\\d", "na\u00efve", "bad\ufffdx", "tab\tx"]'

# --- the environment as the command line's defaults (the library reads
# none: eau2 turns EAU2_STORE and EAU2_VERIFY into eau2_open's options).
printf 'v\n1\n2\n' >"$T/v.csv"
expect 0 E load "$T/v.csv" --as ver
expect 0 env EAU2_STORE="$S" "$BIN" ls
out_has "ver"
# The first value of ver's only chunk (after its 128-byte header) becomes
# 5: a get maps it as it is, a verifying get refuses it.
id=$(cat "$S/keys/ver")
printf '\005' | dd of="$S/data/$id.0.seg" bs=1 seek=128 conv=notrunc 2>/dev/null ||
	fail "corrupting ver"
expect 0 E head ver
printf 'v\n5\n2\n' | cmp -s - "$T/out" || { cat "$T/out"; fail "head of the changed chunk"; }
expect 1 env EAU2_VERIFY=1 "$BIN" --store "$S" head ver
err_has "column 'v', row group 0: checksum mismatch"
expect 0 env EAU2_VERIFY=0 "$BIN" --store "$S" head ver

echo "cli_basic: ok"
