#!/bin/sh
# SPDX-License-Identifier: MIT
# hostile_fifo.sh - a FIFO (or any file that is not a regular file) given
# as input is refused at once with a clear error, never waited on: `eau2
# load`, `eau2 run --plugin`, `eau2 rowers --plugin` and `eau2-node
# --plugin`, each within 2 s.
set -u

NAME=hostile_fifo
. "$(dirname "$0")/lib/cli.sh"
command -v mkfifo >/dev/null 2>&1 || { echo "$NAME: needs mkfifo: skipped"; exit 77; }
command -v timeout >/dev/null 2>&1 || { echo "$NAME: needs timeout(1): skipped"; exit 77; }
ms() { echo $(($(date +%s%N) / 1000000)); }
# refused CMD...: CMD exits 1 within 2 s (killed after 10) saying why.
refused() {
	t0=$(ms)
	timeout 10 "$@" >"$T/out" 2>"$T/err"
	rc=$?
	dt=$(($(ms) - t0))
	[ "$rc" = 124 ] && fail "'$*' hung on a FIFO"
	[ "$rc" = 1 ] || { cat "$T/err" >&2; fail "'$*' exited $rc, want 1"; }
	[ "$dt" -lt 2000 ] || fail "'$*' took $dt ms"
	err_has "not a regular file (a FIFO)"
}

mkfifo "$T/f.csv" "$T/f.sor" "$T/f.so" || { echo "$NAME: mkfifo failed: skipped"; exit 77; }
refused "$BIN" --store "$S" load "$T/f.csv" --as k
err_has "$T/f.csv"
refused "$BIN" --store "$S" load "$T/f.sor" --as k
refused "$BIN" --store "$S" run count --plugin "$T/f.so"
err_has "$T/f.so"
refused "$BIN" rowers --plugin "$T/f.so"
NODE=$EAU2_BIN_DIR/eau2-node
if [ -x "$NODE" ]; then
	refused "$NODE" --store "$S" --plugin "$T/f.so"
fi
expect 0 E ls
[ -s "$T/out" ] && fail "a refused load left a key"
exit 0
