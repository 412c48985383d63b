# SPDX-License-Identifier: MIT
# bench/lib/du_peak.sh - sourced by the benches that report how much a
# store directory held at its fullest while a command ran
# (bench_cluster.sh, bench_remote.sh).
#
#   . "$(dirname "$0")/lib/du_peak.sh"
#   du_watch DIR FILE   # samples `du -sk DIR` every 50 ms in the
#   CMD...              # background, keeping the most (KiB) in FILE
#   kib=$(du_stop)      # ends the sampling; prints the most
# A sampler outlives no bench: it stops once the bench's shell is gone.

du_watch() {
	DU_FILE=$2
	echo 0 >"$DU_FILE"
	(
		p=0
		while kill -0 $$ 2>/dev/null; do
			k=$(du -sk "$1" 2>/dev/null | cut -f1)
			if [ "${k:-0}" -gt "$p" ]; then
				p=$k
				echo "$p" >"$DU_FILE"
			fi
			sleep 0.05
		done
	) &
	DU_PID=$!
}

du_stop() {
	kill "$DU_PID"
	wait "$DU_PID" 2>/dev/null || :
	cat "$DU_FILE"
}
