#!/bin/sh
# SPDX-License-Identifier: MIT
# remote_kill.sh - kill -9 of either side in the middle of a transfer, 20
# times (push and pull; the client killed, then the node killed and
# restarted on its store, at random points of the copy): every time the
# key on the receiving side holds its old dataframe or the whole new one,
# checksums verified; a client whose node dies exits 1 naming the peer;
# and at the end, after gc, neither store has leaked a file or a byte
# (same files, same du of the data directory as before). Skipped (77)
# when eau2-node cannot --listen.
set -u

NAME=remote_kill
. "$(dirname "$0")/lib/remote.sh"
CPID=
RN_CLEANUP='[ -n "$CPID" ] && kill -9 $CPID 2>/dev/null'
A=$T/a
N=$T/n
S=$N
SIZE=${SIZE:-120M}
[ -n "${EAU2_TEST_QUICK:-}" ] && SIZE=40M
ROUNDS=${ROUNDS:-20}

EA() { "$E2" --store "$A" "$@"; }
EN() { "$E2" --store "$N" "$@"; }
now() { date +%s.%N; }
# rows KEY STORE: the key's rows, every chunk's checksum verified
rows() {
	EAU2_VERIFY=1 "$E2" --store "$2" run count --input "$1" 2>"$T/verr" | sed -n 2p
}
# A random delay in [0.02, 1.1 * $1) seconds.
delay() {
	awk -v d="$1" -v s="$2" 'BEGIN { srand(s); printf "%.3f\n", 0.02 + rand() * 1.1 * d }'
}
# waits up to 60 s for the client $CPID; its exit status in $cst
wait_client() {
	i=0
	while running "$CPID"; do
		i=$((i + 1))
		[ $i -gt 1200 ] && fail "round $r: the client did not finish in 60 s"
		sleep 0.05
	done
	wait "$CPID"
	cst=$?
	CPID=
}
files() { ls "$1/data" | sort; }

"$E2" gen mixed --out "$T/big.csv" --size "$SIZE" --seed 7 2>/dev/null || fail "gen big"
"$E2" gen mixed --out "$T/old.csv" --rows 1000 --seed 8 2>/dev/null || fail "gen old"
EA load "$T/big.csv" --as big 2>/dev/null || fail "load big"
EA load "$T/old.csv" --as k 2>/dev/null || fail "load old"
rm -f "$T/big.csv"
ROWS_NEW=$(rows big "$A")
ROWS_OLD=$(rows k "$A")
[ -n "$ROWS_NEW" ] && [ -n "$ROWS_OLD" ] || fail "rows of big and k"
rnode_start "$N" "$T/node.log"
ADDR=$RN_ADDR
EA push k "$ADDR" 2>/dev/null || fail "push k"
EA push big "$ADDR" 2>/dev/null || fail "push big"
# The baseline: both stores as they are now, after gc.
EA ls >/dev/null && EN ls >/dev/null
files "$A" >"$T/files.a"
files "$N" >"$T/files.n"
KB_A=$(data_kb "$A")
KB_N=$(data_kb "$N")
t0=$(now)
EA push big "$ADDR" --as probe 2>/dev/null || fail "probe push"
DUR=$(awk -v a="$t0" -v b="$(now)" 'BEGIN { print b - a }')
EN rm probe
echo "$NAME: a push of $ROWS_NEW rows takes $DUR s"

# check_key STORE WHAT: the key k holds the old or the new dataframe
check_key() {
	got=$(rows k "$1")
	[ "$got" = "$ROWS_OLD" ] || [ "$got" = "$ROWS_NEW" ] || {
		cat "$T/verr" >&2
		fail "round $r ($2): k holds '$got' rows, want $ROWS_OLD or $ROWS_NEW"
	}
	echo "$got"
}

r=0
n_new=0
while [ $r -lt "$ROUNDS" ]; do
	d=$(delay "$DUR" "$r$$")
	# push or pull; the client killed (even rounds) or the node (odd)
	if [ $((r % 4)) -lt 2 ]; then
		set -- push big "$ADDR" --as k
		recv=$N
	else
		set -- pull "$ADDR" big --as k
		recv=$A
	fi
	EA "$@" 2>"$T/cerr" &
	CPID=$!
	sleep "$d"
	if [ $((r % 2)) = 0 ]; then
		what="$1, the client killed after $d s"
		kill -9 "$CPID" 2>/dev/null
		wait_client
	else
		what="$1, the node killed after $d s"
		rnode_kill "$RN_PID"
		wait_client
		if [ "$cst" != 0 ]; then
			[ "$cst" = 1 ] || fail "round $r: the client exited $cst when its node died"
			grep -q "${ADDR%:*}" "$T/cerr" || { cat "$T/cerr" >&2; fail "round $r: no peer named"; }
		fi
		rnode_start "$N" "$T/node.log"
		ADDR=$RN_ADDR
	fi
	got=$(check_key "$recv" "$what") || exit 1
	[ "$got" = "$ROWS_NEW" ] && n_new=$((n_new + 1))
	# Put the old value back on both sides for the next round.
	EA push k "$ADDR" --as k 2>/dev/null || true
	EA load "$T/old.csv" --as k 2>/dev/null || fail "reload k"
	EA push k "$ADDR" 2>/dev/null || fail "round $r: push k back"
	r=$((r + 1))
done
echo "$NAME: $ROUNDS rounds, $n_new completed before the kill"

# Both stores consistent and nothing leaked: the same files and space as
# before, once the leftovers of the killed writers are collected (opening
# a store collects them).
rnode_stop "$RN_PID"
[ "$(rows k "$N")" = "$ROWS_OLD" ] || fail "the node's k at the end"
[ "$(rows big "$N")" = "$ROWS_NEW" ] || fail "the node's big at the end"
EA ls >/dev/null && EN ls >/dev/null
EA export big "$T/big.a" && EN export big "$T/big.n" && same "$T/big.a" "$T/big.n" "big at the end"
files "$A" >"$T/files.a2"
files "$N" >"$T/files.n2"
# File names carry the dataframe ids: compare their count and shape.
[ "$(wc -l <"$T/files.a2")" = "$(wc -l <"$T/files.a")" ] ||
	{ diff "$T/files.a" "$T/files.a2" >&2; fail "this side's store has other files than before"; }
[ "$(wc -l <"$T/files.n2")" = "$(wc -l <"$T/files.n")" ] ||
	{ diff "$T/files.n" "$T/files.n2" >&2; fail "the node's store has other files than before"; }
kb_a=$(data_kb "$A")
kb_n=$(data_kb "$N")
# Within 1% + 64 KiB: k was rebuilt (same rows, its own segment sizes).
awk -v a="$KB_A" -v b="$kb_a" 'BEGIN { exit !(b <= a * 1.01 + 64) }' ||
	fail "this side's data grew from $KB_A to $kb_a KiB"
awk -v a="$KB_N" -v b="$kb_n" 'BEGIN { exit !(b <= a * 1.01 + 64) }' ||
	fail "the node's data grew from $KB_N to $kb_n KiB"
echo "remote_kill: ok"
