#!/bin/sh
# SPDX-License-Identifier: MIT
# hostile_links.sh - files eau2 writes for a user (export, gen, the
# mandelbrot image) never follow a link another user planted in a shared
# directory: the old fixed temporary names (FILE.tmp, FILE.part-PID) and
# the target itself are planted as symlinks to a root-owned file, which
# must come out untouched while the outputs are right. Runs as root with a
# throwaway second user (skipped, 77, where one cannot be made).
set -u

NAME=hostile_links
. "$(dirname "$0")/lib/cli.sh"
. "$(dirname "$0")/lib/user.sh"
make_user
command -v perl >/dev/null 2>&1 || { echo "$NAME: needs perl: skipped"; exit 77; }

chmod 0711 "$T"
D=$T/shared
mkdir "$D" && chmod 0777 "$D" # shared, and not sticky
printf 'precious\n' >"$T/victim"
chmod 0644 "$T/victim"
victim_intact() {
	[ "$(cat "$T/victim")" = precious ] || fail "$1 wrote through a planted link into $T/victim"
}

printf 'a,b\n1,x\n2,y\n' >"$T/in.csv"
expect 0 E load "$T/in.csv" --as k

# --- export: FILE.tmp was the temporary --------------------------------------
as_user ln -s "$T/victim" "$D/out.csv.tmp" || fail "planting a link"
expect 0 E export k "$D/out.csv"
victim_intact "export"
[ -L "$D/out.csv.tmp" ] || fail "export replaced the planted link"
[ -f "$D/out.csv" ] && [ ! -L "$D/out.csv" ] || fail "export: no regular out.csv"
printf 'a,b\n1,x\n2,y\n' | cmp -s - "$D/out.csv" || fail "export: wrong content"
ls "$D" | grep -q 'out\.csv\.tmp-' && fail "export left its temporary"

# The target itself a planted link: replaced by the new file, never
# written through.
as_user ln -s "$T/victim" "$D/out2.csv" || fail "planting a link"
expect 0 E export k "$D/out2.csv"
victim_intact "export over a link"
[ -f "$D/out2.csv" ] && [ ! -L "$D/out2.csv" ] || fail "export: out2.csv is still a link"

# --- gen: FILE.part-PID was the temporary ------------------------------------
# Plant the names of the next few thousand pids in one process (perl), so
# gen's own pid is almost surely among them.
first=$(sh -c 'echo $$')
as_user perl -e 'for my $p ($ARGV[0] .. $ARGV[0] + 3000) { symlink($ARGV[1], "$ARGV[2].part-$p") }' \
	"$first" "$T/victim" "$D/g.csv" || fail "planting links"
expect 0 "$BIN" gen mixed --out "$D/g.csv" --rows 100
victim_intact "gen"
[ -f "$D/g.csv" ] && [ ! -L "$D/g.csv" ] || fail "gen: no regular g.csv"
[ "$(wc -l <"$D/g.csv")" -eq 101 ] || fail "gen: want 101 lines"
"$BIN" gen mixed --rows 100 --out - | cmp -s - "$D/g.csv" || fail "gen: content differs from stdout's"

# --- the mandelbrot rower's out=FILE -----------------------------------------
as_user ln -s "$T/victim" "$D/m.pgm" || fail "planting a link"
E run mandelbrot --arg width=8 --arg height=4 --arg iter=10 --arg out="$D/m.pgm" \
	--arg result=summary >"$T/out" 2>"$T/err" || { cat "$T/err" >&2; fail "mandelbrot out="; }
victim_intact "mandelbrot"
[ -f "$D/m.pgm" ] && [ ! -L "$D/m.pgm" ] || fail "mandelbrot: m.pgm is still a link"
[ "$(wc -c <"$D/m.pgm")" -eq $((8 * 4 + 11)) ] || fail "mandelbrot: PGM size"
exit 0
