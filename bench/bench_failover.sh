#!/bin/sh
# SPDX-License-Identifier: MIT
# bench_failover.sh - failure detection and runs that survive it (issue
# #13), on this machine, each figure against its baseline in the same run:
# a throw-away ZooKeeper (tools/zk.sh) and eau2-node processes on
# loopback (--listen 127.0.0.1:0 --zk), driven by `eau2 --cluster`.
#
#  1. Failover: four nodes, a words table of --rows rows loaded with
#     --replicas 2. Each of --reps times: a wordcount with every node up
#     (T_run, the baseline); the same run with node 1 frozen (SIGSTOP)
#     half-way through T_run: the time from the signal to the answer,
#     against detection + 1.5 x T_run (target <= 1; detection is the
#     driver's --dead-after); and the same with node 1 killed (SIGKILL,
#     then restarted): its connections break at once, no detection
#     needed. Every answer must equal the baseline's (exit 1 if not).
#  2. Heartbeat cost: ten nodes, idle. Over --seconds S, the nodes' CPU
#     (/proc/PID/stat) with no driver, then with a driver PINGing them
#     every --heartbeat MS (bench_heartbeat), whose own CPU is compared
#     with a driver opened with heartbeats off; bytes per node per second
#     from the heartbeats answered (a PING and a PONG: 2 x 72 bytes of
#     frames; TCP/IP headers not counted).
#
# Usage: bench/bench_failover.sh [--rows N] [--reps N] [--seconds S]
#                                [--heartbeat MS] [--dead-after MS]
# Env: BUILD (default build) holds eau2, eau2-node and bench_heartbeat.
set -eu

rows=8000000 reps=3 secs=10 hb=1000 dead=5000
session=15000 # the nodes' ZooKeeper session: a frozen node's outlives the run
while [ $# -gt 0 ]; do
	case $1 in
	--rows) rows=$2; shift 2 ;;
	--reps) reps=$2; shift 2 ;;
	--seconds) secs=$2; shift 2 ;;
	--heartbeat) hb=$2; shift 2 ;;
	--dead-after) dead=$2; shift 2 ;;
	*) echo "usage: $0 [--rows N] [--reps N] [--seconds S] [--heartbeat MS] [--dead-after MS]" >&2
	   exit 2 ;;
	esac
done
. "$(dirname "$0")/lib/cluster.sh"
bench_setup fobench bench_heartbeat
HB=$B/bench_heartbeat

now_ms() { echo $(($(date +%s%N) / 1000000)); }
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
# CPU ms of processes $@ (utime + stime).
cpu_ms() {
	tck=$(getconf CLK_TCK)
	for p in "$@"; do cat "/proc/$p/stat"; done |
		awk -v t="$tck" '{ sub(/.*\) /, ""); s += $12 + $13 } END { printf "%d", s * 1000 / t }'
}

Z=$("$src/tools/zk.sh" start "$T/zk" 1)
# start_node I CLUSTER [LISTEN]: sets PID_I and ADDR_I.
start_node() {
	: >"$T/n$1.log"
	"$NODE" --store "$T/n$1" --listen "${3:-127.0.0.1:0}" --zk "$Z" --cluster "$2" \
		--dead-after "$session" --quiet </dev/null >/dev/null 2>>"$T/n$1.log" &
	eval "PID_$1=$!"
	PIDS="$PIDS $!"
	w=0
	while :; do
		a=$(sed -n 's/.*listening on \([0-9.]*\):0, port \([0-9]*\).*/\1:\2/p' "$T/n$1.log" | tail -n 1)
		[ -n "$a" ] || a=$(sed -n 's/.*listening on \([0-9.]*:[1-9][0-9]*\).*/\1/p' "$T/n$1.log" | tail -n 1)
		[ -n "$a" ] && break
		w=$((w + 1))
		[ $w -gt 300 ] && { cat "$T/n$1.log" >&2; exit 1; }
		sleep 0.1
	done
	eval "ADDR_$1=$a"
}
wait_alive() { # CLUSTER N [NODE: restarted after 10 s]
	w=0
	until [ "$("$E2" --store "$T/d" --cluster "$Z/$1" --heartbeat 100 status 2>/dev/null |
		   grep -c '^node .*: alive,')" = "$2" ]; do
		w=$((w + 1))
		if [ $w = 40 ] && [ -n "${3:-}" ]; then
			# Its session expired while it was frozen (the registration
			# ends with it): a restart.
			eval "kill -9 \$PID_$3; wait \$PID_$3" 2>/dev/null || :
			sleep 0.5
			eval "start_node $3 $1 \$ADDR_$3"
		fi
		[ $w -gt 100 ] && {
			"$E2" --store "$T/d" --cluster "$Z/$1" status >&2
			echo "the $2 nodes of $1 are not alive" >&2
			exit 1
		}
		sleep 0.2
	done
}

# ---------------------------------------------------------------- failover
for i in 1 2 3 4; do start_node $i fo; done
wait_alive fo 4
EC() { "$E2" --store "$T/d" --cluster "$Z/fo" --heartbeat "$hb" --dead-after "$dead" "$@"; }
awk -v rows="$rows" 'BEGIN {
	split("the cat sat on a mat of eau2 and dog ran far", w, " ")
	print "id,line"
	for (r = 0; r < rows; r++)
		print r "," w[r % 11 + 1] " " w[r % 7 + 1] " " w[(r * 13) % 12 + 1] " " r % 9973
}' >"$T/w.csv"
EC load "$T/w.csv" --as w --replicas 2 >/dev/null
rm -f "$T/w.csv"
WC="run wordcount --arg column=line --input w"
EC $WC >"$T/ref"
: >"$T/base"; : >"$T/stop"; : >"$T/kill"
for r in $(seq "$reps"); do
	t0=$(now_ms); EC $WC >"$T/o"; t1=$(now_ms)
	cmp -s "$T/ref" "$T/o" || { echo "baseline answer differs" >&2; exit 1; }
	run=$((t1 - t0))
	echo $run >>"$T/base"
	for sig in STOP KILL; do
		EC $WC >"$T/o" &
		rp=$!
		sleep "$(awk -v ms="$run" 'BEGIN { printf "%.3f", ms / 2000 }')"
		t0=$(now_ms)
		kill -$sig "$PID_1"
		wait $rp || { echo "run with node 1 SIG$sig failed" >&2; exit 1; }
		t1=$(now_ms)
		cmp -s "$T/ref" "$T/o" || { echo "answer with node 1 SIG$sig differs" >&2; exit 1; }
		echo $((t1 - t0)) >>"$T/$(echo $sig | tr A-Z a-z)"
		if [ $sig = STOP ]; then
			kill -CONT "$PID_1"
		else
			wait "$PID_1" 2>/dev/null || :
			sleep 0.5 # the ring's socket
			start_node 1 fo "$ADDR_1"
		fi
		wait_alive fo 4 1
	done
done
base=$(median <"$T/base"); stop=$(median <"$T/stop"); kil=$(median <"$T/kill")
echo "failover: $rows rows, 4 nodes, 2 replicas, heartbeat $hb ms, dead after $dead ms, median of $reps"
echo "  run, every node up             $base ms"
echo "  SIGSTOP half-way: to the answer $stop ms (target <= $dead + 1.5 x $base = $((dead + base * 3 / 2)) ms: ratio $(awk -v a="$stop" -v b="$((dead + base * 3 / 2))" 'BEGIN { printf "%.2f", a / b }'))"
echo "  SIGKILL half-way: to the answer $kil ms (ratio to the run $(awk -v a="$kil" -v b="$base" 'BEGIN { printf "%.2f", a / b }'))"
for i in 1 2 3 4; do eval "kill -9 \$PID_$i" 2>/dev/null || :; done

# ----------------------------------------------------------- heartbeats
NP=
for i in $(seq 11 20); do
	start_node $i hb
	eval "NP=\"\$NP \$PID_$i\""
done
wait_alive hb 10
sleep 1
c0=$(cpu_ms $NP); sleep "$secs"; idle=$(($(cpu_ms $NP) - c0))
c0=$(cpu_ms $NP)
set -- $("$HB" "$Z/hb" --heartbeat "$hb" --seconds "$secs")
pinged=$(($(cpu_ms $NP) - c0))
# Connect and the first rounds happen before the window: its CPU is the
# nodes' over slightly more than S (a bound, not an underestimate).
nodes=$2 beats=$4 drv=$8
set -- $("$HB" "$Z/hb" --heartbeat -1 --seconds "$secs")
drv0=$8
echo "heartbeats: $nodes nodes idle on loopback, every $hb ms, over $secs s"
awk -v n="$nodes" -v s="$secs" -v b="$beats" -v idle="$idle" -v p="$pinged" \
    -v d="$drv" -v d0="$drv0" 'BEGIN {
	printf "  beats answered              %.2f per node per s\n", b / n / s
	printf "  bytes (PING + PONG frames)  %.0f per node per s\n", b * 144 / n / s
	printf "  node CPU, no driver         %.3f ms per node per s\n", idle / n / s
	printf "  node CPU, PINGed            %.3f ms per node per s (+%.3f)\n", p / n / s, (p - idle) / n / s
	printf "  driver CPU, no heartbeats   %.3f ms per s\n", d0 / s
	printf "  driver CPU, heartbeats      %.3f ms per s (+%.3f per node per s)\n", d / s, (d - d0) / n / s
}'
