#!/bin/bash
# SPDX-License-Identifier: MIT
# zk.sh - a throw-away ZooKeeper (Debian's `zookeeper` package) on this
# machine's loopback, for tests, tools/cluster.sh and trying things out.
#
#   zk.sh start DIR [N]    start a standalone server (N=1, the default) or an
#                          ensemble of N servers; print the connect string
#   zk.sh stop DIR         stop every server of DIR (SIGTERM, then SIGKILL)
#   zk.sh kill DIR I       SIGKILL server I (1..N), for failure tests
#   zk.sh restart DIR I    start server I again on its old ports and data
#   zk.sh pause DIR I      SIGSTOP server I (a frozen, not a dead, server)
#   zk.sh resume DIR I     SIGCONT server I
#
# DIR (created when missing) holds `connect` (the connect string,
# 127.0.0.1:p1,127.0.0.1:p2,...), `pids` (one per server, in order) and per
# server zk<I>/ with zoo.cfg, data/, log (the server's own log) and pid.
#
# Ports are picked at random from 20000-32767 (below Linux's ephemeral
# range, so outgoing connections do not take them) among those no socket
# uses (/proc/net/tcp*); a port taken between that look and the server's
# bind makes the server exit with a BindException, and start then retries
# with fresh ports (up to 5 times). A start waits until every server serves
# (`srvr` answers with a Mode; in an ensemble, leader or follower) for at
# most EAU2_ZK_START_TIMEOUT seconds (20) and otherwise fails with the
# unready servers' log tails.
#
# Tuned for start-up time and a small footprint rather than durability:
# forceSync=no, tickTime 250 ms (sessions may be 0.5 s to 60 s), a 128 MiB
# heap (EAU2_ZK_HEAP), the serial GC and the C1 compiler only, no admin
# server, no JMX perf data, and a class-data-sharing archive of ZooKeeper's
# classes kept in a per-user cache (EAU2_ZK_CDS=0 turns it off), written by
# the first server that stops cleanly.
#
# EAU2_ZK_LISTEN (default 127.0.0.1) is the address the servers take
# clients on: 0.0.0.0 lets nodes in other network namespaces of this
# machine (tests with veth pairs) reach them; the connect string printed
# stays 127.0.0.1's.
set -u
# No job control: a background child is then no process-group leader, so
# setsid execs java in place and $! is the server's pid.
set +m

ZK_JAR=/usr/share/java/zookeeper.jar
# Debian's classpath (zkEnv.sh) has no slf4j binding, so the server would
# log nothing; slf4j-simple (libslf4j-java, a dependency of the package)
# writes its log to stderr, which goes to zk<I>/log.
ZK_CP=/etc/zookeeper/conf:$ZK_JAR:/usr/share/java/slf4j-simple.jar
HEAP=${EAU2_ZK_HEAP:-128m}
START_TIMEOUT=${EAU2_ZK_START_TIMEOUT:-20}
TICK=${EAU2_ZK_TICK:-250}

die() {
	echo "zk.sh: $*" >&2
	exit 1
}

usage() {
	die "usage: zk.sh start DIR [N] | stop DIR | kill|restart|pause|resume DIR I"
}

need_zk() {
	[ -r "$ZK_JAR" ] || die "$ZK_JAR is missing: install Debian's zookeeper (tools/deps.sh)"
	command -v java >/dev/null 2>&1 || die "java is missing: install default-jre-headless (tools/deps.sh)"
}

# Ports that some TCP socket on this machine uses (any state), one a line.
used_ports() {
	# (mawk has no strtonum: hex by hand; a bash loop is seconds here.)
	awk 'FNR > 1 {
		split($2, a, ":"); h = a[2]; n = 0
		for (i = 1; i <= length(h); i++)
			n = n * 16 + index("0123456789ABCDEF", substr(h, i, 1)) - 1
		print n
	}' /proc/net/tcp /proc/net/tcp6 2>/dev/null | sort -un
}

# free_ports K: K distinct unused ports, space-separated.
free_ports() {
	local used k=$1 out="" p tries=0
	used=" $(used_ports | tr '\n' ' ') "
	while [ "$k" -gt 0 ]; do
		tries=$((tries + 1))
		[ $tries -gt 1000 ] && die "no free loopback port found in 20000-32767"
		p=$((20000 + RANDOM % 12768))
		case "$used $out " in *" $p "*) continue ;; esac
		out="$out $p"
		k=$((k - 1))
	done
	echo $out
}

# srvr I: the `srvr` four-letter answer of server I ("" when it does not
# answer within 1 s).
srvr() {
	local port
	port=$(cat "$DIR/zk$1/port" 2>/dev/null) || return 0
	timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port && printf srvr >&3 && cat <&3" \
		2>/dev/null || true
}

serving() {
	case "$(srvr "$1")" in
	*"Mode: standalone"* | *"Mode: leader"* | *"Mode: follower"*) return 0 ;;
	esac
	return 1
}

# owns_port I: server I's JVM holds the listening socket of its client
# port (and not some other process that took the port first: then the
# `srvr` answer came from that one).
owns_port() {
	local port hex inode
	port=$(cat "$DIR/zk$1/port") || return 1
	hex=$(printf '%04X' "$port")
	inode=$(awk -v h=":$hex" 'FNR > 1 && $4 == "0A" &&
		substr($2, length($2) - 4) == h { print $10; exit }' \
		/proc/net/tcp /proc/net/tcp6 2>/dev/null)
	[ -n "$inode" ] || return 1
	ls -l "/proc/$(pid_of "$1")/fd" 2>/dev/null | grep -qF "socket:[$inode]"
}

# live PID I: PID is server I's JVM and has not exited. kill -0 is not
# enough: a server outlives zk.sh, and its new parent (init, or a test's
# subreaper) may leave it a zombie for a while; and a reused pid must never
# be signalled.
live() {
	local st
	[ -n "$1" ] || return 1
	{ tr '\0' ' ' <"/proc/$1/cmdline"; } 2>/dev/null | grep -qF "$DIR/zk$2/zoo.cfg" || return 1
	st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1)
	[ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

# all_stopped PID: every thread of PID is in the stopped state.
all_stopped() {
	local t st
	for t in /proc/"$1"/task/*; do
		st=$(sed 's/.*) //' "$t/stat" 2>/dev/null | cut -c1)
		case $st in
		T | t | '') ;;
		*) return 1 ;;
		esac
	done
}

pid_of() {
	cat "$DIR/zk$1/pid" 2>/dev/null
}

alive() {
	live "$(pid_of "$1")" "$1"
}

# starting I: server I's process is still on its way to its JVM (the
# shell forked for it, or setsid, not yet exec'd: on busy cores that takes
# a while), neither gone nor a zombie.
starting() {
	local pid st
	pid=$(pid_of "$1")
	[ -n "$pid" ] || return 1
	st=$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null | cut -c1)
	[ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ] || return 1
	! { tr '\0' ' ' <"/proc/$pid/cmdline"; } 2>/dev/null | grep -qF "$DIR/zk$1/zoo.cfg"
}

cds_archive() {
	local key java
	[ "${EAU2_ZK_CDS:-1}" = 0 ] && return 1
	java=$(readlink -f "$(command -v java)") || return 1
	key=$(stat -Lc '%s-%Y' "$java" "$ZK_JAR" /usr/share/java/slf4j-simple.jar \
		2>/dev/null | cksum | cut -d' ' -f1)
	CDS_DIR=${TMPDIR:-/tmp}/eau2-zk-cds-$(id -u)
	mkdir -p -m 700 "$CDS_DIR" 2>/dev/null || return 1
	# Someone else's directory (or a link) is not ours to trust.
	[ -O "$CDS_DIR" ] && [ ! -L "$CDS_DIR" ] || return 1
	CDS=$CDS_DIR/zk-$key.jsa
}

# launch I: start server I from its zoo.cfg, in the background.
launch() {
	local d=$DIR/zk$1 cds_opt=""
	if cds_archive; then
		if [ -s "$CDS" ]; then
			cds_opt="-XX:SharedArchiveFile=$CDS"
		elif [ "$1" = 1 ]; then
			# Java refuses a non-empty directory on the class path of
			# an archive: the dumping server runs without the conf dir
			# (it only holds log4j.properties, unused with slf4j-simple).
			cds_opt="-XX:ArchiveClassesAtExit=$d/cds.jsa"
		fi
	fi
	local cp=$ZK_CP
	[ -n "$cds_opt" ] && cp=$ZK_JAR:/usr/share/java/slf4j-simple.jar
	# setsid: a test's process group (and its ^C) does not reach the server.
	# shellcheck disable=SC2086
	setsid java -Xmx"$HEAP" -Xss512k -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
		-XX:-UsePerfData -Xlog:cds=off,cds+dynamic=off -Xlog:all=error:stderr \
		$cds_opt \
		-Dzookeeper.admin.enableServer=false \
		-Dorg.slf4j.simpleLogger.showDateTime=true \
		-Dorg.slf4j.simpleLogger.dateTimeFormat=HH:mm:ss.SSS \
		-Dorg.slf4j.simpleLogger.defaultLogLevel="${EAU2_ZK_LOGLEVEL:-info}" \
		-cp "$cp" org.apache.zookeeper.server.quorum.QuorumPeerMain "$d/zoo.cfg" \
		</dev/null >>"$d/log" 2>&1 &
	echo $! >"$d/pid"
}

# write_cfg N PORTS...: zoo.cfg for every server; ports are client, quorum,
# election for server 1, then server 2...
write_cfg() {
	local n=$1 i servers="" connect=""
	shift
	local ports=("$@")
	for i in $(seq 1 "$n"); do
		local b=$(((i - 1) * 3))
		connect="$connect${connect:+,}127.0.0.1:${ports[b]}"
		[ "$n" -gt 1 ] && servers="${servers}server.$i=127.0.0.1:${ports[b + 1]}:${ports[b + 2]}
"
	done
	for i in $(seq 1 "$n"); do
		local d=$DIR/zk$i b=$(((i - 1) * 3))
		mkdir -p "$d/data" || die "cannot create $d/data"
		echo "$i" >"$d/data/myid"
		echo "${ports[b]}" >"$d/port"
		cat >"$d/zoo.cfg" <<EOF
# written by tools/zk.sh
tickTime=$TICK
initLimit=40
syncLimit=20
minSessionTimeout=500
maxSessionTimeout=60000
dataDir=$d/data
clientPort=${ports[b]}
clientPortAddress=${EAU2_ZK_LISTEN:-127.0.0.1}
admin.enableServer=false
4lw.commands.whitelist=srvr,ruok
preAllocSize=1024
forceSync=no
${servers}
EOF
	done
	echo "$connect" >"$DIR/connect"
}

pids_file() {
	local i
	: >"$DIR/pids"
	for i in $(seq 1 "$N"); do
		cat "$DIR/zk$i/pid" >>"$DIR/pids"
	done
}

# wait_serving I...: 0 when all serve; 2 when one lost its port to another
# process;
# 1 on another exit or on the timeout (log tails printed).
wait_serving() {
	local deadline=$(($(date +%s) + START_TIMEOUT)) i pending
	while :; do
		pending=""
		for i in "$@"; do
			if ! alive "$i" && starting "$i"; then
				pending="$pending $i"
				continue
			fi
			if ! alive "$i"; then
				if grep -q "Address already in use" "$DIR/zk$i/log" 2>/dev/null; then
					return 2
				fi
				echo "zk.sh: ZooKeeper server $i of $DIR exited; its log ends:" >&2
				tail -n 20 "$DIR/zk$i/log" >&2
				return 1
			fi
			if serving "$i"; then
				# A server that lost the race for its port exits
				# soon; meanwhile the port answers for someone else.
				owns_port "$i" || return 2
			else
				pending="$pending $i"
			fi
		done
		[ -z "$pending" ] && return 0
		if [ "$(date +%s)" -ge "$deadline" ]; then
			for i in $pending; do
				echo "zk.sh: ZooKeeper server $i of $DIR does not serve after ${START_TIMEOUT}s; its log ends:" >&2
				tail -n 20 "$DIR/zk$i/log" >&2
			done
			return 1
		fi
		sleep 0.05
	done
}

# term I: stop server I, SIGTERM then (after 5 s) SIGKILL; keep a CDS
# archive it wrote on the way out.
term() {
	local d=$DIR/zk$1 pid k
	pid=$(pid_of "$1")
	if live "$pid" "$1"; then
		kill -CONT "$pid" 2>/dev/null
		kill -TERM "$pid" 2>/dev/null
		for k in $(seq 1 100); do
			live "$pid" "$1" || break
			sleep 0.02
		done
		live "$pid" "$1" && kill -KILL "$pid" 2>/dev/null
	fi
	rm -f "$d/pid"
	if [ -s "$d/cds.jsa" ] && cds_archive; then
		# One archive per java and jar versions: older ones are stale.
		find "$CDS_DIR" -maxdepth 1 -name 'zk-*.jsa' ! -name "${CDS##*/}" -delete 2>/dev/null
		mv -f "$d/cds.jsa" "$CDS" 2>/dev/null
	fi
	rm -f "$d/cds.jsa"
}

server_arg() {
	[ $# -eq 1 ] || usage
	case "$1" in '' | *[!0-9]*) die "server number '$1' is not a number" ;; esac
	[ -d "$DIR/zk$1" ] || die "$DIR has no server $1"
	I=$1
}

count_servers() {
	[ -f "$DIR/pids" ] || die "$DIR holds no ZooKeeper started by zk.sh"
	N=$(wc -l <"$DIR/pids")
}

[ $# -ge 2 ] || usage
cmd=$1
DIR=$2
shift 2

case "$cmd" in
start)
	N=${1:-1}
	case "$N" in '' | *[!0-9]* | 0) die "server count '$N' is not a positive number" ;; esac
	[ "$N" -le 9 ] || die "at most 9 servers"
	need_zk
	mkdir -p "$DIR" || die "cannot create $DIR"
	DIR=$(cd "$DIR" && pwd)
	[ -e "$DIR/pids" ] && die "$DIR already holds a ZooKeeper (zk.sh stop $DIR first)"
	for attempt in 1 2 3 4 5; do
		# shellcheck disable=SC2046
		write_cfg "$N" $(free_ports $((3 * N)))
		for i in $(seq 1 "$N"); do
			: >"$DIR/zk$i/log"
			launch "$i"
		done
		pids_file
		wait_serving $(seq 1 "$N")
		rc=$?
		[ $rc -eq 0 ] && break
		for i in $(seq 1 "$N"); do term "$i"; done
		[ $rc -eq 2 ] || { rm -f "$DIR/pids"; exit 1; }
		rm -rf "$DIR"/zk*/data
	done
	if [ $rc -ne 0 ]; then
		rm -f "$DIR/pids"
		die "ports kept being taken; gave up after 5 tries"
	fi
	cat "$DIR/connect"
	;;
stop)
	[ $# -eq 0 ] || usage
	count_servers
	for i in $(seq 1 "$N"); do term "$i"; done
	rm -f "$DIR/pids"
	;;
kill)
	server_arg "$@"
	pid=$(pid_of "$I")
	live "$pid" "$I" || die "server $I of $DIR is not running"
	kill -KILL "$pid" 2>/dev/null
	for k in $(seq 1 250); do
		live "$pid" "$I" || break
		sleep 0.02
	done
	;;
restart)
	server_arg "$@"
	count_servers
	need_zk
	alive "$I" && die "server $I of $DIR is running"
	launch "$I"
	pids_file
	wait_serving "$I" || exit 1
	;;
pause | resume)
	server_arg "$@"
	pid=$(pid_of "$I")
	live "$pid" "$I" || die "server $I of $DIR is not running"
	sig=STOP
	[ "$cmd" = resume ] && sig=CONT
	kill -$sig "$pid" || die "cannot signal server $I ($pid)"
	# kill returns once SIGSTOP is queued; until some thread of the JVM
	# takes it, the others still run and may answer a request sent
	# after this. Return only when every thread has stopped.
	if [ "$cmd" = pause ]; then
		for k in $(seq 1 500); do
			all_stopped "$pid" && exit 0
			sleep 0.01
		done
		die "server $I ($pid) did not stop within 5 s of SIGSTOP"
	fi
	;;
*)
	usage
	;;
esac
