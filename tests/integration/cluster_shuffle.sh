#!/bin/sh
# SPDX-License-Identifier: MIT
# cluster_shuffle.sh - groupby with many groups on a cluster of three
# eau2-node processes (issue #12): its states shuffled by key range node
# to node (EAU2_SHUFFLE_BYTES=0 forces it) and gathered on the driver
# (a bound above every state) give one host's output byte for byte, for
# int, string and composite keys with every aggregate, with and without
# --as, over 1 and 2 replicas; no kept state stays on a node after a
# run; a small input keeps no state on the nodes unless forced. Skipped (77) only when ZooKeeper is not installed.
set -u

NAME=cluster_shuffle
. "$(dirname "$0")/lib/cluster.sh"
ROWS=300000
[ -n "${EAU2_TEST_QUICK:-}" ] && ROWS=100000

cl_zk 1
EC() { "$E2" --store "$D" --cluster "$Z/cs" --timeout 10000 "$@"; }

cl_http_nodes 3 --zk "$Z" --cluster cs
cl_joined 3
# Key ranges the nodes have reduced (their /metrics: runs of eau2.reduce).
reduced() { cl_metric 'eau2_run_duration_seconds_count{rower="eau2.reduce"}'; }
reduced_is() { [ "$(reduced)" = "$1" ]; }

# id: every row its own group; g: id mod 50021; s: 11 words; x: < 1000.
awk -v rows="$ROWS" 'BEGIN {
	split("the cat sat on a mat of eau2 and dog ran", w, " ")
	print "id,g,s,x"
	for (r = 0; r < rows; r++)
		print (r * 7919) % rows "," (r * 31) % 50021 "," w[r % 11 + 1] "," \
			((r % 13 == 0) ? "" : (r * 7) % 1000 / 8)
}' >"$T/g.csv"
EA load "$T/g.csv" --as g 2>/dev/null || fail "local load"
expect 0 EC load "$T/g.csv" --as g1 --replicas 1
expect 0 EC load "$T/g.csv" --as g2 --replicas 2

AGG="count,sum:x,mean:x,min:x,max:x,sum:id,mean:id,min:id,max:id,count:x"
# check K BY: groupby by=BY over K here and on the cluster, shuffled and
# gathered, printed and stored (--as): the same bytes.
check() {
	k=$1
	by=$2
	EA run groupby --input g --arg by="$by" --arg agg="$AGG" >"$T/r.a" 2>/dev/null ||
		fail "local groupby by=$by"
	EA run groupby --input g --arg by="$by" --arg agg="$AGG" --as o 2>/dev/null ||
		fail "local groupby by=$by --as o"
	EA export o "$T/o.a" || fail "local export"
	for bound in 0 100000000000; do
		export EAU2_SHUFFLE_BYTES=$bound
		r0=$(reduced)
		expect 0 EC run groupby --input "$k" --arg by="$by" --arg agg="$AGG"
		same "$T/r.a" "$T/out" "groupby by=$by over $k (shuffle bound $bound)"
		expect 0 EC run groupby --input "$k" --arg by="$by" --arg agg="$AGG" --as o
		unset EAU2_SHUFFLE_BYTES
		want=$r0
		[ "$bound" = 0 ] && want=$((r0 + 6))
		# (a run is counted a moment after its reply)
		until_ok 30 reduced_is $want ||
			fail "by=$by over $k: $(($(reduced) - r0)) ranges reduced, want" \
				"$((want - r0)) (bound $bound)"
		expect 0 EC export o "$T/o.c"
		same "$T/o.a" "$T/o.c" "groupby by=$by over $k --as o (shuffle bound $bound)"
		for i in 1 2 3; do
			until_ok 50 as_placed $i || fail "node $i holds $(node_parts $i | wc -l)" \
				"partitions, the directory says $(dir_parts $i) (by=$by over $k)"
		done
	done
}
check g1 id
check g2 id
check g1 s
check g2 g,s
check g1 s,g

# A small input (every partition below a sixteenth of the default
# bound) runs without --as as other classes do, with backups and
# failover: no state is kept on a node; forced, it is.
kept() { cl_metric 'eau2_run_duration_seconds_count{rower="eau2.keep"}'; }
kept_is() { [ "$(kept)" = "$1" ]; }
kept_more() { [ "$(kept)" -gt "$1" ]; }
head -n 2001 "$T/g.csv" >"$T/small.csv"
EA load "$T/small.csv" --as small 2>/dev/null || fail "local load of small"
expect 0 EC load "$T/small.csv" --as small --replicas 2
EA run groupby --input small --arg by=s --arg agg=count,sum:x >"$T/r.a" 2>/dev/null ||
	fail "local groupby over small"
k0=$(kept)
expect 0 EC run groupby --input small --arg by=s --arg agg=count,sum:x
same "$T/r.a" "$T/out" "groupby over small"
sleep 0.5 # (a run is counted a moment after its reply)
kept_is "$k0" || fail "a groupby over a small input kept $(($(kept) - k0)) states on the nodes"
EAU2_SHUFFLE_BYTES=0 expect 0 EC run groupby --input small --arg by=s --arg agg=count,sum:x
same "$T/r.a" "$T/out" "groupby over small, shuffle forced"
until_ok 30 kept_more "$k0" || fail "a forced shuffle kept no state"

rows=$(wc -l <"$T/r.a")
echo "$NAME: groupby over $ROWS rows, up to $rows groups, the same on one host and three nodes"
