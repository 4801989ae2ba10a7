#!/usr/bin/env bash
# The CNI plugin (issue 14's benchmark). In one run, driven as a runtime
# drives a plugin (CNI_* variables, the configuration on stdin):
#   (a) sbx-cni ADD then DEL of one container, its netns made beforehand
#   (b) the reference bridge + host-local (Debian's containernetworking-
#       plugins, /usr/lib/cni) ADD then DEL, alike
# interleaved a, b, a, b, ... RUNS times each after WARMUP, each command
# timed with time.perf_counter_ns() around subprocess.run in one python3
# process (the netns add/del around each cycle is not timed); prints the
# median and p90 of ADD, DEL and ADD+DEL and the ratio a/b of ADD+DEL.
# Then, for each plugin, the median ADD (followed by an untimed DEL) with
# 0 containers on its bridge, then with N containers attached: the ratio
# N/0 says whether ADD grows with the containers already there.
#
# Usage, as root: bench/cni.sh
#   RUNS=N (default 50), WARMUP=N (default 5), N=N containers (default 500)
#   SBX=PATH (default: `cargo build --release` and the binary it reports;
#   sbx-cni is sbx started as argv[0] "sbx-cni", as the launcher does)
# Needs: root, python3, iproute2, containernetworking-plugins.
# Subnets 10.242.0.0/20 (sbx-cni) and 10.242.16.0/20 (reference); bridges
# bnch-sbxcni and bnch-refcni. Leaves nothing behind: the script DELs what
# it ADDed and an EXIT trap removes the netns files, bridges, sbx's chain
# for the bridge, the state root, the host-local folder and an `ip nat`
# table that the reference's iptables made and left empty.
set -euo pipefail
if [ -n "${SBX:-}" ] && [ -e "$SBX" ]; then SBX=$(realpath "$SBX"); fi
cd "$(dirname "$0")/.."
RUNS=${RUNS:-50}
WARMUP=${WARMUP:-5}
N=${N:-500}
if [ -z "${SBX:-}" ]; then
    cargo build --release --quiet
    SBX=$(realpath target/x86_64-unknown-linux-gnu/release/sbx)
fi
[ -x /usr/lib/cni/bridge ] || { echo "bench/cni.sh: needs containernetworking-plugins" >&2; exit 1; }
TMP=$(mktemp -d /tmp/sbx-bench-cni.XXXXXX)
# The reference's ipMasq goes through iptables, which makes `ip nat` on
# first use: removed again at the end if this run made it and left it empty.
NAT_BEFORE=$(nft list table ip nat >/dev/null 2>&1 && echo yes || echo no)
cleanup() {
    if [ "$NAT_BEFORE" = no ] && ! nft list table ip nat 2>/dev/null | grep -qE 'masquerade|snat|dnat|jump|goto'; then
        nft delete table ip nat 2>/dev/null || true
    fi
    for ns in $(ls /run/netns 2>/dev/null | grep '^bnch-cni-' || true); do ip netns del "$ns" 2>/dev/null || true; done
    ip link del bnch-sbxcni 2>/dev/null || true
    ip link del bnch-refcni 2>/dev/null || true
    nft delete chain ip sbx post-bnch-sbxcni 2>/dev/null || true
    nft delete element ip sbx bridges '{ "bnch-sbxcni" }' 2>/dev/null || true
    nft delete element ip sbx same '{ "bnch-sbxcni" . "bnch-sbxcni" }' 2>/dev/null || true
    if ! nft list ruleset 2>/dev/null | grep -qE 'chain (post|fwd)-' \
        && ! nft list set bridge sbx guarded 2>/dev/null | grep -q elements; then
        nft delete table ip sbx 2>/dev/null || true
        nft delete table bridge sbx 2>/dev/null || true
    fi
    rm -rf "$TMP"
}
trap cleanup EXIT

python3 - "$SBX" "$TMP" "$RUNS" "$WARMUP" "$N" <<'PY'
import json, os, statistics, subprocess, sys, time
sbx, tmp, runs, warmup, n = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
settle = float(os.environ.get("SETTLE", "0.05"))
plugins = {
    "sbx-cni": ([sbx], {"cniVersion": "1.0.0", "name": "bnchsbx", "type": "sbx-cni",
                        "bridge": "bnch-sbxcni", "subnet": "10.242.0.0/20"}),
    "bridge+host-local": (["/usr/lib/cni/bridge"], {"cniVersion": "1.0.0", "name": "bnchref",
                        "type": "bridge", "bridge": "bnch-refcni", "isGateway": True,
                        "isDefaultGateway": True, "ipMasq": True,
                        "ipam": {"type": "host-local", "subnet": "10.242.16.0/20",
                                 "dataDir": tmp + "/host-local"}}),
}

def netns(name, add=True):
    subprocess.run(["ip", "netns", "add" if add else "del", name], check=True)

def timed(plugin, command, cid, ns):
    argv, conf = plugins[plugin]
    env = dict(os.environ, CNI_COMMAND=command, CNI_CONTAINERID=cid, CNI_IFNAME="eth0",
               CNI_NETNS="/run/netns/" + ns, CNI_PATH="/usr/lib/cni", SBX_ROOT=tmp + "/root")
    args = ["sbx-cni"] if plugin == "sbx-cni" else argv
    start = time.perf_counter_ns()
    out = subprocess.run(args, executable=argv[0], input=json.dumps(conf).encode(), env=env,
                         capture_output=True)
    took = (time.perf_counter_ns() - start) / 1e6
    if out.returncode != 0:
        sys.exit(f"{plugin} {command} {cid}: {out.stdout.decode()} {out.stderr.decode()}")
    return took

def cycle(plugin, i):
    ns = f"bnch-cni-{i}"
    netns(ns)
    add = timed(plugin, "ADD", f"c{i}", ns)
    dele = timed(plugin, "DEL", f"c{i}", ns)
    netns(ns, add=False)
    return add, dele

def summary(xs):
    xs = sorted(xs)
    return statistics.median(xs), xs[int(len(xs) * 0.9) - 1]

times = {p: {"ADD": [], "DEL": [], "ADD+DEL": []} for p in plugins}
for i in range(warmup + runs):
    for p in plugins:
        add, dele = cycle(p, i)
        if i >= warmup:
            times[p]["ADD"].append(add)
            times[p]["DEL"].append(dele)
            times[p]["ADD+DEL"].append(add + dele)
print(f"ADD then DEL of one container, {runs} runs each, interleaved (ms):")
for p in plugins:
    line = "  ".join(f"{k} median {summary(v)[0]:.2f} p90 {summary(v)[1]:.2f}" for k, v in times[p].items())
    print(f"  {p:18} {line}")
ratio = summary(times["sbx-cni"]["ADD+DEL"])[0] / summary(times["bridge+host-local"]["ADD+DEL"])[0]
print(f"  ratio sbx-cni / bridge+host-local (ADD+DEL median): {ratio:.2f}")

def add_median(plugin, tag):
    xs = []
    for i in range(warmup + runs):
        ns = f"bnch-cni-{tag}{i}"
        netns(ns)
        took = timed(plugin, "ADD", f"{tag}{i}", ns)
        timed(plugin, "DEL", f"{tag}{i}", ns)
        netns(ns, add=False)
        # Let the kernel finish the netns's teardown (it runs in the
        # background and holds the rtnl lock a while) before the next ADD.
        time.sleep(settle)
        if i >= warmup:
            xs.append(took)
    return summary(xs)[0]

print(f"ADD with 0 vs {n} containers attached (median of {runs}, ms):")
for p in plugins:
    empty = add_median(p, "e")
    for j in range(n):
        netns(f"bnch-cni-k{j}")
        timed(p, "ADD", f"k{j}", f"bnch-cni-k{j}")
    full = add_median(p, "f")
    for j in range(n):
        timed(p, "DEL", f"k{j}", f"bnch-cni-k{j}")
        netns(f"bnch-cni-k{j}", add=False)
    print(f"  {p:18} 0: {empty:.2f}  {n}: {full:.2f}  ratio {full / empty:.2f}")
PY
