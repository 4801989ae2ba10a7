#!/usr/bin/env bash
# Launch latency (issue 2's benchmark): the median over RUNS launches of
#   (a) sbx run --network N --ip X -- /bin/true      (everything: namespaces, veth, NAT network, cleanup)
#   (b) the same wiring by a classic `ip netns`/veth/bridge script, `ip netns exec ... true`, `ip netns del`
#   (c) unshare --net --mount --uts --ipc --pid --fork true   (namespaces only, no network)
# run interleaved (a, b, c, a, b, c, ...) so that machine noise hits all three
# alike, and prints the ratios a/b (target <= 0.1) and a/c (target <= 2).
#
# Usage: sudo bench/launch.sh            (RUNS=100 by default; at least 50)
# Needs: ip (iproute2), nft (nftables), unshare (util-linux), python3.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-100}
SBX=${SBX:-target/x86_64-unknown-linux-gnu/release/sbx}
for tool in ip nft unshare python3; do
    command -v "$tool" >/dev/null || { echo "bench/launch.sh needs $tool" >&2; exit 1; }
done
[ -x "$SBX" ] || cargo build --release -q
export SBX_ROOT=$(mktemp -d /tmp/sbx-bench-launch-XXXXXX)
cleanup() {
    "$SBX" network rm benchnet >/dev/null 2>&1 || true
    rm -rf "$SBX_ROOT"
    ip link del sbxbench1 2>/dev/null || true
    nft delete table ip sbxbench 2>/dev/null || true
    for ns in $(ip netns list | awk '/^sbxbench-/ {print $1}'); do ip netns del "$ns"; done
}
trap cleanup EXIT

# (a)'s network: created once, as a user would.
"$SBX" network create benchnet --subnet 10.251.0.0/24 --bridge sbxbench0 >/dev/null
# (b)'s bridge and NAT rule, also made once.
ip link add sbxbench1 type bridge && ip addr add 10.252.0.1/24 dev sbxbench1 && ip link set sbxbench1 up
nft -f - <<'NFT'
table ip sbxbench {
    chain post { type nat hook postrouting priority srcnat; ip saddr 10.252.0.0/24 oifname != "sbxbench1" masquerade; }
}
NFT

script_launch() {   # the classic way, one sandbox: $1 is a unique number
    local ns=sbxbench-$1 veth=vb$1
    ip netns add "$ns"
    ip link add "$veth" type veth peer name eth0 netns "$ns"
    ip link set "$veth" master sbxbench1 up
    ip -n "$ns" addr add 10.252.0.10/24 dev eth0
    ip -n "$ns" link set eth0 up
    ip -n "$ns" link set lo up
    ip -n "$ns" route add default via 10.252.0.1
    ip netns exec "$ns" true
    ip netns del "$ns"
}
export -f script_launch

python3 - "$RUNS" "$SBX" <<'PY'
import statistics, subprocess, sys, time
runs, sbx = int(sys.argv[1]), sys.argv[2]
cmds = {
    "a": [sbx, "run", "--network", "benchnet", "--ip", "10.251.0.10", "--", "/bin/true"],
    "b": None,
    "c": ["unshare", "--net", "--mount", "--uts", "--ipc", "--pid", "--fork", "true"],
}
times = {k: [] for k in cmds}
for i in range(runs + 5):
    for key, cmd in cmds.items():
        argv = cmd or ["bash", "-c", f"script_launch {i}"]
        t = time.perf_counter_ns()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
        if i >= 5:  # the first five are warm-up
            times[key].append((time.perf_counter_ns() - t) / 1e6)
med = {k: statistics.median(v) for k, v in times.items()}
p90 = {k: statistics.quantiles(v, n=10)[-1] for k, v in times.items()}
names = {"a": "sbx run (wired, NAT network)", "b": "ip netns/veth/bridge script", "c": "unshare, no network"}
print(f"{runs} runs each, interleaved; milliseconds")
for k in "abc":
    print(f"  ({k}) {names[k]:<32} median {med[k]:7.2f}   p90 {p90[k]:7.2f}")
ab, ac = med["a"] / med["b"], med["a"] / med["c"]
print(f"  a/b = {ab:.3f}  (target <= 0.1: {'PASS' if ab <= 0.1 else 'MISS'})")
print(f"  a/c = {ac:.2f}   (target <= 2:   {'PASS' if ac <= 2 else 'MISS'})")
PY

if [ "${1:-}" = "--profile" ]; then
    echo; echo "where sbx's time goes (SBX_LOG=debug, one launch):"
    SBX_LOG=debug "$SBX" run --network benchnet --ip 10.251.0.10 -- /bin/true
fi
