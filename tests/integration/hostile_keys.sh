#!/bin/sh
# SPDX-License-Identifier: MIT
# hostile_keys.sh - a key file that cannot be read or parsed (garbage
# written into it, or mode 000) never makes a read-only command destroy
# data: `eau2 ls` (whose open cleans the store up) warns, naming the key,
# removes nothing, and the dataframe is whole once the key is repaired.
# The mode-000 case runs as a throwaway second user, since root reads
# mode 000 files (skipped, 77, where no user can be made).
set -u

NAME=hostile_keys
. "$(dirname "$0")/lib/cli.sh"
. "$(dirname "$0")/lib/user.sh"

"$BIN" gen mixed --out "$T/m.csv" --rows 3000 2>/dev/null || fail "gen"
expect 0 E load "$T/m.csv" --as k
expect 0 E export k -
cp "$T/out" "$T/want"
nfiles=$(ls "$S/data" | wc -l)

# --- garbage in the key file ------------------------------------------------
cp "$S/keys/k" "$T/saved"
printf 'this is not an id\n' >"$S/keys/k"
expect 0 E ls
[ "$(ls "$S/data" | wc -l)" -eq "$nfiles" ] || fail "ls removed data files under a garbled key"
err_has "key 'k'"
err_has "removed nothing"
cp "$T/saved" "$S/keys/k"
expect 0 E export k -
cmp -s "$T/out" "$T/want" || fail "the dataframe changed under a garbled key"

# --- mode 000, as another user -------------------------------------------
make_user
chmod 0711 "$T"
mkdir "$T/u" && chown "$UID_U" "$T/u" || fail "mkdir"
US=$T/u/store
cp "$T/m.csv" "$T/u.csv" && chmod 0644 "$T/u.csv"
as_user "$BIN" --store "$US" load "$T/u.csv" --as k 2>"$T/err" || { cat "$T/err" >&2; fail "load as $U"; }
n2=$(ls "$US/data" | wc -l)
as_user chmod 000 "$US/keys/k" || fail "chmod as $U"
as_user "$BIN" --store "$US" ls >"$T/out" 2>"$T/err" || { cat "$T/err" >&2; fail "ls as $U"; }
[ "$(ls "$US/data" | wc -l)" -eq "$n2" ] || fail "ls removed data files under an unreadable key"
err_has "key 'k'"
as_user chmod 600 "$US/keys/k" || fail "chmod as $U"
as_user "$BIN" --store "$US" export k - >"$T/out" 2>"$T/err" || { cat "$T/err" >&2; fail "export as $U"; }
cmp -s "$T/out" "$T/want" || fail "the dataframe changed under an unreadable key"
exit 0
