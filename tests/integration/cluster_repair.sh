#!/bin/sh
# SPDX-License-Identifier: MIT
# cluster_repair.sh - data survives a node's death (issue #13), on four
# real eau2-node processes joined through a throw-away ZooKeeper
# (tools/zk.sh). Keys w and t with 2 replicas and k4 with 4 (every node).
# Node 2 is killed (kill -9), and t is loaded again meanwhile (its
# version moves on). Checked:
#  - status shows the under-replicated partitions, then re-replication
#    brings every partition of w and t back to 2 live replicas (copies
#    node to node by the repair leader), leaving k4's (no node lacks them)
#    listed as 3 of 4, and the leader's progress (copies made);
#  - the copies exist: the partitions the live nodes' stores hold are
#    exactly the ones the directory places on them;
#  - runs and exports after the repair equal the local reference;
#  - node 2, restarted on its address, drops its stale partitions (w's,
#    copied elsewhere; t's, of the old version) and keeps k4's: after
#    the other three are killed it alone answers k4 like the reference,
#    and a run of w names a partition with no live replica.
# Skipped (77) only when ZooKeeper is not installed (tools/deps.sh).
set -u

NAME=cluster_repair
. "$(dirname "$0")/lib/cluster.sh"
ROWS=300000
[ -n "${EAU2_TEST_QUICK:-}" ] && ROWS=80000

cl_zk 1

EC() { "$E2" --store "$D" --cluster "$Z/cr" --timeout 5000 "$@"; }

for i in 1 2 3 4; do
	rnode_start "$T/n$i" "$T/n$i.log" --zk "$Z" --cluster cr --repair-rate 0
	eval "PID$i=\$RN_PID ADDR$i=\$RN_ADDR"
done
# A fast heartbeat keeps each status short.
cl_joined 4 --heartbeat 200

awk -v rows="$ROWS" 'BEGIN {
	split("the cat sat on a mat of eau2 and", w, " ")
	print "id,x,s,line"
	for (r = 0; r < rows; r++)
		print r "," (r * 7919) % 1000 "," w[r % 9 + 1] "," w[r % 7 + 1] " " w[r % 5 + 1]
}' >"$T/w.csv"
awk -v rows="$ROWS" 'BEGIN { print "a,b"; for (r = 0; r < rows; r++) print r % 97 "," r * 3 }' \
	>"$T/t1.csv"
awk -v rows="$ROWS" 'BEGIN { print "a,b"; for (r = 0; r < rows; r++) print r % 89 "," r * 5 }' \
	>"$T/t2.csv"
for k in w t1 t2; do
	EA load "$T/$k.csv" --as $k 2>/dev/null || fail "local load $k"
done
expect 0 EC load "$T/w.csv" --as w --replicas 2
expect 0 EC load "$T/t1.csv" --as t --replicas 2
expect 0 EC load "$T/w.csv" --as k4 --replicas 4
EC status | grep -q '^replicas    0 partitions under-replicated, 0 lost' ||
	{ EC status; fail "under-replicated partitions before any death"; }
n2_before=$(node_parts 2 | wc -l)

as_placed 2 || fail "node 2 holds $n2_before partitions, the directory says $(dir_parts 2)"
# Node 2 dies; t is put again while it is away (once its session has
# expired: till then the driver would place on it).
rnode_kill "$PID2"
until_ok 300 cl_nodes 3 --heartbeat 200 || fail "node 2's session did not expire in 30 s"
expect 0 EC load "$T/t2.csv" --as t --replicas 2
expect 0 EC status
grep -q '^under ' "$T/out" || fail "status lists no under-replicated partition after a death"
# Repaired: only k4's partitions remain under-replicated, 3 of 4 live.
repaired() {
	EC status >"$T/st" 2>/dev/null || return 1
	[ "$(grep -c '^under ' "$T/st")" -gt 0 ] || return 1
	! grep '^under ' "$T/st" | grep -vq '^under       k4 partition [0-9]*: 3 of 4 replicas live$'
}
until_ok 300 repaired || { cat "$T/st"; fail "w and t not back to 2 live replicas in 30 s"; }
grep -q '^repair      leader 127.0.0.1:[0-9]*: [1-9][0-9]* of [0-9]* copies made' "$T/st" ||
	{ cat "$T/st"; fail "status shows no repair progress"; }
expect 0 EC status --json
grep -q '"under_replicated": [1-9]' "$T/out" && grep -q '"copied": [1-9]' "$T/out" ||
	{ cat "$T/out"; fail "status --json lacks the repair"; }
# The copies are there: every live store holds what the directory says
# (a copy of the old t still in flight may make a difference for a moment).
for i in 1 3 4; do
	until_ok 100 as_placed $i ||
		fail "node $i holds $(node_parts $i | wc -l) partitions, the directory says $(dir_parts $i)"
done
runs() {
	for r in "sum --arg columns=id,x" "groupby --arg by=s --arg agg=count,sum:x" \
		 "wordcount --arg column=line"; do
		EA run $r --input "$1" >"$T/r.a" 2>"$T/err" || fail "local run $r"
		EC run $r --input "$2" >"$T/r.c" 2>"$T/err" || { cat "$T/err" >&2; fail "run $r on $2 $3"; }
		same "$T/r.a" "$T/r.c" "run $r on $2 $3"
	done
}
runs w w "after the repair"
EA export t2 "$T/t.a" && expect 0 EC export t "$T/t.c"
same "$T/t.a" "$T/t.c" "export t after the repair"

# Node 2 comes back on its address: it drops w's and the old t's
# partitions and keeps k4's, which the directory still names there.
rnode_start "$T/n2" "$T/n2.log" --zk "$Z" --cluster cr --listen "$ADDR2"
PID2=$RN_PID
[ "$RN_ADDR" = "$ADDR2" ] || fail "node 2 came back on $RN_ADDR, not $ADDR2"
until_ok 300 cl_nodes 4 --heartbeat 200 || fail "node 2 did not join again in 30 s"
k4parts=$(dir_parts 2)
[ "$k4parts" -gt 0 ] && [ "$k4parts" -lt "$n2_before" ] ||
	fail "the directory places $k4parts partitions on node 2 (it held $n2_before)"
scanned() { [ "$(node_parts 2 | wc -l)" = "$k4parts" ]; }
until_ok 200 scanned || fail "node 2 kept $(node_parts 2 | wc -l) partitions, want k4's $k4parts"
grep -q "dropped [1-9][0-9]* partitions* no directory entry names here" "$T/n2.log" ||
	fail "node 2's log does not say what it dropped"
EC status | grep -q '^replicas    0 partitions under-replicated' ||
	{ EC status; fail "k4 not whole again with node 2 back"; }
# Node 2 alone serves k4 (its current partitions); w has nothing left.
rnode_kill "$PID1"
rnode_kill "$PID3"
rnode_kill "$PID4"
runs w k4 "on node 2 alone"
expect 1 EC run sum --input w --arg columns=id
err_has "no live replica"
echo "$NAME: ok"
