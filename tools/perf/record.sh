#!/bin/sh
# SPDX-License-Identifier: MIT
# record.sh - profile any command (typically an eau2 command) with perf:
# `perf record -g` (cpu-clock sampling when the host has no hardware
# counters, as in most VMs), then writes into the output directory
#   perf.data      the raw profile (perf report -i perf.data)
#   top.txt        top 30 functions by self time (perf report --no-children)
#   perf.script    `perf script` text: open it in https://www.speedscope.app
#                  or a local speedscope (npm install -g speedscope)
#   folded.txt     one line per distinct stack: "comm;outer;...;inner count"
#   flame.svg      a flame graph rendered from folded.txt (the awk below)
# The command's exit status is returned (profiles are written anyway).
set -u

out=./perf-out
freq=999
callgraph=fp

usage() {
	cat <<USAGE
usage: tools/perf/record.sh [-o DIR] [-F HZ] [--dwarf] [--] CMD [ARGS...]

Records a perf profile of CMD (e.g. build/eau2 bench --clients 1) and writes
perf.data, top.txt (top 30 functions by self time), perf.script (for
speedscope), folded.txt and flame.svg into DIR (default ./perf-out).

  -o DIR     output directory (created; existing profile files are replaced)
  -F HZ      sampling frequency (default 999)
  --dwarf    DWARF call graphs (--call-graph dwarf): full stacks without
             frame pointers, but ~100x larger data; the default -g follows
             frame pointers, so for whole stacks in eau2 build with
             -DCMAKE_C_FLAGS=-fno-omit-frame-pointer
  -h, --help this help

Uses the 'cycles' event when the CPU exposes hardware counters, else
'cpu-clock' (software timer sampling). Needs perf (Debian: apt-get install
linux-perf) and kernel.perf_event_paranoid <= 2 for non-root users.
USAGE
}

# The folding and the SVG renderer, written for eau2 (awk only).
write_awk() {
	cat >"$tmp/fold.awk" <<'FOLD'
# Folds `perf script` output into "comm;outermost;...;innermost count".
# A sample is a header line (comm, pid, time, period, event) followed by
# one line per frame, innermost first, and a blank line.
function flush(   s, i) {
	if (comm == "")
		return
	s = comm
	for (i = n; i >= 1; i--)
		s = s ";" frame[i]
	count[s]++
	comm = ""
	n = 0
}
/^[^ \t]/ {
	flush()
	# comm may hold spaces: it ends before " PID[/TID] [CPU] TIME:"
	if (match($0, / +[0-9]+(\/[0-9]+)? +(\[[0-9]+\] +)?[0-9]+\.[0-9]+:/))
		comm = substr($0, 1, RSTART - 1)
	else
		comm = $1
	gsub(/;/, ":", comm)
	next
}
/^[ \t]+[0-9a-f]+ / {
	line = $0
	sub(/^[ \t]+[0-9a-f]+ /, "", line)
	dso = ""
	if (match(line, / \([^()]*\)$/)) {
		dso = substr(line, RSTART + 2, RLENGTH - 3)
		line = substr(line, 1, RSTART - 1)
	}
	sub(/\+0x[0-9a-f]+$/, "", line)
	if (line == "[unknown]" || line == "") {
		sub(/.*\//, "", dso)
		if (dso == "")
			dso = "[unknown]"
		line = dso ~ /^\[/ ? dso : "[" dso "]"
	}
	gsub(/;/, ":", line)
	frame[++n] = line
	next
}
/^[ \t]*$/ { flush() }
END {
	flush()
	for (s in count)
		print s, count[s]
}
FOLD
	cat >"$tmp/flame.awk" <<'FLAME'
# Renders sorted folded stacks ("a;b;c count" lines) as an SVG flame graph:
# x is the share of samples, y the stack depth (roots at the bottom). With
# the input sorted, stacks sharing a prefix are adjacent, so a frame is
# open while consecutive stacks keep the same prefix and is drawn when it
# closes. Needs: -v title=TEXT (optional).
function esc(s) {
	gsub(/&/, "\\&amp;", s)
	gsub(/</, "\\&lt;", s)
	gsub(/>/, "\\&gt;", s)
	gsub(/"/, "\\&quot;", s)
	return s
}
function color(name,   h, i, c) {
	h = 0
	for (i = 1; i <= length(name) && i <= 24; i++)
		h = (h * 31 + index(chars, substr(name, i, 1))) % 1000003
	c = (h * 2654435761) % 1000
	if (name ~ /^\[/)   # unknown frames and kernel-less dsos: grey
		return sprintf("rgb(%d,%d,%d)", 160 + c % 40, 160 + c % 40, 160 + c % 40)
	if (name ~ /^eau2_/) # eau2's own functions: orange-yellow
		return sprintf("rgb(%d,%d,%d)", 225 + c % 30, 140 + int(c / 10) % 90, 20 + c % 40)
	return sprintf("rgb(%d,%d,%d)", 200 + c % 55, 60 + int(c / 7) % 120, 40 + c % 50)
}
# Draws frame d of the open stack, spanning samples [start[d], x).
function draw(d,   w, px, pw, y, label, maxc, pct) {
	w = x - start[d]
	if (w <= 0)
		return
	px = 10 + start[d] * scale
	pw = w * scale
	if (pw < 0.3)
		return
	y = top + (maxdepth - d) * fh
	pct = 100.0 * w / total
	printf "<g><title>%s (%d samples, %.2f%%)</title>", esc(open[d]), w, pct
	printf "<rect x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"%d\" fill=\"%s\" rx=\"2\"/>", \
		px, y, pw, fh - 1, color(open[d])
	maxc = int((pw - 6) / 7)
	if (maxc >= 3) {
		label = open[d]
		if (length(label) > maxc)
			label = substr(label, 1, maxc - 2) ".."
		printf "<text x=\"%.1f\" y=\"%d\">%s</text>", px + 3, y + fh - 5, esc(label)
	}
	print "</g>"
}
{
	cnt = $NF
	stack = $0
	sub(/ [0-9]+$/, "", stack)
	if (cnt !~ /^[0-9]+$/ || stack == "")
		next
	nl++
	lines[nl] = stack
	counts[nl] = cnt
	total += cnt
	k = split(stack, tmp, ";")
	if (k > maxdepth)
		maxdepth = k
}
END {
	chars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.:[]-"
	width = 1200
	fh = 16
	top = 40
	if (total == 0) {
		print "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"400\" height=\"40\">" \
			"<text x=\"10\" y=\"25\">no samples</text></svg>"
		exit
	}
	height = top + (maxdepth + 1) * fh + 10
	scale = (width - 20) / total
	printf "<?xml version=\"1.0\" standalone=\"no\"?>\n"
	printf "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" " \
		"viewBox=\"0 0 %d %d\" font-family=\"monospace\" font-size=\"12\">\n", \
		width, height, width, height
	printf "<rect width=\"100%%\" height=\"100%%\" fill=\"#fdfdf6\"/>\n"
	printf "<text x=\"%d\" y=\"20\" text-anchor=\"middle\" font-size=\"15\">%s</text>\n", \
		width / 2, esc(title == "" ? "flame graph" : title)
	printf "<text x=\"10\" y=\"34\" font-size=\"11\" fill=\"#555\">%d samples; " \
		"width = share of samples, hover for names</text>\n", total
	# A root frame "all" under everything (depth 0).
	open[0] = "all"
	start[0] = 0
	depth = 0
	x = 0
	for (i = 1; i <= nl; i++) {
		k = split(lines[i], fr, ";")
		same = 0
		while (same < depth && same < k && open[same + 1] == fr[same + 1])
			same++
		for (d = depth; d > same; d--)
			draw(d)
		for (d = same + 1; d <= k; d++) {
			open[d] = fr[d]
			start[d] = x
		}
		depth = k
		x += counts[i]
	}
	for (d = depth; d >= 0; d--)
		draw(d)
	print "</svg>"
}
FLAME
}

while [ $# -gt 0 ]; do
	case $1 in
	-h|--help) usage; exit 0 ;;
	-o) [ $# -ge 2 ] || { echo "record.sh: -o needs a directory" >&2; exit 2; }
	    out=$2; shift 2 ;;
	-o*) out=${1#-o}; shift ;;
	-F) [ $# -ge 2 ] || { echo "record.sh: -F needs a frequency" >&2; exit 2; }
	    freq=$2; shift 2 ;;
	--dwarf) callgraph=dwarf; shift ;;
	--) shift; break ;;
	-*) echo "record.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
	*) break ;;
	esac
done
if [ $# -eq 0 ]; then
	echo "record.sh: no command to profile (see --help)" >&2
	exit 2
fi
case $freq in
''|*[!0-9]*) echo "record.sh: -F: '$freq' is not a number" >&2; exit 2 ;;
esac

if ! command -v perf >/dev/null 2>&1; then
	echo "record.sh: perf is not installed; on Debian: apt-get install linux-perf" >&2
	echo "           (profiling is optional: eau2 builds and runs without it)" >&2
	exit 2
fi
if ! perf version >/dev/null 2>&1; then
	echo "record.sh: 'perf' does not run (no perf build for this kernel?):" >&2
	perf version >&2
	exit 2
fi
paranoid=$(cat /proc/sys/kernel/perf_event_paranoid 2>/dev/null || echo 2)
if [ "$(id -u)" -ne 0 ] && [ "$paranoid" -gt 2 ]; then
	echo "record.sh: kernel.perf_event_paranoid is $paranoid; profiling needs <= 2:" >&2
	echo "           sudo sysctl kernel.perf_event_paranoid=2" >&2
	exit 2
fi

# Hardware counters: 'perf stat' prints "<not supported>" when absent.
if perf stat -x, -e cycles true 2>&1 | grep -q '^[0-9]'; then
	event=cycles
else
	event=cpu-clock
fi

mkdir -p "$out" || exit 2
rm -f "$out/perf.data" "$out/perf.data.old" "$out/top.txt" "$out/perf.script" \
	"$out/folded.txt" "$out/flame.svg"
if [ "$callgraph" = dwarf ]; then
	cg="--call-graph=dwarf,16384"
else
	cg="-g"
fi
echo "record.sh: perf record -e $event -F $freq $cg -- $*" >&2
perf record -e "$event" -F "$freq" $cg -o "$out/perf.data" -- "$@"
status=$?
if [ ! -s "$out/perf.data" ]; then
	echo "record.sh: perf record wrote no profile (status $status)" >&2
	[ "$status" -ne 0 ] && exit "$status"
	exit 2
fi

# Top functions by self time; call graphs off for a flat list.
perf report -i "$out/perf.data" --stdio --no-children -g none \
	--sort symbol,dso 2>/dev/null |
	awk '/^#/ || /^$/ { if (!n) print; next } { if (n++ < 30) print }' \
	>"$out/top.txt"
perf script -i "$out/perf.data" >"$out/perf.script" 2>/dev/null
tmp=$(mktemp -d "${TMPDIR:-/tmp}/eau2-record-XXXXXX") || exit 2
trap 'rm -rf "$tmp"' EXIT
write_awk
LC_ALL=C awk -f "$tmp/fold.awk" "$out/perf.script" | LC_ALL=C sort >"$out/folded.txt"
title="$*"
[ ${#title} -gt 100 ] && title="$(printf '%.97s' "$title")..."
title="$title ($event, -F $freq)"
awk -v title="$title" -f "$tmp/flame.awk" "$out/folded.txt" >"$out/flame.svg"

echo "record.sh: wrote $out/{perf.data,top.txt,perf.script,folded.txt,flame.svg}" >&2
echo "record.sh: top functions:" >&2
grep -v '^#' "$out/top.txt" | grep -v '^$' | head -10 >&2
exit "$status"
