#!/bin/sh
# SPDX-License-Identifier: MIT
# cluster_linkdown.sh - a soft failure of issue #13: a node cut off by its
# network link, not killed. Three eau2-nodes joined through a throw-away
# ZooKeeper (tools/zk.sh, taking clients on every address): two on this
# namespace's end of a veth pair, one in a network namespace on the other
# end (10.x addresses made here, removed on exit; every node has the
# cluster secret, as non-loopback addresses need). A words table is loaded
# with --replicas 2; then TRIALS (4; 2 under EAU2_TEST_QUICK=1) slow
# distributed counts (the test plugin slow_count), during each of which
# the link is set down at a random instant, then a wordcount or a groupby
# with the link still down, and the link is set up again: the driver's
# heartbeats declare the cut-off node dead and its tasks move to the other
# replicas, and every answer equals the one a local run gives. The link
# comes back before the node's ZooKeeper session expires, so the node is
# alive again for the next trial. Skipped (77) when network namespaces
# cannot be made (not root, no ip, no veth) or ZooKeeper is not installed.
set -u

NAME=cluster_linkdown
. "$(dirname "$0")/lib/cluster.sh"
command -v ip >/dev/null || { echo "$NAME: no ip command: skipped"; exit 77; }
TRIALS=4
ROWS=3000000
if [ -n "${EAU2_TEST_QUICK:-}" ]; then
	TRIALS=2
	ROWS=1000000
fi
NS=eau2l$$
VH=e2lh$$
VN=e2ln$$
NET=10.$((150 + $$ % 50)).$(($$ / 50 % 250))
RN_CLEANUP="ip netns del $NS 2>/dev/null; ip link del $VH 2>/dev/null"
if ! ip netns add "$NS" 2>"$T/err" || ! ip link add "$VH" type veth peer name "$VN" 2>>"$T/err"; then
	echo "$NAME: cannot make a network namespace ($(head -n 1 "$T/err")): skipped"
	exit 77
fi
ip link set "$VN" netns "$NS" &&
	ip addr add "$NET.1/24" dev "$VH" && ip -n "$NS" addr add "$NET.2/24" dev "$VN" &&
	ip link set "$VH" up && ip -n "$NS" link set "$VN" up && ip -n "$NS" link set lo up ||
	fail "setting up the veth pair"

EAU2_ZK_LISTEN=0.0.0.0
export EAU2_ZK_LISTEN # the node in the namespace reaches it on $NET.1
cl_zk 1
ZPORT=${Z##*:}
umask 077
printf 'linkdown secret %s\n' "$$" >"$T/secret"
umask 022

# The driver: heartbeats every 100 ms, dead after 500 ms of silence; each
# network step bounded by 20 s, so that an answer that waited for a
# transport timeout instead of the heartbeats shows.
EC() {
	"$E2" --store "$D" --cluster "$Z/ld" --secret-file "$T/secret" --timeout 20000 \
		--heartbeat 100 --dead-after 500 "$@"
}
# slow_count (a test plugin: a count that sleeps on every row group) makes
# runs long enough for the cut to fall in the middle of node 3's tasks.
PL=$B/plugins/eau2_slow_count.so
[ -r "$PL" ] || fail "$PL not built"
NODE_ARGS="--cluster ld --secret-file $T/secret --quiet --plugin $PL"

# Nodes 1 and 2 here, on the veth's address; node 3 in the namespace.
for i in 1 2; do
	rnode_start "$T/n$i" "$T/n$i.log" --zk "$Z" $NODE_ARGS --listen "$NET.1:0"
done
touch "$T/n3.log"
ip netns exec "$NS" "$NODE" --store "$T/n3" --listen "$NET.2:0" --zk "$NET.1:$ZPORT" \
	$NODE_ARGS 2>>"$T/n3.log" &
RN_PIDS="$RN_PIDS $!"

alive() { [ "$(EC status 2>/dev/null | grep -c '^node .*: alive,')" = 3 ]; }
all_alive() {
	w=0
	until alive; do
		w=$((w + 1))
		[ $w -gt 60 ] && { EC status >&2; tail -5 "$T/n3.log" >&2; fail "the three nodes are not all alive ($1)"; }
		sleep 0.3
	done
}
all_alive "at start"

cl_words_csv "$T/w.csv" "$ROWS"
EA load "$T/w.csv" --as w 2>/dev/null || fail "local load"
expect 0 EC load "$T/w.csv" --as w --replicas 2
EC status >"$T/st"
grep -q "^node  *$NET.2:[0-9]*: alive, .*; [1-9][0-9]* partitions" "$T/st" ||
	{ cat "$T/st" >&2; fail "the node in the namespace holds no partition"; }

WC="wordcount --arg column=line"
GB="groupby --arg by=s --arg agg=count,sum:x,max:id"
SC="slow_count --plugin $PL --arg ms=40"
EA run $WC --input w >"$T/ref.wc" || fail "local wordcount"
EA run $GB --input w >"$T/ref.gb" || fail "local groupby"
EA run slow_count --plugin "$PL" --arg ms=0 --input w >"$T/ref.sc" || fail "local slow_count"
expect 0 EC run $WC --input w
same "$T/ref.wc" "$T/out" "wordcount with every link up"
t0=$(date +%s%N)
expect 0 EC run $SC --input w
RUN_MS=$((($(date +%s%N) - t0) / 1000000))
same "$T/ref.sc" "$T/out" "slow_count with every link up"
echo "$NAME: a slow_count takes $RUN_MS ms"

t=0
while [ $t -lt "$TRIALS" ]; do
	t=$((t + 1))
	# The cut falls within a slow run; wordcount and groupby then
	# run while node 3 is away.
	r=sc
	cmd=$SC
	at=$(awk -v s="$$" -v t="$t" -v n="$RUN_MS" 'BEGIN { srand(s + t); printf "%.3f", rand() * n / 1000 }')
	EC run $cmd --input w >"$T/out.$t" 2>"$T/err.$t" &
	run=$!
	sleep "$at"
	ip link set "$VH" down || fail "link down"
	t1=$(date +%s%N)
	wait "$run" || { cat "$T/err.$t" >&2; fail "trial $t ($r, link down after $at s): the run failed"; }
	late=$((($(date +%s%N) - t1) / 1000000))
	echo "$NAME: trial $t ($r): link down after $at s, answer $late ms later"
	[ "$late" -lt $((2 * RUN_MS + 3000)) ] ||
		fail "trial $t: the answer came $late ms after the cut (a run takes $RUN_MS ms)"
	same "$T/ref.$r" "$T/out.$t" "trial $t ($r, link down after $at s)"
	if [ $((t % 2)) = 1 ]; then r=wc; cmd=$WC; else r=gb; cmd=$GB; fi
	expect 0 EC run $cmd --input w
	same "$T/ref.$r" "$T/out" "trial $t: $r with node 3 cut off"
	ip link set "$VH" up || fail "link up"
	all_alive "after trial $t"
done
echo "$NAME: ok ($TRIALS trials)"
