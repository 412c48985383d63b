#!/bin/sh
# SPDX-License-Identifier: MIT
# bench_http.sh - what eau2-node --http costs. A node serves a store with
# KEYS small keys and one larger dataframe; then, in the same run:
#   scrape latency: /metrics with a fresh snapshot (past the snapshot's
#     reuse time), /metrics from the reused snapshot,
#     /api/status, against the same HTTP round trip to a 404 (no snapshot),
#     all with curl over loopback, interleaved: median and max of N of
#     each, and the ratio to the 404's median;
#   throughput impact: ROUNDS runs of `eau2 run sum` through the node
#     (attach, GET, run) timed with nothing scraping, with a Prometheus-like
#     scraper (one /metrics a second), with a hammering one (curl in a
#     loop, as fast as it answers), and with the same loop on a 404 (what
#     the curl processes themselves cost the host), alternated REPS times;
#     the median time of each and its ratio to the quiet median.
# Usage: sh bench/bench_http.sh [BUILD_DIR]; env KEYS (default 1000), N
# (30), ROUNDS (20), REPS (3), ROWS (1000000).
set -eu
B=${1:-${EAU2_BIN_DIR:-build}}
KEYS=${KEYS:-1000}
N=${N:-30}
ROUNDS=${ROUNDS:-20}
REPS=${REPS:-3}
ROWS=${ROWS:-1000000}
command -v curl >/dev/null || { echo "bench_http: needs curl" >&2; exit 1; }
T=$(mktemp -d /dev/shm/eau2-bench-http-XXXXXX)
S=$T/store
NPID=
HPID=
cleanup() {
	for p in $HPID $NPID; do kill "$p" 2>/dev/null || :; done
	wait 2>/dev/null || :
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
unset EAU2_NODE
E() { "$B/eau2" --store "$S" "$@"; }

"$B/eau2" gen mixed --out "$T/m.csv" --rows "$ROWS" 2>/dev/null
"$B/eau2" gen mixed --out "$T/s.csv" --rows 10 2>/dev/null
E load "$T/m.csv" --as m 2>/dev/null
i=0
while [ $i -lt "$KEYS" ]; do
	E load "$T/s.csv" --as "k$i" 2>/dev/null
	i=$((i + 1))
done
"$B/eau2-node" --store "$S" --quiet --http 127.0.0.1:0 2>"$T/node.log" &
NPID=$!
i=0
until PORT=$(sed -n 's/.*http: serving on 127\.0\.0\.1:\([0-9][0-9]*\) .*/\1/p' "$T/node.log") &&
	[ -n "$PORT" ]; do
	i=$((i + 1))
	[ $i -gt 600 ] && { echo "bench_http: node did not start" >&2; exit 1; }
	sleep 0.05
done
U=http://127.0.0.1:$PORT
echo "bench_http: $KEYS keys + one of $ROWS rows; $(nproc) cores; node pid $NPID"

# One request's time (s) on a line of FILE.
t1() { curl -s -o /dev/null -w '%{time_total}\n' "$U$1" >>"$T/$2"; }
# stats FILE: "median max" in ms.
stats() { sort -n "$1" | awk '{ v[NR] = $1 } END { printf "%.2f %.2f", 1000 * v[int((NR + 1) / 2)], 1000 * v[NR] }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

# Interleaved, so that the host's noise falls on all alike; the first
# round warms up and is dropped.
# A snapshot is reused for 0.5 s, or 20 times what the last one took:
# wait past that before each fresh one.
fresh_wait() {
	d=$(curl -s "$U/metrics" | awk '$1 == "eau2_scrape_duration_seconds" { print $2 }')
	sleep "$(awk -v d="${d:-0}" 'BEGIN { w = 21 * d; printf "%.2f", w < 0.6 ? 0.6 : w }')"
}
j=0
while [ $j -le "$N" ]; do
	[ $j = 1 ] && rm -f "$T/l404" "$T/lfresh" "$T/lcached" "$T/lstatus"
	fresh_wait
	t1 /metrics lfresh
	t1 /no-such-page l404
	t1 /metrics lcached
	fresh_wait
	t1 /api/status lstatus
	j=$((j + 1))
done
set -- $(stats "$T/l404")
base=$1
echo "scrape latency, ms (median max; ratio of medians to the 404's):"
printf '  %-28s %s %s\n' "404 (baseline)" "$1" "$2"
for x in "fresh /metrics:lfresh" "reused /metrics:lcached" "fresh /api/status:lstatus"; do
	set -- $(stats "$T/${x#*:}")
	printf '  %-28s %s %s  x%s\n' "${x%%:*}" "$1" "$2" "$(ratio "$1" "$base")"
done
curl -s "$U/metrics" | grep '^eau2_scrape_duration_seconds ' | sed 's/^/  snapshot: /'
echo "  /metrics: $(curl -s "$U/metrics" | wc -c) bytes, /api/status: $(curl -s "$U/api/status" | wc -c) bytes"

# runs: seconds for ROUNDS runs through the node.
runs() {
	t0=$(date +%s.%N)
	j=0
	while [ $j -lt "$ROUNDS" ]; do
		E run sum --input m --arg columns=id,qty,price >/dev/null
		j=$((j + 1))
	done
	awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.3f\n", b - a }'
}
scraper() { # $1: pause between scrapes, $2: the path
	while :; do
		curl -s -o /dev/null "$U$2" || :
		[ "$1" = 0 ] || sleep "$1"
	done
}
r=0
: >"$T/quiet"; : >"$T/prom"; : >"$T/hammer"; : >"$T/h404"
while [ $r -lt "$REPS" ]; do
	runs >>"$T/quiet"
	for m in "prom 1 /metrics" "hammer 0 /metrics" "h404 0 /no-such-page"; do
		set -- $m
		scraper "$2" "$3" & HPID=$!
		runs >>"$T/$1"
		kill $HPID; wait $HPID 2>/dev/null || :
		HPID=
	done
	r=$((r + 1))
done
med() { sort -n "$1" | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
q=$(med "$T/quiet")
echo "throughput impact: $ROUNDS runs of sum through the node, median of $REPS, s (ratio to quiet):"
printf '  %-28s %s\n' "no scraper" "$q"
printf '  %-28s %s  x%s\n' "1 scrape/s" "$(med "$T/prom")" "$(ratio "$(med "$T/prom")" "$q")"
h=$(med "$T/h404")
printf '  %-28s %s  x%s\n' "curl loop on a 404" "$h" "$(ratio "$h" "$q")"
printf '  %-28s %s  x%s (x%s to the 404 loop: the node'"'"'s share)\n' "curl loop on /metrics" \
	"$(med "$T/hammer")" "$(ratio "$(med "$T/hammer")" "$q")" "$(ratio "$(med "$T/hammer")" "$h")"
echo "  hammer scrapes served: $(curl -s "$U/metrics" | awk '$1 == "eau2_http_requests_total" { print $2 }')"
