#!/usr/bin/env bash
# Across hosts (issue 14's benchmark): TCP throughput between sandboxes on
# two simulated hosts joined by a `--driver vxlan` network, against the same
# between two sandboxes on one host, in one run. Hosts are simulated as
# TESTING.md "Two hosts on one machine" says: each a holder in its own net,
# mount and pid namespace (private tmpfs on /run/netns and on its state
# root), joined by one veth pair (UNDERLAY=veth, the default, as TESTING.md
# has it) or by a veth each to a bridge in a fourth "switch" namespace
# (UNDERLAY=switch, as tests/vxlan.rs does); underlay 10.213.0.0/24, MTU
# 1500; overlay 10.215.0.0/16, MTU 1450 by sbx's default. Each round runs `iperf3 -c` for SECS seconds host1:a -> host2:c
# (cross) and host1:a -> host1:b (same), the order alternating; prints the
# medians over ROUNDS rounds and cross/same.
#
# Usage, as root: bench/vxlan.sh
#   ROUNDS=N (default 5), SECS=N (default 3), UNDERLAY=veth|switch
#   SBX=PATH (default: the debug build; the data path is the kernel's, so
#   the build type of sbx does not matter here)
# Needs: root, iperf3, python3, iproute2, util-linux (unshare, nsenter).
# Leaves nothing behind: an EXIT trap removes the sandboxes and kills the
# holders (their namespaces and everything in them go with them).
set -euo pipefail
if [ -n "${SBX:-}" ] && [ -e "$SBX" ]; then SBX=$(realpath "$SBX"); fi
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-5}
SECS=${SECS:-3}
UNDERLAY=${UNDERLAY:-veth}
if [ -z "${SBX:-}" ]; then
    cargo build --quiet
    SBX=$(realpath target/x86_64-unknown-linux-gnu/debug/sbx)
fi
TMP=$(mktemp -d /tmp/sbx-bench-vx.XXXXXX)
mkdir -p /run/netns
declare -A HOLDER INIT
REAPER='import os,time
while True:
  try: os.wait()
  except ChildProcessError: time.sleep(0.2)'

# holder NAME: a host of its own; INIT[NAME] is its pid namespace's init.
holder() {
    mkdir -p "$TMP/$1"
    unshare --net --mount --pid --fork --kill-child --mount-proc --propagation private \
        sh -c "mount -t tmpfs tmpfs /run/netns && mount -t tmpfs tmpfs $TMP/$1 && ip link set lo up && exec /usr/bin/python3 -c '$REAPER'" &
    HOLDER[$1]=$!
    local pid=${HOLDER[$1]} init=""
    for _ in $(seq 200); do
        init=$(cut -d' ' -f1 "/proc/$pid/task/$pid/children" 2>/dev/null || true)
        if [ -n "$init" ] && [ "$(cat "/proc/$init/comm" 2>/dev/null)" = python3 ]; then break; fi
        sleep 0.02
    done
    INIT[$1]=$init
}
in_ns() { local h=$1; shift; nsenter -t "${INIT[$h]}" -n -m -- "$@"; }
sbx() { local h=$1; shift; SBX_ROOT=$TMP/$h nsenter -t "${INIT[$h]}" -n -m -p -- "$SBX" "$@"; }

cleanup() {
    for h in h1 h2; do
        [ -n "${INIT[$h]:-}" ] || continue
        sbx "$h" ps -aq 2>/dev/null | while read -r n; do sbx "$h" rm -f "$n" >/dev/null 2>&1 || true; done
    done
    for h in "${!HOLDER[@]}"; do kill -KILL "${HOLDER[$h]}" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$TMP"
}
trap cleanup EXIT

holder h1
holder h2
if [ "$UNDERLAY" = switch ]; then
    holder sw
    in_ns sw ip link add vxsw type bridge
    in_ns sw ip link set vxsw up
    for n in 1 2; do
        in_ns sw ip link add "vxsw-h$n" type veth peer name vxul netns "${INIT[h$n]}"
        in_ns sw ip link set "vxsw-h$n" master vxsw up
    done
else
    in_ns h1 ip link add vxul type veth peer name vxul netns "${INIT[h2]}"
fi
for n in 1 2; do
    in_ns "h$n" ip addr add "10.213.0.$n/24" dev vxul
    in_ns "h$n" ip link set vxul up
done
sbx h1 network create ov --driver vxlan --vni 4242 --subnet 10.215.0.0/16 \
    --ip-range 10.215.1.0/24 --gateway 10.215.1.1 --peer 10.213.0.2 >/dev/null
sbx h2 network create ov --driver vxlan --vni 4242 --subnet 10.215.0.0/16 \
    --ip-range 10.215.2.0/24 --gateway 10.215.2.1 --peer 10.213.0.1 >/dev/null
sbx h1 run -d --name a --network ov --ip 10.215.1.10 -- sleep 3600 >/dev/null
sbx h1 run -d --name b --network ov --ip 10.215.1.11 -- sleep 3600 >/dev/null
sbx h2 run -d --name c --network ov --ip 10.215.2.10 -- sleep 3600 >/dev/null

# measure HOST SERVER IP: one iperf3 run from h1:a to SERVER; prints bit/s.
measure() {
    local host=$1 server=$2 ip=$3
    sbx "$host" exec "$server" -- iperf3 -s -1 -p 5201 >/dev/null 2>&1 &
    local spid=$!
    for _ in $(seq 100); do
        in_ns "$host" ip netns exec "sbx-$server" ss -ltnH 'sport = :5201' | grep -q . && break
        sleep 0.05
    done
    local out=""
    for _ in 1 2 3; do
        if out=$(sbx h1 exec a -- iperf3 -c "$ip" -p 5201 -t "$SECS" -J 2>/dev/null); then break; fi
        sleep 0.5
    done
    kill "$spid" 2>/dev/null || true
    wait "$spid" 2>/dev/null || true
    python3 -c 'import json,sys; print(json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"])' <<<"$out"
}

cross=() same=()
for r in $(seq "$ROUNDS"); do
    if [ $((r % 2)) = 1 ]; then
        cross+=("$(measure h2 c 10.215.2.10)")
        same+=("$(measure h1 b 10.215.1.11)")
    else
        same+=("$(measure h1 b 10.215.1.11)")
        cross+=("$(measure h2 c 10.215.2.10)")
    fi
done
# Then the same with GRO on the underlay's veths (a physical NIC does GRO;
# a veth only when asked), alternating with same-host rounds again.
gro=() same2=()
if command -v ethtool >/dev/null; then
    in_ns h1 ethtool -k vxul | grep -E 'udp_tnl|generic-receive|generic-segm' | tr -s ' \t' ' ' | paste -sd';' | sed 's/^/underlay features: /'
    for h in h1 h2; do in_ns "$h" ethtool -K vxul gro on; done
    if [ "$UNDERLAY" = switch ]; then
        for n in 1 2; do in_ns sw ethtool -K "vxsw-h$n" gro on; done
    fi
    for r in $(seq "$ROUNDS"); do
        gro+=("$(measure h2 c 10.215.2.10)")
        same2+=("$(measure h1 b 10.215.1.11)")
    done
fi
echo "underlay: $UNDERLAY"
python3 - "${cross[*]}" "${same[*]}" "${gro[*]}" "${same2[*]}" <<'PY'
import statistics, sys
def row(label, xs):
    m = statistics.median(xs)
    print(f"{label} Gbit/s:", " ".join(f"{x/1e9:.2f}" for x in xs), f"median {m/1e9:.2f}")
    return m
cross = [float(x) for x in sys.argv[1].split()]
same = [float(x) for x in sys.argv[2].split()]
print("rounds:", len(cross))
mc, ms = row("cross-host        ", cross), row("same-host         ", same)
print(f"cross/same: {mc/ms:.2f} (target >= 0.85)")
if sys.argv[3].split():
    gro = [float(x) for x in sys.argv[3].split()]
    same2 = [float(x) for x in sys.argv[4].split()]
    mg, ms2 = row("cross-host, GRO on", gro), row("same-host (again) ", same2)
    print(f"cross/same with underlay GRO: {mg/ms2:.2f}")
PY
