#!/bin/sh
# SPDX-License-Identifier: MIT
# bench_csv.sh - `eau2 load` of a CSV of many short fields: the public
# db-benchmark group-by table (`eau2 gen dbbench`: 9 columns, 3 short
# strings, 5 small ints and 1 double, about 48 bytes a row), the file the
# speed issue (#14) measured, as whole commands on --threads threads:
#   first   into a new store (its directory made by the load): every
#           page of the store is allocated by the load itself;
#   again   the same key loaded again into that store (the old version's
#           pages are freed at publication);
# --reps times each, alternating, best and median GB/s of the file (1 GB
# = 1e9 bytes). Baselines in the same run, best of --reps:
#   cat     the file read from the page cache to /dev/null (one thread);
#   cp      the file copied into a new file on the store's file system:
#           one thread allocating fresh tmpfs pages, which a first load
#           does for its whole output (store bytes / file bytes, printed,
#           is about 1.7 for this table: ints are stored 8 bytes wide).
# The target (#14) is 1 GB/s on 2 cores for both first and again.
# CPU: user + system milliseconds of each load per 1e9 bytes of the
# file (median), from the shell's `times`. With --base BUILD2, that
# build's eau2 (another commit, e.g. main's) loads the same file in the
# same repetitions, right after this one's, and the ratios this/base
# are printed.
#
# Usage: bench/bench_csv.sh [--size BYTES] [--threads N] [--reps N]
#        [--dir DIR] [--keep] [--base BUILD2]
# Env: BUILD (default build) holds eau2. DIR (default
# /dev/shm/eau2-csvbench-$USER) holds the CSV and the stores; with
# --keep the CSV stays for the next run (made again when missing or of
# another --size), else DIR is removed at the end.
set -eu

size=2G threads=2 reps=3 keep=0 base=
dir=/dev/shm/eau2-csvbench-${USER:-$(id -u)}
while [ $# -gt 0 ]; do
	case $1 in
	--size) size=$2; shift 2 ;;
	--threads) threads=$2; shift 2 ;;
	--reps) reps=$2; shift 2 ;;
	--dir) dir=$2; shift 2 ;;
	--keep) keep=1; shift ;;
	--base) base=$2; shift 2 ;;
	-h|--help) sed -n '3,32p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "usage: $0 [--size BYTES] [--threads N] [--reps N] [--dir DIR] [--keep] [--base BUILD2]" >&2
	   exit 2 ;;
	esac
done
src=$(cd "$(dirname "$0")/.." && pwd)
B=${BUILD:-$src/build}
case $B in /*) ;; *) B=$src/$B ;; esac
E2=$B/eau2
[ -x "$E2" ] || { echo "bench_csv: build eau2 first ($B)" >&2; exit 2; }
if [ -n "$base" ]; then
	case $base in /*) ;; *) base=$(pwd)/$base ;; esac
	[ -x "$base/eau2" ] || { echo "bench_csv: no eau2 in --base $base" >&2; exit 2; }
fi
export EAU2_NODE=0 LC_ALL=C
mkdir -p "$dir"
cleanup() {
	rm -rf "$dir/store" "$dir/copy"
	[ "$keep" = 1 ] || rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

csv=$dir/db.csv
if [ ! -s "$csv" ] || [ "$(cat "$dir/size" 2>/dev/null)" != "$size" ]; then
	echo "bench_csv: generating $csv (about $size)"
	"$E2" gen dbbench --size "$size" --out "$csv"
	echo "$size" >"$dir/size"
fi
bytes=$(wc -c <"$csv")
cat "$csv" >/dev/null # in the page cache

now() { date +%s%N; }
# rate NS: GB/s of the file in NS nanoseconds
rate() { awk -v b="$bytes" -v t="$1" 'BEGIN { printf "%.3f\n", b / t }'; }
# cpu FILE: the CPU milliseconds of this shell's children when FILE was
# written by `times` (run in this shell: a subshell has other children).
cpu() {
	awk 'NR == 2 {
		for (i = 1; i <= 2; i++) { split($i, t, "m"); ms += (t[1] * 60 + t[2]) * 1000 }
		printf "%d\n", ms }' "$1"
}
# load BIN TAG: a first load into a new store and again, GB/s into
# r.first.TAG and r.again.TAG, CPU ms per 1e9 bytes into r.cfirst.TAG
# and r.cagain.TAG.
load() {
	rm -rf "$dir/store"
	for k in first again; do
		times >"$dir/t0"
		t0=$(now)
		"$1/eau2" --store "$dir/store" load "$csv" --as x --threads "$threads" 2>/dev/null
		t1=$(now)
		times >"$dir/t1"
		rate $((t1 - t0)) >>"$dir/r.$k.$2"
		awk -v c=$(($(cpu "$dir/t1") - $(cpu "$dir/t0"))) -v b="$bytes" 'BEGIN { printf "%.0f\n", c * 1e9 / b }' \
			>>"$dir/r.c$k.$2"
	done
}
for r in $(seq "$reps"); do
	t0=$(now); cat "$csv" >/dev/null; t1=$(now)
	rate $((t1 - t0)) >>"$dir/r.cat"
	rm -f "$dir/copy"
	t0=$(now); cp "$csv" "$dir/copy"; t1=$(now)
	rate $((t1 - t0)) >>"$dir/r.cp"
	rm -f "$dir/copy"
	load "$B" this
	[ -z "$base" ] || load "$base" base
done
store=$(du -sb "$dir/store/data" | awk '{ print $1 }')
rows=$("$E2" --store "$dir/store" describe x 2>/dev/null | awk '/rows/ { print $2; exit }')
best() { sort -g "$dir/r.$1" | tail -n 1; }
median() { sort -g "$dir/r.$1" | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
echo "csv: $bytes bytes, ${rows:-?} rows, 9 columns; store $(awk -v s="$store" -v b="$bytes" \
	'BEGIN { printf "%.2f", s / b }') x the file; $threads threads; best of $reps (median)"
for k in cat cp; do
	printf '  %-6s %s GB/s (%s)\n' "$k" "$(best $k)" "$(median $k)"
done
for t in this ${base:+base}; do
	for k in first again; do
		printf '  %-6s %-4s %s GB/s (%s), CPU %s ms per 1e9 bytes\n' "$k" "$t" \
			"$(best $k.$t)" "$(median $k.$t)" "$(median c$k.$t)"
	done
done
awk -v f="$(median first.this)" -v a="$(median again.this)" -v c="$(median cp)" -v t="$(median cat)" 'BEGIN {
	printf "  ratios (median): first/cp %.2f, again/cp %.2f, first/cat %.3f; vs the 1 GB/s target: first %.2f, again %.2f\n",
		f / c, a / c, f / t, f, a }'
if [ -n "$base" ]; then
	for k in first again; do
		awk -v k="$k" -v b1="$(best $k.this)" -v b0="$(best $k.base)" \
			-v m1="$(median $k.this)" -v m0="$(median $k.base)" \
			-v c1="$(median c$k.this)" -v c0="$(median c$k.base)" 'BEGIN {
			printf "  this/base %-5s GB/s best x%.2f, median x%.2f; CPU x%.3f\n",
				k, b1 / b0, m1 / m0, c1 / c0 }'
	done
fi
rm -f "$dir"/r.* "$dir"/t0 "$dir"/t1
