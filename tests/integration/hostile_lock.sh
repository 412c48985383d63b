#!/bin/sh
# SPDX-License-Identifier: MIT
# hostile_lock.sh - readers never wait for a writer: with the store's
# writer lock held by a live process, and by a process stopped while
# holding it (SIGSTOP, as a writer stopped mid-publish would be),
# `eau2 describe`, `ls` and `export` answer within 2 s, with the right
# answer.
set -u

NAME=hostile_lock
. "$(dirname "$0")/lib/cli.sh"
command -v flock >/dev/null 2>&1 || { echo "$NAME: needs flock(1): skipped"; exit 77; }
command -v timeout >/dev/null 2>&1 || { echo "$NAME: needs timeout(1): skipped"; exit 77; }
HOLDER=
cleanup() {
	[ -n "$HOLDER" ] && { kill -CONT "$HOLDER"; kill "$HOLDER"; } 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT

ms() { echo $(($(date +%s%N) / 1000000)); }
# prompt CMD...: CMD succeeds within 2 s (killed after 10), output in $T/out.
prompt() {
	t0=$(ms)
	timeout 10 "$@" >"$T/out" 2>"$T/err" || { cat "$T/err" >&2; fail "'$*' failed or hung"; }
	dt=$(($(ms) - t0))
	[ "$dt" -lt 2000 ] || fail "'$*' took $dt ms behind the writer lock"
}

printf 'a,b\n1,x\n2,y\n3,z\n' >"$T/in.csv"
expect 0 E load "$T/in.csv" --as k
E describe k >"$T/describe.want" || fail "describe"
E ls >"$T/ls.want" || fail "ls"

for mode in held stopped; do
	# The holder is one process (sleep, after exec) holding the flock.
	(exec 9>>"$S/writer.lock" && flock 9 && exec sleep 60) >/dev/null 2>&1 &
	HOLDER=$!
	# until the holder has the lock
	i=0
	while flock -n "$S/writer.lock" true; do
		i=$((i + 1))
		[ $i -gt 200 ] && fail "flock did not take the lock"
		sleep 0.05
	done
	[ "$mode" = stopped ] && kill -STOP "$HOLDER"
	prompt "$BIN" --store "$S" describe k
	cmp -s "$T/out" "$T/describe.want" || fail "describe ($mode lock) answered wrong"
	prompt "$BIN" --store "$S" ls
	cmp -s "$T/out" "$T/ls.want" || fail "ls ($mode lock) answered wrong"
	prompt "$BIN" --store "$S" export k -
	cmp -s "$T/out" "$T/in.csv" || fail "export ($mode lock) answered wrong"
	kill -CONT "$HOLDER" 2>/dev/null
	kill "$HOLDER" 2>/dev/null
	wait "$HOLDER" 2>/dev/null
	HOLDER=
done
exit 0
