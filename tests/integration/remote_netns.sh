#!/bin/sh
# SPDX-License-Identifier: MIT
# remote_netns.sh - two eau2-nodes in two network namespaces joined by a
# veth pair (10.x addresses made here, removed on exit), each with the
# cluster secret, each listening on its non-loopback address: a dataframe
# of every type pushed from one namespace to the other's node, pushed on
# from there to the first one's node, and pulled back, bit-identical by
# `eau2 export` at every step; a run on the far node equals the local run;
# a peer without the secret is refused. Skipped (77) when network
# namespaces cannot be made (not root, no ip, no veth).
set -u

NAME=remote_netns
. "$(dirname "$0")/lib/remote.sh"
command -v ip >/dev/null || { echo "$NAME: no ip command: skipped"; exit 77; }
NSA=eau2a$$
NSB=eau2b$$
VA=e2a$$
VB=e2b$$
NET=10.$((200 + $$ % 50)).$(($$ / 50 % 250))
RN_CLEANUP='ip netns del $NSA 2>/dev/null; ip netns del $NSB 2>/dev/null'
if ! ip netns add "$NSA" 2>"$T/err" || ! ip netns add "$NSB" 2>>"$T/err" ||
	! ip link add "$VA" type veth peer name "$VB" 2>>"$T/err"; then
	echo "$NAME: cannot make network namespaces ($(head -n 1 "$T/err")): skipped"
	exit 77
fi
ip link set "$VA" netns "$NSA" && ip link set "$VB" netns "$NSB" &&
	ip -n "$NSA" addr add "$NET.1/24" dev "$VA" &&
	ip -n "$NSB" addr add "$NET.2/24" dev "$VB" &&
	ip -n "$NSA" link set "$VA" up && ip -n "$NSB" link set "$VB" up &&
	ip -n "$NSA" link set lo up && ip -n "$NSB" link set lo up ||
	fail "setting up the veth pair"
ip netns exec "$NSA" ping -c 1 -W 5 "$NET.2" >/dev/null 2>&1 ||
	echo "$NAME: (ping across the veth failed; trying eau2 anyway)"

umask 077
printf 'netns secret %s\n' "$$" >"$T/secret"
umask 022
# nodes: A in $NSA on $NET.1, B in $NSB on $NET.2
start_in() { # NS STORE IP LOG
	ns=$1
	st=$2
	rn_log=$4
	touch "$rn_log"
	ip netns exec "$ns" "$NODE" --store "$st" --listen "$3:0" \
		--secret-file "$T/secret" 2>>"$rn_log" &
	RN_PID=$!
	RN_PIDS="$RN_PIDS $RN_PID"
	i=0
	while ! grep -q "listening on" "$rn_log"; do
		running "$RN_PID" || { cat "$rn_log" >&2; fail "node in $ns exited"; }
		i=$((i + 1))
		[ $i -gt 600 ] && fail "node in $ns did not listen in 30 s"
		sleep 0.05
	done
	port=$(sed -n -e 's/.*listening on [0-9.]*:0, port \([0-9]*\).*/\1/p' \
		-e 's/.*listening on [0-9.]*:\([1-9][0-9]*\).*/\1/p' "$rn_log" | head -n 1)
	RN_ADDR=$3:$port
}
S=$T/na
start_in "$NSA" "$T/na" "$NET.1" "$T/node.log"
ADDR_A=$RN_ADDR
start_in "$NSB" "$T/nb" "$NET.2" "$T/nodeb.log"
ADDR_B=$RN_ADDR
# clients: ca in $NSA, cb in $NSB, each with its own store
CA() { ip netns exec "$NSA" "$E2" --store "$T/ca" --secret-file "$T/secret" "$@"; }
CB() { ip netns exec "$NSB" "$E2" --store "$T/cb" --secret-file "$T/secret" "$@"; }

mk_types_csv "$T/t.csv" 100000
CA load "$T/t.csv" --as t --schema "$TYPES_SCHEMA" 2>/dev/null || fail "load"
CA export t "$T/t.0"

# A's client -> node B; B's client pulls it, pushes it to node A; A pulls.
expect 0 CA push t "$ADDR_B"
"$E2" --store "$T/nb" export t "$T/t.1" && same "$T/t.0" "$T/t.1" "push across the veth"
expect 0 CB pull "$ADDR_B" t --as t
expect 0 CB push t "$ADDR_A" --as t2
"$E2" --store "$T/na" export t2 "$T/t.2" && same "$T/t.0" "$T/t.2" "push back across"
expect 0 CA --remote "$ADDR_B" export t "$T/t.3"
same "$T/t.0" "$T/t.3" "--remote export across"
grep -q "$NET.1" "$T/nodeb.log" || fail "node B did not log peer $NET.1"

# A run on the far node equals the local one.
q="groupby --input t --arg by=b --arg agg=count,sum:i,mean:d"
# shellcheck disable=SC2086
CA --remote "$ADDR_B" run $q >"$T/run.r" 2>"$T/err" || { cat "$T/err" >&2; fail "remote run"; }
# shellcheck disable=SC2086
CA run $q >"$T/run.l" 2>/dev/null
same "$T/run.l" "$T/run.r" "remote run"

# Without the secret: refused, and the far node says whom it refused.
expect 1 ip netns exec "$NSA" "$E2" --store "$T/ca" push t "$ADDR_B"
err_has "$ADDR_B"
grep -q "secret" "$T/nodeb.log" || fail "node B did not log the refusal"
echo "remote_netns: ok"
