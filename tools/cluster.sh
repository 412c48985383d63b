#!/bin/sh
# SPDX-License-Identifier: MIT
# cluster.sh - a cluster on this machine's loopback, for trying eau2
# --cluster out and for tests: a throw-away ZooKeeper (tools/zk.sh) and N
# eau2-node processes, each with a store of its own.
#
#   cluster.sh up N [DIR]   start ZooKeeper and N nodes (--listen
#                           127.0.0.1:0 --zk ...); wait until all joined;
#                           print the line to export: EAU2_CLUSTER=...
#   cluster.sh down [DIR]   stop the nodes (SIGTERM, then SIGKILL) and
#                           ZooKeeper, and remove DIR
#
# DIR (default /dev/shm/eau2-cluster-$USER) holds zk/, the stores n1..nN,
# their logs nI.log, `pids` and `connect`. BUILD (default build) holds
# eau2 and eau2-node.
set -eu

src=$(cd "$(dirname "$0")/.." && pwd)
B=${BUILD:-$src/build}
case $B in /*) ;; *) B=$src/$B ;; esac
cmd=${1:-}
case $cmd in
up) n=${2:?usage: cluster.sh up N [DIR]}; dir=${3:-} ;;
down) dir=${2:-} ;;
*) echo "usage: cluster.sh up N [DIR] | down [DIR]" >&2; exit 2 ;;
esac
dir=${dir:-/dev/shm/eau2-cluster-${USER:-$(id -u)}}

if [ "$cmd" = down ]; then
	if [ -f "$dir/pids" ]; then
		for p in $(cat "$dir/pids"); do kill -TERM "$p" 2>/dev/null || :; done
		for p in $(cat "$dir/pids"); do
			i=0
			while kill -0 "$p" 2>/dev/null && [ $i -lt 100 ]; do
				i=$((i + 1))
				sleep 0.1
			done
			kill -9 "$p" 2>/dev/null || :
		done
	fi
	[ -d "$dir/zk" ] && "$src/tools/zk.sh" stop "$dir/zk" >/dev/null
	rm -rf "$dir"
	exit 0
fi

case $n in ''|*[!0-9]*) echo "cluster.sh: N must be a number" >&2; exit 2 ;; esac
[ -x "$B/eau2-node" ] || { echo "cluster.sh: build eau2-node first ($B)" >&2; exit 2; }
[ -e "$dir/pids" ] && { echo "cluster.sh: $dir is up already (cluster.sh down first)" >&2; exit 1; }
mkdir -p "$dir"
z=$("$src/tools/zk.sh" start "$dir/zk" 1)
echo "$z/eau2" >"$dir/connect"
: >"$dir/pids"
for i in $(seq "$n"); do
	setsid "$B/eau2-node" --store "$dir/n$i" --listen 127.0.0.1:0 --zk "$z" \
		</dev/null >>"$dir/n$i.log" 2>&1 &
	echo $! >>"$dir/pids"
done
i=0
while [ "$(grep -l 'joined the cluster' "$dir"/n*.log 2>/dev/null | wc -l)" -lt "$n" ]; do
	i=$((i + 1))
	if [ $i -gt 300 ]; then
		echo "cluster.sh: the nodes did not join in 30 s; logs in $dir" >&2
		exit 1
	fi
	sleep 0.1
done
echo "EAU2_CLUSTER=$z/eau2"
