#!/bin/sh
# SPDX-License-Identifier: MIT
# bench_remote.sh - dataframes moved between eau2-node processes by the
# eau2 command line, end to end (process start, connect, handshake, the
# stores on both sides), against the link measured in the same run:
#
#  1. loopback: push and pull of a ~2 GiB mixed dataframe (int, int,
#     double, string, bool with nulls) and ~1 GiB of text lines to a
#     node on 127.0.0.1, REPS times each, against iperf3 over the same
#     loopback, one stream, measured before and after (target >= 0.8x);
#     and what fresh pages of the store cost at the time: dd writing the
#     mixed dataframe's bytes into a new file next to the node's store,
#     1 MiB at a time, before and after (every receiver writes each byte
#     once into such pages; iperf3 stores nothing);
#  2. peak anonymous memory (RssAnon, sampled every 20 ms) of the client
#     and of the node for a ~200 MiB and the ~2 GiB dataframe (target
#     <= 128 MiB, the same for both sizes);
#  3. two network namespaces joined by a veth pair limited to 1 Gbit/s
#     (tc tbf rate 1gbit burst 256k latency 50ms on both ends): push and
#     pull of both data sets, dataframe bytes/s against the link rate
#     (iperf3 across the same link; target >= 1.5x), bytes on the wire
#     (veth counters) hence the compression ratio, per column type too,
#     and CPU seconds per GB of each side (/proc/PID/stat);
#  4. SEND_ZC against plain send, shuffle + LZ4 against LZ4: the CLI and
#     eau2_options have no switch for either (the transport picks), so
#     bench_net's transport-level comparison is run and quoted;
#  5. the mixed CSV loaded three ways, REPS times, on loopback (part 1)
#     and across the 1 Gbit/s link (part 3): into the client's store
#     (local), there then pushed to the node (load+push), and with
#     `eau2 --remote NODE load` (row groups sent while the file is
#     parsed): file GB/s and the ratios, and how much the client's
#     store grew at its fullest (du, every 50 ms).
#
#   sh bench/bench_remote.sh [BUILD_DIR]      (default: $EAU2_BIN_DIR, else build)
#
# Environment: SIZE (mixed CSV bytes, default 1800M: a ~2.1 GB dataframe),
# TEXT (text bytes, default 1G), SMALL (default 170M: a ~200 MiB
# dataframe), REPS (default 3; medians are reported), NETNS=0 skips part
# 3 (it needs root), NETSIZE (bench_net --size, default 512M; 0 skips
# part 4), PARTS (default "1 3 4": the parts to run; 2 comes with 1),
# WORK (scratch directory, default under /dev/shm). Needs iperf3
# for the link figures (else they are "n/a").
set -u
. "$(dirname "$0")/lib/du_peak.sh"
B=${1:-${EAU2_BIN_DIR:-build}}
E2=$B/eau2
NODE=$B/eau2-node
for x in "$E2" "$NODE"; do
	[ -x "$x" ] || { echo "bench_remote: $x not built" >&2; exit 1; }
done
SIZE=${SIZE:-1800M}
TEXT=${TEXT:-1G}
SMALL=${SMALL:-170M}
REPS=${REPS:-3}
NETNS=${NETNS:-1}
NETSIZE=${NETSIZE:-512M}
PARTS=${PARTS:-1 3 4}
want() { case " $PARTS " in *" $1 "*) return 0 ;; esac; return 1; }
LC_ALL=C
export LC_ALL
unset EAU2_NODE EAU2_REMOTE EAU2_SECRET_FILE
W=$(mktemp -d "${WORK:-/dev/shm}/eau2-bench-remote-XXXXXX") || exit 1
A=$W/a
N=$W/n
LOG=$W/log
PIDS=
NSA=eau2ba$$
NSB=eau2bb$$
cleanup() {
	for p in $PIDS; do kill -9 "$p" 2>/dev/null; done
	for p in $PIDS; do wait "$p" 2>/dev/null; done
	ip netns del "$NSA" 2>/dev/null
	ip netns del "$NSB" 2>/dev/null
	rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
die() {
	echo "bench_remote: $*" >&2
	[ -f "$LOG" ] && tail -n 5 "$LOG" >&2
	for f in "$W"/node.*.log; do
		[ -f "$f" ] && { echo "--- $f" >&2; tail -n 8 "$f" >&2; }
	done
	exit 1
}
now() { date +%s.%N; }
HZ=$(getconf CLK_TCK)
# utime + stime of PID, and cutime + cstime of this shell (ticks)
ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'; }
child_ticks() { sed 's/.*) //' "/proc/$$/stat" | awk '{ print $14 + $15 }'; }
rss_sampler() { # PID: RssAnon kB every 20 ms, one per line, until killed
	while [ -r "/proc/$1/status" ]; do
		awk '/^RssAnon/ { print $2 }' "/proc/$1/status" 2>/dev/null
		sleep 0.02
	done
}
peak() { sort -n "$1" | tail -n 1 | awk '{ print $1 / 1024 }'; }
median() { sort -g | awk '{ v[NR] = $1 } END { print NR ? v[int((NR + 1) / 2)] : "n/a" }'; }
df_bytes() { "$E2" --store "$1" ls | awk -v k="$2" '$1 == k { print $4 }'; }

# start_node STORE IP [NS]: a node listening on IP:0; sets NPID, NADDR
start_node() {
	nlog=$W/node.$(date +%s%N).log
	: >"$nlog"
	if [ -n "${3:-}" ]; then
		ip netns exec "$3" "$NODE" --store "$1" --listen "$2:0" \
			--secret-file "$W/secret" 2>"$nlog" &
	else
		"$NODE" --store "$1" --listen "$2:0" 2>"$nlog" &
	fi
	NPID=$!
	PIDS="$PIDS $NPID"
	i=0
	until grep -q "listening on" "$nlog"; do
		kill -0 "$NPID" 2>/dev/null || { cat "$nlog" >&2; die "node exited"; }
		i=$((i + 1))
		[ $i -gt 600 ] && die "node did not listen in 30 s"
		sleep 0.05
	done
	port=$(sed -n -e 's/.*listening on [0-9.]*:0, port \([0-9]*\).*/\1/p' \
		-e 's/.*listening on [0-9.]*:\([1-9][0-9]*\).*/\1/p' "$nlog" | head -n 1)
	NADDR=$2:$port
}

# xfer LABEL BYTES CMD...: runs one transfer; appends to $W/results
#   LABEL wall_s GB/s client_cpu_s node_cpu_s client_peak_MiB node_peak_MiB
xfer() {
	label=$1
	bytes=$2
	shift 2
	n0=$(ticks "$NPID")
	c0=$(child_ticks)
	t0=$(now)
	"$@" 2>>"$LOG" &
	cpid=$!
	rss_sampler "$cpid" >"$W/rss.c" &
	s1=$!
	rss_sampler "$NPID" >"$W/rss.n" &
	s2=$!
	wait "$cpid" || die "$label: '$*' failed"
	t1=$(now)
	c1=$(child_ticks)
	n1=$(ticks "$NPID")
	kill "$s1" "$s2" 2>/dev/null
	wait "$s1" "$s2" 2>/dev/null
	awk -v l="$label" -v b="$bytes" -v t0="$t0" -v t1="$t1" -v c="$((c1 - c0))" \
		-v n="$((n1 - n0))" -v hz="$HZ" -v pc="$(peak "$W/rss.c")" \
		-v pn="$(peak "$W/rss.n")" 'BEGIN {
		s = t1 - t0
		printf "%s %.3f %.3f %.2f %.2f %.1f %.1f\n", l, s, b / s / 1e9,
			c / hz, n / hz, pc, pn
	}' >>"$W/results"
}

# iperf3 one stream for 5 s, GB/s received; [NS_SERVER NS_CLIENT] IP
iperf() {
	command -v iperf3 >/dev/null || { echo n/a; return; }
	if [ $# = 3 ]; then
		sx="ip netns exec $1"; cx="ip netns exec $2"; ip=$3
	else
		sx=; cx=; ip=$1
	fi
	p=$((20000 + $$ % 20000))
	$sx iperf3 -s -1 -p "$p" >/dev/null 2>&1 &
	ipid=$!
	sleep 0.5
	$cx iperf3 -c "$ip" -p "$p" -t 5 -f g 2>/dev/null |
		awk '/receiver/ { for (i = 1; i < NF; i++) if ($(i + 1) == "Gbits/sec") print $i / 8 }'
	wait "$ipid" 2>/dev/null
}

# storew BYTES: GB/s of dd writing BYTES into a new file of the stores'
# file system (fresh pages), the file removed
storew() {
	t0=$(now)
	dd if=/dev/zero of="$W/storew" bs=1M count=$(($1 >> 20)) status=none || { echo n/a; return; }
	t1=$(now)
	rm -f "$W/storew"
	awk -v b="$((($1 >> 20) << 20))" -v t0="$t0" -v t1="$t1" 'BEGIN { printf "%.3f\n", b / (t1 - t0) / 1e9 }'
}

# loads PREFIX CLIENT...: part 5's three loads of the mixed CSV, REPS
# times (CLIENT: the eau2 command and its global options). Each load
# finds lm on neither side: a replaced key holds its old pages while the
# new ones are written, which costs a transfer measurably more
loads() {
	lp=$1
	shift
	r=0
	while [ $r -lt "$REPS" ]; do
		xfer "$lp-local" "$CSVB" "$@" load "$W/mixed.csv" --as lm
		"$@" rm lm
		s0=$(du -sk "$A" | cut -f1)
		du_watch "$A" "$W/store.now"
		xfer "$lp-load+push" "$CSVB" sh -c \
			"$* load $W/mixed.csv --as lm && $* push lm $NADDR"
		echo "$lp-load+push $(($(du_stop) - s0))" >>"$W/stores"
		"$@" rm lm
		"$@" --remote "$NADDR" rm lm
		du_watch "$A" "$W/store.now"
		xfer "$lp-remote" "$CSVB" "$@" --remote "$NADDR" load "$W/mixed.csv" --as lm
		echo "$lp-remote $(($(du_stop) - s0))" >>"$W/stores"
		"$@" --remote "$NADDR" rm lm
		r=$((r + 1))
	done
}

# summary LABEL-PREFIX: medians of the results whose label is LABEL
med() { awk -v l="$1" -v f="$2" '$1 == l { print $f }' "$W/results" | median; }

echo "bench_remote: $(nproc) CPUs, $(uname -r); scratch $W"
"$E2" gen mixed --out "$W/mixed.csv" --size "$SIZE" 2>>"$LOG" || die "gen mixed"
"$E2" --store "$A" load "$W/mixed.csv" --as mixed 2>>"$LOG" || die "load mixed"
"$E2" gen mixed --out "$W/small.csv" --size "$SMALL" --seed 3 2>>"$LOG" || die "gen small"
"$E2" --store "$A" load "$W/small.csv" --as small 2>>"$LOG" || die "load small"
CSVB=$(wc -c <"$W/mixed.csv")
"$E2" gen text --out "$W/text.txt" --size "$TEXT" 2>>"$LOG" || die "gen text"
"$E2" --store "$A" load "$W/text.txt" --format lines --as text 2>>"$LOG" || die "load text"
rm -f "$W/text.txt"
BM=$(df_bytes "$A" mixed)
BT=$(df_bytes "$A" text)
BS=$(df_bytes "$A" small)
echo "data: mixed $BM bytes, text $BT bytes, small $BS bytes (chunk payload)"

# ------------------------------------------------------------ 1 loopback
if want 1; then
start_node "$N" 127.0.0.1
IP0=$(iperf 127.0.0.1)
SW0=$(storew "$BM")
for ds in mixed text; do
	b=$(df_bytes "$A" $ds)
	r=0
	while [ $r -lt "$REPS" ]; do
		xfer "lo-push-$ds" "$b" "$E2" --store "$A" push $ds "$NADDR"
		xfer "lo-pull-$ds" "$b" "$E2" --store "$A" pull "$NADDR" $ds --as back
		"$E2" --store "$A" rm back
		r=$((r + 1))
	done
	"$E2" --store "$N" rm $ds
done
loads lo-load "$E2" --store "$A"
xfer "lo-push-small" "$BS" "$E2" --store "$A" push small "$NADDR"
xfer "lo-pull-small" "$BS" "$E2" --store "$A" pull "$NADDR" small --as back
"$E2" --store "$A" rm back
"$E2" --store "$N" rm small
SW1=$(storew "$BM")
IP1=$(iperf 127.0.0.1)
LINK=$(printf '%s\n%s\n' "$IP0" "$IP1" | grep -v n/a | sort -g | awk '{ s += $1; n++ } END { print n ? s / n : "n/a" }')
kill "$NPID"
wait "$NPID" 2>/dev/null

echo
echo "== 1. loopback, one stream; iperf3 $IP0 / $IP1 GB/s (mean $LINK)"
echo "   fresh store pages: dd of the mixed dataframe's bytes $SW0 / $SW1 GB/s"
printf '%-16s %8s %8s %8s %10s %10s\n' transfer "GB/s" "x iperf3" "wall s" "CPU s/GB c" "CPU s/GB n"
for l in lo-push-mixed lo-pull-mixed lo-push-text lo-pull-text; do
	g=$(med $l 3)
	ds=${l##*-}
	b=$BM
	[ "$ds" = text ] && b=$BT
	awk -v l="$l" -v g="$g" -v link="$LINK" -v w="$(med $l 2)" -v c="$(med $l 4)" \
		-v n="$(med $l 5)" -v b="$b" 'BEGIN {
		printf "%-16s %8.3f %8s %8.2f %10.2f %10.2f\n", l, g,
			link == "n/a" ? "n/a" : sprintf("%.2f", g / link), w, c / (b / 1e9), n / (b / 1e9)
	}'
done
echo
echo "== 2. peak RssAnon (MiB), client / node"
for l in lo-push-small lo-pull-small lo-push-mixed lo-pull-mixed lo-push-text lo-pull-text; do
	printf '%-16s %8s / %s\n' "$l" "$(med $l 6)" "$(med $l 7)"
done
fi

# ------------------------------------------------------- 3 netns, 1 Gbit/s
if ! want 3; then
	:
elif [ "$NETNS" != 0 ] && ip netns add "$NSA" 2>/dev/null && ip netns add "$NSB" 2>/dev/null &&
	ip link add e2ba$$ type veth peer name e2bb$$ 2>/dev/null; then
	VA=e2ba$$
	VB=e2bb$$
	NET=10.$((200 + $$ % 50)).$(($$ / 50 % 250))
	ip link set "$VA" netns "$NSA" && ip link set "$VB" netns "$NSB" &&
		ip -n "$NSA" addr add "$NET.1/24" dev "$VA" &&
		ip -n "$NSB" addr add "$NET.2/24" dev "$VB" &&
		ip -n "$NSA" link set "$VA" up && ip -n "$NSB" link set "$VB" up &&
		ip -n "$NSA" link set lo up && ip -n "$NSB" link set lo up &&
		ip netns exec "$NSA" tc qdisc add dev "$VA" root tbf rate 1gbit burst 256k latency 50ms &&
		ip netns exec "$NSB" tc qdisc add dev "$VB" root tbf rate 1gbit burst 256k latency 50ms ||
		die "setting up the namespaces"
	umask 077
	printf 'bench secret\n' >"$W/secret"
	umask 022
	start_node "$W/nb" "$NET.2" "$NSB"
	NLINK=$(iperf "$NSB" "$NSA" "$NET.2")
	txa() { ip -n "$NSA" -s link show "$VA" | awk '/TX:/ { getline; print $1 }'; }
	txb() { ip -n "$NSB" -s link show "$VB" | awk '/TX:/ { getline; print $1 }'; }
	CA="ip netns exec $NSA $E2 --store $A --secret-file $W/secret"
	: >"$W/wire"
	for ds in mixed text; do
		b=$(df_bytes "$A" $ds)
		w0=$(txa)
		# shellcheck disable=SC2086
		xfer "ns-push-$ds" "$b" $CA push $ds "$NADDR"
		w1=$(txa)
		w2=$(txb)
		# shellcheck disable=SC2086
		xfer "ns-pull-$ds" "$b" $CA pull "$NADDR" $ds --as back
		w3=$(txb)
		echo "ns-push-$ds $b $((w1 - w0))" >>"$W/wire"
		echo "ns-pull-$ds $b $((w3 - w2))" >>"$W/wire"
		"$E2" --store "$A" rm back
		"$E2" --store "$W/nb" rm $ds
	done
	# shellcheck disable=SC2086
	loads ns-load $CA
	# Per column type: one-column dataframes cut from the small CSV.
	# (name, field 4, may be quoted with commas: everything between the
	# third comma and the last one)
	for col in 1:int-seq 2:int 3:double 4:string 5:bool; do
		f=${col%%:*}
		t=${col#*:}
		case $f in
		4) sed 's/^[^,]*,[^,]*,[^,]*,//; s/,[^,]*$//' "$W/small.csv" ;;
		5) sed 's/.*,//' "$W/small.csv" ;;
		*) cut -d, -f"$f" "$W/small.csv" ;;
		esac >"$W/col.csv"
		"$E2" --store "$A" load "$W/col.csv" --as "col-$t" 2>>"$LOG" || die "load column $t"
		b=$(df_bytes "$A" "col-$t")
		w0=$(txa)
		# shellcheck disable=SC2086
		xfer "ns-push-col-$t" "$b" $CA push "col-$t" "$NADDR"
		w1=$(txa)
		echo "ns-push-col-$t $b $((w1 - w0))" >>"$W/wire"
		"$E2" --store "$A" rm "col-$t"
	done
	echo
	echo "== 3. veth with tbf 1gbit; iperf3 across it: $NLINK GB/s; link rate 0.125 GB/s"
	printf '%-20s %8s %8s %8s %10s %10s %10s\n' transfer "GB/s" "x 1Gbit" "x iperf3" "df/wire" "CPU s/GB c" "CPU s/GB n"
	while read -r l b w; do
		awk -v l="$l" -v g="$(med "$l" 3)" -v link="$NLINK" -v b="$b" -v w="$w" \
			-v c="$(med "$l" 4)" -v n="$(med "$l" 5)" 'BEGIN {
			printf "%-20s %8.3f %8.2f %8s %10.2f %10.2f %10.2f\n", l, g, g / 0.125,
				(link == "n/a" || link == "") ? "n/a" : sprintf("%.2f", g / link),
				(w > 0 ? b / w : 0), c / (b / 1e9), n / (b / 1e9)
		}'
	done <"$W/wire"
else
	echo
	echo "== 3. skipped: no network namespaces here (needs root; NETNS=$NETNS)"
fi

# ------------------------------------------------- 4 SEND_ZC, shuffle + LZ4
echo
if ! want 4; then
	:
elif [ "$NETSIZE" != 0 ] && [ -x "$B/bench_net" ]; then
	echo "== 4. the transport's own comparisons (bench_net --size $NETSIZE --reps 1);"
	echo "   eau2-node and the CLI expose no switch for them: the transport chooses"
	"$B/bench_net" --size "$NETSIZE" --reps 1 2>&1 | grep -i -E "zc|zero|shuffle|lz4|raw|plain|iperf" | head -n 30
else
	echo "== 4. skipped (NETSIZE=0 or bench_net not built)"
fi
# ------------------------------------------------------ 5 loads to a node
if want 1 || want 3; then
	echo
	echo "== 5. the mixed CSV ($CSVB bytes) loaded: here, here then pushed, --remote"
	printf '%-8s %10s %12s %12s %9s %12s\n' where "local GB/s" "load+push" "--remote" \
		"x local" "x load+push"
	for lp in lo-load ns-load; do
		grep -q "^$lp-remote " "$W/results" || continue
		awk -v l="$lp" -v a="$(med $lp-local 3)" -v b="$(med $lp-load+push 3)" \
			-v c="$(med $lp-remote 3)" 'BEGIN {
			printf "%-8s %10.3f %12.3f %12.3f %9.2f %12.2f\n", substr(l, 1, 2), a, b, c,
				c / a, c / b }'
	done
	for lp in lo-load ns-load; do
		grep -q "^$lp-remote " "$W/stores" 2>/dev/null || continue
		b=$(awk -v l="$lp-load+push" '$1 == l { print $2 }' "$W/stores" | median)
		c=$(awk -v l="$lp-remote" '$1 == l { print $2 }' "$W/stores" | median)
		echo "$lp $b $c" | awk '{ printf "%-8s the client'"'"'s store grew at most %.0f MiB (load+push), %.0f MiB (--remote)\n",
			substr($1, 1, 2), $2 / 1024, $3 / 1024 }'
	done
fi

echo
echo "raw results (label wall_s GB/s client_cpu_s node_cpu_s client_peak_MiB node_peak_MiB):"
cat "$W/results"
