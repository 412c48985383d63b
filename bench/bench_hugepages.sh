#!/bin/sh
# SPDX-License-Identifier: MIT
# bench_hugepages.sh - what a store on 2 MiB pages saves a command.
#
#   sh bench/bench_hugepages.sh [BUILD_DIR]     (root: it mounts tmpfs)
#   SIZE=1G REPS=5 sh bench/bench_hugepages.sh build
#
# Two tmpfs mounts of the same size, one huge=within_size, one
# huge=never, get the same mixed CSV (eau2 gen) loaded; then each command
# runs REPS times as a fresh process on each store, alternating, and the
# median wall times are printed with the ratio huge/small (below 1: huge
# pages are faster). A fresh process maps every segment it reads: on 4 KiB
# pages that is one fault per 16 pages read (fault-around), on 2 MiB pages
# one per huge page. Runs in a private mount namespace; nothing outlives it.
set -eu

B=${1:-build}
BIN=$(cd "$B" && pwd)/eau2
SIZE=${SIZE:-1G}
REPS=${REPS:-5}
[ -x "$BIN" ] || { echo "bench_hugepages: $BIN is missing (build first)" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "bench_hugepages: needs root (it mounts tmpfs)" >&2; exit 1; }

if [ "${BHP_INNER:-}" != 1 ]; then
	BHP_INNER=1 exec unshare -m sh "$0" "$@"
fi
T=$(mktemp -d /tmp/eau2-bhp-XXXXXX)
mount --make-rprivate /
mkdir -p "$T/huge" "$T/small"
mount -t tmpfs -o size=8g,mode=0700,huge=within_size tmpfs "$T/huge"
mount -t tmpfs -o size=8g,mode=0700,huge=never tmpfs "$T/small"
trap 'umount "$T/huge" "$T/small"; rm -rf "$T"' EXIT

now() { date +%s%N; }
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

echo "bench_hugepages: $SIZE of mixed CSV, $REPS runs each, $(nproc) cores"
"$BIN" gen mixed --out /dev/shm/eau2-bhp.csv --size "$SIZE" --seed 7 >/dev/null 2>&1
for s in small huge; do
	t0=$(now)
	"$BIN" --store "$T/$s/store" load /dev/shm/eau2-bhp.csv --as m >/dev/null 2>&1
	echo "load_$s $(( ($(now) - t0) / 1000000 ))" >>"$T/times"
done
rm -f /dev/shm/eau2-bhp.csv
"$BIN" --store "$T/huge/store" bench --help >/dev/null # the store opens
grep -E '^ShmemHugePages' /proc/meminfo

run_cmd() { # NAME ARGS...: REPS fresh runs on each store, alternating
	name=$1
	shift
	for r in $(seq 1 "$REPS"); do
		for s in small huge; do
			t0=$(now)
			"$BIN" --store "$T/$s/store" "$@" >/dev/null
			echo "${name}_$s $(( ($(now) - t0) / 1000 ))" >>"$T/times"
		done
	done
}
run_cmd sum run sum --input m --arg column=qty
run_cmd groupby run groupby --input m --arg by=name --arg agg=sum:qty,mean:price
run_cmd count run count --input m
run_cmd describe describe m

printf '%-10s %12s %12s %8s\n' op small_ms huge_ms huge/small
for op in load sum groupby count describe; do
	sm=$(awk -v k="${op}_small" '$1 == k { print $2 }' "$T/times" | median)
	hu=$(awk -v k="${op}_huge" '$1 == k { print $2 }' "$T/times" | median)
	[ "$op" = load ] || { sm=$(awk -v v="$sm" 'BEGIN { printf "%.1f", v / 1000 }');
		hu=$(awk -v v="$hu" 'BEGIN { printf "%.1f", v / 1000 }'); }
	awk -v o="$op" -v a="$sm" -v b="$hu" 'BEGIN { printf "%-10s %12s %12s %8.2f\n", o, a, b, b / a }'
done
