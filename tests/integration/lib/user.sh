# SPDX-License-Identifier: MIT
# user.sh - sourced after cli.sh (or once T is set) by the tests that need a
# second, unprivileged user: they must run as root (CI does). Gives:
#   make_user        creates a throwaway user U (uid UID_U, gid GID_U),
#                    removed on exit with T, also when the test fails;
#                    exits 77 (skipped) when it cannot be created
#   as_user CMD...   runs CMD as U (no supplementary groups)
[ "$(id -u)" = 0 ] || { echo "$NAME: needs root to add a second user: skipped"; exit 77; }
command -v useradd >/dev/null 2>&1 && command -v userdel >/dev/null 2>&1 &&
	command -v setpriv >/dev/null 2>&1 ||
	{ echo "$NAME: needs useradd, userdel and setpriv: skipped"; exit 77; }
U=
make_user() {
	U=e2t$$
	useradd -M -N -d / -s /bin/sh "$U" >/dev/null 2>&1 ||
		{ U=; echo "$NAME: cannot add a user: skipped"; exit 77; }
	UID_U=$(id -u "$U") && GID_U=$(id -g "$U") ||
		{ echo "$NAME: user $U has no ids: skipped"; exit 77; }
}
as_user() {
	setpriv --reuid="$UID_U" --regid="$GID_U" --clear-groups -- "$@"
}
user_cleanup() {
	[ -n "$U" ] && userdel "$U" >/dev/null 2>&1
	rm -rf "$T"
}
trap user_cleanup EXIT
