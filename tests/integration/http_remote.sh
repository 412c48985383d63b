#!/bin/sh
# SPDX-License-Identifier: MIT
# http_remote.sh - /metrics and /api/status of a node that also serves
# other hosts (--listen): eau2_remote_listening is 1, and remote
# connections and requests are counted once a remote client has come
# (eau2 --remote ls), and the bytes they sent; a node without --listen
# says 0. Skipped (77) where
# eau2-node cannot --listen, or without curl.
set -u

NAME=http_remote
. "$(dirname "$0")/lib/remote.sh"
command -v curl >/dev/null 2>&1 || { echo "$NAME: no curl: skipped"; exit 77; }

metric() { awk -v n="$1" '$1 == n { print $2 }' "$T/metrics"; }
scrape() {
	sleep 0.6 # past the snapshot's reuse time
	curl -s -f -m 10 -o "$T/metrics" "http://127.0.0.1:$HP/metrics" || fail "scrape"
}
http_port() {
	sed -n 's/.*http: serving on 127\.0\.0\.1:\([0-9][0-9]*\) .*/\1/p' "$1" | tail -1
}

rnode_start "$T/s1" "$T/n1.log" --http 127.0.0.1:0
HP=$(http_port "$T/n1.log")
[ -n "$HP" ] || fail "no http port in the log"
scrape
[ "$(metric eau2_remote_listening)" = 1 ] || fail "listening: $(metric eau2_remote_listening)"
[ "$(metric eau2_remote_accepted_total)" = 0 ] || fail "accepted before any client"
"$E2" --store "$T/c" --remote "$RN_ADDR" ls >/dev/null 2>"$T/err" || fail "remote ls: $(cat "$T/err")"
"$E2" --store "$T/c" --remote "$RN_ADDR" ls >/dev/null 2>"$T/err" || fail "remote ls: $(cat "$T/err")"
scrape
[ "$(metric eau2_remote_accepted_total)" -ge 2 ] || fail "accepted: $(metric eau2_remote_accepted_total)"
[ "$(metric eau2_remote_requests_total)" -ge 2 ] || fail "requests: $(metric eau2_remote_requests_total)"
# What the node's network thread reads counts too (the handshake, a
# request read ahead of its worker): two ls are nothing else.
recv=$(metric eau2_net_received_bytes_total)
[ "${recv:-0}" -gt 0 ] || fail "received bytes after two remote ls: ${recv:-none}"
curl -s -f -m 10 "http://127.0.0.1:$HP/api/status" | grep -q '"remote":{"listening":true' ||
	fail "/api/status lacks the remote service"
rnode_stop "$RN_PID"

"$NODE" --store "$T/s2" --http 127.0.0.1:0 2>>"$T/n2.log" &
NPID=$!
RN_PIDS="$RN_PIDS $NPID"
S=$T/s2
wait_node
HP=$(http_port "$T/n2.log")
scrape
[ "$(metric eau2_remote_listening)" = 0 ] || fail "listening without --listen"
rnode_stop "$NPID"
echo "$NAME: ok"
