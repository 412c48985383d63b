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
#                 fails (returns 1) when it never did;
#   cl_nodes N [ARGS...]
#                 succeeds when `EC ARGS status` (EC: the script's own
#                 driver command) lists N members; a node the directory
#                 names without a member znode is listed too, and is not
#                 counted;
#   cl_joined N [ARGS...]
#                 waits 20 s at most for cl_nodes N ARGS, else fails;
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
	n=$1
	shift
	i=0
	until "$@"; do
		i=$((i + 1))
		[ $i -gt "$n" ] && return 1
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
