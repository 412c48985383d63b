#!/bin/sh
# SPDX-License-Identifier: MIT
# remote_big.sh - a dataframe over 2 GiB (all four types, nulls) pushed to
# an eau2-node on loopback and pulled back: `eau2 export` of this side,
# of the node's store and of the copy pulled back all bit-identical (compared by digest, streamed); the node's anonymous
# memory stays bounded (RssAnon sampled during both transfers, at most
# 256 MiB: the copy streams, nothing holds the dataframe). Not run under
# EAU2_TEST_QUICK (77), nor when the scratch space cannot hold ~8 GiB.
set -u

NAME=remote_big
if [ -n "${EAU2_TEST_QUICK:-}" ]; then
	echo "$NAME: EAU2_TEST_QUICK: skipped"
	exit 77
fi
# Three copies of 2.2 GiB and a CSV: tmpfs when it has room, else disk.
RN_BASE=/dev/shm
[ "$(df -Pk /dev/shm 2>/dev/null | awk 'NR == 2 { print $4 }')" -gt 9000000 ] 2>/dev/null ||
	RN_BASE=${TMPDIR:-/tmp}
. "$(dirname "$0")/lib/remote.sh"
[ "$(df -Pk "$T" | awk 'NR == 2 { print $4 }')" -gt 9000000 ] || {
	echo "$NAME: less than 9 GB free under $RN_BASE: skipped"
	exit 77
}
SAMPLER=
RN_CLEANUP='[ -n "$SAMPLER" ] && kill $SAMPLER 2>/dev/null'
A=$T/a
N=$T/n
S=$N
SIZE=${SIZE:-1900M}

EA() { "$E2" --store "$A" "$@"; }
digest() { "$@" | md5sum | cut -d' ' -f1; }
# Samples RssAnon (kB) of pid $1 into file $2 every 20 ms until killed.
sample() {
	while :; do
		sed -n 's/^RssAnon:[[:space:]]*\([0-9]*\).*/\1/p' "/proc/$1/status" 2>/dev/null
		sleep 0.02
	done >"$2"
}
peak() { sort -n "$1" | tail -n 1; }

"$E2" gen mixed --out "$T/big.csv" --size "$SIZE" 2>/dev/null || fail "gen"
EA load "$T/big.csv" --as big 2>/dev/null || fail "load"
rm -f "$T/big.csv"
bytes=$(EA ls | awk '$1 == "big" { print $4 }')
[ "$bytes" -gt 2147483648 ] || fail "big is $bytes bytes, not over 2 GiB"
d0=$(digest EA export big -)

rnode_start "$N" "$T/node.log"
ADDR=$RN_ADDR
sample "$RN_PID" "$T/rss.push" &
SAMPLER=$!
expect 0 EA push big "$ADDR"
kill $SAMPLER
SAMPLER=
cat "$T/err"
sample "$RN_PID" "$T/rss.pull" &
SAMPLER=$!
expect 0 EA pull "$ADDR" big --as back
kill $SAMPLER
SAMPLER=
cat "$T/err"
# Both exports at once (each is one core's work).
digest "$E2" --store "$N" export big - >"$T/d1" &
dp=$!
digest EA export back - >"$T/d2"
wait $dp
[ "$d0" = "$(cat "$T/d1")" ] || fail "the node's big differs"
[ "$d0" = "$(cat "$T/d2")" ] || fail "the copy pulled back differs"
EA rm big
EA rm back
p1=$(peak "$T/rss.push")
p2=$(peak "$T/rss.pull")
echo "$NAME: $bytes bytes; node RssAnon peak: push $p1 kB, pull $p2 kB"
[ "${p1:-0}" -gt 0 ] && [ "$p1" -le 262144 ] || fail "node RssAnon during the push: $p1 kB"
[ "${p2:-0}" -gt 0 ] && [ "$p2" -le 262144 ] || fail "node RssAnon during the pull: $p2 kB"
rnode_stop "$RN_PID"
echo "remote_big: ok"
