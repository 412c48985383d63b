#!/bin/sh
# SPDX-License-Identifier: MIT
# node_nospace.sh - space, with a node serving the store: a store that
# fills up makes one client's load fail cleanly with "store is full" (no
# key, its space given back) while the other clients' reads go on and the
# node keeps serving; a deleted key held by a client keeps its space until
# that client is SIGKILLed, and then the space comes back.
# Runs in a private mount namespace on a 48 MiB tmpfs; skipped (77) when
# the namespace or the mount is not allowed, or eau2-node is not built.
set -u

NAME=node_nospace
. "$(dirname "$0")/lib/node.sh"

if [ "${NODE_NOSPACE_INNER:-}" != 1 ]; then
	command -v unshare >/dev/null || { echo "node_nospace: no unshare: skipped"; exit 77; }
	T=$(mktemp -d "${TMPDIR:-/tmp}/eau2-node-nospace-XXXXXX") || exit 1
	NODE_NOSPACE_INNER=1 NODE_NOSPACE_DIR=$T unshare -m sh "$0"
	rc=$?
	rm -rf "$T"
	exit $rc
fi

T=$NODE_NOSPACE_DIR
mkdir -p "$T/small"
mount --make-rprivate / 2>/dev/null
mount -t tmpfs -o size=48m,mode=0700 tmpfs "$T/small" 2>/dev/null ||
	{ echo "node_nospace: cannot mount a tmpfs: skipped"; exit 77; }
S=$T/small/store
NPID=
cleanup() {
	[ -n "$NPID" ] && kill -9 "$NPID" 2>/dev/null
	umount "$T/small" 2>/dev/null
}
trap cleanup EXIT

"$E2" gen mixed --out "$T/m.csv" --rows 20000 2>/dev/null || fail "gen"
"$E2" gen mixed --out "$T/huge.csv" --size 150M 2>/dev/null || fail "gen"
E load "$T/m.csv" --as m 2>/dev/null || fail "load m"
E run count --input m >"$T/count.want" || fail "count"
E export m - >"$T/export.want" || fail "export"
"$NODE" --store "$S" 2>"$T/node.log" &
NPID=$!
wait_node
used0=$(df -k "$T/small" | awk 'NR == 2 { print $3 }')

: >"$T/failures"
# Readers that write nothing to the store (a rower's result is a
# dataframe in the store, so it needs space too).
reader() {
	while [ ! -f "$T/stop" ]; do
		if E export m - >"$T/r$1.out" 2>"$T/r$1.err"; then
			cmp -s "$T/r$1.out" "$T/export.want" || echo "reader $1 differs" >>"$T/failures"
		else
			echo "reader $1 failed: $(cat "$T/r$1.err")" >>"$T/failures"
		fi
	done
}
reader 1 &
R1=$!
reader 2 &
R2=$!
E load "$T/huge.csv" --as huge >"$T/out" 2>"$T/err" && fail "loading 150 MB into 48 MiB succeeded"
touch "$T/stop"
wait $R1 $R2
grep -q "store is full" "$T/err" || { cat "$T/err" >&2; fail "load failure does not say the store is full"; }
[ -s "$T/failures" ] && { cat "$T/failures" >&2; fail "readers failed while the store was full"; }
E ls | grep -q '^huge' && fail "the failed load left a key"
used1=$(df -k "$T/small" | awk 'NR == 2 { print $3 }')
[ "$used1" -le $((used0 + 1024)) ] || fail "the failed load kept $((used1 - used0)) kB"
# The node goes on: status, gets, and a load that fits.
"$NODE" status --store "$S" >/dev/null || fail "status after the full store"
E load "$T/m.csv" --as m2 2>/dev/null || fail "a load that fits"
E run count --input m2 >"$T/out" && cmp -s "$T/out" "$T/count.want" || fail "count m2"
# A deleted key's space comes back when its last holder goes: held by a
# client (export into a pipe nobody reads), deleted, then the holder killed.
E rm m2 || fail "rm m2"
"$E2" gen mixed --out "$T/big.csv" --size 12M 2>/dev/null || fail "gen big"
E load "$T/big.csv" --as big 2>/dev/null || fail "load big"
bid=$(cat "$S/keys/big")
used_before=$(df -k "$T/small" | awk 'NR == 2 { print $3 }')
E export big - 2>/dev/null | sleep 300 &
SLEEPER=$!
i=0
until "$NODE" status --store "$S" | grep -q "^id $bid 1 1 keyed"; do
	i=$((i + 1))
	[ $i -gt 200 ] && fail "holder of big not counted"
	sleep 0.05
done
E rm big || fail "rm big"
# Polled, and its lines printed if it never comes: once, in a CI run on
# busy cores, one status right after the rm did not show it.
i=0
until "$NODE" status --store "$S" | grep -q "^id $bid 1 1 deleted"; do
	i=$((i + 1))
	if [ $i -gt 200 ]; then
		"$NODE" status --store "$S" | grep "^id " >&2
		kill "$SLEEPER" 2>/dev/null
		fail "big not shown deleted"
	fi
	sleep 0.05
done
used_held=$(df -k "$T/small" | awk 'NR == 2 { print $3 }')
[ "$used_held" -ge $((used_before - 1024)) ] || fail "space of a held dataframe freed early"
kill -9 $(pgrep -f "eau2 --store $S export big -")
kill "$SLEEPER"
i=0
until ! "$NODE" status --store "$S" | grep -q "^id $bid"; do
	i=$((i + 1))
	[ $i -gt 200 ] && fail "holder of big still counted"
	sleep 0.05
done
used_free=$(df -k "$T/small" | awk 'NR == 2 { print $3 }')
[ "$used_free" -le $((used_held - 4096)) ] ||
	fail "space not returned after the last holder died ($used_held kB -> $used_free kB)"
kill -TERM "$NPID"
wait "$NPID" || fail "node exit status"
NPID=
echo "node_nospace: ok (freed $((used_held - used_free)) kB when the last holder died)"
