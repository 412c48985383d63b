#!/bin/sh
# SPDX-License-Identifier: MIT
# Install, only when missing, the Debian packages that building and testing
# eau2 needs. Safe to run repeatedly; does nothing when all are present.
set -eu

# zookeeper (the server, for tools/zk.sh and the cluster tests) depends on
# default-jre, which brings the java it runs on; libzookeeper-mt-dev is its
# multi-threaded C client; libjansson-dev encodes the znodes' JSON.
# libmicrohttpd-dev serves eau2-node --http; curl and prometheus (for its
# promtool) are what the http tests scrape and check it with, chromium
# (headless) renders its dashboard.
pkgs="cmake make gcc clang pkg-config liburing-dev liblz4-dev libjemalloc-dev
libcmocka-dev libxxhash-dev libclang-rt-14-dev libsodium-dev libblosc-dev
iperf3 zookeeper libzookeeper-mt-dev libjansson-dev libmicrohttpd-dev curl
prometheus chromium wamerican-insane"

missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0

echo "deps.sh: installing$missing" >&2
if [ "$(id -u)" -ne 0 ]; then
	SUDO=sudo
else
	SUDO=
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing
command -v java >/dev/null 2>&1 || {
	echo "deps.sh: zookeeper installed but no java on PATH" >&2
	exit 1
}
