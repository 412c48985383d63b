#!/bin/sh
# SPDX-License-Identifier: MIT
# cluster_basic.sh - the eau2 command line on a cluster of three real
# eau2-node processes on loopback (--listen 127.0.0.1:0 --zk ...) joined
# through a throw-away ZooKeeper (tools/zk.sh): `eau2 --cluster ... load
# --replicas 2` of every type (nulls, quotes, multi-line, 1 MiB strings)
# and of a words table; ls, describe, head and export equal to a local
# load; runs of sum, count, mean, groupby and wordcount equal to the
# local answers; status lists the three nodes; after kill -9 of one node
# the runs and exports still answer the same (from the other replicas);
# a rower node 2 lacks (a plugin) runs on the other replicas; one
# replica works too; rm removes the key; with ZooKeeper stopped the
# driver fails within its timeout and the nodes stay up. Skipped (77) only when ZooKeeper is not installed
# (tools/deps.sh installs it).
set -u

NAME=cluster_basic
. "$(dirname "$0")/lib/cluster.sh"
ROWS=200000
[ -n "${EAU2_TEST_QUICK:-}" ] && ROWS=70000

cl_zk 1

EC() { "$E2" --store "$D" --cluster "$Z/c2" --timeout 5000 "$@"; }

# Nodes 1 and 3 load the example plugin, node 2 does not: a partition
# whose replica there lacks the rower runs on its other replica.
PL=$EAU2_BIN_DIR/plugins/eau2_even_count.so
[ -f "$PL" ] || fail "$PL was not built"
for i in 1 2 3; do
	plug="--plugin $PL"
	[ $i = 2 ] && plug=
	rnode_start "$T/n$i" "$T/n$i.log" --zk "$Z" --cluster c2 $plug
	eval "PID$i=\$RN_PID"
done
cl_joined 3
EC status --json >"$T/status.json" || fail "status --json"
[ "$(grep -c '"address": "127.0.0.1:' "$T/status.json")" = 3 ] || fail "status --json"

mk_types_csv "$T/t.csv" "$ROWS"
awk -v rows="$ROWS" 'BEGIN {
	split("the cat sat on a mat of eau2 and", w, " ")
	print "id,x,s,line"
	for (r = 0; r < rows; r++)
		print r "," (r * 7919) % 1000 "," w[r % 9 + 1] "," w[r % 7 + 1] " " w[r % 5 + 1] " " w[r % 3 + 1]
}' >"$T/w.csv"
for k in t w; do
	sch=
	[ $k = t ] && sch="--schema $TYPES_SCHEMA"
	EA load "$T/$k.csv" --as $k $sch 2>/dev/null || fail "local load $k"
	expect 0 EC load "$T/$k.csv" --as $k $sch --replicas 2
	EA export $k "$T/$k.a" || fail "local export $k"
	expect 0 EC export $k "$T/$k.c"
	same "$T/$k.a" "$T/$k.c" "--cluster export $k"
	EA head $k -n 7 >"$T/h.a"
	EC head $k -n 7 >"$T/h.c" || fail "--cluster head $k"
	same "$T/h.a" "$T/h.c" "head $k"
	EA describe $k | sed -n '/^column /,$p' | awk '{ print $1, $2 }' >"$T/d.a"
	EC describe $k | sed -n '/^column /,$p' | awk '{ print $1, $2 }' >"$T/d.c"
	same "$T/d.a" "$T/d.c" "describe $k"
	[ "$(EA describe $k | grep '^rows')" = "$(EC describe $k | grep '^rows')" ] ||
		fail "describe $k: rows differ"
done
[ "$(EC ls | awk '{ print $1 }' | tr '\n' ' ')" = "t w " ] || fail "--cluster ls: $(EC ls)"
# Every partition twice, over the three nodes.
parts=$(EC status | sed -n 's/.*; \([0-9]*\) partitions.*/\1/p' | awk '{ s += $1 } END { print s }')
[ "$parts" -ge 6 ] && [ $((parts % 2)) = 0 ] || fail "$parts partition replicas"

runs() {
	for r in "sum --arg columns=id,x" "count" "mean --arg columns=x" \
		 "groupby --arg by=s --arg agg=count,sum:x,max:id" \
		 "wordcount --arg column=line" "count --arg column=i"; do
		k=w
		[ "$r" = "count --arg column=i" ] && k=t
		EA run $r --input $k >"$T/r.a" 2>"$T/err" || fail "local run $r"
		EC run $r --input $k >"$T/r.c" 2>"$T/err" || { cat "$T/err" >&2; fail "--cluster run $r $1"; }
		same "$T/r.a" "$T/r.c" "run $r $1"
	done
}
runs ""
EA run even_count --plugin "$PL" --input w --arg column=x >"$T/r.a" || fail "local even_count"
expect 0 EC run even_count --plugin "$PL" --input w --arg column=x
same "$T/r.a" "$T/out" "even_count, a plugin node 2 lacks"
# One replica: every partition on one node.
expect 0 EC load "$T/w.csv" --as w1 --replicas 1
EA run sum --input w --arg columns=id,x >"$T/r.a"
expect 0 EC run sum --input w1 --arg columns=id,x
same "$T/r.a" "$T/out" "sum over one replica"
expect 0 EC rm w1

# A node dies: every partition has another replica.
rnode_kill "$PID2"
runs "(a node killed)"
expect 0 EC export w "$T/w.c2"
same "$T/w.a" "$T/w.c2" "export with a node killed"

expect 0 EC rm w
[ "$(EC ls | awk '{ print $1 }')" = "t" ] || fail "rm: $(EC ls)"
expect 1 EC describe w
err_has "w"
# A ZooKeeper that is not there: a clear error, within the timeout.
expect 1 "$E2" --store "$D" --cluster 127.0.0.1:9 --timeout 1000 ls
err_has "127.0.0.1:9"
# ZooKeeper stopped: the driver says so within its timeout; the nodes
# go on serving (their member znodes come back with ZooKeeper).
"$SRC/tools/zk.sh" stop "$T/zk" >/dev/null || fail "zk.sh stop"
t0=$(date +%s)
expect 1 "$E2" --store "$D" --cluster "$Z/c2" --timeout 2000 ls
err_has "${Z%%,*}"
[ $(($(date +%s) - t0)) -le 10 ] || fail "ls with ZooKeeper stopped took over 10 s"
running "$PID1" && running "$PID3" || fail "a node exited when ZooKeeper stopped"
echo "$NAME: ok"
