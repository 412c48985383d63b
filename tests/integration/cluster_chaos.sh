#!/bin/sh
# SPDX-License-Identifier: MIT
# cluster_chaos.sh - runs survive node failures (issue #13): four real
# eau2-node processes on loopback joined through a throw-away ZooKeeper
# (tools/zk.sh), a words table loaded with --replicas 2, then TRIALS
# trials (30; 6 under EAU2_TEST_QUICK=1), each a distributed wordcount or
# groupby during which one random node gets SIGKILL at a random instant
# and is restarted (same store, same port: the same node id); every
# answer must equal the one a local run gives. Soft failures: the same
# with a node frozen by SIGSTOP (the driver's heartbeats declare it dead;
# its tasks move to the other replica long before a transport timeout),
# then SIGCONT. Last, the two nodes holding both replicas of one
# partition killed: the run fails naming that partition, never answers.
# The random seed is printed (CHAOS_SEED=N reruns the same trials).
# Skipped (77) only when ZooKeeper is not installed (tools/deps.sh).
set -u

NAME=cluster_chaos
. "$(dirname "$0")/lib/cluster.sh"
TRIALS=30
SOFT=4
ROWS=4000000
if [ -n "${EAU2_TEST_QUICK:-}" ]; then
	TRIALS=6
	SOFT=2
	ROWS=1000000
fi
# ctest runs other tests beside this one on the same cores (and the
# sanitizer run's processes are several times slower): 500 ms of
# silence has been seen there from a live replica while the other was
# killed, which fails the run by design.
DEAD=1500
SEED=${CHAOS_SEED:-$(od -An -N2 -tu2 /dev/urandom | tr -d ' ')}
echo "$NAME: seed $SEED, $TRIALS kill trials, $SOFT freeze trials"

cl_zk 1

# The driver: heartbeats every 100 ms, dead after $DEAD ms of silence. The
# nodes: a ZooKeeper session of 1.5 s (a killed node's znode goes, and
# its restart may join, 1.5 s after the kill).
EC() { "$E2" --store "$D" --cluster "$Z/cc" --timeout 5000 --heartbeat 100 --dead-after $DEAD "$@"; }
NODE_ARGS="--zk $Z --cluster cc --heartbeat 200 --dead-after 1500 --quiet"

for i in 1 2 3 4; do
	rnode_start "$T/n$i" "$T/n$i.log" $NODE_ARGS
	eval "PID$i=\$RN_PID; ADDR$i=\$RN_ADDR"
done

# Waits (20 s at most) until status shows the four nodes alive.
all_alive() {
	w=0
	until [ "$(EC status 2>/dev/null | grep -c '^node .*: alive,')" = 4 ]; do
		w=$((w + 1))
		[ $w -gt 100 ] && { EC status >&2; fail "the four nodes are not all alive after 20 s ($1)"; }
		sleep 0.2
	done
}
all_alive "start"

cl_words_csv "$T/w.csv" "$ROWS"
EA load "$T/w.csv" --as w 2>/dev/null || fail "local load"
expect 0 EC load "$T/w.csv" --as w --replicas 2

WC="wordcount --arg column=line"
GB="groupby --arg by=s --arg agg=count,sum:x,max:id"
EA run $WC --input w >"$T/ref.wc" || fail "local wordcount"
EA run $GB --input w >"$T/ref.gb" || fail "local groupby"
for r in wc gb; do
	eval "cmd=\$$(echo $r | tr a-z A-Z)"
	expect 0 EC run $cmd --input w
	same "$T/ref.$r" "$T/out" "$r with every node up"
done
# How long a run takes: the kills fall within it.
t0=$(date +%s%N)
EC run $WC --input w >/dev/null || fail "timed run"
RUN_MS=$((($(date +%s%N) - t0) / 1000000))
echo "$NAME: a wordcount takes $RUN_MS ms"

# rand N: a number in [0, N), from the seeded stream (STEP: its place,
# advanced by the caller: rand runs in a subshell).
STEP=0
rand() {
	awk -v s="$SEED" -v k="$STEP" -v n="$1" 'BEGIN { srand(s * 1000 + k); print int(rand() * n) }'
}

# Whether something listens on 127.0.0.1:PORT ($1): a killed node's
# io_uring may release its socket a little after the process is gone.
listening() {
	awk -v p="$(printf '%04X' "$1")" '$2 ~ ":" p "$" && $4 == "0A" { f = 1 } END { exit !f }' \
		/proc/net/tcp
}

restart() {
	eval "a=\$ADDR$1"
	w=0
	while listening "${a##*:}"; do
		w=$((w + 1))
		[ $w -gt 100 ] && fail "port of $a still taken 10 s after its node died"
		sleep 0.1
	done
	rnode_start "$T/n$1" "$T/n$1.log" $NODE_ARGS --listen "$a"
	eval "PID$1=\$RN_PID"
	# Its member znode: the new process waits for the old session's to
	# expire (1.5 s) before it registers its own. Until then status shows
	# the old one, answered by the new process; the moment it expires the
	# node is no member, and a run then counts that replica dead.
	until_ok 100 joined_since "$T/n$1.log" "$rn_skip" ||
		fail "node $1 did not join again in 10 s"
}
joined_since() { tail -n +"$(($2 + 1))" "$1" | grep -q 'joined the cluster as node'; }

# trial N SIGNAL: a run with node (random) hit by SIGNAL at a random
# instant; KILL restarts it at once, STOP continues it once the run is
# over (the driver must not wait for it).
trial() {
	STEP=$((STEP + 1))
	k=$(($(rand 4) + 1))
	STEP=$((STEP + 1))
	at=$(rand $((RUN_MS + 1)))
	r=wc
	[ $(($1 % 2)) = 1 ] && r=gb
	eval "cmd=\$$(echo $r | tr a-z A-Z); pid=\$PID$k"
	EC run $cmd --input w >"$T/o.$1" 2>"$T/e.$1" &
	run=$!
	sleep "$(awk -v ms="$at" 'BEGIN { printf "%.3f", ms / 1000 }')"
	t0=$(date +%s%N)
	kill -"$2" "$pid"
	wait $run
	rc=$?
	took=$((($(date +%s%N) - t0) / 1000000))
	if [ "$2" = KILL ]; then
		wait "$pid" 2>/dev/null
		restart $k
	fi
	if [ "$2" = STOP ]; then
		# Frozen all along: answered by the other replicas.
		kill -CONT "$pid"
		# Its session (1.5 s) survives a short freeze; should it not
		# (a slow run), a restart.
		w=0
		until [ "$(EC status 2>/dev/null | grep -c '^node .*: alive,')" = 4 ]; do
			w=$((w + 1))
			if [ $w = 25 ]; then
				echo "$NAME: node $k did not come back after SIGCONT: restarting it"
				rnode_kill "$pid"
				restart $k
			fi
			sleep 0.2
		done
	fi
	[ $rc = 0 ] || { cat "$T/e.$1" >&2; fail "trial $1 ($r, SIG$2 node $k at $at ms): exit $rc"; }
	same "$T/ref.$r" "$T/o.$1" "trial $1 ($r, SIG$2 node $k at $at ms)"
	echo "$NAME: trial $1: $r, SIG$2 node $k at $at ms: same answer, the run ended $took ms after the signal"
	all_alive "after trial $1"
}

i=1
while [ $i -le "$TRIALS" ]; do
	trial $i KILL
	i=$((i + 1))
done
j=1
while [ $j -le "$SOFT" ]; do
	trial $i STOP
	i=$((i + 1))
	j=$((j + 1))
done

# A frozen node: status says suspect (two heartbeats unanswered), in
# text and JSON.
kill -STOP "$PID1"
EC status >"$T/st" 2>&1
EC status --json >"$T/st.json" 2>&1
kill -CONT "$PID1"
grep -q "^node  *$ADDR1: suspect," "$T/st" || { cat "$T/st" >&2; fail "status: node 1 frozen is not suspect"; }
python3 -c 'import json, sys
j = json.load(open(sys.argv[1]))
s = {n["address"]: n["state"] for n in j["nodes"]}
assert s[sys.argv[2]] == "suspect" and list(s.values()).count("alive") == 3, s' "$T/st.json" "$ADDR1" ||
	fail "status --json: node 1 frozen is not suspect"
all_alive "after a freeze"

# Both replicas of one partition killed: an error naming it.
part=
for a in 1 2 3 4; do
	eval "ad=\$ADDR$a"
	"$E2" --store "$D" --remote "$ad" ls 2>/dev/null | awk '{ print $1 }' |
		grep '^eau2\.part\.' | sed "s/\$/ $a/"
done | sort >"$T/parts"
line=$(awk '{ n[$1]++; who[$1] = who[$1] " " $2 } END { for (p in n) if (n[p] == 2) { print p who[p]; exit } }' "$T/parts")
[ -n "$line" ] || { cat "$T/parts" >&2; fail "no partition on two nodes"; }
set -- $line
eval "p1=\$PID$2; p2=\$PID$3"
# Every partition whose two replicas are on the nodes killed: lost.
lost=$(awk -v a="$2" -v b="$3" '$2 == a || $2 == b { n[$1]++ } END { for (p in n) if (n[p] == 2) print p }' "$T/parts")
rnode_kill "$p1"
rnode_kill "$p2"
t0=$(date +%s)
expect 1 EC run $WC --input w
err_has "partition"
named=$(grep -o 'eau2\.part\.[0-9a-f]*\.[0-9]*' "$T/err" | head -n 1)
echo "$lost" | grep -qx "$named" || { cat "$T/err" >&2; fail "the error names '$named', not a partition lost ($lost)"; }
[ $(($(date +%s) - t0)) -le 20 ] || fail "the run with both replicas of $1 dead took over 20 s"
echo "$NAME: nodes $2 and $3 killed: $(head -c 300 "$T/err")"
# Their sessions expire: status calls them dead (the directory names them).
w=0
until [ "$(EC status 2>/dev/null | grep -c '^node .*: dead (no member znode)')" = 2 ]; do
	w=$((w + 1))
	[ $w -gt 50 ] && { EC status >&2; fail "status does not call the two nodes killed dead"; }
	sleep 0.2
done
echo "$NAME: ok"
