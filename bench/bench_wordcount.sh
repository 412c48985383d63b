#!/bin/sh
# SPDX-License-Identifier: MIT
# bench_wordcount.sh - word count on real text with a large vocabulary.
#
# Makes two text files of --size bytes (default 1G) with bench_wordcount
# gen: "big", Zipf-distributed words (s = 1) over the whole dictionary
# (Debian wamerican-insane, /usr/share/dict/words: ~660,000 words, all of
# which occur), and "small", the same over 50,000 of its words (the size of
# `eau2 bench`'s own vocabulary). Loads both with `eau2 load --format
# lines` into a scratch store, then in the same run:
#   - the wordcount rower in process on --threads threads (default 2),
#     --reps runs each (default 3), GB/s of the best and the median run;
#   - `eau2 run wordcount` as a whole command (process, mapping, output to
#     /dev/null) on the big text, once;
#   - the baseline `LC_ALL=C wc -w` on the big file (one thread).
# Prints each figure and the ratios big/small and big/wc; checks that the
# words counted equal wc -w's count (exit 1 if not).
#
# Usage: bench/bench_wordcount.sh [--size BYTES] [--threads N] [--reps N]
#        [--dir DIR] [--keep]
# Env: BUILD (default build) holds eau2 and bench_wordcount; DICT the word
# list. DIR (default /dev/shm/eau2-wcbench-$USER) keeps the text files
# between runs when --keep is given (they are regenerated when missing or
# of another size); otherwise it is removed at the end.
set -eu

size=1G threads=2 reps=3 keep=0
dir=/dev/shm/eau2-wcbench-${USER:-$(id -u)}
while [ $# -gt 0 ]; do
	case $1 in
	--size) size=$2; shift 2 ;;
	--threads) threads=$2; shift 2 ;;
	--reps) reps=$2; shift 2 ;;
	--dir) dir=$2; shift 2 ;;
	--keep) keep=1; shift ;;
	*) echo "usage: $0 [--size BYTES] [--threads N] [--reps N] [--dir DIR] [--keep]" >&2
	   exit 2 ;;
	esac
done
BUILD=${BUILD:-build}
DICT=${DICT:-/usr/share/dict/words}
for f in "$BUILD/eau2" "$BUILD/bench_wordcount" "$DICT"; do
	[ -e "$f" ] || { echo "bench_wordcount.sh: $f missing (build first; DICT: apt-get install wamerican-insane)" >&2; exit 1; }
done

mkdir -p "$dir"
store=$dir/store
cleanup() {
	rm -rf "$store"
	[ "$keep" = 1 ] || rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
rm -rf "$store"

for t in big small; do
	stamp="$dir/$t.args"
	want="size=$size dict=$(wc -l < "$DICT")"
	if [ ! -s "$dir/$t.txt" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
		vocab=""
		[ $t = small ] && vocab="--vocab 50000"
		# shellcheck disable=SC2086
		"$BUILD/bench_wordcount" gen --dict "$DICT" --out "$dir/$t.txt" \
			--size "$size" $vocab
		echo "$want" > "$stamp"
	fi
	"$BUILD/eau2" --store "$store" load "$dir/$t.txt" --format lines --as $t >&2
done

field() { # field NAME LINE
	echo "$2" | awk -v k="$1" '{ for (i = 1; i < NF; i++) if ($i == k) print $(i + 1) }'
}

big=$("$BUILD/bench_wordcount" run --store "$store" --key big --threads "$threads" --reps "$reps")
small=$("$BUILD/bench_wordcount" run --store "$store" --key small --threads "$threads" --reps "$reps")

t0=$(date +%s.%N)
EAU2_NODE=0 "$BUILD/eau2" --store "$store" run wordcount --input big > /dev/null
t1=$(date +%s.%N)
wcw=$(LC_ALL=C wc -w < "$dir/big.txt")
t2=$(date +%s.%N)

bytes=$(field text "$big")
awk -v b="$bytes" -v t0="$t0" -v t1="$t1" -v t2="$t2" -v th="$threads" \
    -v gb="$(field gbps "$big")" -v mb="$(field median_gbps "$big")" \
    -v gs="$(field gbps "$small")" -v ms="$(field median_gbps "$small")" \
    -v db="$(field distinct "$big")" -v ds="$(field distinct "$small")" 'BEGIN {
	cmd = b / (t1 - t0) / 1e9; wc = b / (t2 - t1) / 1e9
	printf "wordcount, %.2f GB of text, %d threads (best, median of the runs)\n", b / 1e9, th
	printf "  big   (%d distinct words): %.3f GB/s, median %.3f\n", db, gb, mb
	printf "  small (%d distinct words): %.3f GB/s, median %.3f\n", ds, gs, ms
	printf "  eau2 run wordcount (whole command, big): %.3f GB/s\n", cmd
	printf "  wc -w (big, 1 thread): %.3f GB/s\n", wc
	printf "  ratios (median): big/small %.2f, big/wc %.2f\n", mb / ms, mb / wc
}'
words=$(field words "$big")
if [ "$words" != "$wcw" ]; then
	echo "bench_wordcount.sh: wordcount counted $words words, wc -w $wcw" >&2
	exit 1
fi
echo "  words: $words (equal to wc -w)"
