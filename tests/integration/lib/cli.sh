# SPDX-License-Identifier: MIT
# cli.sh - sourced by the command-line integration scripts (not a test of
# its own). Set NAME first. Gives: BIN (the eau2 binary), T (a scratch
# directory removed on exit), S (a store inside it), and
#   E ARGS...            run eau2 on the store S
#   fail MSG             report and exit 1
#   expect STATUS CMD... run CMD, stdout to $T/out and stderr to $T/err;
#                        fail unless it exits STATUS; a failing command
#                        must say why in one line "eau2: ..." on stderr
#   err_has TEXT         fail unless $T/err contains TEXT
#   private_mounts       run the rest of the script in a private mount
#                        namespace (same T); skipped (77) without unshare
BIN=${EAU2_BIN_DIR:?EAU2_BIN_DIR must name the build directory}/eau2
if [ ! -x "$BIN" ]; then
	echo "$NAME: $BIN is missing" >&2
	exit 1
fi
base=/dev/shm
[ -d "$base" ] && [ -w "$base" ] || base=${TMPDIR:-/tmp}
T=$(mktemp -d "$base/eau2-$NAME-XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT
trap 'exit 1' INT TERM
S=$T/store
LC_ALL=C
export LC_ALL

E() { "$BIN" --store "$S" "$@"; }
fail() {
	echo "$NAME: FAIL: $*" >&2
	exit 1
}
expect() {
	want=$1
	shift
	"$@" >"$T/out" 2>"$T/err"
	got=$?
	if [ "$got" != "$want" ]; then
		echo "--- stdout" >&2; head -n 50 "$T/out" >&2
		echo "--- stderr" >&2; cat "$T/err" >&2
		fail "'$*' exited $got, want $want"
	fi
	if [ "$want" != 0 ]; then
		[ "$(wc -l <"$T/err")" -eq 1 ] && grep -q '^eau2: ' "$T/err" ||
			{ cat "$T/err" >&2; fail "'$*': want one line 'eau2: ...'"; }
	fi
}

err_has() {
	grep -qF -- "$1" "$T/err" || { cat "$T/err" >&2; fail "stderr lacks '$1'"; }
}

private_mounts() {
	if [ "${EAU2_IT_INNER:-}" != 1 ]; then
		command -v unshare >/dev/null || { echo "$NAME: no unshare: skipped"; exit 77; }
		EAU2_IT_INNER=1 EAU2_IT_DIR=$T unshare -m sh "$0"
		exit $?
	fi
	rmdir "$T" # the outer run's directory is used (and removed) instead
	T=$EAU2_IT_DIR
	mount --make-rprivate / 2>/dev/null
}
