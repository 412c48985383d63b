#!/bin/sh
# SPDX-License-Identifier: MIT
# remote_hostile.sh - an eau2-node's remote service against peers that are
# wrong or hostile: a node with a secret refuses a client without one and
# one with another secret (exit 1, the error says which, the node logs
# the peer and the mismatch) and serves the right one ($EAU2_SECRET_FILE
# as the default --secret-file); a node without a secret refuses a
# non-loopback address; random bytes, a cut frame header and idle
# connections are dropped while the node goes on serving. Skipped (77)
# when eau2-node cannot --listen.
set -u

NAME=remote_hostile
. "$(dirname "$0")/lib/remote.sh"
BGPIDS=
RN_CLEANUP='for p in $BGPIDS; do kill -9 $p 2>/dev/null; done'
A=$T/a
N=$T/n
S=$N
command -v bash >/dev/null || { echo "$NAME: no bash for /dev/tcp: skipped"; exit 77; }

EA() { "$E2" --store "$A" "$@"; }

"$E2" gen mixed --out "$T/m.csv" --rows 100000 2>/dev/null || fail "gen"
EA load "$T/m.csv" --as m 2>/dev/null || fail "load"
EA export m "$T/m.a"
umask 077
printf 'the right secret\n' >"$T/secret"
printf 'another secret\n' >"$T/wrong"
umask 022

# Without a secret, only loopback.
"$NODE" --store "$T/n0" --listen 0.0.0.0:0 >"$T/out" 2>"$T/err" &
p=$!
BGPIDS="$BGPIDS $p"
i=0
while running $p; do
	i=$((i + 1))
	[ $i -gt 200 ] && fail "a node without a secret listened on 0.0.0.0"
	sleep 0.05
done
wait $p
[ $? = 1 ] || fail "--listen 0.0.0.0:0 without a secret did not exit 1"
err_has "secret"

rnode_start "$N" "$T/node.log" --secret-file "$T/secret"
ADDR=$RN_ADDR

# No secret, a wrong one, a missing file, an open mode: refused, named.
expect 1 EA push m "$ADDR"
err_has "$ADDR"
err_has "secret"
expect 1 EA --secret-file "$T/wrong" push m "$ADDR"
err_has "$ADDR"
err_has "secret mismatch"
grep -q "secret mismatch" "$T/node.log" || fail "the node did not log the mismatch"
grep "secret mismatch" "$T/node.log" | grep -q "127.0.0.1" || fail "the mismatch line names no peer"
expect 1 EA --secret-file "$T/nosuchfile" push m "$ADDR"
err_has "nosuchfile"
cp "$T/secret" "$T/open" && chmod 644 "$T/open"
expect 1 EA --secret-file "$T/open" push m "$ADDR"
err_has "mode"
"$E2" --store "$T/n" ls 2>/dev/null | grep -q '^m ' && fail "a refused push stored m"

# The right one, by option and by $EAU2_SECRET_FILE.
expect 0 EA --secret-file "$T/secret" push m "$ADDR"
EAU2_SECRET_FILE=$T/secret expect 0 EA pull "$ADDR" m --as m2
EA export m2 "$T/m2.a" && same "$T/m.a" "$T/m2.a" "pull with a secret"
EAU2_SECRET_FILE=$T/wrong expect 1 EA pull "$ADDR" m --as m3
EAU2_SECRET_FILE=$T/wrong expect 0 EA --secret-file "$T/secret" pull "$ADDR" m --as m3

# Garbage: random bytes, a frame header cut short, idle connections.
port=${ADDR##*:}
# garbage CMD [SECS]: CMD's output to the port, then hold it SECS (the
# process that holds it is the one started: killing it closes it).
garbage() {
	exec bash -c 'exec 3<>/dev/tcp/127.0.0.1/'"$port"' || exit 0
		'"$1"' >&3 2>/dev/null
		exec sleep '"${2:-0}"'' 2>/dev/null
}
for n in 1 2 3 4 5; do
	(garbage "head -c $((n * 70000)) /dev/urandom")
	(garbage "printf 'EAU2'")
	(garbage "head -c 63 /dev/zero")
	(garbage "printf '\\377\\377\\377\\377\\377\\377\\377\\377'")
done
# 50 connections that say nothing, held while others are served.
i=0
while [ $i -lt 50 ]; do
	(garbage ":" 30) &
	BGPIDS="$BGPIDS $!"
	i=$((i + 1))
done
sleep 0.5
running "$RN_PID" || fail "the node died of garbage"
t0=$(date +%s)
expect 0 EA --secret-file "$T/secret" pull "$ADDR" m --as m4
EA export m4 "$T/m4.a" && same "$T/m.a" "$T/m4.a" "pull next to idle peers"
[ $(($(date +%s) - t0)) -lt 20 ] || fail "a pull next to idle peers took over 20 s"
for p in $BGPIDS; do kill -9 "$p" 2>/dev/null; done
BGPIDS=
RN_CLEANUP='for p in $BGPIDS; do kill -9 $p 2>/dev/null; done'
grep -qi "drop\|refus\|disconnect" "$T/node.log" || fail "the node logged no dropped peer"
# Memory and descriptors bounded: the idle peers are gone.
sleep 0.5
fds=$(ls "/proc/$RN_PID/fd" | wc -l)
[ "$fds" -lt 60 ] || fail "the node holds $fds descriptors after its peers left"
expect 0 EA --secret-file "$T/secret" --remote "$ADDR" ls
grep -q '^m ' "$T/out" || fail "ls after garbage"
rnode_stop "$RN_PID"
echo "remote_hostile: ok"
