# SPDX-License-Identifier: MIT
# bench/lib/cluster.sh - sourced by the benches that start eau2-node
# processes and a throw-away ZooKeeper (bench_cluster.sh,
# bench_http_cluster.sh, bench_failover.sh).
#
#   . "$(dirname "$0")/lib/cluster.sh"
#   bench_setup NAME [PROGRAM...]
#
# bench_setup sets src (the source tree), B (BUILD, default build,
# relative to src), E2 and NODE (eau2, eau2-node), and fails with exit 2
# unless they and the PROGRAMs named (built in B too) are executable. It
# makes the scratch directory T (/dev/shm/eau2-NAME-XXXXXX), empties PIDS
# (the processes the bench starts, added by the caller) and arranges the
# clean-up at exit: every pid in PIDS killed (woken first, should one be
# stopped) and reaped, the ZooKeeper in $T/zk stopped, T removed.
# SIGINT and SIGTERM end the bench through the same clean-up.

bench_cleanup() {
	set +e # a killed process's status is not the bench's
	for p in $PIDS; do kill -CONT "$p" 2>/dev/null; kill -9 "$p" 2>/dev/null; done
	for p in $PIDS; do wait "$p" 2>/dev/null; done
	"$src/tools/zk.sh" stop "$T/zk" >/dev/null 2>&1
	rm -rf "$T"
}

bench_setup() {
	name=$1
	shift
	src=$(cd "$(dirname "$0")/.." && pwd)
	B=${BUILD:-$src/build}
	case $B in /*) ;; *) B=$src/$B ;; esac
	E2=$B/eau2
	NODE=$B/eau2-node
	for x in eau2 eau2-node "$@"; do
		[ -x "$B/$x" ] || { echo "$(basename "$0"): build $x first ($B)" >&2; exit 2; }
	done
	T=$(mktemp -d "/dev/shm/eau2-$name-XXXXXX")
	PIDS=
	trap bench_cleanup EXIT
	trap 'exit 1' INT TERM
}
