#!/bin/sh
# SPDX-License-Identifier: MIT
# node_stopped.sh - a stopped node (SIGSTOP) costs its clients a bounded
# wait, never a hang: `eau2 ls` answers within 2 s from the store's files
# with one warning naming the node's pid; 150 concurrent commands, more
# than the node's listen backlog holds, all finish with the right answer;
# resumed (SIGCONT), the node serves again. Skipped (77) when eau2-node is
# not built.
set -u

NAME=node_stopped
. "$(dirname "$0")/lib/node.sh"
command -v timeout >/dev/null 2>&1 || { echo "$NAME: needs timeout(1): skipped"; exit 77; }
base=/dev/shm
[ -d "$base" ] && [ -w "$base" ] || base=${TMPDIR:-/tmp}
T=$(mktemp -d "$base/eau2-node-stopped-XXXXXX") || exit 1
S=$T/store
NPID=
cleanup() {
	[ -n "$NPID" ] && { kill -CONT "$NPID"; kill -9 "$NPID"; } 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
ms() { echo $(($(date +%s%N) / 1000000)); }

printf 'a,b\n1,x\n2,y\n3,z\n' >"$T/in.csv"
E load "$T/in.csv" --as k 2>/dev/null || fail "load"
E ls >"$T/ls.want" || fail "ls"
"$NODE" --store "$S" 2>>"$T/node.log" &
NPID=$!
wait_node
E describe k >"$T/describe.want" 2>"$T/err" || fail "describe through the node"
[ -s "$T/err" ] && { cat "$T/err" >&2; fail "describe through a live node warned"; }

kill -STOP "$NPID"
t0=$(ms)
timeout 20 "$E2" --store "$S" ls >"$T/out" 2>"$T/err" || { cat "$T/err" >&2; fail "ls with the node stopped failed or hung"; }
dt=$(($(ms) - t0))
[ "$dt" -lt 2000 ] || fail "ls took $dt ms with the node stopped"
cmp -s "$T/out" "$T/ls.want" || fail "ls with the node stopped answered wrong"
[ "$(wc -l <"$T/err")" -eq 1 ] && grep -q "warning: eau2-node (pid $NPID) .* did not answer" "$T/err" ||
	{ cat "$T/err" >&2; fail "want one warning naming the node's pid $NPID"; }

# More clients than the listen backlog (128) holds, all at once.
t0=$(ms)
i=0
pids=
while [ $i -lt 150 ]; do
	(timeout 30 "$E2" --store "$S" describe k >"$T/c$i.out" 2>"$T/c$i.err"; echo $? >"$T/c$i.rc") &
	pids="$pids $!"
	i=$((i + 1))
done
# shellcheck disable=SC2086
wait $pids # not the stopped node
dt=$(($(ms) - t0))
i=0
while [ $i -lt 150 ]; do
	[ "$(cat "$T/c$i.rc")" = 0 ] || { cat "$T/c$i.err" >&2; fail "client $i of 150 exited $(cat "$T/c$i.rc") (124: hung)"; }
	cmp -s "$T/c$i.out" "$T/describe.want" || fail "client $i of 150 answered wrong"
	i=$((i + 1))
done
echo "$NAME: 150 clients against a stopped node took $dt ms"

kill -CONT "$NPID"
wait_node
E describe k >"$T/out" 2>"$T/err" || fail "describe after SIGCONT"
cmp -s "$T/out" "$T/describe.want" || fail "describe after SIGCONT answered wrong"
kill "$NPID"
wait "$NPID"
NPID=
exit 0
