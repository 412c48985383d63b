#!/bin/sh
# SPDX-License-Identifier: MIT
# Keeps the arrows between modules pointing down: fails when a file of
# src/<module>/ includes a header of a module above its own, or when a
# module (its own or one it includes) is not in the order below, so that
# a new module has to be given its place. Usage: check_layers.sh SRC_DIR
set -eu
src=${1:?usage: check_layers.sh SRC_DIR}
# Bottom to top: a module may include the headers of those before it.
order="util shm df rowers uring_net node cluster apps api"

rank() {
	i=0
	for m in $order; do
		[ "$m" = "$1" ] && { echo "$i"; return 0; }
		i=$((i + 1))
	done
	echo -1
}

bad=0
for dir in "$src"/*/; do
	mod=$(basename "$dir")
	r=$(rank "$mod")
	if [ "$r" -lt 0 ]; then
		echo "src/$mod: a module missing from the layer order ($order)" >&2
		bad=1
		continue
	fi
	for f in "$dir"*.c "$dir"*.h; do
		[ -f "$f" ] || continue
		# #include "module/header.h": the module is what precedes the slash.
		deps=$(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([A-Za-z0-9_]*\)\/[^"]*".*/\1/p' "$f" | sort -u)
		for dep in $deps; do
			[ "$dep" = "$mod" ] && continue
			d=$(rank "$dep")
			if [ "$d" -lt 0 ]; then
				echo "src/$mod/$(basename "$f") includes $dep/, a module missing from the layer order" >&2
				bad=1
			elif [ "$d" -ge "$r" ]; then
				echo "src/$mod/$(basename "$f") includes $dep/, a module above $mod" >&2
				bad=1
			fi
		done
	done
done
[ "$bad" = 0 ] || { echo "layers: the arrows must point down ($order)" >&2; exit 1; }
echo "layers: every module includes only modules below it ($order)"
