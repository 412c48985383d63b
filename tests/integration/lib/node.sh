# SPDX-License-Identifier: MIT
# node.sh - sourced by the eau2-node integration scripts (not a test of its
# own). Set NAME first; the script sets T (scratch directory) and S (the
# store) itself. Gives: E2 and NODE (the binaries; exit 77 when they are not
# built), and
#   E ARGS...   run eau2 on the store S
#   fail MSG    report (with the tail of $T/node.log) and exit 1
#   wait_node   wait until a node answers status on S (up to 30 s; fails
#               at once when the node started as $NPID has exited)
B=${EAU2_BIN_DIR:?EAU2_BIN_DIR must name the build directory}
E2=$B/eau2
NODE=$B/eau2-node
[ -x "$NODE" ] || { echo "$NAME: $NODE not built: skipped"; exit 77; }
[ -x "$E2" ] || { echo "$NAME: $E2 not built: skipped"; exit 77; }
LC_ALL=C
export LC_ALL
unset EAU2_NODE

fail() {
	echo "$NAME: FAIL: $*" >&2
	[ -f "$T/node.log" ] && { echo "--- node log" >&2; tail -20 "$T/node.log" >&2; }
	exit 1
}
E() { "$E2" --store "$S" "$@"; }
# True while process $1 runs (an exited, unreaped child is a zombie: Z).
running() {
	st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)
	[ -n "$st" ] && [ "$st" != Z ]
}
wait_node() {
	i=0
	while ! "$NODE" status --store "$S" >/dev/null 2>&1; do
		i=$((i + 1))
		if [ -n "${NPID:-}" ] && ! running "$NPID"; then
			fail "node (pid $NPID) exited before it answered"
		fi
		# Generous: a loaded CI host running sanitizer builds is slow.
		[ $i -gt 600 ] && fail "node did not come up in 30 s"
		sleep 0.05
	done
}
