#!/bin/sh
# SPDX-License-Identifier: MIT
# hostile_store_link.sh - the store path is never a symbolic link another
# user planted: such a link (in a shared directory, to an empty directory
# of the victim's) is refused with a clear error and nothing is created
# where it points; the user's own link to a store still works. Runs as
# root with a throwaway second user (skipped, 77, where none can be made).
set -u

NAME=hostile_store_link
. "$(dirname "$0")/lib/cli.sh"
. "$(dirname "$0")/lib/user.sh"
make_user

chmod 0711 "$T"
D=$T/shared
mkdir "$D" && chmod 1777 "$D" # like /dev/shm
mkdir "$T/victim" && chmod 0700 "$T/victim"
as_user ln -s "$T/victim" "$D/eau2-root" || fail "planting a link"
expect 1 "$BIN" --store "$D/eau2-root" ls
err_has "symbolic link owned by uid $UID_U"
[ -z "$(ls -A "$T/victim")" ] || fail "eau2 created files through a planted link"
expect 1 env EAU2_STORE="$D/eau2-root" "$BIN" ls
err_has "refused"

# The user's own link is theirs to follow.
ln -s "$T/victim" "$T/mine" || fail "ln"
printf 'a\n1\n' >"$T/in.csv"
expect 0 "$BIN" --store "$T/mine" load "$T/in.csv" --as k
expect 0 "$BIN" --store "$T/victim" ls
grep -q '^k ' "$T/out" || fail "the store behind the user's own link"
exit 0
