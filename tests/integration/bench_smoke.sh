#!/bin/sh
# SPDX-License-Identifier: MIT
# bench_smoke.sh - `eau2 bench` end to end on a small, fresh store: every
# operation runs from 1 and 2 client processes and gives the generator's
# answer (status "ok" in the JSON), the JSON has the stable keys, a second
# run reuses the cached data sets, and a bad option exits 1.
# Needs EAU2_BIN_DIR (the build directory holding eau2).
set -u

BIN=${EAU2_BIN_DIR:?EAU2_BIN_DIR must name the build directory}/eau2
if [ ! -x "$BIN" ]; then
	echo "bench_smoke: $BIN is missing" >&2
	exit 1
fi
base=/dev/shm
[ -d "$base" ] && [ -w "$base" ] || base=${TMPDIR:-/tmp}
T=$(mktemp -d "$base/eau2-bench-smoke-XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT
trap 'exit 1' INT TERM
EAU2_STORE=$T/store
export EAU2_STORE
LC_ALL=C
export LC_ALL

fail() {
	echo "bench_smoke: FAIL: $*" >&2
	exit 1
}

size=16M
text=4M
if [ -n "${EAU2_TEST_QUICK:-}" ]; then
	size=4M
	text=1M
fi

"$BIN" bench --size "$size" --text-size "$text" --clients 1,2 \
	--json "$T/out.json" >"$T/out" 2>"$T/err"
st=$?
if [ "$st" -ne 0 ]; then
	cat "$T/out" "$T/err" >&2
	fail "eau2 bench exited $st"
fi
[ -s "$T/out.json" ] || fail "no JSON written"
grep -q "memory-read bandwidth" "$T/out" || fail "no bandwidth line in the table"

for op in sum filter groupby join wordcount; do
	for c in 1 2; do
		line=$(grep "\"op\": \"$op\", \"clients\": $c," "$T/out.json")
		[ -n "$line" ] || fail "no JSON entry for $op with $c clients"
		echo "$line" | grep -q '"status": "ok"' ||
			fail "$op with $c clients: $line"
		for k in seconds_mean gbps_per_client gbps_total membw_gbps \
			membw_ratio bytes_per_client result_rows; do
			echo "$line" | grep -q "\"$k\": " || fail "$op/$c: no key $k"
		done
	done
done
for k in membw gbps_all_cores data_bytes results clients rss_peak_total \
	pss_peak_total attach_seconds_mean; do
	grep -q "\"$k\": " "$T/out.json" || fail "no key $k in the JSON"
done
if command -v python3 >/dev/null 2>&1; then
	python3 -c 'import json, sys; json.load(open(sys.argv[1]))' "$T/out.json" ||
		fail "the JSON does not parse"
	# Every ratio divides by the bandwidth measured around its round.
	python3 - "$T/out.json" <<'EOF' || fail "membw figures do not add up"
import json, sys
d = json.load(open(sys.argv[1]))
for r in d["results"]:
    bw, ratio, tot = r["membw_gbps"], r["membw_ratio"], r["gbps_total"]
    assert bw > 0, r
    assert abs(ratio * bw - tot) <= 1e-3 * tot, r  # 6 digits printed
EOF
	# What other processes took of the cores (/proc/stat) and what the
	# clients used cannot add up to more than the cores' time (a tick of
	# 10 ms on each edge of a short segment allows some slack).
	if [ -r /proc/stat ]; then
		python3 - "$T/out.json" <<'EOF' || fail "cpu_others figures do not add up"
import json, sys
d = json.load(open(sys.argv[1]))
for r in d["results"]:
    o, u = r["cpu_others"], r["cpu_utilisation"]
    assert 0 <= o <= 1, r
    assert u + o <= 1.25, r
EOF
		grep -q "per left" "$T/out" || fail "no 'per left' column in the scaling table"
	fi
fi

# The data sets are cached in the store and reused.
"$BIN" bench --size "$size" --text-size "$text" --clients 1 --ops sum \
	--json "$T/again.json" >"$T/out" 2>"$T/err" || {
	cat "$T/out" "$T/err" >&2
	fail "second run failed"
}
grep -q '"mixed": {[^}]*"generated": false' "$T/again.json" ||
	fail "second run did not reuse bench/mixed"

# Bad options are user errors.
"$BIN" bench --clients 0 >/dev/null 2>"$T/err"
[ $? -eq 1 ] || fail "--clients 0 did not exit 1"
grep -q "clients" "$T/err" || fail "--clients 0: message does not name the option"
"$BIN" bench --ops nosuch >/dev/null 2>&1
[ $? -eq 1 ] || fail "--ops nosuch did not exit 1"
echo "bench_smoke: ok"
