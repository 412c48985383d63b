#!/bin/sh
# SPDX-License-Identifier: MIT
# remote_basic.sh - the eau2 command line against a real eau2-node
# listening on an ephemeral loopback port: push, pull and --remote load
# of every type (nulls, empty, quoted, multi-line, 1 MiB strings, extreme
# numbers, several row groups, zero rows) bit-identical by `eau2 export`
# of both sides; --remote ls, describe, head, export, rm and run against
# the same commands on the node's store; a remote run equals the local
# run; $EAU2_REMOTE as the default; errors name the key and the peer and
# exit 1. Skipped (77) when eau2-node cannot --listen.
set -u

NAME=remote_basic
. "$(dirname "$0")/lib/remote.sh"
A=$T/a   # this side's store
N=$T/n   # the node's store
S=$N     # for node.sh's fail (log) and E
ROWS=150000
[ -n "${EAU2_TEST_QUICK:-}" ] && ROWS=70000

EA() { "$E2" --store "$A" "$@"; }
EN() { "$E2" --store "$N" "$@"; }
ER() { "$E2" --store "$A" --remote "$ADDR" "$@"; }

mk_types_csv "$T/t.csv" "$ROWS"
printf 'b,i,d,s\n' >"$T/empty.csv"
"$E2" gen mixed --out "$T/m.csv" --rows "$ROWS" 2>/dev/null || fail "gen"
EA load "$T/t.csv" --as t --schema "$TYPES_SCHEMA" 2>/dev/null || fail "load t"
EA load "$T/empty.csv" --as empty --schema "$TYPES_SCHEMA" 2>/dev/null || fail "load empty"
EA load "$T/m.csv" --as m 2>/dev/null || fail "load m"
[ "$(EA describe t | sed -n 's/^row groups *//p')" -ge 2 ] || fail "t has one row group"
for k in t empty m; do
	EA export "$k" "$T/$k.a" || fail "export $k"
done
grep -q xxxxxxxxxxxxxxxx "$T/t.a" || fail "no long string in t"

rnode_start "$N" "$T/node.log"
ADDR=$RN_ADDR
grep -q "loopback" "$T/node.log" || fail "the node does not say it serves loopback only"

# push: what the node stores exports the same bytes.
for k in t empty m; do
	expect 0 EA push "$k" "$ADDR"
	err_has "$ADDR"
	EN export "$k" "$T/$k.n" || fail "export $k on the node's store"
	same "$T/$k.a" "$T/$k.n" "push $k"
	ER export "$k" "$T/$k.r" || fail "--remote export $k"
	same "$T/$k.a" "$T/$k.r" "--remote export $k"
done
expect 0 EA push t "$ADDR" --as t2
EN export t2 "$T/t2.n" && same "$T/t.a" "$T/t2.n" "push --as"

# pull, into another key and over an existing one.
expect 0 EA pull "$ADDR" t2 --as back
EA export back "$T/back.a" && same "$T/t.a" "$T/back.a" "pull --as"
expect 0 EA pull "$ADDR" m --as back
EA export back "$T/back.a" && same "$T/m.a" "$T/back.a" "pull over a key"
expect 0 EA pull "$ADDR" empty
EA export empty "$T/e2.a" && same "$T/empty.a" "$T/e2.a" "pull of zero rows"

# load --remote: parsed here, stored there; nothing stays here.
before=$(EA ls | wc -l)
expect 0 ER load "$T/m.csv" --as m3
EN export m3 "$T/m3.n" && same "$T/m.a" "$T/m3.n" "--remote load"
[ "$(EA ls | wc -l)" = "$before" ] || fail "--remote load left a key here"

# ls, describe, head: as on the node's own store.
ER ls >"$T/ls.r" || fail "--remote ls"
EN ls >"$T/ls.n"
same "$T/ls.n" "$T/ls.r" "ls"
ER ls --json >"$T/ls.r" && EN ls --json >"$T/ls.n" && same "$T/ls.n" "$T/ls.r" "ls --json"
for k in t m; do
	ER head "$k" -n 7 >"$T/h.r" || fail "--remote head $k"
	EN head "$k" -n 7 >"$T/h.n"
	same "$T/h.n" "$T/h.r" "head $k"
	# The sizes and the schema (the per-column stats stay on the node).
	ER describe "$k" | awk '{ print $1, $2 }' >"$T/d.r" ||
		fail "--remote describe $k"
	EN describe "$k" | awk '{ print $1, $2 }' >"$T/d.n"
	same "$T/d.n" "$T/d.r" "describe $k"
	ER describe "$k" --json >"$T/d.r" || fail "--remote describe --json $k"
	grep -q '"nulls":null' "$T/d.r" || fail "--remote describe --json: stats"
done

# run: the remote run prints what the local run prints; --as stores there.
for q in "count --input m" "sum --input m --arg columns=id,qty,price" \
	"groupby --input m --arg by=flag --arg agg=count,sum:qty,mean:price" \
	"distinct --input t --arg columns=b" "mandelbrot --arg width=64 --arg height=32"; do
	# shellcheck disable=SC2086
	ER run $q >"$T/run.r" 2>"$T/err" || { cat "$T/err" >&2; fail "--remote run $q"; }
	# shellcheck disable=SC2086
	EA run $q >"$T/run.a" 2>/dev/null || fail "local run $q"
	same "$T/run.a" "$T/run.r" "run $q"
done
expect 0 ER run filter --input m --arg "where=qty > 50" --as big
EA run filter --input m --arg "where=qty > 50" --as big 2>/dev/null
EN export big "$T/big.n" && EA export big "$T/big.a" && same "$T/big.a" "$T/big.n" "run --as"
EN ls | grep -q '^big ' || fail "run --as did not store on the node"

# rm.
expect 0 ER rm t2
EN ls | grep -q '^t2 ' && fail "--remote rm left t2"
expect 1 ER rm t2
err_has "t2"

# $EAU2_REMOTE is the default --remote.
EAU2_REMOTE=$ADDR EA ls >"$T/ls.e" || fail "EAU2_REMOTE ls"
ER ls >"$T/ls.r"
same "$T/ls.r" "$T/ls.e" "EAU2_REMOTE"
EAU2_REMOTE=$ADDR EA push t "$ADDR" --as t4 2>/dev/null || fail "push with EAU2_REMOTE set"

# Errors: the key and the peer are named, exit 1.
expect 1 ER describe nosuchkey
err_has nosuchkey
expect 1 ER export nosuchkey "$T/x.csv"
[ -e "$T/x.csv" ] && fail "a failed export left its file"
expect 1 EA pull "$ADDR" nosuchkey
err_has nosuchkey
expect 1 EA push nosuchkey "$ADDR"
err_has nosuchkey
expect 1 ER run count --input nosuchkey
err_has nosuchkey
expect 1 ER run nosuchrower --input m
err_has nosuchrower
expect 1 EA --remote "$ADDR" push t "$ADDR"
expect 1 "$E2" --store "$A" --remote "$ADDR" bench
# A port where nothing listens: the peer is named.
"$NODE" --help >/dev/null 2>&1
expect 1 "$E2" --store "$A" --remote 127.0.0.1:1 ls
err_has 127.0.0.1:1
expect 1 EA push t 127.0.0.1:1
err_has 127.0.0.1:1
expect 1 EA push t "not an address"
expect 1 "$E2" --store "$A" --timeout 0 --remote "$ADDR" ls

# The node served everyone and logged them.
grep -q "127.0.0.1" "$T/node.log" || fail "no peer in the node's log"
running "$RN_PID" || fail "the node died"
rnode_stop "$RN_PID"
echo "remote_basic: ok"
