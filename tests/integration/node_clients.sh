#!/bin/sh
# SPDX-License-Identifier: MIT
# node_clients.sh - eau2-node under load, with real processes: 8 clients
# run rowers in loops (results checked against embedded mode) while a
# writer loads new keys and replaces one; clients holding dataframes are
# SIGKILLed and the node's reference counts (eau2-node status) drop to
# what the survivors hold; a deleted key held by clients shows as deleted
# until they go; the node is SIGKILLed and restarted under load and the
# clients carry on (embedded meanwhile, then re-attached). Skipped (77)
# when eau2-node is not built.
set -u

NAME=node_clients
. "$(dirname "$0")/lib/node.sh"
base=/dev/shm
[ -d "$base" ] && [ -w "$base" ] || base=${TMPDIR:-/tmp}
T=$(mktemp -d "$base/eau2-node-clients-XXXXXX") || exit 1
S=$T/store
NPID=
PIDS=
cleanup() {
	for p in $PIDS $NPID ${SLEEPERS:-}; do kill -9 "$p" 2>/dev/null; done
	wait 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
ROUNDS=${EAU2_TEST_QUICK:+4}
ROUNDS=${ROUNDS:-12}

start_node() {
	"$NODE" --store "$S" --quiet 2>>"$T/node.log" &
	NPID=$!
	wait_node
}
status() { "$NODE" status --store "$S" >"$T/status" || fail "status"; }
# refs ID: references the node counts to ID (0 when not held).
refs() { awk -v id="$1" '$1 == "id" && $2 == id { print $3; f = 1 } END { if (!f) print 0 }' "$T/status"; }
# Waits until status shows N client connections (plus status's own).
wait_conns() {
	i=0
	while :; do
		status
		[ "$(grep -c '^conn ' "$T/status")" = $(($1 + 1)) ] && return 0
		i=$((i + 1))
		[ $i -gt 200 ] && { cat "$T/status" >&2; fail "want $1 client connections"; }
		sleep 0.05
	done
}
# The id a key names, from the catalog file.
key_id() { cat "$S/keys/$1"; }

"$E2" gen mixed --out "$T/m.csv" --rows 300000 2>/dev/null || fail "gen"
"$E2" gen mixed --out "$T/w.csv" --rows 20000 --seed 7 2>/dev/null || fail "gen"
E load "$T/m.csv" --as m 2>/dev/null || fail "load"
E load "$T/w.csv" --as w 2>/dev/null || fail "load"
EAU2_NODE=0 E run sum --input m --arg columns=id,qty,price >"$T/sum.want" || fail "sum"
EAU2_NODE=0 E run groupby --input m --arg by=flag --arg agg=count,mean:price >"$T/gb.want" || fail "groupby"
EAU2_NODE=0 E run count --input w >"$T/w.want" || fail "count"
start_node

# --- holders SIGKILLed: counts follow ------------------------------------
# `export KEY -` into a pipe nobody reads blocks mid-write holding KEY.
mid=$(key_id m)
SLEEPERS=
for i in 1 2 3; do
	E export m - 2>/dev/null | sleep 300 &
	SLEEPERS="$SLEEPERS $!"
done
sleep 0.2
i=0
while :; do
	status
	[ "$(refs "$mid")" = 3 ] && break
	i=$((i + 1))
	[ $i -gt 200 ] && { cat "$T/status" >&2; fail "3 holders of m not counted"; }
	sleep 0.05
done
grep -q "^id $mid 3 3 keyed\$" "$T/status" || { cat "$T/status" >&2; fail "status line of m"; }
holders=$(pgrep -f "eau2 --store $S export m -" || true)
[ "$(echo "$holders" | wc -w)" = 3 ] || fail "want 3 export processes, got '$holders'"
set -- $holders
kill -9 "$1" "$2"
wait_conns 1
status
[ "$(refs "$mid")" = 1 ] || { cat "$T/status" >&2; fail "refs of m after 2 SIGKILLs"; }
# Deleting a held key: shown as deleted until its holder goes.
E load "$T/w.csv" --as doomed 2>/dev/null || fail "load doomed"
did=$(key_id doomed)
E export doomed - 2>/dev/null | sleep 300 &
SLEEPERS="$SLEEPERS $!"
i=0
while :; do
	status
	[ "$(refs "$did")" = 1 ] && break
	i=$((i + 1))
	[ $i -gt 200 ] && fail "holder of doomed not counted"
	sleep 0.05
done
E rm doomed || fail "rm doomed"
status
grep -q "^id $did 1 1 deleted\$" "$T/status" || { cat "$T/status" >&2; fail "doomed not shown deleted"; }
ls "$S/data" | grep -q "^$did" && fail "doomed's files still in data/"
kill -9 "$3" $(pgrep -f "eau2 --store $S export doomed -")
wait_conns 0
status
grep -q '^id ' "$T/status" && { cat "$T/status" >&2; fail "ids still held after all holders died"; }
kill $SLEEPERS

# --- 8 clients, one writer, kills, node restart ---------------------------
client() { # client N: rounds of three rowers, checked, until told to stop
	n=0
	while [ $n -lt "$ROUNDS" ] || [ ! -f "$T/stop" ]; do
		check $1 sum run sum --input m --arg columns=id,qty,price
		check $1 gb run groupby --input m --arg by=flag --arg agg=count,mean:price
		check $1 w run count --input w
		n=$((n + 1))
	done
	echo "$n" >"$T/c$1.done"
}
# check N WANT CMD...: runs CMD, compares its output with $T/WANT.want.
check() {
	c=$1 want=$2
	shift 2
	if E "$@" >"$T/c$c.out" 2>"$T/c$c.err"; then
		cmp -s "$T/c$c.out" "$T/$want.want" ||
			echo "client $c: $* differs" >>"$T/failures"
	else
		echo "client $c: $* failed: $(cat "$T/c$c.err")" >>"$T/failures"
	fi
}
writer() {
	n=0
	while [ ! -f "$T/stop" ]; do
		n=$((n + 1))
		E load "$T/w.csv" --as "new$n" 2>/dev/null || echo "writer: load new$n failed" >>"$T/failures"
		E load "$T/w.csv" --as w 2>/dev/null || echo "writer: replace w failed" >>"$T/failures"
	done
	echo "$n" >"$T/writer.done"
}
: >"$T/failures"
for c in 1 2 3 4 5 6 7 8; do
	client $c &
	PIDS="$PIDS $!"
done
writer &
WPID=$!
sleep 0.5
# SIGKILL whatever eau2 processes two clients are running right now.
killed=0
while [ $killed -lt 2 ]; do
	for c in $(pgrep -f "eau2 --store $S run" | head -1); do
		kill -9 "$c" 2>/dev/null && killed=$((killed + 1))
	done
done
sleep 0.3
# Kill the node under load, let the clients run embedded, restart it.
kill -9 "$NPID"
wait "$NPID" 2>/dev/null
sleep 0.5
echo "--- restarted" >>"$T/node.log"
"$NODE" --store "$S" 2>>"$T/node.log" &
NPID=$!
wait_node
sleep 1
touch "$T/stop"
for p in $PIDS; do wait "$p"; done
PIDS=
wait "$WPID"
# Clients came back to the new node.
back=$(sed -n '/^--- restarted/,$p' "$T/node.log" | grep -c ': connect')
[ "$back" -ge 8 ] || fail "only $back connections to the restarted node"
done_clients=$(ls "$T"/c*.done 2>/dev/null | wc -l)
# The two commands SIGKILLed fail; everything else must have succeeded,
# with the right results, whether it went through a node or not.
if [ "$(grep -c failed "$T/failures")" -gt 2 ] || grep -q differs "$T/failures"; then
	cat "$T/failures" >&2
	fail "client failures"
fi
[ "$done_clients" = 8 ] || fail "only $done_clients clients finished"
rounds=$(cat "$T"/c*.done | awk '{ s += $1 } END { print s }')
# Every key the writer made is there and right.
n=$(cat "$T/writer.done")
[ "$n" -ge 1 ] || fail "the writer made no key"
E run count --input "new$n" >"$T/out" || fail "count new$n"
cmp -s "$T/out" "$T/w.want" || fail "new$n differs"
[ "$(E ls | wc -l)" = $((n + 2)) ] || { E ls >&2; fail "want $((n + 2)) keys"; }
# All clients gone: nothing held, no connection but status's own.
wait_conns 0
status
grep -q '^id ' "$T/status" && { cat "$T/status" >&2; fail "ids held after the run"; }
# No leftovers in data/: one descriptor per key.
ndf=$(ls "$S/data" | grep -c '\.df$')
[ "$ndf" = $((n + 2)) ] || fail "data/ holds $ndf descriptors for $((n + 2)) keys"
kill -TERM "$NPID"
wait "$NPID" || fail "node exit status"
NPID=
grep -q 'bad request' "$T/node.log" && { cat "$T/node.log" >&2; fail "bad requests in the node log"; }
echo "node_clients: ok ($rounds rounds of 3 rowers by 8 clients, writer made $n keys)"
