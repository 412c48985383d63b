#!/bin/sh
# SPDX-License-Identifier: MIT
# bench_http_cluster.sh - what the cluster view of eau2-node --http costs
# an idle node, against the same cluster without --http in the same run:
# a throw-away ZooKeeper (tools/zk.sh) and three nodes on loopback
# (--listen 127.0.0.1:0 --zk), first without --http (baseline), then with
# --http 127.0.0.1:0 (each node lists the members every second, probes
# the two others' /api/node and reads the directory every 3 s). For each,
# the CPU seconds (user + system, /proc/PID/stat) the three nodes spend
# in --secs seconds of idleness, and the ratio; then the latency of GET
# /api/status on node 1 (--gets requests, median and p99) with the view.
#
# Usage: bench/bench_http_cluster.sh [--secs N] [--gets N]
# Env: BUILD (default build) holds eau2 and eau2-node.
set -eu

secs=10 gets=200
while [ $# -gt 0 ]; do
	case $1 in
	--secs) secs=$2; shift 2 ;;
	--gets) gets=$2; shift 2 ;;
	*) echo "usage: $0 [--secs N] [--gets N]" >&2; exit 2 ;;
	esac
done
. "$(dirname "$0")/lib/cluster.sh"
bench_setup hcbench
Z=$("$src/tools/zk.sh" start "$T/zk" 1)

ticks=$(getconf CLK_TCK)
cpu() { # CPU seconds of the pids given, from /proc
	for p in "$@"; do awk '{ print $14 + $15 }' "/proc/$p/stat"; done |
		awk -v t="$ticks" '{ s += $1 } END { printf "%.3f", s / t }'
}

# start NAME [ARGS...]: three nodes in cluster NAME, ready; sets PIDS.
start() {
	name=$1
	shift
	PIDS=
	for i in 1 2 3; do
		"$NODE" --store "$T/$name$i" --listen 127.0.0.1:0 --zk "$Z" --cluster "$name" \
			--quiet "$@" 2>>"$T/$name$i.log" &
		PIDS="$PIDS $!"
	done
	i=0
	until [ "$("$E2" --store "$T/d" --cluster "$Z/$name" status 2>/dev/null | grep -c '^node ')" = 3 ]; do
		i=$((i + 1))
		[ $i -gt 300 ] && { echo "the nodes did not join" >&2; exit 1; }
		sleep 0.1
	done
	sleep 2 # past the start's own work
}

stop() {
	for p in $PIDS; do kill -TERM "$p"; done
	wait 2>/dev/null || :
	PIDS=
}

measure() {
	c0=$(cpu $PIDS)
	sleep "$secs"
	c1=$(cpu $PIDS)
	echo "$c0 $c1" | awk '{ printf "%.4f", $2 - $1 }'
}

start plain
base=$(measure)
stop
start view --http 127.0.0.1:0
view=$(measure)
h=$(sed -n 's/.*http: serving on \(127\.0\.0\.1:[0-9]*\) .*/\1/p' "$T/view1.log" | tail -1)
lat=$(i=0; while [ $i -lt "$gets" ]; do
	curl -s -o /dev/null -w '%{time_total}\n' "http://$h/api/status"; i=$((i + 1)); done |
	sort -n | awk '{ v[NR] = $1 } END { printf "median %.2f ms, p99 %.2f ms", 1000 * v[int(NR / 2) + 1], 1000 * v[int(NR * 0.99)] }')
stop
echo "idle CPU of 3 nodes over ${secs} s: without --http ${base} s, with the cluster view ${view} s" \
	"($(echo "$base $view $secs" | awk '{ printf "%.2f ms/s per node more; ratio %.2f", 1000 * ($2 - $1) / $3 / 3, ($1 > 0 ? $2 / $1 : 0) }'))"
echo "GET /api/status on node 1 (3 members, view on), $gets requests: $lat"
