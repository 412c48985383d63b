#!/bin/sh
# SPDX-License-Identifier: MIT
# store_full.sh - a store that is full, of space or of inodes, is the
# user's to fix: exit 1 (not 2, "internal failure") and one line naming
# the input and the key, for `load` and for `run --as`; nothing is left
# under the key. Runs in a private mount namespace on small tmpfs mounts;
# skipped (77) where that is not allowed.
set -u

NAME=store_full
. "$(dirname "$0")/lib/cli.sh"

private_mounts
mkdir -p "$T/space" "$T/inodes"
mount -t tmpfs -o size=8m,mode=0700 tmpfs "$T/space" 2>/dev/null &&
	mount -t tmpfs -o size=64m,nr_inodes=12,mode=0700 tmpfs "$T/inodes" 2>/dev/null ||
	{ echo "$NAME: cannot mount a tmpfs: skipped"; exit 77; }
trap 'umount "$T/space" "$T/inodes" 2>/dev/null' EXIT

"$BIN" gen mixed --out "$T/big.csv" --size 24M 2>/dev/null || fail "gen"
printf 'a,b\n1,x\n2,y\n' >"$T/small.csv"

# --- out of space ---------------------------------------------------------
S=$T/space/store
expect 1 E load "$T/big.csv" --as big
err_has "loading $T/big.csv as 'big'"
err_has "store is full"
expect 0 E ls
[ -s "$T/out" ] && fail "a failed load left a key"

# --- out of inodes ----------------------------------------------------------
S=$T/inodes/store
i=0
while E load "$T/small.csv" --as "k$i" >"$T/out" 2>"$T/err"; do
	i=$((i + 1))
	[ $i -gt 20 ] && fail "12 inodes held 20 dataframes"
done
expect 1 E load "$T/small.csv" --as "k$i"
err_has "loading $T/small.csv as 'k$i'"
err_has "out of space or inodes"
expect 1 E run filter --input k0 --arg "where=a > 1" --as f
err_has "run filter as 'f'"
err_has "out of space or inodes"
exit 0
