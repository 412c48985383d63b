#!/bin/sh
# SPDX-License-Identifier: MIT
# http_dashboard.sh - the dashboard of eau2-node --http rendered by
# headless Chromium against a real node holding two keys: once its script
# has polled /api/status, the DOM lists the node (address, "alive"), the keys
# with their sizes (Data tab, chosen by #data), and the node's figures
# (Self); a screenshot of it is kept as an artifact, $EAU2_BIN_DIR/
# http_dashboard.png. Then the node is stopped and the page, loaded from a
# copy of its files, says the node is unreachable. Skipped (77) without
# eau2-node or chromium.
set -u

NAME=http_dashboard
. "$(dirname "$0")/lib/node.sh"
CHROMIUM=$(command -v chromium || command -v chromium-browser || command -v google-chrome) ||
	{ echo "$NAME: no chromium: skipped"; exit 77; }
base=/dev/shm
[ -d "$base" ] && [ -w "$base" ] || base=${TMPDIR:-/tmp}
T=$(mktemp -d "$base/eau2-dash-XXXXXX") || exit 1
S=$T/store
NPID=
cleanup() {
	[ -n "$NPID" ] && kill -9 "$NPID" 2>/dev/null
	wait 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# chrome URL ARGS...: runs headless Chromium on URL for 4 s of page time
# (its script polls every 2 s). Root needs --no-sandbox; the profile is
# the test's own.
chrome() {
	url=$1
	shift
	timeout 60 "$CHROMIUM" --headless=new --no-sandbox --disable-gpu --no-first-run \
		--user-data-dir="$T/profile" --virtual-time-budget=4000 "$@" "$url" 2>>"$T/chrome.log"
}

"$E2" gen mixed --out "$T/m.csv" --rows 100000 2>/dev/null || fail "gen"
"$NODE" --store "$S" --http 127.0.0.1:0 2>>"$T/node.log" &
NPID=$!
wait_node
PORT=$(sed -n 's/.*http: serving on 127\.0\.0\.1:\([0-9][0-9]*\) .*/\1/p' "$T/node.log" | tail -1)
[ -n "$PORT" ] || fail "no port in the log"
E load "$T/m.csv" --as trips 2>/dev/null || fail "load"
E load "$T/m.csv" --as '"odd"<b>x</b>' 2>/dev/null || fail "load"
URL=http://127.0.0.1:$PORT/

chrome "$URL" --dump-dom >"$T/dom.html" || fail "chromium (see $T/chrome.log): $(tail -3 "$T/chrome.log")"
grep -q "<tr data-node=\"127.0.0.1:$PORT\"><td>127.0.0.1:$PORT</td><td class=\"state-alive\">alive</td>" \
	"$T/dom.html" || fail "the Nodes tab does not list the node: $(grep -o '<tbody id="nodes-rows">.\{0,300\}' "$T/dom.html")"
grep -q '<span id="live" class="live ok">live' "$T/dom.html" || fail "the page is not live"
grep -q '<td>trips</td>' "$T/dom.html" || fail "the Data tab does not list trips"
# A key is text, never markup.
grep -q '<td>"odd"&lt;b&gt;x&lt;/b&gt;</td>' "$T/dom.html" || fail "a key with markup is not escaped"
grep -q '<p id="data-summary">2 keys, 2 dataframes' "$T/dom.html" || fail "data summary"
grep -q "<dd>$NPID</dd>" "$T/dom.html" || fail "the Self tab lacks the node's pid"

ART=${EAU2_BIN_DIR}/http_dashboard.png
chrome "${URL}#nodes" --window-size=1100,420 --screenshot="$ART" >/dev/null ||
	fail "screenshot"
[ -s "$ART" ] || fail "no screenshot"
echo "$NAME: screenshot in $ART"

# The node goes away: the page says so. (Its files come from a copy, as
# a browser that had the page open keeps them.)
mkdir "$T/copy"
for f in index.html app.js style.css; do
	curl -s -f -m 5 -o "$T/copy/$f" "http://127.0.0.1:$PORT/$f" || fail "fetch /$f"
done
kill -TERM "$NPID"
wait "$NPID" || fail "node exit status"
NPID=
chrome "file://$T/copy/index.html" --dump-dom --allow-file-access-from-files >"$T/dom2.html" ||
	fail "chromium on the copy"
grep -q 'class="live bad">node unreachable' "$T/dom2.html" ||
	fail "a stopped node is not shown as unreachable: $(grep -o '<span id="live".\{0,120\}' "$T/dom2.html")"
echo "$NAME: ok"
