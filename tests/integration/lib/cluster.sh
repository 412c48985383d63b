# SPDX-License-Identifier: MIT
# cluster.sh - sourced by the cluster_* and http_cluster integration
# scripts (not a test of its own). Set NAME first. It sources remote.sh
# (T, nodes, expect, same...), sets SRC (the source tree), exits 77 when
# ZooKeeper is not installed (tools/deps.sh installs it, so CI runs
# these), and gives:
#   A, D          the local store (the reference answers) and the
#                 driver's store, under T;
#   EA ARGS...    eau2 on the local store;
#   cl_zk N       starts a throw-away ZooKeeper of N servers in $T/zk
#                 (tools/zk.sh; EAU2_ZK_LISTEN is passed on) and sets Z to
#                 its connect string; it is stopped at exit, after the
#                 clean-up already in RN_CLEANUP;
#   until_ok N CMD...
#                 runs CMD every 0.1 s until it succeeds, N times at most:
#                 fails (returns 1) when it never did (its variables are
#                 uo_*: a caller's loop counter stays);
#   cl_nodes N [ARGS...]
#                 succeeds when `EC ARGS status` (EC: the script's own
#                 driver command) lists N members; a node the directory
#                 names without a member znode is listed too, and is not
#                 counted;
#   cl_joined N [ARGS...]
#                 waits 20 s at most for cl_nodes N ARGS, else fails;
#   node_parts N  the partitions (eau2.part.*) node N's store ($T/nN)
#                 holds, one a line, sorted;
#   dir_parts N   how many the directory places on node N (EC status:
#                 the script defines EC, and ADDRN is node N's address);
#   as_placed N   whether node N holds what the directory places there;
#   cl_await_staged PID DRV WHAT CMD...
#                 while process DRV runs, runs CMD every 0.01 s until it
#                 succeeds (4 s at most); fails naming WHAT when DRV ends
#                 first or CMD never does, after waking node PID (the
#                 caller stopped it: kill -STOP);
#   cl_http_nodes N ARGS...
#                 starts N nodes (stores $T/n1..N, logs $T/nI.log) with
#                 ARGS and --http 127.0.0.1:0; sets PIDI, ADDRI and HI
#                 (its http address) for each, and HTTP (all of these);
#   cl_metric NAME
#                 the sum over the nodes of HTTP of metric NAME (a line
#                 of their /metrics, labels included);
#   cl_words_csv FILE ROWS
#                 a table id,x,s,line of ROWS rows: x in [0, 1000), s one
#                 of 11 words, line four words of 12 and a number < 97.
. "$(dirname "$0")/lib/remote.sh"
SRC=${EAU2_SRC_DIR:-$(dirname "$0")/../..}
[ -r /usr/share/java/zookeeper.jar ] || {
	echo "$NAME: ZooKeeper is not installed (tools/deps.sh): skipped"
	exit 77
}
A=$T/a
D=$T/d
EA() { "$E2" --store "$A" "$@"; }

cl_zk() {
	Z=$("$SRC/tools/zk.sh" start "$T/zk" "$1") || fail "ZooKeeper did not start"
	RN_CLEANUP="$RN_CLEANUP; \"$SRC/tools/zk.sh\" stop \"$T/zk\" >/dev/null 2>&1"
}

node_parts() { "$E2" --store "$T/n$1" ls 2>/dev/null | awk '$1 ~ /^eau2\.part\./ { print $1 }' | sort; }
dir_parts() {
	EC status | awk -v a="$(eval echo \$ADDR$1)" '$1 == "node" && $2 == a":" {
		for (i = 1; i <= NF; i++) if ($i == "partitions,") print $(i - 1) }'
}
as_placed() { [ "$(node_parts $1 | wc -l)" = "$(dir_parts $1)" ]; }

cl_await_staged() {
	cs_pid=$1 cs_drv=$2 cs_what=$3
	shift 3
	cs_i=0
	until "$@"; do
		cs_i=$((cs_i + 1))
		running "$cs_drv" || {
			kill -CONT "$cs_pid"
			fail "the driver ended before $cs_what"
		}
		[ $cs_i -gt 400 ] && { kill -CONT "$cs_pid"; fail "no $cs_what in 4 s"; }
		sleep 0.01
	done
}

cl_http_nodes() {
	ch_n=$1
	shift
	HTTP=
	for i in $(seq "$ch_n"); do
		rnode_start "$T/n$i" "$T/n$i.log" "$@" --http 127.0.0.1:0
		h=$(sed -n 's/.*http: serving on \(127\.0\.0\.1:[0-9][0-9]*\) .*/\1/p' "$T/n$i.log" |
			tail -1)
		[ -n "$h" ] || fail "node $i: no http address in its log"
		eval "PID$i=\$RN_PID ADDR$i=\$RN_ADDR H$i=\$h"
		HTTP="$HTTP $h"
	done
}

cl_metric() {
	for h in $HTTP; do
		curl -s -f -m 5 "http://$h/metrics"
	done | awk -v m="$1" '$1 == m { s += $2 } END { print s + 0 }'
}

cl_words_csv() {
	awk -v rows="$2" 'BEGIN {
		split("the cat sat on a mat of eau2 and dog ran far", w, " ")
		print "id,x,s,line"
		for (r = 0; r < rows; r++)
			print r "," (r * 7919) % 1000 "," w[r % 11 + 1] "," w[r % 7 + 1] " " \
				w[r % 5 + 1] " " w[(r * 13) % 12 + 1] " " r % 97
	}' >"$1"
}

until_ok() {
	uo_n=$1
	shift
	uo_i=0
	until "$@"; do
		uo_i=$((uo_i + 1))
		[ $uo_i -gt "$uo_n" ] && return 1
		sleep 0.1
	done
}

cl_nodes() {
	cl_n=$1
	shift
	[ "$(EC "$@" status 2>/dev/null | grep '^node ' | grep -vc 'no member znode')" = "$cl_n" ]
}

cl_joined() {
	until_ok 200 cl_nodes "$@" || { EC status; fail "the $1 nodes did not join in 20 s"; }
}
