#!/bin/sh
# SPDX-License-Identifier: MIT
# cluster_rejoin.sh - a node cut off from ZooKeeper longer than its
# session joins the cluster again by itself (issue #13). Three real
# eau2-node processes with 2 s ZooKeeper sessions (--dead-after 2000)
# and --http, through a throw-away ZooKeeper (tools/zk.sh). Node 3 is
# frozen (SIGSTOP) for 6 s: its session expires, its member znode goes
# and status lists two nodes. Thawed, it logs that its session expired
# and that it joined again; within 10 s status lists three nodes alive,
# and node 3's dashboard (its cluster view, on the new session) lists
# three members alive. A key loaded then with 3 replicas is placed on it
# too: with nodes 1 and 2 killed, node 3 alone answers its runs and
# export like the local reference.
# Skipped (77) only when ZooKeeper is not installed (tools/deps.sh).
set -u

NAME=cluster_rejoin
. "$(dirname "$0")/lib/cluster.sh"
ROWS=100000
[ -n "${EAU2_TEST_QUICK:-}" ] && ROWS=30000
cl_zk 1

EC() { "$E2" --store "$D" --cluster "$Z/rj" --timeout 5000 --heartbeat 200 --dead-after 1000 "$@"; }
for i in 1 2 3; do
	rnode_start "$T/n$i" "$T/n$i.log" --zk "$Z" --cluster rj --dead-after 2000 \
		--http 127.0.0.1:0
	eval "PID$i=\$RN_PID ADDR$i=\$RN_ADDR"
done
alive() { [ "$(EC status 2>/dev/null | grep -c '^node .*: alive,')" = "$1" ]; }
until_ok 200 alive 3 || { EC status; fail "the three nodes did not join in 20 s"; }

cl_words_csv "$T/w.csv" "$ROWS"
EA load "$T/w.csv" --as w 2>/dev/null || fail "local load"
expect 0 EC load "$T/w.csv" --as w --replicas 2
WC="wordcount --arg column=line"
EA run $WC --input w >"$T/ref.wc" || fail "local wordcount"

# Node 3 frozen for 3x its session: ZooKeeper drops it.
kill -STOP "$PID3"
until_ok 100 cl_nodes 2 || { kill -CONT "$PID3"; EC status; fail "node 3's znode did not go in 10 s"; }
sleep 4
kill -CONT "$PID3"
t0=$(date +%s%N)
until_ok 100 alive 3 || { EC status; tail -5 "$T/n3.log" >&2; fail "node 3 did not join again in 10 s"; }
echo "$NAME: node 3 alive again $(( ($(date +%s%N) - t0) / 1000000 )) ms after it was thawed"
grep -q "ZooKeeper session expired: .*joining again" "$T/n3.log" ||
	fail "node 3 does not log its expired session: $(tail -5 "$T/n3.log")"
grep -q "joined the cluster again as node $ADDR3" "$T/n3.log" ||
	fail "node 3 does not log that it joined again: $(tail -5 "$T/n3.log")"

# Its dashboard's cluster view runs on the new session.
H3=$(sed -n 's/.*http: serving on \(127\.0\.0\.1:[0-9]*\) .*/\1/p' "$T/n3.log" | tail -1)
[ -n "$H3" ] || fail "node 3's log names no --http address"
view3() {
	curl -s -f -m 5 "http://$H3/api/status" >"$T/st3.json" &&
		python3 -c 'import json, sys
n = json.load(open(sys.argv[1]))["nodes"]
sys.exit(0 if len(n) == 3 and all(x["state"] == "alive" for x in n) else 1)' "$T/st3.json"
}
until_ok 100 view3 || fail "node 3's cluster view does not list three members alive: $(cat "$T/st3.json")"

# It serves: a key on every node, answered by node 3 alone.
expect 0 EC load "$T/w.csv" --as w3 --replicas 3
expect 0 EC run $WC --input w
same "$T/ref.wc" "$T/out" "wordcount after node 3 joined again"
rnode_kill "$PID1"
rnode_kill "$PID2"
expect 0 EC run $WC --input w3
same "$T/ref.wc" "$T/out" "wordcount on node 3 alone"
EA export w "$T/w.a" || fail "local export"
expect 0 EC export w3 "$T/w3.c"
same "$T/w.a" "$T/w3.c" "export from node 3 alone"
echo "$NAME: ok"
