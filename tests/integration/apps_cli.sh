#!/bin/sh
# SPDX-License-Identifier: MIT
# apps_cli.sh - the seed applications end to end through the command line:
# `eau2 gen` (logs, linus, bikes), `eau2 load`, `eau2 run` (urlfreq, linus,
# bikes, mandelbrot), each result checked against an awk/grep reference
# computed here from the generated files; then bad input (missing tables,
# columns, start user, empty input): exit 1, one 'eau2: ...' line naming
# what is missing, and nothing stored under --as.
# Needs EAU2_BIN_DIR; EAU2_TEST_QUICK shrinks the data.
set -u

NAME=apps_cli
. "$(dirname "$0")/lib/cli.sh"
# same WANT WHAT: stdout (ints' '+' signs dropped) equals the file WANT
same() {
	sed 's/^+//; s/,+/,/g' "$T/out" >"$T/out.n"
	cmp -s "$1" "$T/out.n" || {
		echo "--- want" >&2; head -n 20 "$1" >&2
		echo "--- got" >&2; head -n 20 "$T/out.n" >&2
		fail "$2"
	}
}
not_stored() {
	E ls >"$T/ls" 2>&1
	! grep -q "^$1 " "$T/ls" || fail "key $1 stored after a failure"
}

N=60000
[ -n "${EAU2_TEST_QUICK:-}" ] && N=15000

# --- urlfreq ------------------------------------------------------------------
expect 0 E gen logs --out "$T/access.log" --rows "$N" --seed 5
expect 0 E load "$T/access.log" --format lines --as logs
re='^[^ ]+ [^ ]+ [^ ]+ \[[^]]+\] "[^ "]+ [^ "]+ [^ "]+" [0-9][0-9][0-9] ([0-9]+|-)( .*)?$'
grep -E "$re" "$T/access.log" | sed 's/^[^"]*"[^ ]* \([^ ]*\) .*/\1/' |
	sort | uniq -c | awk '{ print $2 "," $1 }' | sort -t, -k2,2nr -k1,1 >"$T/urls"
{ echo "url,count"; cat "$T/urls"; } >"$T/want"
bad=$(grep -cvE "$re" "$T/access.log")
[ "$bad" -gt 0 ] || fail "gen logs made no malformed line"
expect 0 E run urlfreq --input logs
same "$T/want" "urlfreq"
err_has "urlfreq: $bad malformed lines skipped"
expect 0 E run urlfreq --input logs --arg top=10 --threads 1
head -n 11 "$T/want" >"$T/want10"
same "$T/want10" "urlfreq top=10"

# --- linus --------------------------------------------------------------------
C=$((N / 2))
expect 0 E gen linus --out "$T/linus" --rows "$C" --seed 3
for t in projects users commits; do
	expect 0 E load "$T/linus/$t.sor" --as "$t"
done
[ "$(wc -l <"$T/linus/users.sor")" -eq $((C / 10)) ] || fail "users.sor rows"
# reference: the definition, literally, over the commit lines
awk -v start=0 -v D=5 '
FILENAME ~ /users/ { gsub(/[<>]/, ""); isu[$1] = 1; next }
FILENAME ~ /projects/ { gsub(/[<>]/, ""); isp[$1] = 1; next }
{ gsub(/[<>]/, ""); n++; P[n] = $1; A[n] = $2; Cm[n] = $3 }
END {
	lvl[start] = 0; total = 1
	print "degree,new_users,new_projects,total_users"
	for (k = 1; k <= D; k++) {
		split("", linked); np = 0; nu = 0
		for (i = 1; i <= n; i++)
			if (isp[P[i]] && ((A[i] in lvl && lvl[A[i]] == k - 1) ||
					  (Cm[i] in lvl && lvl[Cm[i]] == k - 1)))
				linked[P[i]] = 1
		for (p in linked) if (!(p in seenp)) { seenp[p] = k; np++ }
		for (i = 1; i <= n; i++)
			if (P[i] in linked) {
				if (isu[A[i]] && !(A[i] in lvl)) { lvl[A[i]] = k; nu++ }
				if (isu[Cm[i]] && !(Cm[i] in lvl)) { lvl[Cm[i]] = k; nu++ }
			}
		total += nu
		print k "," nu "," np "," total
	}
}' "$T/linus/users.sor" "$T/linus/projects.sor" "$T/linus/commits.sor" >"$T/want"
expect 0 E run linus --input commits --arg users=users --arg projects=projects \
	--arg start=0 --arg degrees=5
same "$T/want" "linus"
awk -F, 'NR == 2 && $2 > 0 { ok = 1 } END { exit !ok }' "$T/want" || fail "linus: nobody at degree 1"
expect 0 E run linus --input commits --arg users=users --arg projects=projects \
	--arg start=0 --arg degrees=5 --threads 1
same "$T/want" "linus --threads 1"
E ls | grep -q '^linus\.tmp' && fail "linus left temporary keys"

# --- bikes --------------------------------------------------------------------
expect 0 E gen bikes --out "$T/bikes" --rows "$N" --seed 9
for t in weather stations trips; do
	expect 0 E load "$T/bikes/$t.csv" --as "b_$t"
done
B="--input b_trips --arg stations=b_stations --arg weather=b_weather"
# shellcheck disable=SC2086
expect 0 E run bikes $B --arg query=1
awk -F, '
FILENAME ~ /weather/ { if (FNR > 1 && !(($1 "," $2) in r)) r[$1 "," $2] = $3; next }
FNR > 1 { k = $1 "," substr($2, 1, 10)
	if (!(k in r)) { skip++; next }
	if (r[k] > 30) { s += $6; n++ } }
END { printf "%.6f %d\n", s / n, skip }' "$T/bikes/weather.csv" "$T/bikes/trips.csv" >"$T/q1"
got=$(awk -F, 'NR == 2 { printf "%.6f", $1 }' "$T/out")
[ "$got $(sed -n 's/^bikes: query 1: \([0-9]*\) trips skipped.*/\1/p' "$T/err")" = "$(cat "$T/q1")" ] ||
	fail "bikes query 1: got $got, $(cat "$T/err"), want $(cat "$T/q1")"
# query 2: stations by (city, code, yearid); a station is (city, name)
awk -F, '
FILENAME ~ /stations/ { if (FNR > 1 && !(($1 "," $2 "," $6) in nm)) nm[$1 "," $2 "," $6] = $3; next }
FNR > 1 { k = $1 "," $4 "," $8
	if (!(k in nm)) next
	g = $1 "," nm[k]
	if ($8 == 2016) a[g]++
	if ($8 == 2017) b[g]++ }
END { for (g in a) if (b[g] >= 2 * a[g]) print g "," a[g] "," b[g] }' \
	"$T/bikes/stations.csv" "$T/bikes/trips.csv" | sort -t, -k1,1 -k2,2 >"$T/q2"
{ echo "city,name,trips_2016,trips_2017"; cat "$T/q2"; } >"$T/want"
[ -s "$T/q2" ] || fail "bikes query 2: the reference found no station"
# shellcheck disable=SC2086
expect 0 E run bikes $B --arg query=2
same "$T/want" "bikes query 2"
# query 3: montreal, haversine from the start to the end station
awk -F, '
function rad(x) { return x * 3.141592653589793 / 180 }
FILENAME ~ /stations/ { k = $1 "," $2 "," $6
	if (FNR > 1 && !(k in nm)) { nm[k] = $3; la[k] = rad($4); lo[k] = rad($5) }
	next }
FNR > 1 && $1 == "montreal" { s = $1 "," $4 "," $8; e = $1 "," $5 "," $8
	if (!(s in nm) || !(e in nm)) next
	x = sin((la[e] - la[s]) / 2); y = sin((lo[e] - lo[s]) / 2)
	h = x * x + cos(la[s]) * cos(la[e]) * y * y
	d[nm[e]] += 2 * 6371 * atan2(sqrt(h), sqrt(1 - h)); c[nm[e]]++ }
END { for (g in d) if (d[g] / c[g] > 6) printf "%s,%.6f\n", g, d[g] / c[g] }' \
	"$T/bikes/stations.csv" "$T/bikes/trips.csv" | sort -t, -k1,1 >"$T/want"
[ -s "$T/want" ] || fail "bikes query 3: the reference found no station"
# shellcheck disable=SC2086
expect 0 E run bikes $B --arg query=3
awk -F, 'NR > 1 { printf "%s,%.6f\n", $1, $2 }' "$T/out" >"$T/got"
cmp -s "$T/want" "$T/got" || { diff "$T/want" "$T/got" | head >&2; fail "bikes query 3"; }

# --- mandelbrot ---------------------------------------------------------------
# the rower needs no input
MB="--arg width=48 --arg height=32 --arg iter=200"
# shellcheck disable=SC2086
expect 0 E run mandelbrot $MB --as mb
expect 0 E export mb -
awk 'BEGIN {
	W = 48; H = 32; M = 200; dx = 3.5 / W; dy = 2.5 / H
	print "row,col,iter"
	for (py = 0; py < H; py++) for (px = 0; px < W; px++) {
		cx = -2.5 + (px + 0.5) * dx; cy = 1.25 - (py + 0.5) * dy
		x = 0; y = 0; x2 = 0; y2 = 0; n = 0
		while (n < M && x2 + y2 <= 4) { y = 2 * x * y + cy; x = x2 - y2 + cx; x2 = x * x; y2 = y * y; n++ }
		print py "," px "," n
	}
}' >"$T/want"
same "$T/want" "mandelbrot pixels"
# shellcheck disable=SC2086
E run mandelbrot $MB --arg out="$T/m.pgm" --arg result=summary >"$T/out" 2>"$T/err" ||
	{ cat "$T/err" >&2; fail "mandelbrot out=.pgm"; }
head -c 15 "$T/m.pgm" | head -n 2 | tr '\n' ' ' | grep -q '^P5 48 32 ' || fail "mandelbrot PGM header"
[ "$(wc -c <"$T/m.pgm")" -eq $((48 * 32 + 13)) ] || fail "mandelbrot PGM size"

# --- bad input ------------------------------------------------------------------
expect 1 E run linus --input commits --arg users=users --arg projects=projects \
	--arg start=123456789 --as bad
err_has "start user 123456789"
not_stored bad
expect 1 E run linus --input commits --arg users=nosuch --arg projects=projects \
	--arg start=0 --as bad
err_has "nosuch"
not_stored bad
expect 1 E run linus --input users --arg users=users --arg projects=projects \
	--arg start=0 --as bad
err_has "column"
not_stored bad
expect 1 E run bikes --input b_trips --arg stations=b_weather --arg query=2 --as bad
err_has "no column 'code'"
not_stored bad
expect 1 E run bikes --input b_trips --arg weather=b_weather --arg query=3 --as bad
err_has "stations=KEY"
expect 1 E run bikes --input b_stations --arg stations=b_stations --arg query=3 --as bad
err_has "start_station_code"
not_stored bad
expect 1 E run urlfreq --input b_stations --arg column=code --as bad
err_has "'code' is int"
not_stored bad
: >"$T/empty.log"
if E load "$T/empty.log" --format lines --as empty >/dev/null 2>&1; then
	expect 1 E run urlfreq --input empty --as bad
	err_has "no lines"
	not_stored bad
fi
expect 1 E run urlfreq --input nosuchkey
err_has "nosuchkey"
echo "apps_cli: ok"
