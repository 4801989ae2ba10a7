#!/usr/bin/env bash
# Labs (issue 11's benchmark, first part): `sbx lab up` and `sbx lab down`
# of one bridge with N sandboxes (N = 2, 10, 50), against the same wiring
# done by an `ip netns`/veth/bridge shell script, the way lab scripts are
# written (one `ip` command per step: netns, veth pair into it, addresses,
# links up, the host end on the bridge; `ip netns del` each and the bridge
# at the end). The mininet comparison comes later.
#
# Each round runs sbx up, sbx down, script up, script down (which one goes
# first alternates by round); every step is timed with date +%s%N; prints
# the median over ROUNDS per N and the ratios sbx/script.
# sbx's sandboxes run `sleep infinity` (the lab default) in their own
# namespaces, cgroups and firewall elements; the script's namespaces run
# nothing. The network is internal (no NAT: the script makes none either).
#
# Usage, as root, under the integration tests' lock:
#     flock /tmp/sbx-it.lock bench/lab.sh
#   ROUNDS=5     rounds per N
#   NS="2 10 50" the sizes
#   SBX=PATH     default: `cargo build --release` and its binary
# Leaves nothing behind: an EXIT trap takes the lab down, deletes the
# script's namespaces and bridge, and the temp dir with the state root.
# Names: sbx's network/bridge sbxbl; the script's bridge blbr, namespaces
# blN-I, veths blhI; subnet
# 10.244.0.0/22 (no test uses it).
set -euo pipefail
if [ -n "${SBX:-}" ] && [ -e "$SBX" ]; then SBX=$(realpath "$SBX"); fi
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-5}
NS=${NS:-"2 10 50"}
if [ -z "${SBX:-}" ]; then
    cargo build --release --quiet
    SBX=$(realpath target/x86_64-unknown-linux-gnu/release/sbx)
fi
TMP=$(mktemp -d /tmp/sbx-bench-lab.XXXXXX)
export SBX_ROOT=$TMP/root
cleanup() {
    for f in "$TMP"/lab-*.toml; do [ -e "$f" ] && "$SBX" lab down "$f" >/dev/null 2>&1 || true; done
    script_down 2>/dev/null || true
    rm -rf "$TMP"
}
trap cleanup EXIT

# The lab file for N sandboxes on sbxbl.
lab_file() {
    local n=$1 f=$TMP/lab-$1.toml
    {
        echo "name = \"bench$n\""
        echo "[networks.sbxbl]"
        echo "subnet = \"10.244.0.0/22\""
        echo "internal = true"
        for i in $(seq 1 "$n"); do
            echo "[sandboxes.bl$n-$i]"
            echo "networks = { sbxbl = \"10.244.$((i / 250)).$((i % 250 + 2))\" }"
        done
    } >"$f"
    echo "$f"
}

script_up() {
    local n=$1
    ip link add blbr type bridge
    ip addr add 10.244.0.1/22 dev blbr
    ip link set blbr up
    for i in $(seq 1 "$n"); do
        ip netns add "bl$n-$i"
        ip link add "blh$i" type veth peer name eth0 netns "bl$n-$i"
        ip link set "blh$i" master blbr
        ip link set "blh$i" up
        ip -n "bl$n-$i" addr add "10.244.$((i / 250)).$((i % 250 + 2))/22" dev eth0
        ip -n "bl$n-$i" link set eth0 up
        ip -n "bl$n-$i" link set lo up
        ip -n "bl$n-$i" route add default via 10.244.0.1
    done
}

script_down() {
    for ns in $(ip netns list | awk '/^bl[0-9]+-[0-9]+/ {print $1}'); do ip netns del "$ns"; done
    if [ -e /sys/class/net/blbr ]; then ip link del blbr; fi
}

now() { date +%s%N; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ms() { awk -v ns="$1" 'BEGIN {printf "%.0f", ns/1e6}'; }

printf '%-4s %12s %12s %7s %12s %12s %7s\n' N "sbx up ms" "script ms" ratio "sbx down" "script" ratio
for n in $NS; do
    f=$(lab_file "$n")
    : >"$TMP/su" ; : >"$TMP/sd" ; : >"$TMP/pu" ; : >"$TMP/pd"
    for r in $(seq 1 "$ROUNDS"); do
        run_sbx() {
            local t0 t1 t2
            t0=$(now); "$SBX" lab up "$f" >/dev/null; t1=$(now)
            "$SBX" lab down "$f" >/dev/null; t2=$(now)
            echo $((t1 - t0)) >>"$TMP/su"; echo $((t2 - t1)) >>"$TMP/sd"
        }
        run_script() {
            local t0 t1 t2
            t0=$(now); script_up "$n"; t1=$(now)
            script_down; t2=$(now)
            echo $((t1 - t0)) >>"$TMP/pu"; echo $((t2 - t1)) >>"$TMP/pd"
        }
        if [ $((r % 2)) -eq 1 ]; then run_sbx; run_script; else run_script; run_sbx; fi
    done
    su=$(median <"$TMP/su"); sd=$(median <"$TMP/sd")
    pu=$(median <"$TMP/pu"); pd=$(median <"$TMP/pd")
    printf '%-4s %12s %12s %7s %12s %12s %7s\n' "$n" "$(ms "$su")" "$(ms "$pu")" \
        "$(awk -v a="$su" -v b="$pu" 'BEGIN {printf "%.2f", a/b}')" "$(ms "$sd")" "$(ms "$pd")" \
        "$(awk -v a="$sd" -v b="$pd" 'BEGIN {printf "%.2f", a/b}')"
done
