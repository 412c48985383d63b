# SPDX-License-Identifier: MIT
# remote.sh - sourced by the remote_* integration scripts (not a test of
# its own). Set NAME first; it sources node.sh (E2, NODE, fail, running),
# makes the scratch directory T (removed on exit, with every node started
# here killed; a script adds its own clean-up to RN_CLEANUP) and gives:
#   rnode_start STORE LOG [ARGS...]
#                 starts `eau2-node --store STORE --listen 127.0.0.1:0 ARGS`
#                 in the background, its stderr appended to LOG, and waits
#                 (30 s at most) for the log line that says which port it
#                 took; sets RN_PID and RN_ADDR (127.0.0.1:PORT). Exits 77
#                 when this eau2-node cannot --listen yet.
#   rnode_stop PID
#                 SIGTERM, then SIGKILL after 10 s; fails if it must kill.
#   rnode_kill PID
#                 SIGKILL and reap.
#   mk_types_csv FILE ROWS
#                 a CSV (schema $TYPES_SCHEMA) of every type with nulls,
#                 empty strings, quotes, commas, newlines inside fields,
#                 extreme ints and doubles, and two 1 MiB strings.
#   expect STATUS CMD...
#                 runs CMD (stdout in $T/out, stderr in $T/err); fails
#                 unless it exits STATUS.
#   err_has TEXT  fails unless $T/err contains TEXT (any case).
#   same A B WHAT fails unless files A and B are byte-identical.
#   data_kb DIR   KiB used by the files of DIR/data (du).
. "$(dirname "$0")/lib/node.sh"
base=${RN_BASE:-/dev/shm}
[ -d "$base" ] && [ -w "$base" ] || base=${TMPDIR:-/tmp}
T=$(mktemp -d "$base/eau2-$NAME-XXXXXX") || exit 1
RN_CLEANUP=:
trap 'eval "$RN_CLEANUP"; rnode_cleanup; rm -rf "$T"' EXIT
trap 'exit 1' INT TERM
RN_PIDS=
TYPES_SCHEMA=b:bool,i:int,d:double,s:string

rnode_start() {
	rn_store=$1
	rn_log=$2
	shift 2
	touch "$rn_log"
	rn_skip=$(wc -l <"$rn_log")
	"$NODE" --store "$rn_store" --listen 127.0.0.1:0 "$@" 2>>"$rn_log" &
	RN_PID=$!
	RN_PIDS="$RN_PIDS $RN_PID"
	rn_i=0
	while :; do
		# "listening on HOST:PORT" or "listening on HOST:0, port PORT"
		RN_ADDR=$(tail -n +"$((rn_skip + 1))" "$rn_log" | sed -n \
			-e 's/.*listening on \([0-9.]*\):0, port \([1-9][0-9]*\).*/\1:\2/p' \
			-e 's/.*listening on \([0-9.]*:[1-9][0-9]*\).*/\1/p' | head -n 1)
		[ -n "$RN_ADDR" ] && break
		if ! running "$RN_PID"; then
			if grep -q "not supported yet" "$rn_log"; then
				echo "$NAME: this eau2-node cannot --listen yet: skipped"
				exit 77
			fi
			tail -n 5 "$rn_log" >&2
			fail "node on $rn_store exited before it listened"
		fi
		rn_i=$((rn_i + 1))
		[ $rn_i -gt 600 ] && fail "node on $rn_store did not listen in 30 s"
		sleep 0.05
	done
}

rnode_stop() {
	kill -TERM "$1" 2>/dev/null
	rn_i=0
	while running "$1"; do
		rn_i=$((rn_i + 1))
		if [ $rn_i -gt 200 ]; then
			kill -9 "$1" 2>/dev/null
			fail "node $1 did not stop on SIGTERM in 10 s"
		fi
		sleep 0.05
	done
	wait "$1" 2>/dev/null
	return 0
}

rnode_kill() {
	kill -9 "$1" 2>/dev/null
	wait "$1" 2>/dev/null
	return 0
}

rnode_cleanup() {
	for p in $RN_PIDS; do
		kill -9 "$p" 2>/dev/null
	done
	for p in $RN_PIDS; do
		wait "$p" 2>/dev/null
	done
}

mk_types_csv() {
	awk -v rows="$2" 'BEGIN {
		big = "x"
		while (length(big) < 1048576)
			big = big big
		print "b,i,d,s"
		for (r = 0; r < rows; r++) {
			b = (r % 3 == 0) ? "true" : "false"
			i = (r * 7919) % 1000003 - 500001
			d = (r % 5) ? sprintf("%.17g", r / 7.0 - 1000) : sprintf("%.17g", r * 1e-300)
			s = "\"w" r " \"\"q\"\", c\""
			if (r % 11 == 0) s = "\"\""
			if (r % 13 == 0) s = "\"line1\nline2\""
			if (r == 5 || r == rows - 2) s = big
			if (r % 7 == 0) b = ""
			if (r % 17 == 0) i = ""
			if (r % 19 == 0) d = ""
			if (r % 23 == 0) s = ""
			if (r == 1) { i = "-9223372036854775808"; d = "1.7976931348623157e308" }
			if (r == 2) { i = "9223372036854775807"; d = "-0" }
			if (r == 3) { d = "4.9406564584124654e-324" }
			print b "," i "," d "," s
		}
	}' >"$1"
}

expect() {
	rn_want=$1
	shift
	"$@" >"$T/out" 2>"$T/err"
	rn_got=$?
	[ "$rn_got" = "$rn_want" ] || {
		cat "$T/err" >&2
		fail "'$*' exited $rn_got, want $rn_want"
	}
}

err_has() {
	grep -qiF -- "$1" "$T/err" || { cat "$T/err" >&2; fail "stderr lacks '$1'"; }
}

same() {
	cmp -s "$1" "$2" || {
		ls -l "$1" "$2" >&2
		cmp "$1" "$2" 2>&1 | head -n 3 >&2
		fail "$3: $1 and $2 differ"
	}
}

data_kb() {
	du -sk "$1/data" | cut -f1
}
