#!/bin/sh
# SPDX-License-Identifier: MIT
# bench_repair.sh - re-replication throughput (issue #13) against the
# link it runs over, measured in the same run.
#
# Three eau2-node processes and a throw-away ZooKeeper (tools/zk.sh) run
# in a network namespace made here whose loopback is limited by tc tbf
# (LINK, default 1gbit; burst 256k, latency 50ms), so that the link has a
# rate to compare with. The link is measured with iperf3 (one stream, 3 s)
# in the same namespace. For each case a fresh cluster loads ROWS rows
# (--replicas 2), one node is killed (kill -9), and once its session has
# expired the repair leader copies its partitions from the survivors,
# node to node; the leader logs each copy's bytes and time, and their sum
# gives the repair's throughput (bytes / time copying: session expiry and
# planning left out). Cases:
#   unlimited   --repair-rate 0
#   half-link   --repair-rate (the measured link / 2)
#   default     no --repair-rate (62500000 B/s, half of 1 Gbit/s)
# Reported: MB/s of each, the ratio to the link, and for the throttled
# cases the ratio to the rate asked (<= 1 when the throttle holds).
#
#   sh bench/bench_repair.sh [BUILD_DIR]   (default: $EAU2_BIN_DIR, else build)
#
# Environment: ROWS (default 6000000: a ~200 MB dataframe), LINK (a tc
# rate, default 1gbit), NETNS=0 runs on the host's loopback without a
# namespace or tbf (no root needed; the link is then loopback's, so the
# throttled cases are far below it), WORK (scratch, default /dev/shm).
set -u
B=${1:-${EAU2_BIN_DIR:-build}}
SRC=$(cd "$(dirname "$0")/.." && pwd)
E2=$B/eau2
NODE=$B/eau2-node
for x in "$E2" "$NODE"; do
	[ -x "$x" ] || { echo "bench_repair: $x not built" >&2; exit 1; }
done
[ -r /usr/share/java/zookeeper.jar ] || { echo "bench_repair: ZooKeeper is not installed (tools/deps.sh)" >&2; exit 1; }
ROWS=${ROWS:-6000000}
LINK=${LINK:-1gbit}
NETNS=${NETNS:-1}
LC_ALL=C
export LC_ALL
unset EAU2_NODE EAU2_REMOTE EAU2_SECRET_FILE
W=$(mktemp -d "${WORK:-/dev/shm}/eau2-bench-repair-XXXXXX") || exit 1
NS=eau2br$$
IN=
PIDS=
cleanup() {
	for p in $PIDS; do kill -9 "$p" 2>/dev/null; done
	for p in $PIDS; do wait "$p" 2>/dev/null; done
	$IN "$SRC/tools/zk.sh" stop "$W/zk" >/dev/null 2>&1
	[ -n "$IN" ] && ip netns del "$NS" 2>/dev/null
	rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
die() { echo "bench_repair: $*" >&2; exit 1; }

if [ "$NETNS" = 1 ]; then
	ip netns add "$NS" 2>/dev/null || die "cannot make a network namespace (root?): NETNS=0 runs on loopback"
	IN="ip netns exec $NS"
	$IN ip link set lo up &&
		$IN tc qdisc add dev lo root tbf rate "$LINK" burst 256k latency 50ms ||
		die "tc tbf on the namespace's loopback failed"
fi

# The link: iperf3, one stream, in the same place.
LINK_BPS=
if command -v iperf3 >/dev/null; then
	port=$((20000 + $$ % 20000))
	$IN iperf3 -s -1 -p "$port" >/dev/null 2>&1 &
	PIDS="$PIDS $!"
	sleep 0.5
	mbit=$($IN iperf3 -c 127.0.0.1 -p "$port" -t 3 -f m 2>/dev/null |
		awk '/receiver/ { for (i = 2; i <= NF; i++) if ($i == "Mbits/sec") print $(i - 1) }')
	[ -n "$mbit" ] && LINK_BPS=$(awk -v m="$mbit" 'BEGIN { printf "%.0f", m * 1e6 / 8 }')
fi
[ -n "$LINK_BPS" ] || die "iperf3 gave no link rate (is it installed?)"

Z=$($IN "$SRC/tools/zk.sh" start "$W/zk" 1) || die "ZooKeeper did not start"
awk -v rows="$ROWS" 'BEGIN {
	split("the cat sat on a mat of eau2 and", w, " ")
	print "id,x,s"
	for (r = 0; r < rows; r++)
		print r "," (r * 7919) % 1000003 "," w[r % 9 + 1] r % 1000
}' >"$W/data.csv"

# run_case NAME [NODE ARGS...]: prints "bytes ms" of the repair's copies.
run_case() {
	c=$1
	shift
	EC() { $IN "$E2" --store "$W/drv" --cluster "$Z/$c" --timeout 10000 "$@"; }
	np=
	for i in 1 2 3; do
		$IN "$NODE" --store "$W/$c-n$i" --listen 127.0.0.1:0 --zk "$Z" --cluster "$c" \
			"$@" 2>"$W/$c-n$i.log" &
		eval "P$i=\$!"
		PIDS="$PIDS $!"
	done
	i=0
	until [ "$(EC status 2>/dev/null | grep -c '^node ')" = 3 ]; do
		i=$((i + 1))
		[ $i -gt 300 ] && die "$c: the nodes did not join in 30 s"
		sleep 0.1
	done
	EC load "$W/data.csv" --as d --replicas 2 >/dev/null 2>"$W/err" ||
		die "$c: load: $(cat "$W/err")"
	kill -9 "$P3"
	wait "$P3" 2>/dev/null
	i=0
	until EC status >"$W/st" 2>/dev/null &&
	      grep -q '^replicas    0 partitions under-replicated' "$W/st" &&
	      grep -q '^repair      leader .*: \([1-9][0-9]*\) of \1 copies made' "$W/st" &&
	      ! grep -q 'copying' "$W/st"; do
		i=$((i + 1))
		[ $i -gt 1200 ] && { cat "$W/st" >&2; die "$c: not repaired in 120 s"; }
		sleep 0.1
	done
	cat "$W/$c"-n*.log | sed -n "s/.*repair: copied '.*' partition [0-9]* (\([0-9]*\) bytes) .* in \([0-9]*\) ms$/\1 \2/p" |
		awk '{ b += $1; t += $2 } END { print b, t }'
	for i in 1 2; do
		eval "kill -9 \$P$i"
		eval "wait \$P$i" 2>/dev/null
	done
	rm -rf "$W/$c"-n* "$W/drv"
}

half=$((LINK_BPS / 2))
printf '%-12s %12s %10s %10s %10s %12s\n' case "rate asked" bytes "MB/s" "x link" "x asked"
printf '%-12s %12s %10s %10.1f %10s %12s\n' link - - "$(awk -v b="$LINK_BPS" 'BEGIN { print b / 1e6 }')" 1.00 - 
for c in unlimited half-link default; do
	case $c in
	unlimited) set -- --repair-rate 0; asked=0 ;;
	half-link) set -- --repair-rate "$half"; asked=$half ;;
	default) set --; asked=62500000 ;;
	esac
	r=$(run_case "$c" "$@")
	awk -v c="$c" -v r="$r" -v a="$asked" -v l="$LINK_BPS" 'BEGIN {
		split(r, x, " ")
		bps = x[2] > 0 ? x[1] / (x[2] / 1000) : 0
		printf "%-12s %12s %10d %10.1f %10.2f %12s\n", c, a ? a : "none", x[1],
		       bps / 1e6, bps / l, a ? sprintf("%.2f", bps / a) : "-"
	}'
done
