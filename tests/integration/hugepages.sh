#!/bin/sh
# SPDX-License-Identifier: MIT
# hugepages.sh - a store on a tmpfs mounted huge=within_size is backed by
# 2 MiB pages (the kernel says so: ShmemHugePages grows), says so (eau2
# bench, eau2-node), and holds the same dataframes as a store on 4 KiB
# pages: loads, runs and exports are identical. A store on hugetlbfs is
# refused with one line saying what to use instead. Runs in a private
# mount namespace; skipped (77) where mounts are not allowed, or where the
# kernel gives tmpfs no huge pages.
set -u

NAME=hugepages
. "$(dirname "$0")/lib/cli.sh"

private_mounts
grep -q '\[deny\]' /sys/kernel/mm/transparent_hugepage/shmem_enabled 2>/dev/null &&
	{ echo "$NAME: shmem huge pages denied by this kernel: skipped"; exit 77; }
mkdir -p "$T/huge" "$T/small" "$T/tlb"
mount -t tmpfs -o size=256m,mode=0700,huge=within_size tmpfs "$T/huge" 2>/dev/null &&
	mount -t tmpfs -o size=256m,mode=0700,huge=never tmpfs "$T/small" 2>/dev/null ||
	{ echo "$NAME: cannot mount a tmpfs with huge=: skipped"; exit 77; }
trap 'umount "$T/huge" "$T/small" "$T/tlb" 2>/dev/null' EXIT

huge_kb() { awk '/^ShmemHugePages:/ { print $2 }' /proc/meminfo; }

"$BIN" gen mixed --out "$T/m.csv" --size 40M --seed 3 2>/dev/null || fail "gen"

# --- the same data on both ------------------------------------------------
before=$(huge_kb)
for s in huge small; do
	S=$T/$s/store
	expect 0 E load "$T/m.csv" --as m
	expect 0 E run groupby --input m --arg by=name --arg agg=sum:qty,mean:price --as g
	expect 0 E export g "$T/$s.g.csv"
	expect 0 E export m "$T/$s.m.csv"
	expect 0 E run sum --input m --arg column=qty
	cp "$T/out" "$T/$s.sum"
done
after=$(huge_kb)
cmp -s "$T/huge.m.csv" "$T/small.m.csv" || fail "the loads differ between the stores"
cmp -s "$T/huge.g.csv" "$T/small.g.csv" || fail "groupby differs between the stores"
cmp -s "$T/huge.sum" "$T/small.sum" || fail "sum differs between the stores"
# 40 MB of CSV is about 45 MB of columns: most of it in whole huge pages.
[ $((after - before)) -ge 16384 ] ||
	fail "ShmemHugePages grew by $((after - before)) kB only: the store did not get huge pages"
rm -f "$T"/*.csv

# --- it says so -------------------------------------------------------------
S=$T/huge/store
expect 0 E bench --help
"$BIN" --store "$S" bench --size 4M --ops sum --clients 1 >"$T/out" 2>"$T/err" ||
	{ cat "$T/err" >&2; fail "bench on the huge store"; }
grep -q "pages (tmpfs huge=within_size)" "$T/out" ||
	{ head -3 "$T/out" >&2; fail "bench does not name the huge pages"; }
S=$T/small/store
"$BIN" --store "$S" bench --size 4M --ops sum --clients 1 >"$T/out" 2>"$T/err" ||
	{ cat "$T/err" >&2; fail "bench on the small store"; }
grep -q "(4 KiB pages)" "$T/out" || { head -3 "$T/out" >&2; fail "bench does not name 4 KiB pages"; }

NODE=$(dirname "$BIN")/eau2-node
S=$T/huge/store
"$NODE" --store "$S" >"$T/node.log" 2>&1 &
npid=$!
i=0
until grep -q "serving store" "$T/node.log"; do
	i=$((i + 1))
	[ $i -gt 600 ] && { kill $npid; cat "$T/node.log" >&2; fail "node did not start in 30 s"; }
	sleep 0.05
done
kill $npid
wait $npid
grep -q "KiB pages (tmpfs huge=within_size)" "$T/node.log" ||
	{ cat "$T/node.log" >&2; fail "eau2-node does not name the huge pages"; }

# --- hugetlbfs: refused, saying what to use -------------------------------
if mount -t hugetlbfs -o mode=0700 none "$T/tlb" 2>/dev/null; then
	S=$T/tlb/store
	expect 1 E ls
	err_has "hugetlbfs"
	err_has "huge=within_size"
fi
echo "$NAME: ok"
