#!/bin/sh
# SPDX-License-Identifier: MIT
# http_cluster.sh - the dashboard and /metrics of eau2-node --http on a
# cluster: ZooKeeper (tools/zk.sh) and three nodes with --zk and --http on
# loopback, a words table loaded with two replicas, a distributed
# wordcount run. Node 1's /api/status lists the three members up with
# their figures (probed), the key with its partitions and nodes, and its
# share of the run; headless Chromium's rendered DOM lists the three
# nodes (Nodes tab), the distributed key (Data tab) and the wordcount
# run (Runs tab). Then long distributed runs go in the background (the
# test plugin slow_count, seconds per partition): a node running one
# shows it running on its Runs tab (a screenshot is kept,
# $EAU2_BIN_DIR/http_cluster_runs.png). /metrics has the cluster families
# (and passes promtool check metrics when promtool is installed). Then
# node 3 is killed (SIGKILL): node 1's status shows it dead within the
# detection time (5 s), and so does the rendered page (a screenshot is
# kept, $EAU2_BIN_DIR/http_cluster.png); eau2 status says the same, on a
# node's store and for the cluster, and the partitions that had a replica
# on node 3 are under-replicated. Skipped (77) without ZooKeeper or
# Chromium.
set -u

NAME=http_cluster
. "$(dirname "$0")/lib/cluster.sh"
CHROMIUM=$(command -v chromium || command -v chromium-browser || command -v google-chrome) ||
	{ echo "$NAME: no chromium: skipped"; exit 77; }
ROWS=400000
[ -n "${EAU2_TEST_QUICK:-}" ] && ROWS=100000
DETECT_S=5

LOOP=
RN_CLEANUP="[ -n \"\$LOOP\" ] && kill \$LOOP 2>/dev/null && kill \$(cat \"$T/run.pid\") 2>/dev/null"
cl_zk 1
EC() { "$E2" --store "$D" --cluster "$Z/hc" --timeout 5000 "$@"; }

# chrome URL ARGS...: headless Chromium on URL for 3 s of page time.
chrome() {
	url=$1
	shift
	timeout 60 "$CHROMIUM" --headless=new --no-sandbox --disable-gpu --no-first-run \
		--user-data-dir="$T/profile" --virtual-time-budget=3000 "$@" "$url" 2>>"$T/chrome.log"
}

# jq-free JSON checks: python3 is in every image that has chromium.
py() { python3 -c "$1" "$T/st.json"; }
status1() { curl -s -f -m 5 -o "$T/st.json" "http://$H1/api/status"; }

PL=$EAU2_BIN_DIR/plugins/eau2_slow_count.so
[ -f "$PL" ] || fail "$PL was not built"
for i in 1 2 3; do
	rnode_start "$T/n$i" "$T/n$i.log" --zk "$Z" --cluster hc --http 127.0.0.1:0 --plugin "$PL"
	eval "PID$i=\$RN_PID ADDR$i=\$RN_ADDR"
	h=$(sed -n 's/.*http: serving on \(127\.0\.0\.1:[0-9][0-9]*\) .*/\1/p' "$T/n$i.log" | tail -1)
	[ -n "$h" ] || fail "node $i: no http address in its log"
	eval "H$i=\$h"
done
cl_joined 3

awk -v rows="$ROWS" 'BEGIN {
	split("the cat sat on a mat of eau2 and dog ran far", w, " ")
	print "id,line"
	for (r = 0; r < rows; r++)
		print r "," w[r % 12 + 1] " " w[r % 7 + 1] " " w[r % 5 + 1] " w" r % 9973 " " w[r % 3 + 1]
}' >"$T/w.csv"
EC load "$T/w.csv" --as words --replicas 2 >/dev/null 2>"$T/err" || fail "load: $(cat "$T/err")"

EC run wordcount --input words --arg column=line >/dev/null 2>"$T/err" || fail "wordcount: $(cat "$T/err")"

# Node 1's view: three members up, probed (their load known), the key and
# its partitions.
i=0
until status1 && py '
import json, sys
s = json.load(open(sys.argv[1]))
n = s["nodes"]
ok = len(n) == 3 and all(x["state"] == "alive" and x["load1"] is not None for x in n)
ok = ok and any(k["key"] == "words" for k in s["data"]["cluster_items"])
sys.exit(0 if ok else 1)'; do
	i=$((i + 1))
	[ $i -gt 150 ] && fail "node 1 does not show three probed members and the key in 15 s: $(cat "$T/st.json")"
	sleep 0.1
done
py '
import json, sys
s = json.load(open(sys.argv[1]))
c = s["cluster"]
assert c["keys"] == 1, c
parts = [k for k in s["data"]["cluster_items"] if k["key"] == "words"][0]
assert parts["partitions"] >= 3 and len(parts["nodes"]) == 3, parts
assert parts["under_replicated"] == 0, parts
# Two replicas of each partition, spread over the three nodes.
assert sum(x["partitions"] for x in s["nodes"]) == 2 * parts["partitions"], s["nodes"]
assert c["under_replicated"] == 0 and c["probes_ok"] > 0, c
assert s["transfers"]["peers"] and s["transfers"]["received_bytes"] > 0, s["transfers"]
' || fail "node 1's status: $(cat "$T/st.json")"

# The run: each partition ran on one of its replicas, so the three nodes
# together list one wordcount run per partition, done.
WC= nrun=0
for h in "$H1" "$H2" "$H3"; do
	curl -s -f -m 5 "http://$h/api/status" >"$T/st_$h.json" || fail "$h/api/status"
	n=$(python3 -c '
import json, sys
s = json.load(open(sys.argv[1]))
r = [x for x in s["runs"]["items"] if x["rower"] == "wordcount"]
assert all(x["part"] and x["state"] == "done" and x["input"].startswith("eau2.part.") and x["rows"] > 0 for x in r), r
print(len(r))' "$T/st_$h.json") || fail "$h's runs: $(cat "$T/st_$h.json")"
	[ "$n" -gt 0 ] && WC=$h
	nrun=$((nrun + n))
done
nparts=$(py 'import json, sys; print([k for k in json.load(open(sys.argv[1]))["data"]["cluster_items"] if k["key"] == "words"][0]["partitions"])')
[ "$nrun" -ge "$nparts" ] || fail "$nrun partition runs listed, $nparts partitions (one each at least)"
curl -s -f -m 5 "http://$WC/metrics" | grep -q '^eau2_run_duration_seconds_count{rower="wordcount"} [1-9]' ||
	fail "$WC counts no wordcount run in /metrics"

curl -s -f -m 5 -o "$T/metrics" "http://$H1/metrics" || fail "/metrics"
# Up: alive, or suspect for a moment should a probe go unanswered on a busy host.
awk '/^eau2_nodes\{state="(alive|suspect)"\}/ { n += $2 } /^eau2_nodes\{state="dead"\}/ { d = $2 }
	END { exit !(n == 3 && d == 0) }' "$T/metrics" ||
	fail "eau2_nodes, 3 up: $(grep '^eau2_nodes' "$T/metrics")"
grep -q '^eau2_cluster_keys 1$' "$T/metrics" || fail "eau2_cluster_keys"
grep -q '^eau2_partitions_under_replicated 0$' "$T/metrics" || fail "under-replicated"
grep -q '^eau2_partitions [1-9]' "$T/metrics" || fail "eau2_partitions (replicas on node 1)"
grep -q '^eau2_heartbeats_total{result="ok"} [1-9]' "$T/metrics" || fail "heartbeats"
grep -q '^eau2_net_peer_received_bytes_total{peer="127.0.0.1"} [1-9]' "$T/metrics" ||
	fail "per-peer bytes: $(grep '^eau2_net_peer' "$T/metrics")"
if command -v promtool >/dev/null; then
	promtool check metrics <"$T/metrics" >"$T/promtool.out" 2>&1 ||
		fail "promtool: $(cat "$T/promtool.out")"
fi

# eau2 status: the cluster's members with their figures, and node 1's
# own counts (runs, traffic, its view of the cluster).
EC status >"$T/cst" || fail "eau2 --cluster status"
[ "$(grep -c '^node .*: alive, .*; load [0-9.]*, CPU [0-9]*%, store .* of .*, [0-9]* runs$' "$T/cst")" = 3 ] ||
	fail "eau2 --cluster status: $(cat "$T/cst")"
grep -q '^partitions  [1-9][0-9]* (0 under-replicated)$' "$T/cst" || fail "partitions: $(cat "$T/cst")"
EC status --json >"$T/cst.json" || fail "status --json"
python3 -c 'import json, sys; s = json.load(open(sys.argv[1])); assert s["under_replicated"] == 0 and s["partitions"] >= 3 and all(n["state"] == "alive" and n["load1"] is not None for n in s["nodes"]), s' "$T/cst.json" ||
	fail "status --json: $(cat "$T/cst.json")"
"$E2" --store "$T/n1" status >"$T/st1" || fail "eau2 status on node 1's store"
grep -q '^runs        [0-9]* running, [0-9]* finished (0 failed) on the node' "$T/st1" ||
	fail "eau2 status: runs: $(cat "$T/st1")"
grep -q '^transfers   .* sent, .* received with remote peers' "$T/st1" || fail "eau2 status: transfers"
# nodes_up FILE: "ALIVE+SUSPECT DEAD" from eau2 status's cluster line.
nodes_up() {
	sed -n 's/^cluster     \([0-9]*\) nodes alive, \([0-9]*\) suspect, \([0-9]*\) dead; .*/\1 \2 \3/p' "$1" |
		awk '{ print $1 + $2, $3 }'
}
grep -q '^cluster     .* dead; 1 keys, [1-9][0-9]* partitions (0 under-replicated)$' "$T/st1" &&
	[ "$(nodes_up "$T/st1")" = "3 0" ] || fail "eau2 status: cluster: $(cat "$T/st1")"

URL=http://$H1/
chrome "$URL" --dump-dom >"$T/dom.html" || fail "chromium: $(tail -3 "$T/chrome.log")"
for id in "$ADDR1" "$ADDR2" "$ADDR3"; do
	grep -Eq "<tr data-node=\"$id\"><td>$id</td><td class=\"state-(alive|suspect)\">(alive|suspect)</td>" "$T/dom.html" ||
		fail "the Nodes tab does not list $id up: $(grep -o '<tbody id="nodes-rows">.\{0,600\}' "$T/dom.html")"
done
grep -q '<td>words</td>' "$T/dom.html" || fail "the Data tab does not list the distributed key"
chrome "http://$WC/#runs" --dump-dom >"$T/domr.html" || fail "chromium on $WC"
grep -q '<td>wordcount</td><td>eau2\.part\.[0-9a-f.]*</td><td><span class="bar"><i style="width: 100%;"></i></span>100%</td><td class="num">[0-9.]* s</td><td class="run-done">done (partition)</td><td>127\.0\.0\.1</td>' "$T/domr.html" ||
	fail "the Runs tab of $WC lists no wordcount run: $(grep -o '<tbody id="runs-rows">.\{0,400\}' "$T/domr.html")"

# Long runs, one after the other: a node running a partition of one shows
# it running (each partition runs on one of its replicas: find the node).
( while :; do
	EC run slow_count --plugin "$PL" --input words --arg ms=1500 >/dev/null 2>>"$T/runs.err" &
	echo $! >"$T/run.pid"
	wait $! || exit 1
done ) &
LOOP=$!
running_on() { # the http address of a node running a slow_count now, or ""
	for h in "$H1" "$H2" "$H3"; do
		curl -s -f -m 5 "http://$h/api/status" | python3 -c '
import json, sys
s = json.load(sys.stdin)
sys.exit(0 if any(r["rower"] == "slow_count" and r["state"] == "running" for r in s["runs"]["items"]) else 1)' &&
			{ echo "$h"; return 0; }
	done
	return 1
}
seen=
for try in 1 2 3; do
	i=0
	until h=$(running_on); do
		i=$((i + 1))
		[ $i -gt 100 ] && fail "no node runs slow_count after 10 s: $(cat "$T/runs.err")"
		sleep 0.1
	done
	chrome "http://$h/#runs" --dump-dom >"$T/dom3.html" || fail "chromium on the runs"
	if grep -q '<td>slow_count</td><td>eau2\.part\.[0-9a-f.]*</td><td><span class="bar"><i style="width: [0-9]*%;"></i></span>[0-9]*%</td><td class="num">[0-9.]* s</td><td class="run-running">running (partition)</td>' "$T/dom3.html"; then
		seen=$h
		break
	fi
done
[ -n "$seen" ] || fail "the Runs tab never showed a running run: $(grep -o '<tbody id="runs-rows">.\{0,400\}' "$T/dom3.html")"
ART=${EAU2_BIN_DIR}/http_cluster_runs.png
chrome "http://$seen/#runs" --window-size=1200,420 --screenshot="$ART" >/dev/null || fail "screenshot"
[ -s "$ART" ] || fail "no screenshot"
echo "$NAME: screenshot of the runs in $ART"

# Node 3 dies: node 1 shows it dead within the detection time.
kill "$LOOP" 2>/dev/null
wait "$LOOP" 2>/dev/null
LOOP=
kill "$(cat "$T/run.pid")" 2>/dev/null
t0=$(date +%s%N)
rnode_kill "$PID3"
seen=
until status1 && py '
import json, sys
s = json.load(open(sys.argv[1]))
st = [x["state"] for x in s["nodes"] if x["id"] == "'"$ADDR3"'"]
if st == ["suspect"]: open(sys.argv[1] + ".suspect", "w").close()
sys.exit(0 if st == ["dead"] else 1)'; do
	[ $(( ($(date +%s%N) - t0) / 1000000 )) -gt $((DETECT_S * 1000)) ] &&
		fail "node 3 is not dead after ${DETECT_S} s: $(cat "$T/st.json")"
	sleep 0.1
done
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
[ -e "$T/st.json.suspect" ] && seen=", suspect before"
echo "$NAME: node 3 shown dead after $ms ms$seen"
chrome "$URL" --dump-dom >"$T/dom2.html" || fail "chromium after the kill"
grep -q "<tr data-node=\"$ADDR3\" class=\"gone\"><td>$ADDR3</td><td class=\"state-dead\"[^>]*>dead</td>" "$T/dom2.html" ||
	fail "the page does not show node 3 dead: $(grep -o '<tbody id="nodes-rows">.\{0,600\}' "$T/dom2.html")"
grep -q "<tr data-node=\"$ADDR1\"><td>$ADDR1</td><td class=\"state-alive\">alive</td>" "$T/dom2.html" ||
	fail "node 1 is not up on its page"
ART=${EAU2_BIN_DIR}/http_cluster.png
chrome "${URL}#nodes" --window-size=1200,300 --screenshot="$ART" >/dev/null || fail "screenshot"
[ -s "$ART" ] || fail "no screenshot"
echo "$NAME: screenshot of the nodes, one dead, in $ART"
curl -s -f -m 5 "http://$H1/metrics" >"$T/metrics2" || fail "/metrics after the kill"
grep -q '^eau2_nodes{state="dead"} 1$' "$T/metrics2" || fail "eau2_nodes dead"
# Node 3's replicas are gone: its partitions are under-replicated.
grep -q '^eau2_partitions_under_replicated [1-9]' "$T/metrics2" ||
	fail "no partition under-replicated: $(grep under_rep "$T/metrics2")"
EC status >"$T/cst2" || fail "eau2 --cluster status after the kill"
# A one-shot status measures two heartbeats, less than --dead-after: a
# node killed just now is suspect (dead once its session expires).
grep -Eq "^node        $ADDR3: (suspect|dead)" "$T/cst2" ||
	fail "eau2 --cluster status: node 3 neither suspect nor dead: $(cat "$T/cst2")"
"$E2" --store "$T/n1" status >"$T/st2" || fail "eau2 status after the kill"
grep -q '^cluster     .* dead; 1 keys, [1-9][0-9]* partitions ([1-9][0-9]* under-replicated)$' "$T/st2" &&
	[ "$(nodes_up "$T/st2")" = "2 1" ] || fail "eau2 status after the kill: $(cat "$T/st2")"
echo "$NAME: ok"
