#!/usr/bin/env bash
# Two sandboxes on one bridge, checked the way the classic "two namespaces on
# a bridge" test.sh does: every pair pings, in both directions.
# Usage, as root: examples/two-sandboxes.sh
# Settings (environment variables, all optional):
#   SUBNET=172.16.0.0/24   the network's subnet, a /24: gateway .1, sandboxes .2 and .3
#   NET=demo-two           the network's (and its bridge's) name
#   SBX=sbx                the sbx binary (default: the one on PATH, else the release build)
#   SBX_ROOT=              the state root (default: a fresh temp dir, removed at the end)
#   ROOTFS=rootfs/busybox  the sandboxes' root, built by rootfs/build.sh if missing
set -u
here=$(cd "$(dirname "$0")" && pwd)
SBX=${SBX:-$(command -v sbx || echo "$here/../target/x86_64-unknown-linux-gnu/release/sbx")}
SUBNET=${SUBNET:-172.16.0.0/24}
case "$SUBNET" in
    *.0/24) PREFIX=${SUBNET%.0/24} ;;
    *) echo "SUBNET=$SUBNET: give a /24 such as 172.16.0.0/24" >&2; exit 2 ;;
esac
NET=${NET:-demo-two}
export SBX_ROOT=${SBX_ROOT:-$(mktemp -d /tmp/sbx-demo-XXXXXX)}
# The sandboxes run in a minimal busybox root (built once, idempotently).
ROOTFS=${ROOTFS:-$here/../rootfs/busybox}
pids=()
failures=0

cleanup() {
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null; done
    "$SBX" network rm "$NET" >/dev/null 2>&1
    rm -rf "$SBX_ROOT"
}
trap cleanup EXIT
"$here/../rootfs/build.sh" "$ROOTFS" >/dev/null || exit 1

check() {   # check DESCRIPTION COMMAND...
    local what=$1; shift
    if "$@" >/dev/null 2>&1; then echo "[PASS] $what"; else echo "[FAIL] $what"; failures=$((failures + 1)); fi
}

start() {   # start NAME IP: a sandbox that idles until the demo ends
    "$SBX" run --network "$NET" --name "$1" --ip "$2" --rootfs "$ROOTFS" -- sleep 600 &
    pids+=($!)
    for _ in $(seq 100); do "$SBX" ps -q | grep -qx "$1" && return 0; sleep 0.05; done
    echo "[FAIL] sandbox $1 did not start"; exit 1
}

"$SBX" network create "$NET" --subnet "$PREFIX.0/24" --gateway "$PREFIX.1" --bridge "$NET" >/dev/null || exit 1
start demo-a "$PREFIX.2"
start demo-b "$PREFIX.3"
"$SBX" ps

in_a() { ip netns exec sbx-demo-a "$@"; }
in_b() { ip netns exec sbx-demo-b "$@"; }
check "a ($PREFIX.2) pings b ($PREFIX.3)" in_a ping -c1 -W1 "$PREFIX.3"
check "b ($PREFIX.3) pings a ($PREFIX.2)" in_b ping -c1 -W1 "$PREFIX.2"
check "a pings the gateway ($PREFIX.1)" in_a ping -c1 -W1 "$PREFIX.1"
check "b pings the gateway ($PREFIX.1)" in_b ping -c1 -W1 "$PREFIX.1"
check "the host pings a" ping -c1 -W1 "$PREFIX.2"
check "the host pings b" ping -c1 -W1 "$PREFIX.3"
check "a has exactly lo and eth0" test "$(in_a ip -o link | wc -l)" = 2
check "a's eth0 holds $PREFIX.2/24" sh -c "ip netns exec sbx-demo-a ip -o -4 addr show eth0 | grep -q ' $PREFIX.2/24 '"
check "a's default route goes via the gateway" sh -c "ip netns exec sbx-demo-a ip route | grep -q '^default via $PREFIX.1 dev eth0'"
init_a=$("$SBX" inspect demo-a | sed -n 's/.*"init": \([0-9]*\).*/\1/p' | head -n 1)
check "a runs in the busybox root, not the host's" test -e "/proc/$init_a/root/.sbx-rootfs-complete"

if [ "$failures" -eq 0 ]; then echo "all checks passed"; else echo "$failures check(s) failed"; exit 1; fi
