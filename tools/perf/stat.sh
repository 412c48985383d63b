#!/bin/sh
# SPDX-License-Identifier: MIT
# stat.sh - `perf stat` of any command (typically an eau2 command) with the
# counters this host has: hardware counters (cycles, instructions, branches,
# cache misses) where the CPU or hypervisor exposes them, and the software
# ones (task-clock, context switches, migrations, page faults) everywhere.
# The command's exit status is returned.
set -u

repeat=1
outfile=

usage() {
	cat <<USAGE
usage: tools/perf/stat.sh [-r N] [-o FILE] [--] CMD [ARGS...]

Runs CMD under 'perf stat' with every counter from the list below that
this host supports (probed with 'perf stat -e EVENT true'):
  hardware: cycles instructions branches branch-misses cache-references
            cache-misses L1-dcache-loads L1-dcache-load-misses LLC-loads
            LLC-load-misses
  software: task-clock context-switches cpu-migrations page-faults
            minor-faults major-faults

  -r N       run CMD N times and report mean and variation (perf stat -r)
  -o FILE    write the counts to FILE instead of stderr
  -h, --help this help

Needs perf (Debian: apt-get install linux-perf) and
kernel.perf_event_paranoid <= 2 for non-root users.
USAGE
}

while [ $# -gt 0 ]; do
	case $1 in
	-h|--help) usage; exit 0 ;;
	-r) [ $# -ge 2 ] || { echo "stat.sh: -r needs a count" >&2; exit 2; }
	    repeat=$2; shift 2 ;;
	-o) [ $# -ge 2 ] || { echo "stat.sh: -o needs a file" >&2; exit 2; }
	    outfile=$2; shift 2 ;;
	--) shift; break ;;
	-*) echo "stat.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
	*) break ;;
	esac
done
if [ $# -eq 0 ]; then
	echo "stat.sh: no command to measure (see --help)" >&2
	exit 2
fi
case $repeat in
''|*[!0-9]*|0) echo "stat.sh: -r: '$repeat' is not a positive number" >&2; exit 2 ;;
esac
if ! command -v perf >/dev/null 2>&1; then
	echo "stat.sh: perf is not installed; on Debian: apt-get install linux-perf" >&2
	echo "         (profiling is optional: eau2 builds and runs without it)" >&2
	exit 2
fi
if ! perf version >/dev/null 2>&1; then
	echo "stat.sh: 'perf' does not run (no perf build for this kernel?):" >&2
	perf version >&2
	exit 2
fi

# Keep the events perf can count here ("<not supported>" otherwise).
events=
missing=
for ev in cycles instructions branches branch-misses cache-references \
	cache-misses L1-dcache-loads L1-dcache-load-misses LLC-loads \
	LLC-load-misses task-clock context-switches cpu-migrations \
	page-faults minor-faults major-faults; do
	if perf stat -x, -e "$ev" true 2>&1 | grep -q '^[0-9]'; then
		events="${events:+$events,}$ev"
	else
		missing="$missing $ev"
	fi
done
if [ -z "$events" ]; then
	echo "stat.sh: perf can count no event here (perf_event_paranoid is" \
		"$(cat /proc/sys/kernel/perf_event_paranoid 2>/dev/null || echo '?'))" >&2
	exit 2
fi
[ -n "$missing" ] && echo "stat.sh: not available on this host:$missing" >&2

# perf stat exits 0 whatever the command did: a small sh wrapper keeps the
# command's status (of the last run with -r) in a file.
st=$(mktemp "${TMPDIR:-/tmp}/eau2-stat-XXXXXX") || exit 2
trap 'rm -f "$st"' EXIT
# shellcheck disable=SC2016 # expanded by the inner sh
run='"$@"; s=$?; echo "$s" >"$0"; exit "$s"'
if [ -n "$outfile" ]; then
	perf stat -r "$repeat" -e "$events" -o "$outfile" -- sh -c "$run" "$st" "$@"
else
	perf stat -r "$repeat" -e "$events" -- sh -c "$run" "$st" "$@"
fi
pstatus=$?
status=$(cat "$st" 2>/dev/null)
[ -n "$status" ] || status=$pstatus
[ "$status" -eq 0 ] && [ "$pstatus" -ne 0 ] && status=$pstatus
exit "$status"
