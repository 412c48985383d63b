#!/bin/sh
# SPDX-License-Identifier: MIT
# node_basic.sh - eau2-node end to end with the eau2 command line: results
# identical in embedded and node mode; clients show up in the node's log
# (one line per connect/disconnect with their pid); a second node on the
# same store is refused naming the first one's pid; --listen on a
# non-loopback address without a secret is refused;
# a --plugin that fails to load stops the node (a good one loads, below);
# SIGTERM stops cleanly (exit 0, socket removed); a restarted node finds
# the store intact; --daemon; status with no node; a directory that is not
# a store is refused. Skipped (77) when eau2-node is not built.
set -u

NAME=node_basic
. "$(dirname "$0")/lib/node.sh"
base=/dev/shm
[ -d "$base" ] && [ -w "$base" ] || base=${TMPDIR:-/tmp}
T=$(mktemp -d "$base/eau2-node-basic-XXXXXX") || exit 1
S=$T/store
NPID=
cleanup() {
	[ -n "$NPID" ] && kill -9 "$NPID" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

start_node() {
	"$NODE" --store "$S" --plugin "$B/plugins/eau2_even_count.so" 2>>"$T/node.log" &
	NPID=$!
	wait_node
}

# The same queries, embedded and through the node.
queries() {
	E ls
	E describe m
	E head m
	E run count --input m
	E run sum --input m --arg columns=id,qty,price
	E run groupby --input m --arg by=flag --arg agg=count,sum:qty,mean:price
	E run filter --input m --arg "where=qty > 50" --as big
	E run count --input big
	E export m -
	E rm big
}

"$E2" gen mixed --out "$T/m.csv" --rows 200000 2>/dev/null || fail "gen"
E load "$T/m.csv" --as m 2>/dev/null || fail "load"
EAU2_NODE=0 queries >"$T/embedded.out" 2>"$T/q.err" || fail "embedded queries"

start_node
grep -q "serving store $S" "$T/node.log" || fail "no start line in the log"
grep -q "1 plugin loaded" "$T/node.log" || fail "no plugin line in the log"

# One node per store: the second names the first.
"$NODE" --store "$S" >"$T/out" 2>"$T/err" && fail "second node started"
grep -q "already served by eau2-node pid $NPID" "$T/err" ||
	{ cat "$T/err" >&2; fail "second node's message does not name pid $NPID"; }
# Other hosts only with a secret.
EAU2_SECRET_FILE= "$NODE" --store "$T/other" --listen 0.0.0.0:0 >"$T/out" 2>"$T/err"
[ $? = 1 ] || fail "--listen 0.0.0.0 without a secret did not exit 1"
grep -q "give --secret-file" "$T/err" || fail "--listen message"
[ -e "$T/other/node.sock" ] && fail "refused --listen left a socket"
# A plugin that does not load stops the node before it serves anything.
"$NODE" --store "$T/other" --plugin "$B/plugins/eau2_broken_noinit.so" >"$T/out" 2>"$T/err"
[ $? = 1 ] || fail "a broken --plugin did not exit 1"
grep -q "eau2_broken_noinit.so" "$T/err" || fail "broken plugin message does not name it"
[ -e "$T/other/node.sock" ] && fail "node with a broken plugin left a socket"

# Node mode gives byte-identical results, and the clients went through it.
queries >"$T/node.out" 2>"$T/q.err" || fail "queries through the node"
cmp -s "$T/embedded.out" "$T/node.out" ||
	{ diff "$T/embedded.out" "$T/node.out" | head -20 >&2; fail "embedded and node results differ"; }
conns=$(grep -c ': connect' "$T/node.log")
[ "$conns" -ge 10 ] || fail "only $conns clients connected to the node"
grep -q 'pid [0-9]*: disconnect (released 0 references' "$T/node.log" ||
	fail "no clean disconnect in the log"
grep -q 'released [1-9]' "$T/node.log" &&
	fail "a client exited holding references"

# status: the node's pid, our own connection, nothing held.
"$NODE" status --store "$S" >"$T/status" || fail "status"
grep -q "^node $NPID $S\$" "$T/status" || { cat "$T/status" >&2; fail "status header"; }
[ "$(grep -c '^conn ' "$T/status")" = 1 ] || { cat "$T/status" >&2; fail "status conns"; }
grep -q '^id ' "$T/status" && fail "status shows held ids with no client"

# SIGTERM: exit 0, the socket goes, the store stays.
kill -TERM "$NPID"
wait "$NPID" || fail "node exited $? on SIGTERM"
NPID=
[ -e "$S/node.sock" ] && fail "node.sock left after SIGTERM"
grep -q "SIGTERM" "$T/node.log" || fail "no stop line in the log"
"$NODE" status --store "$S" >"$T/out" 2>"$T/err" && fail "status with no node succeeded"
grep -q "no eau2-node serves store" "$T/err" || { cat "$T/err" >&2; fail "status message"; }

# A killed node leaves a stale socket; the next one takes over, and the
# store is intact.
start_node
kill -9 "$NPID"
wait "$NPID" 2>/dev/null
NPID=
[ -S "$S/node.sock" ] || fail "kill -9 should leave the socket behind"
E run count --input m >"$T/out" 2>&1 || fail "embedded fallback with a stale socket"
start_node
queries >"$T/node2.out" 2>"$T/q.err" || fail "queries after restart"
cmp -s "$T/embedded.out" "$T/node2.out" || fail "results differ after a restart"
kill -TERM "$NPID"
wait "$NPID"
NPID=

# --daemon: prints the pid, logs into the store, stops on SIGTERM.
dpid=$("$NODE" --store "$S" --daemon 2>"$T/err") || { cat "$T/err" >&2; fail "--daemon"; }
NPID=$dpid
wait_node
"$NODE" status --store "$S" | grep -q "^node $dpid " || fail "daemon pid $dpid not in status"
E run count --input m >/dev/null || fail "query through the daemon"
grep -q ': connect' "$S/node.log" || fail "daemon log"
kill -TERM "$dpid"
i=0
# (A zombie counts as stopped: init in a container may not reap it.)
while kill -0 "$dpid" 2>/dev/null &&
	[ "$(ps -o stat= -p "$dpid" 2>/dev/null | cut -c1)" != Z ]; do
	i=$((i + 1))
	[ $i -gt 100 ] && fail "daemon did not stop"
	sleep 0.05
done
NPID=
[ -e "$S/node.sock" ] && fail "daemon left node.sock"

# Not a store: refused, and nothing is created in it.
mkdir "$T/notastore"
echo precious >"$T/notastore/file"
"$NODE" --store "$T/notastore" >"$T/out" 2>"$T/err" && fail "served a non-store"
grep -q "not an eau2 store" "$T/err" || { cat "$T/err" >&2; fail "non-store message"; }
[ "$(ls "$T/notastore")" = file ] || fail "files created in a non-store"
echo "node_basic: ok"
