#!/bin/sh
# SPDX-License-Identifier: MIT
# cluster_distout.sh - filter, map and join with --as on a cluster of three
# eau2-node processes (issue #12): their output stays on the nodes that
# ran each part. With the input on 1 and 2 replicas (and --replicas 3):
# export, head, describe and a later run over the output equal one
# host's; the bytes the nodes send (their /metrics) for a run with --as
# (filter, join) are a small fraction of what the gathering path (no
# --as) sends; each node holds exactly the partitions the directory
# places there; after kill -9 of a node the 2-replica output still
# exports the same; a map stored over its own input equals one host's.
# A driver killed mid-run publishes nothing, and the nodes drop what it
# staged.
# Skipped (77) only when ZooKeeper is not installed.
set -u

NAME=cluster_distout
. "$(dirname "$0")/lib/cluster.sh"
ROWS=200000
[ -n "${EAU2_TEST_QUICK:-}" ] && ROWS=80000

cl_zk 1
EC() { "$E2" --store "$D" --cluster "$Z/cd" --timeout 5000 "$@"; }
# Bytes the live nodes have sent to remote peers, once the count is
# still (a connection's traffic is counted a moment after it ends).
sent_now() { cl_metric eau2_net_sent_bytes_total; }
sent() {
	s0=-1
	s1=$(sent_now)
	n=0
	while [ "$s0" != "$s1" ] && [ $n -lt 20 ]; do
		sleep 0.5
		s0=$s1
		s1=$(sent_now)
		n=$((n + 1))
	done
	echo "$s1"
}

cl_http_nodes 3 --zk "$Z" --cluster cd
cl_joined 3

cl_words_csv "$T/w.csv" "$ROWS"
EA load "$T/w.csv" --as w 2>/dev/null || fail "local load"
expect 0 EC load "$T/w.csv" --as w1 --replicas 1
expect 0 EC load "$T/w.csv" --as w2 --replicas 2

FILTER="filter --arg where=x<500"
MAP="map --arg name=y --arg expr=x*2+id"
# join against a small table broadcast to the nodes: one row per word
# (one-to-one), and "cat" twice (a word's rows repeat).
printf 's,n\nthe,1\ncat,2\nsat,3\non,4\na,5\nmat,6\nof,7\neau2,8\nand,9\ndog,10\n' >"$T/u.csv"
{ cat "$T/u.csv"; echo cat,20; } >"$T/m.csv"
for t in u m; do
	EA load "$T/$t.csv" --as "$t" 2>/dev/null || fail "local load $t"
	expect 0 EC load "$T/$t.csv" --as "$t"
done
JOIN1="join --arg with=u --arg on=s --arg how=left"
JOINM="join --arg with=m --arg on=s --arg how=inner"
# check K RUN [OPTIONS]: RUN over K --as o on the cluster equals RUN over
# w here: export, head, describe's rows, a sum and a filter over it.
check() {
	k=$1
	r=$2
	shift 2
	# shellcheck disable=SC2086
	EA run $r --input w --as o 2>/dev/null || fail "local run $r"
	# shellcheck disable=SC2086
	expect 0 EC run $r --input "$k" --as o "$@"
	EA export o "$T/o.a" || fail "local export"
	expect 0 EC export o "$T/o.c"
	same "$T/o.a" "$T/o.c" "export of $r over $k $*"
	EA head o -n 9 >"$T/h.a"
	EC head o -n 9 >"$T/h.c" || fail "--cluster head o"
	same "$T/h.a" "$T/h.c" "head of $r over $k"
	[ "$(EA describe o | grep '^rows')" = "$(EC describe o | grep '^rows')" ] ||
		fail "describe o: rows differ ($r over $k)"
	EA run sum --input o --arg columns=id,x >"$T/s.a" || fail "local sum"
	expect 0 EC run sum --input o --arg columns=id,x
	same "$T/s.a" "$T/out" "sum over $r over $k"
	EA run filter --input o --arg where="id<5000" --as o2 2>/dev/null || fail "local o2"
	expect 0 EC run filter --input o --arg where="id<5000" --as o2
	EA export o2 "$T/o.a"
	expect 0 EC export o2 "$T/o.c"
	same "$T/o.a" "$T/o.c" "filter over $r over $k"
	for i in 1 2 3; do
		as_placed $i || fail "node $i holds $(node_parts $i | wc -l) partitions, the" \
			"directory says $(dir_parts $i) ($r over $k)"
	done
}
for k in w1 w2; do
	check $k "$FILTER"
	check $k "$MAP"
	check $k "$JOIN1"
	check $k "$JOINM"
done
check w1 "$MAP" --replicas 3
# --replicas is for a run stored on a cluster.
expect 1 EC run count --input w1 --replicas 2
err_has "replicas"
expect 1 EA run count --input w --as c --replicas 2
err_has "replicas"

# The input replaced by its map (--as its own key): its partitions go,
# the output's (sharing their chunks where they ran) stay whole.
EA load "$T/w.csv" --as w4 2>/dev/null || fail "local load w4"
EA run $MAP --input w4 --as w4 2>/dev/null || fail "local map w4"
EA export w4 "$T/o.a"
expect 0 EC load "$T/w.csv" --as w4 --replicas 2
expect 0 EC run $MAP --input w4 --as w4
expect 0 EC export w4 "$T/o.c"
same "$T/o.a" "$T/o.c" "map over w4 --as w4"
for i in 1 2 3; do
	until_ok 50 as_placed $i || fail "node $i holds $(node_parts $i | wc -l) partitions, the" \
		"directory says $(dir_parts $i) (w4 replaced)"
done

# --- what reaches the driver ------------------------------------------------------
# One replica: no node-to-node copy, so what the nodes send is what the
# driver receives. Against the gathering path (no --as): the rows.
b0=$(sent)
expect 0 EC run $FILTER --input w1 --as f1
b1=$(sent)
expect 0 EC run $FILTER --input w1
b2=$(sent)
kept=$((b1 - b0))
gathered=$((b2 - b1))
out=$(EC describe f1 | awk '$1 == "bytes" { print $2 }')
echo "$NAME: filter over $ROWS rows: the nodes sent $kept bytes with --as, $gathered" \
	"without (output $out bytes)"
[ "$kept" -lt 65536 ] || fail "a run with --as sent $kept bytes to the driver"
[ "$gathered" -gt $((kept * 10)) ] || fail "the gathering run sent only $gathered bytes"
# A join's too: the nodes send the small table (gathered to be
# broadcast) and sizes, not the rows.
b0=$(sent)
expect 0 EC run $JOINM --input w1 --as j1
kept=$(($(sent) - b0))
echo "$NAME: join over $ROWS rows: the nodes sent $kept bytes with --as (output" \
	"$(EC describe j1 | awk '$1 == "bytes" { print $2 }') bytes)"
[ "$kept" -lt 65536 ] || fail "a join with --as sent $kept bytes to the driver"

# --- a node killed after the publish ----------------------------------------------
expect 0 EC run $MAP --input w2 --as m2
EA run $MAP --input w --as m2 2>/dev/null
EA export m2 "$T/m.a"
rnode_kill "$PID2"
HTTP="$H1 $H3"
expect 0 EC export m2 "$T/m.c"
same "$T/m.a" "$T/m.c" "export of map's output with a node killed"
EA run sum --input m2 --arg columns=y >"$T/s.a"
expect 0 EC run sum --input m2 --arg columns=y
same "$T/s.a" "$T/out" "sum over map's output with a node killed"
# Once node 2's session is over: 3 replicas cannot be had on two nodes,
# refused, nothing published.
until_ok 300 cl_nodes 2 || { EC status; fail "node 2's member znode outlived 30 s"; }
EC run $FILTER --input w2 --as none --replicas 3 2>"$T/err" && fail "3 replicas on 2 nodes"
grep -q "replicas" "$T/err" || fail "3 replicas on 2 nodes: $(cat "$T/err")"
EC ls | grep -q '^none' && fail "a refused run published none"

# --- a driver killed mid-run --------------------------------------------------------
# Node 3 frozen: its parts wait while node 1's are staged; the driver
# is killed then. Nothing is published, and once its session is over
# the nodes (their scans at start) drop what it staged.
expect 0 EC load "$T/w.csv" --as w3 --replicas 2
parts_w3=$(node_parts 1 | wc -l)
kill -STOP "$PID3"
"$E2" --store "$D" --cluster "$Z/cd" --timeout 4000 run $FILTER --input w3 \
	--as lost >/dev/null 2>"$T/drv.err" &
drv=$!
staged() { [ "$(node_parts 1 | wc -l)" -gt "$parts_w3" ] || { running $drv || cat "$T/drv.err" >&2; false; }; }
cl_await_staged "$PID3" $drv "node 1 staged its output" staged
kill -9 $drv
wait $drv 2>/dev/null
kill -CONT "$PID3"
EC ls | grep -q '^lost' && fail "a killed run published its key"
sleep 5
for i in 1 3; do
	eval "rnode_stop \$PID$i"
	eval "rnode_start \"\$T/n$i\" \"\$T/n$i.log\" --zk \"\$Z\" --cluster cd --listen \$ADDR$i"
	eval "PID$i=\$RN_PID"
done
cl_joined 2
for i in 1 3; do
	until_ok 100 as_placed $i ||
		fail "node $i holds $(node_parts $i | wc -l) partitions, the directory says" \
			"$(dir_parts $i) (a killed driver's staged output)"
done
EC ls | grep -q '^lost' && fail "a killed run's key appeared"
EA run $FILTER --input w 2>/dev/null >"$T/f.a" || fail "local filter"
expect 0 EC run $FILTER --input w3
same "$T/f.a" "$T/out" "filter over w3 after the killed run"
echo "$NAME: ok"
