#!/bin/sh
# SPDX-License-Identifier: MIT
# Fails when libeau2.a defines a global symbol without the eau2_ prefix.
set -eu
bad=$(nm -g --defined-only "$1" | awk 'NF == 3 && $2 ~ /[TDBR]/ {print $3}' |
	grep -v '^eau2_' || true)
if [ -n "$bad" ]; then
	echo "unprefixed global symbols in $1:" >&2
	echo "$bad" >&2
	exit 1
fi
echo "symbols: all global symbols carry the eau2_ prefix"
