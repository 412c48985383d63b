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
#     /dev/null) on the big text, --reps times (best and median);
#   - the baseline `LC_ALL=C wc -w` on the big file (one thread).
# Prints each figure and the ratios big/small and big/wc; checks that the
# words counted equal wc -w's count (exit 1 if not).
# --base DIR: a second build (DIR holds its eau2 and bench_wordcount, e.g.
# main's) measured in the same run as a baseline: each of its figures is
# taken right before the same one of BUILD (base, then this build, run by
# run for the whole command), and the ratios this/base are printed. Both
# read the store that BUILD's eau2 loads (the format must be the same).
#
# Usage: bench/bench_wordcount.sh [--size BYTES] [--threads N] [--reps N]
#        [--dir DIR] [--keep] [--base DIR]
# Env: BUILD (default build) holds eau2 and bench_wordcount; DICT the word
# list. DIR (default /dev/shm/eau2-wcbench-$USER) keeps the text files
# between runs when --keep is given (they are regenerated when missing or
# of another size); otherwise it is removed at the end.
set -eu

size=1G threads=2 reps=3 keep=0 base=
dir=/dev/shm/eau2-wcbench-${USER:-$(id -u)}
while [ $# -gt 0 ]; do
	case $1 in
	--size) size=$2; shift 2 ;;
	--threads) threads=$2; shift 2 ;;
	--reps) reps=$2; shift 2 ;;
	--dir) dir=$2; shift 2 ;;
	--keep) keep=1; shift ;;
	--base) base=$2; shift 2 ;;
	*) echo "usage: $0 [--size BYTES] [--threads N] [--reps N] [--dir DIR] [--keep] [--base DIR]" >&2
	   exit 2 ;;
	esac
done
BUILD=${BUILD:-build}
DICT=${DICT:-/usr/share/dict/words}
for f in "$BUILD/eau2" "$BUILD/bench_wordcount" "$DICT" ${base:+"$base/eau2" "$base/bench_wordcount"}; do
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

inproc() { # inproc BUILDDIR KEY
	"$1/bench_wordcount" run --store "$store" --key "$2" --threads "$threads" --reps "$reps"
}
# the whole command --reps times: "best SECS median SECS"
whole() { # whole BUILDDIR... (one run of each, in turn, per rep)
	for r in $(seq "$reps"); do
		for b in "$@"; do
			t0=$(date +%s.%N)
			EAU2_NODE=0 "$b/eau2" --store "$store" run wordcount --input big > /dev/null
			t1=$(date +%s.%N)
			echo "$b $t0 $t1"
		done
	done
}
best_median() { # best_median BUILDDIR < whole's lines
	awk -v b="$1" '$1 == b { t[n++] = $3 - $2 } END {
		for (i = 1; i < n; i++) for (j = i; j > 0 && t[j] < t[j - 1]; j--) {
			x = t[j]; t[j] = t[j - 1]; t[j - 1] = x }
		printf "best %.4f median %.4f\n", t[0], t[int(n / 2)] }'
}

if [ -n "$base" ]; then
	bbig=$(inproc "$base" big)
fi
big=$(inproc "$BUILD" big)
if [ -n "$base" ]; then
	bsmall=$(inproc "$base" small)
fi
small=$(inproc "$BUILD" small)
runs=$(whole ${base:+"$base"} "$BUILD")
cmd=$(echo "$runs" | best_median "$BUILD")
[ -z "$base" ] || bcmd=$(echo "$runs" | best_median "$base")

t1=$(date +%s.%N)
wcw=$(LC_ALL=C wc -w < "$dir/big.txt")
t2=$(date +%s.%N)

bytes=$(field text "$big")
report() { # report LABEL BIG SMALL CMD
	awk -v b="$bytes" -v th="$threads" -v label="$1" \
	    -v gb="$(field gbps "$2")" -v mb="$(field median_gbps "$2")" \
	    -v gs="$(field gbps "$3")" -v ms="$(field median_gbps "$3")" \
	    -v cb="$(field cpu "$2")" -v cs="$(field cpu "$3")" \
	    -v tb="$(field best "$4")" -v tm="$(field median "$4")" \
	    -v db="$(field distinct "$2")" -v ds="$(field distinct "$3")" 'BEGIN {
	printf "%s: wordcount, %.2f GB of text, %d threads (best, median of the runs)\n", label, b / 1e9, th
	printf "  big   (%d distinct words): %.3f GB/s, median %.3f (CPU %.3f s)\n", db, gb, mb, cb
	printf "  small (%d distinct words): %.3f GB/s, median %.3f (CPU %.3f s)\n", ds, gs, ms, cs
	printf "  eau2 run wordcount (whole command, big): %.3f GB/s, median %.3f\n", b / tb / 1e9, b / tm / 1e9
}'
}
[ -z "$base" ] || report "base ($base)" "$bbig" "$bsmall" "$bcmd"
report "$BUILD" "$big" "$small" "$cmd"
awk -v b="$bytes" -v t1="$t1" -v t2="$t2" -v mb="$(field median_gbps "$big")" \
    -v ms="$(field median_gbps "$small")" 'BEGIN {
	wc = b / (t2 - t1) / 1e9
	printf "  wc -w (big, 1 thread): %.3f GB/s\n", wc
	printf "  ratios (median): big/small %.2f, big/wc %.2f\n", mb / ms, mb / wc
}'
if [ -n "$base" ]; then
	ratio() { # ratio FIELD THIS BASE: base's time or GB/s over this one's
		awk -v x="$(field "$1" "$2")" -v y="$(field "$1" "$3")" -v inv="${4:-0}" \
		    'BEGIN { printf "%.2f", inv ? y / x : x / y }'
	}
	echo "  this/base: big best x$(ratio gbps "$big" "$bbig") median x$(ratio median_gbps "$big" "$bbig")" \
	     "CPU x$(ratio cpu "$big" "$bbig" 1);" \
	     "small best x$(ratio gbps "$small" "$bsmall") median x$(ratio median_gbps "$small" "$bsmall")" \
	     "CPU x$(ratio cpu "$small" "$bsmall" 1);" \
	     "whole command best x$(ratio best "$cmd" "$bcmd" 1) median x$(ratio median "$cmd" "$bcmd" 1)" \
	     "(speed-ups: over 1 is faster)"
	[ "$(field words "$bbig")" = "$(field words "$big")" ] &&
	[ "$(field distinct "$bbig")" = "$(field distinct "$big")" ] || {
		echo "bench_wordcount.sh: base and this build count differently" >&2; exit 1; }
fi
words=$(field words "$big")
if [ "$words" != "$wcw" ]; then
	echo "bench_wordcount.sh: wordcount counted $words words, wc -w $wcw" >&2
	exit 1
fi
echo "  words: $words (equal to wc -w)"
