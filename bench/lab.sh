#!/usr/bin/env bash
# Labs (issue 11's benchmark): `sbx lab up`, `sbx lab check`, `sbx lab down`
# against mininet 2.3 (Python API) and against the same wiring done by an
# `ip netns`/veth/bridge shell script checked with `ping` in a loop, in one
# run, on the same topologies: one bridge with N = 2, 10, 50 sandboxes, then
# 100 sandboxes on 4 networks (25 each, the networks not joined).
#
# Per topology, ROUNDS rounds; each round runs the three tools one after the
# other (order sbx, mininet, script in odd rounds, the reverse in even ones);
# each tool's up, check and down are timed separately (date +%s%N, or
# time.monotonic inside mininet's Python); the medians and the ratios
# sbx/mininet and sbx/script are printed, and lines for BENCHMARKS.md.
#
# What each side does:
#   sbx      `sbx lab up FILE` (networks `internal = true`, sandboxes running
#            `sleep infinity`, the lab default); `sbx lab check FILE`: every
#            ordered pair of sandboxes of a network, each sandbox to its
#            gateway, the host to each sandbox, and an MTU probe per sandbox
#            (N(N-1) + 3N per network), ICMP sent by sbx itself; `sbx lab
#            down FILE`.
#   mininet  /usr/bin/python3 bench/lab_mininet.py: Mininet(topo=one
#            LinuxBridge switch per network (stp=False) with its hosts,
#            controller=None, waitConnected=False); build()+start(); per
#            switch net.ping(hosts of that switch, timeout=1) (N(N-1) pairs,
#            `ping -c1 -W1` from each host's shell, one after another);
#            stop(). Hosts are `bash` shells in their own namespaces.
#   script   per network a bridge with the gateway address, per sandbox
#            `ip netns add`, a veth pair into it, addresses, links up, a
#            default route (one `ip` command per step); then `ip netns exec
#            A ping -c1 -W1 B` for every ordered pair of the same network,
#            one after another; then `ip netns del` each and the bridges.
#            The namespaces run nothing. Its down is timed until the
#            commands return (like the others'); the kernel then destroys
#            the namespaces and veths asynchronously, which the script waits
#            for, untimed, before going on.
#
# Host-wide settings: mininet's Mininet.init() raises sysctls (fixLimits:
# the neighbour tables' gc_thresh1-3 to 4096/8192/16384 among others) when
# they are lower. This script reads those sysctls before each mininet round
# and writes back any that changed, so the others run with the host's own
# limits; it prints gc_thresh3 before and after each tool, and the peak of
# the kernel's IPv4 neighbour entries (all namespaces, /proc/net/stat/
# arp_cache, sampled every 2 ms) during each tool's check.
#
# Usage, as root, under the integration tests' lock:
#     flock /tmp/sbx-it.lock bench/lab.sh
#   ROUNDS=5                rounds per topology
#   TOPOS="1x2 1x10 1x50 4x25"   NETSxPER
#   SBX=PATH                default: `cargo build --release` and its binary
# Installs mininet (apt-get install --no-install-recommends mininet
# bridge-utils) if /usr/bin/python3 cannot import it.
# Names and subnets (no test uses them): sbx networks sbxblK (bridges of the
# same name), sandboxes blK-I, 10.244.K.0/24; the script's bridges blbrK,
# namespaces bsK-I, veths bshK-I, 10.228.K.0/24; mininet switches lbmK,
# ports lbmK-ethI, hosts mhKxI, 10.240.0.0/16.
# Leaves nothing behind: an EXIT trap (also after a failure or Ctrl-C) takes
# the lab down, stops a running mininet, deletes the script's namespaces and
# bridges and mininet's leftover links by those names, restores the
# sysctls, removes the temp dir, and names anything it could not remove.
set -euo pipefail
if [ -n "${SBX:-}" ] && [ -e "$SBX" ]; then SBX=$(realpath "$SBX"); fi
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-5}
TOPOS=${TOPOS:-"1x2 1x10 1x50 4x25"}
PY=/usr/bin/python3
MN_BASE=10.240.0.0/16
if [ -z "${SBX:-}" ]; then
    cargo build --release --quiet
    SBX=$(realpath target/x86_64-unknown-linux-gnu/release/sbx)
fi
if ! "$PY" -c 'import mininet.net' 2>/dev/null || ! command -v brctl >/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends mininet bridge-utils >/dev/null
fi
TMP=$(mktemp -d /tmp/sbx-bench-lab.XXXXXX)
export SBX_ROOT=$TMP/root
MN_PID=
SAMPLER_PID=

# The sysctls mininet's fixLimits() may raise (mininet/util.py).
MN_SYSCTLS="fs.file-max net.core.wmem_max net.core.rmem_max net.ipv4.tcp_rmem net.ipv4.tcp_wmem
net.core.netdev_max_backlog net.ipv4.neigh.default.gc_thresh1 net.ipv4.neigh.default.gc_thresh2
net.ipv4.neigh.default.gc_thresh3 net.ipv4.route.max_size kernel.pty.max"
sysctl_snapshot() { for s in $MN_SYSCTLS; do printf '%s=%s\n' "$s" "$(sysctl -n "$s")"; done; }
# Writes back the values of snapshot $1 that differ now; prints their names.
sysctl_restore() {
    local line name val
    while IFS= read -r line; do
        name=${line%%=*} val=${line#*=}
        if [ "$(sysctl -n "$name")" != "$val" ]; then
            sysctl -qw "$name=$val" && printf '%s ' "$name"
        fi
    done <"$1"
}
sysctl_snapshot >"$TMP/sysctl.orig"

mn_leftovers() { ip -o link show 2>/dev/null | awk -F': ' '$2 ~ /^lbm[0-9]+(-eth[0-9]+)?(@|$)/ {sub(/@.*/, "", $2); print $2}'; }
script_netns() { ip netns list | awk '/^bs[0-9]+-[0-9]+/ {print $1}'; }
script_bridges() { ip -o link show type bridge 2>/dev/null | awk -F': ' '$2 ~ /^blbr[0-9]+$/ {print $2}'; }

cleanup() {
    local left=""
    set +e
    [ -n "$SAMPLER_PID" ] && kill "$SAMPLER_PID" 2>/dev/null
    if [ -n "$MN_PID" ]; then kill "$MN_PID" 2>/dev/null; wait "$MN_PID" 2>/dev/null; fi
    # A `lab up` interrupted by Ctrl-C may leave launches still finishing
    # ("still being launched ... try again in a moment"): a few tries.
    for f in "$TMP"/lab-*.toml; do
        [ -e "$f" ] || continue
        for i in 1 2 3 4 5 6; do
            "$SBX" lab down "$f" >/dev/null 2>"$TMP/down.err" && break
            sleep 0.5
        done
    done
    script_down >/dev/null 2>&1
    script_settle >/dev/null 2>&1
    for l in $(mn_leftovers); do ip link del "$l" 2>/dev/null; done
    changed=$(sysctl_restore "$TMP/sysctl.orig")
    [ -n "$changed" ] && echo "restored sysctls: $changed" >&2
    left="$(script_netns) $(script_bridges) $(mn_leftovers)"
    for k in 0 1 2 3; do [ -e "/sys/class/net/sbxbl$k" ] && left="$left sbxbl$k"; done
    if [ -n "$(ls "$SBX_ROOT"/sandboxes 2>/dev/null)" ]; then
        left="$left sandboxes-in-$SBX_ROOT ($(tail -1 "$TMP/down.err" 2>/dev/null))"
    else
        rm -rf "$TMP"
    fi
    left=$(echo $left)
    if [ -n "$left" ]; then echo "bench/lab.sh: could not remove: $left" >&2; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The lab file for NETS networks of PER sandboxes.
lab_file() {
    local nets=$1 per=$2 f=$TMP/lab-$1x$2.toml k i
    {
        echo "name = \"bench\""
        for k in $(seq 0 $((nets - 1))); do
            echo "[networks.sbxbl$k]"
            echo "subnet = \"10.244.$k.0/24\""
            echo "internal = true"
        done
        for k in $(seq 0 $((nets - 1))); do
            for i in $(seq 1 "$per"); do
                echo "[sandboxes.bl$k-$i]"
                echo "networks = { sbxbl$k = \"10.244.$k.$((i + 1))\" }"
            done
        done
    } >"$f"
    echo "$f"
}

script_up() {
    local nets=$1 per=$2 k i ns
    for k in $(seq 0 $((nets - 1))); do
        ip link add "blbr$k" type bridge
        ip addr add "10.228.$k.1/24" dev "blbr$k"
        ip link set "blbr$k" up
        for i in $(seq 1 "$per"); do
            ns=bs$k-$i
            ip netns add "$ns"
            ip link add "bsh$k-$i" type veth peer name eth0 netns "$ns"
            ip link set "bsh$k-$i" master "blbr$k"
            ip link set "bsh$k-$i" up
            ip -n "$ns" addr add "10.228.$k.$((i + 1))/24" dev eth0
            ip -n "$ns" link set eth0 up
            ip -n "$ns" link set lo up
            ip -n "$ns" route add default via "10.228.$k.1"
        done
    done
}
# Every ordered pair of the same network; prints the pairs that failed.
script_check() {
    local nets=$1 per=$2 k i j fail=0
    for k in $(seq 0 $((nets - 1))); do
        for i in $(seq 1 "$per"); do
            for j in $(seq 1 "$per"); do
                [ "$i" = "$j" ] && continue
                ip netns exec "bs$k-$i" ping -c1 -W1 -q "10.228.$k.$((j + 1))" >/dev/null || fail=$((fail + 1))
            done
        done
    done
    echo "$fail"
}
script_down() {
    local ns br
    for ns in $(script_netns); do ip netns del "$ns"; done
    for br in $(script_bridges); do ip link del "$br"; done
}
# `ip netns del` returns before the kernel has destroyed the namespace and
# so the veth ends in the host's (a workqueue does it later): waits, untimed,
# up to 20 s, until none of the script's links are left, so the next round's
# `ip link add` does not find them.
script_settle() {
    local i
    for i in $(seq 1 200); do
        ip -o link show 2>/dev/null | grep -qE ': bsh[0-9]+-[0-9]+@' || return 0
        sleep 0.1
    done
    echo "bench/lab.sh: the script's veths still exist 20 s after its namespaces were deleted" >&2
}

now() { date +%s%N; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ms() { awk -v ns="$1" 'BEGIN {printf "%.0f", ns/1e6}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.3f", a/b}'; }
gc3() { sysctl -n net.ipv4.neigh.default.gc_thresh3; }
# The peak of the kernel's IPv4 neighbour entries (all namespaces) until
# SIGTERM, into file $1.
sampler_start() {
    "$PY" - "$1" <<'PY' &
import signal, sys, time
peak = 0
def done(*_):
    open(sys.argv[1], "w").write("%d\n" % peak); sys.exit(0)
signal.signal(signal.SIGTERM, done)
while True:
    with open("/proc/net/stat/arp_cache") as f:
        f.readline(); peak = max(peak, int(f.readline().split()[0], 16))
    time.sleep(0.002)
PY
    SAMPLER_PID=$!
    sleep 0.05
}
sampler_stop() { kill "$SAMPLER_PID"; wait "$SAMPLER_PID" || true; SAMPLER_PID=; }

# Appends "tool up check down lost peak gc3before gc3after" to $TMP/results.
run_sbx() {
    local nets=$1 per=$2 f t0 t1 t2 t3 g0 fails
    f=$TMP/lab-${nets}x$per.toml g0=$(gc3)
    t0=$(now); "$SBX" lab up "$f" >/dev/null; t1=$(now)
    sampler_start "$TMP/peak"
    if "$SBX" lab check "$f" >"$TMP/check.out"; then fails=0; else
        fails=$(grep -c '^\[FAIL\]' "$TMP/check.out" || true)
        grep -A1 '^\[FAIL\]' "$TMP/check.out" | head -4 >&2
    fi
    t2=$(now); sampler_stop
    "$SBX" lab down "$f" >/dev/null; t3=$(now)
    echo "sbx $((t1 - t0)) $((t2 - t1)) $((t3 - t2)) $fails $(cat "$TMP/peak") $g0 $(gc3)" >>"$TMP/results"
}
run_mininet() {
    local nets=$1 per=$2 g0 g1 json restored
    sysctl_snapshot >"$TMP/sysctl.before"; g0=$(gc3)
    sampler_start "$TMP/peak"
    "$PY" bench/lab_mininet.py "$nets" "$per" "$MN_BASE" >"$TMP/mn.json" &
    MN_PID=$!
    wait "$MN_PID"; MN_PID=
    sampler_stop
    g1=$(gc3)
    restored=$(sysctl_restore "$TMP/sysctl.before")
    [ -n "$restored" ] && echo "mininet changed, restored: $restored" >&2
    json=$(cat "$TMP/mn.json")
    echo "mininet $("$PY" -c 'import json,sys; d=json.loads(sys.argv[1]); print(*(int(d[k]*1e9) for k in ("up","check","down")), d["lost"])' "$json") $(cat "$TMP/peak") $g0 $g1" >>"$TMP/results"
}
run_script() {
    local nets=$1 per=$2 t0 t1 t2 t3 g0 fails
    g0=$(gc3)
    t0=$(now); script_up "$nets" "$per"; t1=$(now)
    sampler_start "$TMP/peak"
    fails=$(script_check "$nets" "$per"); t2=$(now)
    sampler_stop
    script_down; t3=$(now)
    script_settle
    echo "script $((t1 - t0)) $((t2 - t1)) $((t3 - t2)) $fails $(cat "$TMP/peak") $g0 $(gc3)" >>"$TMP/results"
}

echo "# $(date -u '+%F %H:%M UTC'), $(nproc) CPUs, kernel $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg), gc_thresh3 $(gc3), ROUNDS=$ROUNDS"
printf '%-6s %-8s %9s %9s %9s %6s %6s %s\n' topo tool "up ms" "check ms" "down ms" failed "peak" "gc_thresh3 before->after (per round)"
for topo in $TOPOS; do
    nets=${topo%x*} per=${topo#*x}
    lab_file "$nets" "$per" >/dev/null
    : >"$TMP/results"
    for r in $(seq 1 "$ROUNDS"); do
        if [ $((r % 2)) -eq 1 ]; then order="sbx mininet script"; else order="script mininet sbx"; fi
        for tool in $order; do "run_$tool" "$nets" "$per"; done
    done
    for tool in sbx mininet script; do
        grep "^$tool " "$TMP/results" >"$TMP/r.$tool"
        read -r u c d < <(for col in 2 3 4; do awk -v c=$col '{print $c}' "$TMP/r.$tool" | median; done | xargs)
        eval "${tool}_u=$u ${tool}_c=$c ${tool}_d=$d"
        printf '%-6s %-8s %9s %9s %9s %6s %6s %s\n' "$topo" "$tool" "$(ms "$u")" "$(ms "$c")" "$(ms "$d")" \
            "$(awk '{s+=$5} END {print s}' "$TMP/r.$tool")" "$(awk '{print $6}' "$TMP/r.$tool" | sort -n | tail -1)" \
            "$(awk '{printf "%s->%s ", $7, $8}' "$TMP/r.$tool")"
    done
    printf '%-6s sbx/mininet up %s check %s down %s; sbx/script up %s check %s down %s\n' "$topo" \
        "$(ratio "$sbx_u" "$mininet_u")" "$(ratio "$sbx_c" "$mininet_c")" "$(ratio "$sbx_d" "$mininet_d")" \
        "$(ratio "$sbx_u" "$script_u")" "$(ratio "$sbx_c" "$script_c")" "$(ratio "$sbx_d" "$script_d")"
done
