#!/bin/sh
# SPDX-License-Identifier: MIT
# cluster_apps.sh - rowers that read side tables, and the applications,
# on a cluster of three real eau2-node processes on loopback joined
# through a throw-away ZooKeeper (tools/zk.sh), each answer compared byte
# for byte with the one a local store gives for the same files: urlfreq,
# join
# (inner and left, unique and repeated small keys: the small table
# broadcast to the nodes), bikes queries 1-3 (stations and weather
# broadcast), linus (each pass a distributed run, its frontier
# broadcast), mandelbrot (image rows split across the nodes: pixels,
# summary and the PGM file), with the inputs loaded with --replicas 2
# and 1. A side table over EAU2_BCAST_MAX: a clear error naming it.
# After the runs no node holds a broadcast copy (eau2.bcast.*) and the
# cluster no temporary key; the copies of a driver killed mid-run are
# dropped by the nodes once its session is over; without its nodes the
# cluster's mandelbrot fails (it runs there). Skipped (77) only when ZooKeeper is not
# installed (tools/deps.sh installs it).
set -u

NAME=cluster_apps
. "$(dirname "$0")/lib/cluster.sh"
N=40000
[ -n "${EAU2_TEST_QUICK:-}" ] && N=12000

cl_zk 1

EC() { "$E2" --store "$D" --cluster "$Z/ca" --timeout 5000 "$@"; }

for i in 1 2 3; do
	rnode_start "$T/n$i" "$T/n$i.log" --zk "$Z" --cluster ca
	eval "PID$i=\$RN_PID ADDR$i=\$RN_ADDR"
done
cl_joined 3

# load FILE KEY [ARGS]: the same file into the local store and onto the
# cluster (2 replicas, and 1 under KEY1).
load() {
	f=$1
	k=$2
	shift 2
	EA load "$f" --as "$k" "$@" >/dev/null 2>"$T/err" || { cat "$T/err" >&2; fail "local load $k"; }
	expect 0 EC load "$f" --as "$k" --replicas 2 "$@"
	expect 0 EC load "$f" --as "${k}1" --replicas 1 "$@"
}
# both WHAT KEY ARGS...: `run ARGS --input KEY` locally and on the
# cluster (over KEY and KEY1), outputs equal byte for byte.
both() {
	what=$1
	k=$2
	shift 2
	EA run "$@" --input "$k" >"$T/r.a" 2>"$T/e.a" || { cat "$T/e.a" >&2; fail "local $what"; }
	for kk in "$k" "${k}1"; do
		EC run "$@" --input "$kk" >"$T/r.c" 2>"$T/e.c" ||
			{ cat "$T/e.c" >&2; fail "--cluster $what over $kk"; }
		same "$T/r.a" "$T/r.c" "$what over $kk"
		same "$T/e.a" "$T/e.c" "$what over $kk (stderr)"
	done
}

# --- join -----------------------------------------------------------------------
awk -v n="$N" 'BEGIN {
	print "id,k,s,v"
	for (r = 0; r < n; r++)
		print r "," (r * 7919) % 1300 "," "w" r % 17 "," r / 4
}' >"$T/big.csv"
# unique keys 0..1199 (some big keys miss); dup: keys 0..299 twice
awk 'BEGIN { print "k,name,x"; for (r = 0; r < 1200; r++) print r ",n" r "," r * 3 }' >"$T/small.csv"
awk 'BEGIN { print "k,name"; for (r = 0; r < 600; r++) print r % 300 ",d" r }' >"$T/dup.csv"
load "$T/big.csv" big --schema id:int,k:int,s:string,v:double
load "$T/small.csv" small --schema k:int,name:string,x:int
load "$T/dup.csv" dup --schema k:int,name:string
both "join inner" big join --arg with=small --arg on=k
[ "$(wc -l <"$T/r.a")" -gt 100 ] || fail "join inner: $(wc -l <"$T/r.a") lines"
both "join left" big join --arg with=small --arg on=k --arg how=left
both "join many" big join --arg with=dup --arg on=k
# a side table over the bound: refused before it is read, naming it
EAU2_BCAST_MAX=1000 expect 1 EC run join --input big --arg with=small --arg on=k
err_has "with=small"
err_has "EAU2_BCAST_MAX"
expect 1 EC run join --input big --arg with=nosuch --arg on=k
err_has "nosuch"

# --- urlfreq --------------------------------------------------------------------
expect 0 EA gen logs --out "$T/access.log" --rows "$N" --seed 5
load "$T/access.log" logs --format lines
both "urlfreq" logs urlfreq
both "urlfreq top=10" logs urlfreq --arg top=10
: >"$T/empty.log"
if EA load "$T/empty.log" --format lines --as empty >/dev/null 2>&1; then
	expect 0 EC load "$T/empty.log" --format lines --as empty
	expect 1 EC run urlfreq --input empty
	err_has "no lines"
fi

# --- bikes ----------------------------------------------------------------------
expect 0 EA gen bikes --out "$T/bikes" --rows "$N" --seed 9
for t in weather stations trips; do
	load "$T/bikes/$t.csv" "b_$t"
done
for q in 1 2 3; do
	both "bikes query $q" b_trips bikes --arg stations=b_stations --arg weather=b_weather \
		--arg query=$q
done
# no trips: the error one host gives
head -n 1 "$T/bikes/trips.csv" >"$T/notrips.csv"
sch=$(EA describe b_trips |
	awk '$1 == "column" { on = 1; next } on && NF { printf "%s%s:%s", s, $1, $2; s = "," }')
load "$T/notrips.csv" notrips --schema "$sch"
expect 1 EA run bikes --input notrips --arg weather=b_weather --arg query=1
err_has "trips table (input) is empty"
expect 1 EC run bikes --input notrips --arg weather=b_weather --arg query=1
err_has "trips table (input) is empty"
# fractional durations: query 1's sums join in other groupings on the
# nodes, and must still give the same average
awk -F, -v OFS=, 'NR > 1 && $6 != "" { $6 = $6 * 1.0137 + (NR % 97) / 1000 } 1' \
	"$T/bikes/trips.csv" >"$T/tripsf.csv"
load "$T/tripsf.csv" b_tripsf
both "bikes query 1, fractional durations" b_tripsf bikes --arg weather=b_weather --arg query=1

# --- linus ----------------------------------------------------------------------
expect 0 EA gen linus --out "$T/linus" --rows "$((N / 2))" --seed 3
for t in projects users commits; do
	load "$T/linus/$t.sor" "$t"
done
both "linus" commits linus --arg users=users --arg projects=projects --arg start=0 \
	--arg degrees=5
awk -F, 'NR == 3 && $2 > 0 { ok = 1 } END { exit !ok }' "$T/r.a" ||
	fail "linus: nobody at degree 2: $(cat "$T/r.a")"

# --- mandelbrot -----------------------------------------------------------------
MB="--arg width=96 --arg height=64 --arg iter=300"
# shellcheck disable=SC2086
EA run mandelbrot $MB >"$T/m.a" || fail "local mandelbrot"
# shellcheck disable=SC2086
expect 0 EC run mandelbrot $MB
same "$T/m.a" "$T/out" "mandelbrot pixels"
# shellcheck disable=SC2086
EA run mandelbrot $MB --arg result=summary --arg out="$T/a.pgm" >"$T/m.a" ||
	fail "local mandelbrot summary"
# shellcheck disable=SC2086
expect 0 EC run mandelbrot $MB --arg result=summary --arg out="$T/c.pgm"
same "$T/m.a" "$T/out" "mandelbrot summary"
same "$T/a.pgm" "$T/c.pgm" "mandelbrot image"

# --- nothing left behind ----------------------------------------------------------
for i in 1 2 3; do
	"$E2" --store "$T/n$i" ls >"$T/ls" 2>&1 || fail "ls of node $i's store"
	grep -q '^eau2\.bcast\.' "$T/ls" && fail "node $i keeps broadcast copies: $(grep bcast "$T/ls")"
done
EC ls >"$T/ls" || fail "--cluster ls"
grep -q '\.tmp\.' "$T/ls" && fail "temporary keys left: $(cat "$T/ls")"
# --- a driver killed while its copies are out ------------------------------------
# Every node holds the input; node 3 frozen: the push to it hangs while
# nodes 1 and 2 hold their
# copies (for 4 s: the driver's --timeout); the driver is killed then.
# Once its session (4 s) is over, a
# node that starts drops them (its scan; a running node does every
# minute, and eau2_cluster_gc at once).
bcasts() { "$E2" --store "$T/n$1" ls 2>/dev/null | grep -c '^eau2\.bcast\.'; }
expect 0 EC load "$T/big.csv" --as big3 --replicas 3 --schema id:int,k:int,s:string,v:double
kill -STOP "$PID3"
"$E2" --store "$D" --cluster "$Z/ca" --timeout 4000 run join --input big3 --arg with=small \
	--arg on=k >/dev/null 2>"$T/drv.err" &
drv=$!
i=0
until [ "$(bcasts 1)" -gt 0 ]; do
	i=$((i + 1))
	running $drv || {
		kill -CONT "$PID3"
		cat "$T/drv.err" >&2
		fail "the join ended before its copies were seen"
	}
	[ $i -gt 400 ] && { kill -CONT "$PID3"; fail "no broadcast copy reached node 1"; }
	sleep 0.01
done
kill -9 $drv
wait $drv 2>/dev/null
kill -CONT "$PID3"
sleep 5
for i in 1 2 3; do
	eval "rnode_stop \$PID$i"
	eval "rnode_start \"\$T/n$i\" \"\$T/n$i.log\" --zk \"\$Z\" --cluster ca --listen \$ADDR$i"
	eval "PID$i=\$RN_PID"
done
cl_joined 3
for i in 1 2 3; do
	k=0
	until [ "$(bcasts $i)" = 0 ]; do
		k=$((k + 1))
		[ $k -gt 100 ] && fail "node $i kept $(bcasts $i) copies of a killed driver's run"
		sleep 0.1
	done
done

# Without its nodes the cluster's mandelbrot fails: it ran on them.
for i in 1 2 3; do
	eval "rnode_kill \$PID$i"
done
# shellcheck disable=SC2086
expect 1 EC run mandelbrot $MB --arg result=summary
echo "$NAME: ok"
