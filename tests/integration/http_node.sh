#!/bin/sh
# SPDX-License-Identifier: MIT
# http_node.sh - eau2-node --http with a real node on an ephemeral port:
# /metrics passes a format check (promtool when installed, and a small
# validator here: every sample has a TYPE before it, names and values
# parse) and its numbers move after a load; / and its files serve the
# dashboard; /api/status is JSON; `eau2 status` agrees; unknown paths 404; other methods 405;
# a huge header and a huge URL are refused and the node still serves;
# 200 idle connections do not stop a scrape and are closed after the
# idle timeout, past 256 from one address the excess is refused while
# another address still scrapes, clients that close after half a request
# free their slots at once (needs python3, else that part is
# skipped); a non-loopback
# address without a secret is refused at start; with a secret, no token
# or a wrong one is 401, the right one (bearer, or a browser's basic
# password) 200. Skipped (77) without eau2-node or curl.
set -u

NAME=http_node
. "$(dirname "$0")/lib/node.sh"
command -v curl >/dev/null 2>&1 || { echo "$NAME: no curl: skipped"; exit 77; }
base=/dev/shm
[ -d "$base" ] && [ -w "$base" ] || base=${TMPDIR:-/tmp}
T=$(mktemp -d "$base/eau2-http-XXXXXX") || exit 1
S=$T/store
NPID=
N2=
cleanup() {
	for p in $NPID $N2; do kill -9 "$p" 2>/dev/null; done
	wait 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# http_port LOG: the port the node logged it serves HTTP on.
http_port() {
	i=0
	while :; do
		p=$(sed -n 's/.*http: serving on .*:\([0-9][0-9]*\) .*/\1/p' "$1" | tail -1)
		[ -n "$p" ] && { echo "$p"; return 0; }
		i=$((i + 1))
		[ $i -gt 600 ] && return 1
		sleep 0.05
	done
}
# get PATH [CURL ARGS...]: body to $T/body, prints the status code.
get() {
	path=$1
	shift
	curl -s -m 10 -o "$T/body" -w '%{http_code}' "$@" "http://127.0.0.1:$PORT$path"
}
# metric NAME: the value of the sample NAME (exact, labels included).
metric() { awk -v n="$1" '$1 == n { print $2 }' "$T/metrics"; }
scrape() {
	[ "$(get /metrics)" = 200 ] || fail "/metrics: not 200"
	cp "$T/body" "$T/metrics"
}
# The exposition format, as far as a scraper needs it.
validate() {
	awk '
	/^# TYPE / { type[$3] = $4; next }
	/^# HELP / { help[$3] = 1; next }
	/^#/ || /^$/ { next }
	{
		name = $1
		sub(/\{.*/, "", name)
		if (name !~ /^[a-zA-Z_:][a-zA-Z0-9_:]*$/) { print "bad name: " $0; bad = 1 }
		base = name
		sub(/_(bucket|sum|count)$/, "", base)
		if (!(name in type) && !(base in type)) { print "no TYPE before: " $0; bad = 1 }
		if (name ~ /^eau2_/ && !(name in help) && !(base in help)) { print "no HELP: " $0; bad = 1 }
		v = $NF
		if (v !~ /^[-+]?([0-9]+(\.[0-9]*)?([eE][-+]?[0-9]+)?|\.[0-9]+|NaN|[-+]?Inf)$/) {
			print "bad value: " $0; bad = 1
		}
		n++
	}
	END { if (!n) { print "no samples"; bad = 1 } exit bad }' "$1"
}

"$NODE" --store "$S" --http 127.0.0.1:0 2>>"$T/node.log" &
NPID=$!
wait_node
PORT=$(http_port "$T/node.log") || fail "no 'http: serving on' line in the log"

# /metrics: the format, promtool's lint, the families the issue lists.
scrape
validate "$T/metrics" || fail "/metrics is not valid exposition format"
if command -v promtool >/dev/null 2>&1; then
	promtool check metrics <"$T/metrics" || fail "promtool check metrics"
else
	echo "$NAME: promtool not installed: only the local validator ran"
fi
for f in eau2_store_used_bytes eau2_store_free_bytes eau2_store_keys eau2_store_dataframes \
	eau2_store_segments eau2_clients eau2_runs_running eau2_runs_finished_total \
	eau2_run_duration_seconds eau2_net_peer_sent_bytes_total eau2_net_compression_ratio \
	eau2_heartbeats_total eau2_nodes eau2_partitions eau2_partitions_under_replicated \
	eau2_load_bytes_total; do
	grep -q "^# TYPE $f " "$T/metrics" || fail "/metrics lacks the family $f"
done
grep -q '^eau2_run_duration_seconds_bucket{rower="count",le="+Inf"} 0$' "$T/metrics" ||
	fail "no per-rower histogram for the built-in count"
[ "$(metric eau2_store_keys)" = 0 ] || fail "keys before a load: $(metric eau2_store_keys)"
[ "$(metric eau2_load_bytes_total)" = 0 ] || fail "load bytes before a load"

# Numbers move after a load.
"$E2" gen mixed --out "$T/m.csv" --rows 50000 2>/dev/null || fail "gen"
E load "$T/m.csv" --as m 2>/dev/null || fail "load"
E load "$T/m.csv" --as m2 2>/dev/null || fail "load"
sleep 0.6 # past the snapshot's reuse time
scrape
validate "$T/metrics" || fail "/metrics invalid after a load"
[ "$(metric eau2_store_keys)" = 2 ] || fail "keys after two loads: $(metric eau2_store_keys)"
[ "$(metric eau2_store_dataframes)" = 2 ] || fail "dataframes: $(metric eau2_store_dataframes)"
[ "$(metric eau2_store_segments)" -ge 2 ] || fail "segments: $(metric eau2_store_segments)"
[ "$(metric eau2_store_used_bytes)" -gt 1000000 ] || fail "used bytes: $(metric eau2_store_used_bytes)"
[ "$(metric eau2_load_bytes_total)" -gt 1000000 ] || fail "load bytes: $(metric eau2_load_bytes_total)"
[ "$(metric eau2_node_gets_total)" = 0 ] || fail "gets before any get"
E head m >/dev/null || fail "head" # a get through the node (runs go as RUN)
sleep 0.6
scrape
[ "$(metric eau2_node_gets_total)" -ge 1 ] || fail "a get through the node is not counted"
[ "$(metric eau2_client_connections_total)" -ge 3 ] || fail "client connections not counted"
# A warm run (eau2 run sends it to the node) is counted, with its progress.
[ "$(metric eau2_runs_finished_total)" = 0 ] || fail "runs before any run"
E run count --input m >/dev/null || fail "run count"
sleep 0.6
scrape
[ "$(metric eau2_runs_finished_total)" = 1 ] ||
	fail "a warm run is not counted: $(metric eau2_runs_finished_total)"
if command -v python3 >/dev/null 2>&1; then
	[ "$(get /api/status)" = 200 ] || fail "/api/status"
	python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))["runs"]["items"][0]
assert (r["rower"], r["input"], r["peer"], r["state"]) == ("count", "m", "local", "done"), r
assert r["rows"] == 50000 and r["rows_done"] == 50000 and r["progress"] == 1.0, r' "$T/body" ||
		fail "/api/status: the warm run: $(head -c 600 "$T/body")"
fi

# eau2 status: the same numbers from the command line.
E status --keys >"$T/status" || fail "eau2 status"
grep -q '^node        running, pid '"$NPID"'$' "$T/status" || fail "eau2 status: $(cat "$T/status")"
grep -q '^keys        2 (2 dataframes, 0 unkeyed, ' "$T/status" || fail "eau2 status: keys"
grep -q '^clients     0 attached$' "$T/status" || fail "eau2 status: clients"
grep -q '^key         m2 ' "$T/status" || fail "eau2 status --keys"

# /api/status and the dashboard.
[ "$(get /api/status)" = 200 ] || fail "/api/status"
grep -q '"keys":2' "$T/body" || fail "/api/status: $(head -c 300 "$T/body")"
grep -q '"key":"m2"' "$T/body" || fail "/api/status lists no key m2"
if command -v python3 >/dev/null 2>&1; then
	python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); assert j["nodes"][0]["state"] == "alive"' \
		"$T/body" || fail "/api/status is not the JSON expected"
fi
[ "$(get /)" = 200 ] || fail "/"
grep -q '<title>eau2</title>' "$T/body" || fail "/ is not the dashboard"
[ "$(get /app.js)" = 200 ] && grep -q 'api/status' "$T/body" || fail "/app.js"
[ "$(get /style.css)" = 200 ] || fail "/style.css"
[ "$(curl -s -m 10 -I -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/metrics")" = 200 ] ||
	fail "HEAD /metrics"

# Wrong paths and methods.
[ "$(get /nope)" = 404 ] || fail "unknown path: not 404"
[ "$(get /metrics/x)" = 404 ] || fail "/metrics/x: not 404"
[ "$(get /metrics -X POST -d x=1)" = 405 ] || fail "POST: not 405"
[ "$(get /metrics -X DELETE)" = 405 ] || fail "DELETE: not 405"

# Oversized requests are refused; the node still serves.
big=$(head -c 20000 /dev/zero | tr '\0' a)
code=$(get /metrics -H "X-Big: $big")
[ "$code" != 200 ] || fail "a 20 kB header was served"
code=$(get "/$big")
[ "$code" = 414 ] || [ "$code" = 431 ] || [ "$code" = 000 ] || fail "a 20 kB URL: $code"
scrape

# 200 idle connections: a scrape still works, and they are closed once idle;
# 300 from one address: the excess is refused, other addresses get in.
if command -v python3 >/dev/null 2>&1; then
	python3 - "$PORT" <<'PY' || fail "idle connections"
import socket, subprocess, sys, time
port = int(sys.argv[1])
conns = []
for i in range(200):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    if i % 2:
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")  # a request never finished
    conns.append(s)
t = time.time()
out = subprocess.run(["curl", "-s", "-m", "5", "-o", "/dev/null", "-w", "%{http_code}",
                      "http://127.0.0.1:%d/metrics" % port], capture_output=True, text=True)
if out.stdout != "200":
    sys.exit("scrape with 200 idle connections: %r" % out.stdout)
print("scrape with 200 idle connections: %.3f s" % (time.time() - t))
# One address holds 300: past the 256 allowed per address, the rest are
# refused at once, and a scraper from another address still gets in.
more = []
for i in range(100):
    more.append(socket.create_connection(("127.0.0.1", port), timeout=5))
refused = 0
for s in more:
    s.settimeout(0.5)
    try:
        if s.recv(1) == b"":
            refused += 1
    except socket.timeout:
        pass
    except ConnectionResetError:
        refused += 1
if refused < 44:
    sys.exit("only %d of 300 connections from one address refused" % refused)
out = subprocess.run(["curl", "-s", "-m", "5", "-o", "/dev/null", "-w", "%{http_code}",
                      "--interface", "127.0.0.2", "http://127.0.0.1:%d/metrics" % port],
                     capture_output=True, text=True)
if out.stdout != "200":
    sys.exit("a scrape from 127.0.0.2 while 127.0.0.1 holds its limit: %r" % out.stdout)
for s in more:
    s.close()
deadline = time.time() + 25  # the node's idle timeout is 10 s
for s in conns:
    s.settimeout(max(0.1, deadline - time.time()))
    try:
        while s.recv(4096):
            pass
    except socket.timeout:
        sys.exit("an idle connection is still open after 25 s")
    except ConnectionResetError:
        pass
    s.close()
# Clients that send half a request and close free their slots at once,
# not at the idle timeout (epoll missed the end of such a stream: the
# node's socket sat in CLOSE-WAIT, holding a slot, for 10 s).
for i in range(200):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        s.sendall(b"GET /metrics HTTP/1.1\r\n")
        s.shutdown(socket.SHUT_WR)
    except OSError:
        pass
    s.close()
def close_wait():  # the node's sockets whose peer closed: /proc/net/tcp state 08
    with open("/proc/net/tcp") as f:
        return sum(1 for l in f.readlines()[1:]
                   if l.split()[3] == "08" and int(l.split()[1].split(":")[1], 16) == port)
deadline = time.time() + 3
while close_wait():
    if time.time() > deadline:
        sys.exit("3 s after 200 clients sent half a request and closed, the node still "
                 "holds %d of their connections" % close_wait())
    time.sleep(0.2)
PY
else
	echo "$NAME: no python3: the idle-connections part is skipped"
fi
scrape

# A non-loopback address needs the secret.
S2=$T/store2
"$NODE" --store "$S2" --http 0.0.0.0:0 >"$T/out" 2>"$T/err" && fail "0.0.0.0 without a secret started"
grep -q "not a loopback address, so it needs the cluster secret" "$T/err" ||
	fail "unclear refusal: $(cat "$T/err")"
[ -e "$S2/node.sock" ] && fail "a refused node left its socket"
printf 'not so secret\n' >"$T/secret"
chmod 600 "$T/secret"
TOKEN=$("$NODE" http-token --secret-file "$T/secret") || fail "http-token"
[ ${#TOKEN} = 64 ] || fail "token: $TOKEN"
EAU2_SECRET_FILE=$T/secret "$NODE" --store "$S2" --http 0.0.0.0:0 2>>"$T/node2.log" &
N2=$!
i=0
until grep -q 'http: serving on' "$T/node2.log" 2>/dev/null; do
	i=$((i + 1))
	[ $i -gt 600 ] && fail "the node with a secret did not serve"
	sleep 0.05
done
PORT=$(http_port "$T/node2.log")
[ "$(get /metrics)" = 401 ] || fail "no token: not 401"
[ "$(get /metrics -H "Authorization: Bearer 0123")" = 401 ] || fail "short token: not 401"
bad=$(echo "$TOKEN" | tr 0-9a-f 1-9a-f0)
[ "$(get /metrics -H "Authorization: Bearer $bad")" = 401 ] || fail "wrong token: not 401"
[ "$(get /metrics -H "Authorization: Bearer $TOKEN")" = 200 ] || fail "right token: not 200"
validate "$T/body" || fail "/metrics with a token"
[ "$(get / -u "me:$TOKEN")" = 200 ] || fail "basic auth with the token: not 200"
[ "$(get / -u "me:$bad")" = 401 ] || fail "basic auth with a wrong token: not 401"

# SIGTERM stops both cleanly with the service running.
kill -TERM "$N2" "$NPID"
wait "$N2" || fail "node 2 exit status"
wait "$NPID" || fail "node exit status"
N2=
NPID=
echo "$NAME: ok"
