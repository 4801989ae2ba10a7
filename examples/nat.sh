#!/usr/bin/env bash
# Outward access through NAT, against a fake "internet": a namespace the demo
# makes itself (198.51.100.0/24, a TEST-NET block), serving a page that tells
# each client its source address. The sandbox's request must arrive from the
# host's address (masqueraded), not from the sandbox's own.
# Usage, as root: examples/nat.sh
# Settings (environment variables, all optional):
#   SUBNET=10.99.0.0/16    the sandbox network's subnet
#   NET=demo-nat           the network's (and its bridge's) name
#   SBX=sbx                the sbx binary (default: the one on PATH, else the release build)
#   SBX_ROOT=              the state root (default: a fresh temp dir, removed at the end)
#   ROOTFS=rootfs/busybox  the sandbox's root, built by rootfs/build.sh if missing
set -u
here=$(cd "$(dirname "$0")" && pwd)
SBX=${SBX:-$(command -v sbx || echo "$here/../target/x86_64-unknown-linux-gnu/release/sbx")}
NET=${NET:-demo-nat}
SUBNET=${SUBNET:-10.99.0.0/16}
UP=demo-upstream
export SBX_ROOT=${SBX_ROOT:-$(mktemp -d /tmp/sbx-demo-XXXXXX)}
# The sandbox runs in a minimal busybox root (built once, idempotently).
ROOTFS=${ROOTFS:-$here/../rootfs/busybox}
www=$(mktemp -d /tmp/sbx-demo-www-XXXXXX)
httpd_pid=""
failures=0

cleanup() {
    [ -n "$httpd_pid" ] && kill "$httpd_pid" 2>/dev/null && wait "$httpd_pid" 2>/dev/null
    "$SBX" network rm "$NET" >/dev/null 2>&1
    ip link del demo-up0 2>/dev/null
    ip netns del "$UP" 2>/dev/null
    rm -rf "$SBX_ROOT" "$www"
}
trap cleanup EXIT
"$here/../rootfs/build.sh" "$ROOTFS" >/dev/null || exit 1

check() {
    local what=$1; shift
    if "$@"; then echo "[PASS] $what"; else echo "[FAIL] $what"; failures=$((failures + 1)); fi
}

# The fake upstream: host end 198.51.100.1, far end 198.51.100.2.
ip netns add "$UP" || exit 1
ip link add demo-up0 type veth peer name eth0 netns "$UP"
ip addr add 198.51.100.1/24 dev demo-up0 && ip link set demo-up0 up
ip -n "$UP" addr add 198.51.100.2/24 dev eth0
ip -n "$UP" link set eth0 up && ip -n "$UP" link set lo up
mkdir -p "$www/cgi-bin"
# busybox httpd reports IPv4 peers as [::ffff:a.b.c.d]: print the bare address.
printf '#!/bin/sh\necho "Content-Type: text/plain"\necho\necho "$REMOTE_ADDR" | sed "s/^\\[::ffff:\\(.*\\)\\]$/\\1/"\n' > "$www/cgi-bin/whoami"
chmod +x "$www/cgi-bin/whoami"
ip netns exec "$UP" busybox httpd -f -p 80 -h "$www" &
httpd_pid=$!

"$SBX" network create "$NET" --subnet "$SUBNET" >/dev/null || exit 1
echo "network $NET: $SUBNET, NAT to the upstream 198.51.100.2"
# (busybox's wget crashes in Debian's static build, so a plain HTTP/1.0 GET over nc.)
seen=$("$SBX" run --network "$NET" --rootfs "$ROOTFS" -- sh -c 'for i in 1 2 3 4 5; do
    out=$(printf "GET /cgi-bin/whoami HTTP/1.0\r\n\r\n" | nc -w 2 198.51.100.2 80) && [ -n "$out" ] && { echo "$out" | tail -n 1; exit 0; }
    sleep 0.2; done; exit 1' | tr -d '\r')
echo "the upstream saw the request coming from: ${seen:-nothing}"
check "the sandbox reaches the upstream through the host" test -n "$seen"
check "its source address was masqueraded to the host's 198.51.100.1" test "$seen" = 198.51.100.1

"$SBX" network rm "$NET" >/dev/null
check "network rm removed its masquerade rule" sh -c "! nft list table ip sbx 2>/dev/null | grep -q 'oifname != \"$NET\"'"

if [ "$failures" -eq 0 ]; then echo "all checks passed"; else echo "$failures check(s) failed"; exit 1; fi
