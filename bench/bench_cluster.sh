#!/bin/sh
# SPDX-License-Identifier: MIT
# bench_cluster.sh - the cluster end to end on this machine, against one
# host in the same run: a throw-away ZooKeeper (tools/zk.sh) and three
# eau2-node processes on loopback (--listen 127.0.0.1:0 --zk), each with
# a store of its own under /dev/shm, driven by `eau2 --cluster`.
#
# Generates a CSV of --rows rows (id, x, s: 9 distinct words, line: three
# words), then --reps times each (median printed):
#   load       `eau2 load` into a local store vs `eau2 --cluster ... load
#              --replicas 1` (parsed here, partitions streamed to nodes):
#              wall seconds and GB/s of the file, ratio cluster/local,
#              each load right after writing twice the file's bytes
#              into a file of /dev/shm and removing it (below),
#              the most the driver's store held (du, every 50 ms) and
#              the driver's CPU seconds (on hosts of their own, the
#              nodes' work is not the driver's: its CPU bounds the load);
#              and a floor: iperf3 moving the bytes the nodes received
#              over loopback (-n, one stream), its CPU (both ends) added
#              to the local load's, over this machine's cores: the least
#              time a cluster load sharing these cores could take, if its
#              TCP cost what iperf3's does;
#              with --base PATH, also the same cluster load by another
#              eau2 build right after, and the ratios to it;
#   groupby    `eau2 run groupby --arg by=s --arg agg=count,sum:x`;
#   wordcount  `eau2 run wordcount --arg column=line`:
#              the bytes the nodes sent a cluster run (their /metrics);
#              wall seconds, and CPU seconds of every process (the eau2
#              command, and with --cluster the three nodes too), ratios
#              cluster/local. The answers must be equal (exit 1 if not).
#   again      each job once more at once, its input open already: on
#              the cluster (the nodes keep a run's partitions open), and
#              against a local eau2-node serving the local store (warm
#              runs, issue #14; its CPU counted with the command's), after
#              a first run there that is not measured.
#
# With --apps, also (the answers equal, as above):
#   join       `run join --arg with=small --arg on=x` (a 1000-row small
#              table, broadcast to the nodes: its bytes x 3 on the wire);
#   bikes      `run bikes --arg query=3` over `eau2 gen bikes` of
#              --app-rows trips (default --rows/4; stations broadcast);
#   linus      `run linus --arg degrees=4` over `eau2 gen linus` of
#              --app-rows commits (default --rows/4; 8 passes, each a run
#              on the nodes with its frontier broadcast);
#   mandelbrot 1000 x 750 pixels, 500 iterations, result=summary (the
#              image rows spread over the nodes).
# --jobs "J ..." runs those of groupby, wordcount and the applications
# only (the load is always measured), and makes only their data: e.g.
# --rows 1000000 --app-rows 10000000 --jobs linus for 10^7 commits.
#
# With --distout, also (issue #12; outputs equal, as above):
#   filter_as  `run filter --arg where=x<500 --as f` (half the rows):
#              one host against the cluster keeping the output on the
#              nodes (the default) and the cluster gathering it on the
#              driver and putting it back out (EAU2_CLUSTER_GATHER=1),
#              with the bytes the nodes sent (to the driver: the input
#              has 1 replica, so no node-to-node copy) and received (the
#              gathered output put back out), from their /metrics; the
#              output on 1 replica either way (--replicas 1).
#
# With --shuffle, also (issue #12; answers equal, as above):
#   shuffle    `run groupby --arg by=k --arg agg=count,sum:x` over a table
#              (k, x) of --shuffle-rows rows (default 10^7) with
#              --shuffle-keys distinct keys k (default as many as rows,
#              one row each; loaded with --replicas 1): one host against
#              the cluster shuffling the states by key range node to node
#              (EAU2_SHUFFLE_BYTES=0) and gathering them on the driver (a
#              bound above every state): wall, CPU of every process, and
#              the driver's peak RSS (/usr/bin/time), the outputs (10^7
#              lines) checked equal.
#
# On a machine of few cores the nodes share the driver's CPUs, so this
# shows the cluster's overhead, not a speed-up.
#
# A virtual machine's host may take back memory its guest freed a while
# ago; writing into such pages again costs several times more, and how
# much more varies from run to run (bench_rxfer's store write). A load
# writes its whole dataframe into new pages of the store, so that cost
# would decide which of two loads is faster. Each load therefore starts
# in the same state: pages just written and freed, as on a machine whose
# memory is its own.
#
# Usage: bench/bench_cluster.sh [--rows N] [--reps N] [--apps] [--jobs LIST]
#        [--app-rows N] [--distout] [--shuffle] [--shuffle-rows N]
#        [--shuffle-keys N] [--base PATH]
# Env: BUILD (default build) holds eau2 and eau2-node.
set -eu

rows=3000000 reps=3 apps= distout= shuffle= srows=10000000 skeys= jobs= arows= base=
usage="usage: $0 [--rows N] [--reps N] [--apps] [--jobs LIST] [--app-rows N] [--distout] [--shuffle] [--shuffle-rows N] [--shuffle-keys N] [--base PATH]"
while [ $# -gt 0 ]; do
	case $1 in
	--rows) rows=$2; shift 2 ;;
	--reps) reps=$2; shift 2 ;;
	--apps) apps=1; shift ;;
	--jobs) jobs=$2; shift 2 ;;
	--app-rows) arows=$2; shift 2 ;;
	--distout) distout=1; shift ;;
	--shuffle) shuffle=1; shift ;;
	--shuffle-rows) srows=$2; shift 2 ;;
	--shuffle-keys) skeys=$2; shift 2 ;;
	--base) base=$2; shift 2 ;;
	--help|-h) sed -n '3,/^# Env/s/^# \{0,1\}//p' "$0"; exit 0 ;;
	*) echo "$usage" >&2; exit 2 ;;
	esac
done
for j in $jobs; do
	case $j in
	groupby|wordcount) ;;
	join|bikes|linus|mandelbrot) apps=1 ;;
	*) echo "bench_cluster: --jobs: no job '$j' (groupby wordcount join bikes linus mandelbrot)" >&2
	   exit 2 ;;
	esac
done
arows=${arows:-$((rows / 4))}
[ -z "$base" ] || [ -x "$base" ] || { echo "bench_cluster: --base $base: not an executable" >&2; exit 2; }
. "$(dirname "$0")/lib/cluster.sh"
. "$(dirname "$0")/lib/du_peak.sh"
bench_setup clbench
export EAU2_NODE=0 LC_ALL=C
tck=$(getconf CLK_TCK)

Z=$("$src/tools/zk.sh" start "$T/zk" 1)
for i in 1 2 3; do
	"$NODE" --store "$T/n$i" --listen 127.0.0.1:0 --zk "$Z/bench" --http 127.0.0.1:0 \
		2>"$T/n$i.log" &
	PIDS="$PIDS $!"
done
CPIDS=$PIDS
# The local store's node: warm runs (mode "warm"; the other local runs
# set EAU2_NODE=0 and run in their own process).
"$NODE" --store "$T/l" 2>"$T/l.log" &
LPID=$!
PIDS="$PIDS $LPID"
i=0
until [ "$("$E2" --store "$T/d" --cluster "$Z/bench" status 2>/dev/null | grep -c '^node ')" = 3 ]; do
	i=$((i + 1))
	[ $i -gt 300 ] && { echo "the nodes did not join" >&2; exit 1; }
	sleep 0.1
done

# Bytes the nodes sent and received (eau2_net_{sent,received}_bytes_total
# of their /metrics), once still: a connection's traffic is counted a
# moment after it ends. A node serves /metrics from a snapshot up to
# 0.5 s old (SNAP_REUSE_S in tools/eau2-node/http/http.c), so readings
# are 0.6 s apart, the first 0.6 s after any before.
HTTP=
for i in 1 2 3; do
	h=$(sed -n 's/.*http: serving on \(127\.0\.0\.1:[0-9][0-9]*\) .*/\1/p' "$T/n$i.log" | tail -1)
	HTTP="$HTTP $h"
done
net_now() {
	for h in $HTTP; do
		curl -s -f -m 5 "http://$h/metrics"
	done | awk '$1 == "eau2_net_sent_bytes_total" { s += $2 }
		    $1 == "eau2_net_received_bytes_total" { r += $2 } END { print s + 0, r + 0 }'
}
net() {
	sleep 0.6
	a=x b=$(net_now) n=0
	while [ "$a" != "$b" ] && [ $n -lt 20 ]; do
		sleep 0.6
		a=$b b=$(net_now) n=$((n + 1))
	done
	echo "$b"
}

awk -v rows="$rows" 'BEGIN {
	split("the cat sat on a mat of eau2 and", w, " ")
	print "id,x,s,line"
	for (r = 0; r < rows; r++)
		print r "," (r * 7919) % 1000 "," w[r % 9 + 1] "," w[r % 7 + 1] " " w[r % 5 + 1] " " w[r % 3 + 1]
}' >"$T/data.csv"
bytes=$(wc -c <"$T/data.csv")

now() { date +%s.%N; }
# CPU ticks of the nodes so far.
nodes_ticks() {
	t=0
	for p in $CPIDS; do
		t=$((t + $(awk '{ print $14 + $15 }' "/proc/$p/stat")))
	done
	echo $t
}
# CPU ticks of the processes a run of mode $1 uses besides the command.
mode_ticks() {
	case $1 in
	local) echo 0 ;;
	warm) awk '{ print $14 + $15 }' "/proc/$LPID/stat" ;;
	*) nodes_ticks ;;
	esac
}
# measure JOB MODE CMD...: runs CMD with stdout to $T/out and appends
# "JOB MODE wall cpu rss cmdcpu" to $T/res (cpu: the command's seconds, and the
# nodes' (mode_ticks); rss: the command's peak, KiB).
measure() {
	job=$1 mode=$2
	shift 2
	n0=$(mode_ticks "$mode")
	t0=$(now)
	c=$(sh -c '/usr/bin/time -f %M -o "$OUT.rss" "$@" >"$OUT" || exit 1
		   awk "{ print \$16 + \$17 }" /proc/$$/stat' sh "$@") ||
		{ echo "failed: $*" >&2; return 1; }
	t1=$(now)
	n1=$(mode_ticks "$mode")
	echo "$t0 $t1 $c $n0 $n1 $tck $(tail -1 "$OUT.rss")" | awk -v j="$job" -v m="$mode" \
		'{ printf "%s %s %.3f %.3f %d %.3f\n", j, m, $2 - $1, ($3 + $5 - $4) / $6, $7, $3 / $6 }' >>"$T/res"
}
export OUT="$T/out"
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

EL="$E2 --store $T/l"
CO="--store $T/d --cluster $Z/bench --timeout 60000"
EC="$E2 $CO"

: >"$T/res"
if [ -z "$jobs" ]; then
	jobs="groupby wordcount"
	[ -n "$apps" ] && jobs="$jobs join bikes linus mandelbrot"
fi
has() { case " $jobs " in *" $1 "*) return 0 ;; esac; return 1; }
if has join; then
	awk 'BEGIN { print "x,name,v"; for (r = 0; r < 1000; r++) print r ",n" r "," r * 3 }' >"$T/small.csv"
	for e in "$EL" "$EC"; do $e load "$T/small.csv" --as small >/dev/null; done
	sbytes=$($EC describe small | awk '$1 == "bytes" { print $2; exit }')
fi
if has bikes; then
	"$E2" --store "$T/l" gen bikes --out "$T/bikes" --rows "$arows" --seed 9 >/dev/null
	for e in "$EL" "$EC"; do
		for k in stations trips; do $e load "$T/bikes/$k.csv" --as "$k" >/dev/null; done
	done
fi
if has linus; then
	"$E2" --store "$T/l" gen linus --out "$T/linus" --rows "$arows" --seed 3 >/dev/null
	for e in "$EL" "$EC"; do
		for k in projects users commits; do $e load "$T/linus/$k.sor" --as "$k" >/dev/null; done
	done
fi
if [ -n "$shuffle" ]; then
	awk -v rows="$srows" -v keys="${skeys:-$srows}" 'BEGIN {
		print "k,x"
		for (r = 0; r < rows; r++) print (r * 7919) % keys "," (r * 31) % 1000
	}' >"$T/sh.csv"
	$EL load "$T/sh.csv" --as sh >/dev/null
	$EC load "$T/sh.csv" --as sh --replicas 1 >/dev/null
	rm -f "$T/sh.csv"
fi
# The input and arguments of job $1.
job_args() {
	case $1 in
	groupby) echo "--input t --arg by=s --arg agg=count,sum:x" ;;
	wordcount) echo "--input t --arg column=line" ;;
	join) echo "--input t --arg with=small --arg on=x" ;;
	bikes) echo "--input trips --arg stations=stations --arg query=3" ;;
	linus) echo "--input commits --arg users=users --arg projects=projects --arg start=0 --arg degrees=4" ;;
	mandelbrot) echo "--arg width=1000 --arg height=750 --arg iter=500 --arg result=summary" ;;
	esac
}
# cluster_load MODE EAU2: the cluster load, and the most its driver's
# store held (KiB, to $T/peak.MODE) and the bytes its nodes received
# (to $T/wire.MODE)
cluster_load() {
	w0=$(net | awk '{ print $2 }')
	warm_pages
	du_watch "$T/d" "$T/peak.now"
	# shellcheck disable=SC2086
	measure load "$1" "$2" $CO load "$T/data.csv" --as t --replicas 1
	du_stop >>"$T/peak.$1"
	echo "$(net | awk '{ print $2 }') $w0" | awk '{ print $1 - $2 }' >>"$T/wire.$1"
}
# tcp_cost BYTES: iperf3 sending BYTES over loopback, one stream, on the
# same cores; appends "load tcp wall cpu" (CPU: both ends) to $T/res.
# Should it fail, the run has no floor (and the server ends in 120 s).
tcp_cost() {
	command -v iperf3 >/dev/null || return 0
	p=$((20000 + $$ % 20000))
	/usr/bin/time -f '%U %S' -o "$T/tcp.s" timeout 120 iperf3 -s -1 -p "$p" >/dev/null 2>&1 &
	tp=$!
	sleep 0.5
	t0=$(now)
	/usr/bin/time -f '%U %S' -o "$T/tcp.c" timeout 120 iperf3 -c 127.0.0.1 -p "$p" -n "$1" \
		>/dev/null 2>&1 || {
		echo "bench_cluster: iperf3 -c 127.0.0.1 -p $p -n $1 failed: no floor from this run" >&2
		kill "$tp" 2>/dev/null
		return 0
	}
	t1=$(now)
	wait "$tp" || :
	cat "$T/tcp.s" "$T/tcp.c" | awk -v w="$(echo "$t0 $t1" | awk '{ print $2 - $1 }')" \
		'{ c += $1 + $2 } END { printf "load tcp %.3f %.3f\n", w, c }' >>"$T/res"
}
# warm_pages: twice the file's bytes written into a file of /dev/shm
# and removed, so that the next load's new pages are ones just freed
# (where /dev/shm has no room for them, the loads start as they find it)
warm_pages() {
	dd if=/dev/zero of="$T/warm" bs=1M count=$((bytes * 2 >> 20)) status=none 2>/dev/null ||
		echo "bench_cluster: no room in /dev/shm to warm pages before a load" >&2
	rm -f "$T/warm"
}
for r in $(seq "$reps"); do
	warm_pages
	measure load local $EL load "$T/data.csv" --as t
	cluster_load cluster "$E2"
	tcp_cost "$(tail -1 "$T/wire.cluster")"
	[ -z "$base" ] || cluster_load base "$base"
	for job in $jobs; do
		a=$(job_args $job)
		# shellcheck disable=SC2086
		measure $job local $EL run $job $a
		cp "$T/out" "$T/$job.local"
		s0=$(net | awk '{ print $1 }')
		# shellcheck disable=SC2086
		measure $job cluster $EC run $job $a
		cmp -s "$T/out" "$T/$job.local" || { echo "$job: the cluster's answer differs" >&2; exit 1; }
		echo "$(net | awk '{ print $1 }') $s0" | awk '{ print $1 - $2 }' >>"$T/sent.$job"
		# shellcheck disable=SC2086
		measure $job again $EC run $job $a
		cmp -s "$T/out" "$T/$job.local" || { echo "$job: the cluster's answer differs" >&2; exit 1; }
		# shellcheck disable=SC2086
		EAU2_NODE=auto $EL run $job $a >"$T/out"
		# shellcheck disable=SC2086
		measure $job warm env EAU2_NODE=auto $EL run $job $a
		cmp -s "$T/out" "$T/$job.local" || { echo "$job: the local node's answer differs" >&2; exit 1; }
	done
	if [ -n "$shuffle" ]; then
		sa="--input sh --arg by=k --arg agg=count,sum:x"
		# shellcheck disable=SC2086
		measure shuffle local $EL run groupby $sa
		mv "$T/out" "$T/sh.local"
		for mode in cluster gather; do
			EAU2_SHUFFLE_BYTES=0
			[ $mode = gather ] && EAU2_SHUFFLE_BYTES=1000000000000000
			export EAU2_SHUFFLE_BYTES
			# shellcheck disable=SC2086
			measure shuffle $mode $EC run groupby $sa
			unset EAU2_SHUFFLE_BYTES
			cmp -s "$T/out" "$T/sh.local" || { echo "groupby ($mode) differs" >&2; exit 1; }
		done
		rm -f "$T/out" "$T/sh.local"
	fi
	[ -n "$distout" ] || continue
	fa="--input t --arg where=x<500 --as f"
	# shellcheck disable=SC2086
	measure filter_as local $EL run filter $fa
	$EL export f "$T/f.local" >/dev/null
	for mode in cluster gather; do
		EAU2_CLUSTER_GATHER=
		[ $mode = gather ] && EAU2_CLUSTER_GATHER=1
		export EAU2_CLUSTER_GATHER
		b0=$(net)
		# shellcheck disable=SC2086
		measure filter_as $mode $EC run filter $fa --replicas 1
		b1=$(net)
		unset EAU2_CLUSTER_GATHER
		echo "$mode $b0 $b1" | awk '{ print $1, $4 - $2, $5 - $3 }' >>"$T/bytes"
		$EC export f "$T/f.$mode" >/dev/null
		cmp -s "$T/f.$mode" "$T/f.local" || { echo "filter --as ($mode) differs" >&2; exit 1; }
	done
done

printf 'data: %s rows, %.1f MB; 3 nodes on %s cores; median of %s\n' "$rows" \
	"$(echo "$bytes" | awk '{ print $1 / 1e6 }')" "$(nproc)" "$reps"
has join && echo "join: small table ${sbytes:-?} bytes, broadcast to 3 nodes"
has linus || has bikes && echo "applications' data: $arows rows (commits, trips)"
[ -n "$distout" ] && jobs="$jobs filter_as"
for job in load $jobs; do
	lw=$(awk -v j=$job '$1 == j && $2 == "local" { print $3 }' "$T/res" | median)
	cw=$(awk -v j=$job '$1 == j && $2 == "cluster" { print $3 }' "$T/res" | median)
	lc=$(awk -v j=$job '$1 == j && $2 == "local" { print $4 }' "$T/res" | median)
	cc=$(awk -v j=$job '$1 == j && $2 == "cluster" { print $4 }' "$T/res" | median)
	case $job in
	load|groupby|wordcount)
		echo "$job $lw $cw $lc $cc $bytes" | awk '{
			printf "%-10s local %.2f s (%.2f GB/s, %.2f CPU s)  cluster %.2f s (%.2f GB/s, %.2f CPU s)  wall x%.2f  GB/s x%.2f  CPU x%.2f\n",
			       $1, $2, $6 / $2 / 1e9, $4, $3, $6 / $3 / 1e9, $5, $3 / $2, $2 / $3, $5 / $4 }' ;;
	*)	# not over the CSV: no GB/s
		echo "$job $lw $cw $lc $cc" | awk '{
			printf "%-10s local %.2f s (%.2f CPU s)  cluster %.2f s (%.2f CPU s)  wall x%.2f  CPU x%.2f\n",
			       $1, $2, $4, $3, $5, $3 / $2, $5 / $4 }' ;;
	esac
	if [ "$job" = load ]; then
		dp=$(median <"$T/peak.cluster")
		dc=$(awk '$1 == "load" && $2 == "cluster" { print $6 }' "$T/res" | median)
		echo "$dp $dc $lc" | awk '{ printf "  driver   its store held at most %.0f MiB; its CPU %.2f s (x%.2f the local load)\n", $1 / 1024, $2, $2 / $3 }'
	fi
	# The floor on these cores: a cluster load does the local load's work
	# and moves what the nodes received over TCP besides.
	if [ "$job" = load ] && grep -q '^load tcp ' "$T/res"; then
		wb=$(median <"$T/wire.cluster")
		tw=$(awk '$1 == "load" && $2 == "tcp" { print $3 }' "$T/res" | median)
		tc=$(awk '$1 == "load" && $2 == "tcp" { print $4 }' "$T/res" | median)
		echo "$wb $tw $tc $lw $lc $(nproc)" | awk '{
			f = ($5 + $3) / $6; if (f < $4) f = $4
			printf "  floor    nodes received %.0f MB; iperf3 moving as many over loopback: %.2f s, %.2f CPU s (both ends)\n", $1 / 1e6, $2, $3
			printf "           local load CPU + that, on %d cores: a cluster load takes at least %.2f s, GB/s at most x%.2f the local load\n", $6, f, $4 / f }'
	fi
	if [ "$job" = load ] && [ -n "$base" ]; then
		bw=$(awk '$1 == "load" && $2 == "base" { print $3 }' "$T/res" | median)
		bc=$(awk '$1 == "load" && $2 == "base" { print $4 }' "$T/res" | median)
		bd=$(awk '$1 == "load" && $2 == "base" { print $6 }' "$T/res" | median)
		bp=$(median <"$T/peak.base")
		echo "$bw $bc $bp $cw $cc $dp $bytes $bd $dc" | awk '{
			printf "  base     cluster %.2f s (%.2f GB/s, %.2f CPU s, driver %.2f s), store at most %.0f MiB; this build: wall x%.2f  CPU x%.2f  driver CPU x%.2f  store x%.2f\n",
			       $1, $7 / $1 / 1e9, $2, $8, $3 / 1024, $4 / $1, $5 / $2, $9 / $8, $6 / $3 }'
	fi
	[ "$job" != load ] && [ "$job" != filter_as ] || continue
	median <"$T/sent.$job" | awk -v j="$job" -v b="$bytes" '{
		printf "  sent     the nodes sent %d bytes a run", $1
		if (j == "groupby" || j == "wordcount") printf " (%.4f%% of the file)", 100 * $1 / b
		printf "\n" }'
	ww=$(awk -v j=$job '$1 == j && $2 == "warm" { print $3 }' "$T/res" | median)
	aw=$(awk -v j=$job '$1 == j && $2 == "again" { print $3 }' "$T/res" | median)
	wc=$(awk -v j=$job '$1 == j && $2 == "warm" { print $4 }' "$T/res" | median)
	ac=$(awk -v j=$job '$1 == j && $2 == "again" { print $4 }' "$T/res" | median)
	echo "$ww $aw $wc $ac" | awk '{
		printf "  again    warm node %.2f s (%.2f CPU s)  cluster %.2f s (%.2f CPU s)  wall x%.2f  CPU x%.2f\n",
		       $1, $3, $2, $4, $2 / $1, $4 / $3 }'
done
if [ -n "$distout" ]; then
	gw=$(awk '$1 == "filter_as" && $2 == "gather" { print $3 }' "$T/res" | median)
	gc=$(awk '$1 == "filter_as" && $2 == "gather" { print $4 }' "$T/res" | median)
	cw=$(awk '$1 == "filter_as" && $2 == "cluster" { print $3 }' "$T/res" | median)
	lw=$(awk '$1 == "filter_as" && $2 == "local" { print $3 }' "$T/res" | median)
	ks=$(awk '$1 == "cluster" { print $2 }' "$T/bytes" | median)
	kr=$(awk '$1 == "cluster" { print $3 }' "$T/bytes" | median)
	gs=$(awk '$1 == "gather" { print $2 }' "$T/bytes" | median)
	gr=$(awk '$1 == "gather" { print $3 }' "$T/bytes" | median)
	fb=$($EC describe f | awk '$1 == "bytes" { print $2; exit }')
	echo "filter_as $gw $gc $cw $lw $ks $kr $gs $gr $fb" | awk '{
		printf "filter_as  gathered %.2f s (%.2f CPU s), wall x%.2f of kept, x%.2f of local\n", $2, $3, $2 / $4, $2 / $5
		printf "           bytes the nodes sent (to the driver): kept %d, gathered %d (x%.0f); received: kept %d, gathered %d; output %d bytes\n",
		       $6, $8, $8 / ($6 > 0 ? $6 : 1), $7, $9, $10 }'
fi
if [ -n "$shuffle" ]; then
	for mode in local cluster gather; do
		for f in 3 4 5; do
			awk -v m=$mode -v f=$f '$1 == "shuffle" && $2 == m { print $f }' "$T/res" | median
		done
	done | xargs echo "$srows ${skeys:-$srows}" | awk '{
		printf "shuffle    groupby over %d rows, %d keys: wall, CPU of all, the driver'"'"'s peak RSS\n", $1, $2
		printf "           local    %7.2f s %7.2f CPU s %8.0f MiB\n", $3, $4, $5 / 1024
		printf "           shuffled %7.2f s %7.2f CPU s %8.0f MiB  (x%.2f wall, x%.2f CPU of local)\n",
		       $6, $7, $8 / 1024, $6 / $3, $7 / $4
		printf "           gathered %7.2f s %7.2f CPU s %8.0f MiB  (x%.2f wall, x%.2f CPU of local)\n",
		       $9, $10, $11 / 1024, $9 / $3, $10 / $4
		printf "           shuffled/gathered: wall x%.2f, CPU x%.2f, driver RSS x%.2f\n",
		       $6 / $9, $7 / $10, $8 / $11 }'
fi
