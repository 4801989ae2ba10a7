#!/usr/bin/env bash
# Launch latency (issue 2's benchmark). In one run, the wall time of RUNS
# launches each of
#   (a) sbx run --network N --ip X -- /bin/true
#       on a NAT network made once by `sbx network create` (own state root,
#       subnet 10.251.0.0/24, bridge sbxbench0): five namespaces, init, veth
#       on the bridge, address, default route, the command, cleanup;
#   (b) the same wiring by a classic shell script, one per launch (bench's
#       own bridge benchbr1 on 10.252.0.0/24 and one nft masquerade rule in
#       `table ip sbxbench`, both made once): ip netns add, a veth with its
#       peer born in the netns as eth0, on the bridge, address, eth0 and lo
#       up, default route, `ip netns exec NS true`, `ip netns del`;
#   (c) unshare --net --mount --uts --ipc --pid --fork true (no network);
# then prints the median and p90 of each and the ratios a/c (target <= 2)
# and a/b (target <= 0.1).
#
# Order: interleaved a, b, c, a, b, c, ... by default (ORDER=blocks runs all
# the a's, then the b's, then the c's). On these 2-core machines interleaving
# gave the steadier ratios (a/c over four runs of 100: 2.03-2.15 interleaved,
# 2.25-2.54 in blocks): slow phases of the machine (a build, the host's
# neighbours) hit all three alike instead of one block. Between two
# launches, untimed, the script waits until the previous launch's veth has
# left its bridge (the kernel deletes a netns and its veth in the
# background after `ip netns del` or sbx's exit), so one launch's leftover
# kernel work does not land inside the next one's timing.
# SETTLE=0 skips that wait: then back-to-back launches overlap the kernel's
# teardown of their predecessors, as a tight shell loop would.
#
# Usage, as root: bench/launch.sh [--profile]
#   RUNS=N      launches of each (default 100, at least 50); WARMUP=N (default 5)
#   SBX=PATH    the sbx binary (default: `cargo build --release`, a no-op when
#               up to date, and the binary cargo reports)
#   ORDER=interleave|blocks, SETTLE=1|0 (see above)
#   --profile   also: per-step timings of 40 launches (SBX_LOG=debug, medians),
#               variants of (a) (--network none, seccomp=unconfined, --root on
#               tmpfs, sbx --version) to split the cost, and `strace -c -f` summed
#               over 20 launches
# Needs: root, ip (iproute2), nft (nftables), unshare (util-linux), python3;
# strace for --profile; cargo if the binary has to be built.
# Leaves nothing behind: an EXIT trap removes the network, the bridge, the
# nft table, any netns it made, and the temp dir, also after a failure.
set -euo pipefail
# A relative SBX is relative to the caller's directory, not the repo's.
if [ -n "${SBX:-}" ] && [ -e "$SBX" ]; then SBX=$(realpath "$SBX"); fi
cd "$(dirname "$0")/.."

PROFILE=0
for arg in "$@"; do
    case $arg in
        --profile) PROFILE=1 ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "bench/launch.sh: unknown argument '$arg' (only --profile)" >&2; exit 2 ;;
    esac
done

RUNS=${RUNS:-100}
WARMUP=${WARMUP:-5}
ORDER=${ORDER:-interleave}
SETTLE=${SETTLE:-1}
[[ $RUNS =~ ^[0-9]+$ ]] && (( RUNS >= 50 )) || { echo "bench/launch.sh: RUNS must be a number >= 50 (got '$RUNS')" >&2; exit 2; }
[[ $WARMUP =~ ^[0-9]+$ ]] || { echo "bench/launch.sh: WARMUP must be a number" >&2; exit 2; }
[[ $ORDER == interleave || $ORDER == blocks ]] || { echo "bench/launch.sh: ORDER must be interleave or blocks" >&2; exit 2; }
[[ $SETTLE == 0 || $SETTLE == 1 ]] || { echo "bench/launch.sh: SETTLE must be 0 or 1" >&2; exit 2; }

# ---- requirements -----------------------------------------------------------
[ "$(id -u)" = 0 ] || { echo "bench/launch.sh: must run as root (it creates bridges, namespaces and nft rules)" >&2; exit 1; }
missing=()
declare -A pkg=([ip]=iproute2 [nft]=nftables [unshare]=util-linux [python3]=python3 [strace]=strace)
tools=(ip nft unshare python3)
(( PROFILE )) && tools+=(strace)
for tool in "${tools[@]}"; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool (package ${pkg[$tool]})")
done
if (( ${#missing[@]} )); then
    echo "bench/launch.sh: missing required tools:" >&2
    printf '  %s\n' "${missing[@]}" >&2
    exit 1
fi

# ---- the sbx binary ---------------------------------------------------------
# .cargo/config.toml names a build target, so cargo puts the release binary in
# target/<triple>/release/sbx, not target/release/sbx; ask cargo for the path.
if [ -z "${SBX:-}" ]; then
    command -v cargo >/dev/null 2>&1 || { echo "bench/launch.sh: cargo not found; build sbx elsewhere and pass SBX=/path/to/sbx" >&2; exit 1; }
    echo "building sbx (cargo build --release) ..." >&2
    if ! SBX=$(cargo build --release --message-format=json-render-diagnostics \
            | python3 -c 'import json,sys
exe=[m["executable"] for m in map(json.loads,sys.stdin) if m.get("reason")=="compiler-artifact" and m.get("executable") and m["target"]["name"]=="sbx"]
print(exe[-1] if exe else "")') || [ -z "$SBX" ]; then
        echo "bench/launch.sh: cargo build --release failed; fix the build or pass SBX=/path/to/a/built/sbx" >&2
        exit 1
    fi
fi
[ -x "$SBX" ] || { echo "bench/launch.sh: SBX=$SBX is not an executable" >&2; exit 1; }
SBX=$(realpath "$SBX")

# ---- names: fixed ones are refused if already there, so that cleanup only ---
# ---- ever removes what this run made -------------------------------------
NET=benchlaunch
BR_A=sbxbench0 SUBNET_A=10.251.0.0/24 IP_A=10.251.0.10
BR_T=sbxbench2 SUBNET_T=10.253.0.0/24 IP_T=10.253.0.10   # --profile: (a) with its state root on tmpfs
BR_B=benchbr1  SUBNET_B=10.252.0.0/24 GW_B=10.252.0.1 IP_B=10.252.0.10 PREFIX_B=24
TABLE=sbxbench
TAG=$(printf '%04x' $((RANDOM)))      # per-run tag in netns/veth names of (b)
for br in "$BR_A" "$BR_B" "$BR_T"; do
    if ip link show "$br" >/dev/null 2>&1; then
        echo "bench/launch.sh: interface $br already exists (another run of this benchmark?); not touching it" >&2
        exit 1
    fi
done
if nft list table ip "$TABLE" >/dev/null 2>&1; then
    echo "bench/launch.sh: nft table ip $TABLE already exists (another run of this benchmark?); not touching it" >&2
    exit 1
fi

WORK=$(mktemp -d /tmp/sbx-bench-launch-XXXXXX)
ROOT=$WORK/root
mkdir "$ROOT"
TROOT=$WORK/tmpfs-root
MADE_NET=0 MADE_BR=0 MADE_TABLE=0 MADE_TMPFS=0 MADE_NET_T=0
net_rm() {   # $1: state root. A sandbox left by an interrupted launch is swept first.
    "$SBX" --root "$1" network rm "$NET" >/dev/null 2>&1 && return
    "$SBX" --root "$1" ps -q 2>/dev/null | xargs -r "$SBX" --root "$1" rm -f >/dev/null 2>&1
    "$SBX" --root "$1" prune >/dev/null 2>&1
    "$SBX" --root "$1" network rm "$NET" >/dev/null \
        || echo "bench/launch.sh: cleanup: sbx --root $1 network rm $NET failed" >&2
}
cleanup() {
    local rc=$?
    set +e
    (( MADE_NET )) && net_rm "$ROOT"
    (( MADE_NET_T )) && net_rm "$TROOT"
    (( MADE_TMPFS )) && umount "$TROOT"
    # netns of (b) left by an interrupted iteration
    local ns
    for ns in $(ip netns list 2>/dev/null | awk -v p="sbxbench-$TAG-" 'index($1, p) == 1 {print $1}'); do
        ip netns del "$ns" 2>/dev/null
    done
    (( MADE_BR )) && ip link del "$BR_B" 2>/dev/null
    (( MADE_TABLE )) && nft delete table ip "$TABLE" 2>/dev/null
    # veths of (b) go away with their netns, in the background: wait a little
    local i
    for i in $(seq 50); do
        ip -o link show 2>/dev/null | grep -q "vb${TAG}n" || break
        sleep 0.1
    done
    for ns in $(ip -o link show 2>/dev/null | awk -F': ' -v p="vb${TAG}n" 'index($2, p) == 1 {sub(/@.*/, "", $2); print $2}'); do
        ip link del "$ns" 2>/dev/null
    done
    if mountpoint -q "$TROOT" 2>/dev/null; then
        echo "bench/launch.sh: cleanup: $TROOT still mounted; leaving $WORK" >&2
    else
        rm -rf "$WORK"
    fi
    exit "$rc"
}
trap cleanup EXIT
# The python parts run in the background and are waited for, so that a signal
# is acted on at once (bash runs traps only between foreground commands). On
# INT/TERM the python part finishes the launch in flight, stops, and the EXIT
# trap cleans up.
PYPID=
on_signal() {
    if [ -n "$PYPID" ]; then
        kill -TERM "$PYPID" 2>/dev/null || true
        wait "$PYPID" 2>/dev/null || true
    fi
    exit "$1"
}
trap 'on_signal 130' INT
trap 'on_signal 143' TERM
py() {   # python3 - ARGS, its program on stdin
    local rc=0
    python3 - "$@" <&0 &
    PYPID=$!
    wait "$PYPID" || rc=$?
    PYPID=
    return "$rc"
}

# ---- (a)'s network, made once, as a user would --------------------------------
"$SBX" --root "$ROOT" network create "$NET" --subnet "$SUBNET_A" --bridge "$BR_A" >/dev/null
MADE_NET=1

# ---- (b)'s bridge and masquerade rule, made once ---------------------------
ip link add "$BR_B" type bridge
MADE_BR=1
ip addr add "$GW_B/$PREFIX_B" dev "$BR_B"
ip link set "$BR_B" up
MADE_TABLE=1
nft -f - <<NFT
table ip $TABLE {
    chain post {
        type nat hook postrouting priority srcnat;
        ip saddr $SUBNET_B oifname != "$BR_B" masquerade
    }
}
NFT

# The classic per-launch script of (b). $1: netns name, $2: host veth name
# (unique per launch: the previous one may still be on its way out).
cat >"$WORK/classic.sh" <<SH
#!/bin/bash
set -e
ns=\$1 veth=\$2
ip netns add "\$ns"
ip link add "\$veth" type veth peer name eth0 netns "\$ns"
ip link set "\$veth" master $BR_B up
ip -n "\$ns" addr add $IP_B/$PREFIX_B dev eth0
ip -n "\$ns" link set eth0 up
ip -n "\$ns" link set lo up
ip -n "\$ns" route add default via $GW_B
ip netns exec "\$ns" true
ip netns del "\$ns"
SH
chmod +x "$WORK/classic.sh"

echo "sbx: $SBX" >&2
echo "$RUNS runs of each after $WARMUP warm-ups, order $ORDER, settle $SETTLE ..." >&2

# ---- the measurement --------------------------------------------------------
py "$RUNS" "$WARMUP" "$ORDER" "$SETTLE" "$SBX" "$ROOT" "$NET" "$IP_A" "$BR_A" \
          "$WORK/classic.sh" "sbxbench-$TAG" "vb${TAG}n" "$BR_B" <<'PY'
import os, signal, statistics, subprocess, sys, time

stop = []   # INT/TERM: finish the launch in flight, then stop
for sig in (signal.SIGINT, signal.SIGTERM):
    signal.signal(sig, lambda n, f: stop.append(n))

runs, warmup = int(sys.argv[1]), int(sys.argv[2])
order, settle = sys.argv[3], sys.argv[4] == "1"
sbx, root, net, ip_a, br_a, classic, ns_prefix, veth_prefix, br_b = sys.argv[5:14]

def cmd_a(i):
    return [sbx, "--root", root, "run", "--network", net, "--ip", ip_a, "--", "/bin/true"]
def cmd_b(i):
    return ["/bin/bash", classic, f"{ns_prefix}-{i}", f"{veth_prefix}{i}"]
def cmd_c(i):
    return ["unshare", "--net", "--mount", "--uts", "--ipc", "--pid", "--fork", "true"]
cases = {"a": (cmd_a, br_a), "b": (cmd_b, br_b), "c": (cmd_c, None)}

def wait_bridge_empty(br):
    """Untimed: until the last launch's veth has left its bridge (<= 2 s)."""
    brif, deadline = f"/sys/class/net/{br}/brif", time.monotonic() + 2
    while os.listdir(brif) and time.monotonic() < deadline:
        time.sleep(0.0005)

counter = 0
def launch(key):
    global counter
    if stop:
        sys.exit(128 + stop[0])
    counter += 1
    make, br = cases[key]
    argv = make(counter)
    t0 = time.perf_counter_ns()
    p = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    dt = (time.perf_counter_ns() - t0) / 1e6
    if p.returncode != 0:
        if stop:
            sys.exit(128 + stop[0])
        sys.stderr.write(f"launch ({key}) failed with status {p.returncode}: {' '.join(argv)}\n"
                         + p.stderr.decode(errors="replace"))
        sys.exit(1)
    if settle and br:
        wait_bridge_empty(br)
    return dt

times = {k: [] for k in cases}
if order == "interleave":
    for i in range(warmup + runs):
        for k in cases:
            dt = launch(k)
            if i >= warmup:
                times[k].append(dt)
else:
    for k in cases:
        for i in range(warmup + runs):
            dt = launch(k)
            if i >= warmup:
                times[k].append(dt)

def p90(v):
    return statistics.quantiles(v, n=10, method="inclusive")[-1]
med = {k: statistics.median(v) for k, v in times.items()}
names = {
    "a": "sbx run --network N --ip X -- /bin/true",
    "b": "ip netns/veth/bridge shell script",
    "c": "unshare --net --mount --uts --ipc --pid --fork true",
}
print(f"launch latency: {runs} runs each after {warmup} warm-ups, "
      f"order {order}, settle {'on' if settle else 'off'}; milliseconds")
print(f"  {'':3} {'what':<52} {'median':>8} {'p90':>8} {'min':>8}")
for k in "abc":
    v = times[k]
    print(f"  ({k}) {names[k]:<52} {med[k]:8.2f} {p90(v):8.2f} {min(v):8.2f}")
ac, ab = med["a"] / med["c"], med["a"] / med["b"]
print(f"  a/c = {ac:.3f}  target <= 2    {'PASS' if ac <= 2 else 'MISS'}")
print(f"  a/b = {ab:.3f}  target <= 0.1  {'PASS' if ab <= 0.1 else 'MISS'}")
PY

# ---- --profile: where sbx's time goes ------------------------------------------
if (( PROFILE )); then
    # A second state root on tmpfs, as /run is on most hosts (here /tmp and
    # /run are on ext4): how much of a launch is the state files' I/O.
    mkdir "$TROOT"
    mount -t tmpfs -o size=16m,mode=0700 sbxbench "$TROOT"
    MADE_TMPFS=1
    "$SBX" --root "$TROOT" network create "$NET" --subnet "$SUBNET_T" --bridge "$BR_T" >/dev/null
    MADE_NET_T=1
    echo
    echo "profile: per-step timings (SBX_LOG=debug) and variants of (a), interleaved ..." >&2
    py "$SBX" "$ROOT" "$NET" "$IP_A" "$BR_A" "$TROOT" "$IP_T" "$BR_T" <<'PY'
import os, re, signal, statistics, subprocess, sys, time
stop = []   # INT/TERM: finish the launch in flight, then stop
for sig in (signal.SIGINT, signal.SIGTERM):
    signal.signal(sig, lambda n, f: stop.append(n))
sbx, root, net, ip_a, br, troot, ip_t, br_t = sys.argv[1:9]
N = 40
run = [sbx, "--root", root, "run"]
variants = {
    "a":        (run + ["--network", net, "--ip", ip_a, "--", "/bin/true"], "sbx run --network N --ip X -- /bin/true (as (a))"),
    "none":     (run + ["--network", "none", "--", "/bin/true"], "same with --network none (no veth, address, route)"),
    "unconf":   (run + ["--network", net, "--ip", ip_a, "--security-opt", "seccomp=unconfined", "--", "/bin/true"],
                 "same as (a) with --security-opt seccomp=unconfined"),
    "tmpfs":    ([sbx, "--root", troot, "run", "--network", net, "--ip", ip_t, "--", "/bin/true"],
                 "same as (a) with the state root (--root) on tmpfs"),
    "version":  ([sbx, "--version"], "sbx --version (exec, start and exit of sbx only)"),
    "true":     (["/bin/true"], "/bin/true (the harness's own spawn cost)"),
}
unit = {"ns": 1e-6, "µs": 1e-3, "us": 1e-3, "ms": 1.0, "s": 1e3}
steps, walls = {}, {k: [] for k in variants}
env = dict(os.environ, SBX_LOG="debug")

def wait_bridge_empty():
    deadline = time.monotonic() + 2
    while any(os.listdir(f"/sys/class/net/{b}/brif") for b in (br, br_t)) and time.monotonic() < deadline:
        time.sleep(0.0005)

def launch(argv, env=None):
    if stop:
        sys.exit(128 + stop[0])
    t0 = time.perf_counter_ns()
    p = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    dt = (time.perf_counter_ns() - t0) / 1e6
    if p.returncode != 0:
        if stop:
            sys.exit(128 + stop[0])
        sys.exit(f"profile launch failed ({p.returncode}): {' '.join(argv)}\n{p.stderr.decode(errors='replace')}")
    wait_bridge_empty()
    return dt, p.stderr.decode(errors="replace")

for i in range(N + 2):
    # per-step timings: (a) with SBX_LOG=debug
    dt, err = launch(variants["a"][0], env)
    total = 0.0
    for m in re.finditer(r"step (\S+): ([0-9.]+)(ns|µs|us|ms|s)\b", err):
        ms = float(m.group(2)) * unit[m.group(3)]
        total += ms
        if i >= 2:
            steps.setdefault(m.group(1), []).append(ms)
    if i >= 2:
        steps.setdefault("(not logged)", []).append(dt - total)
        steps.setdefault("wall", []).append(dt)
    for k, (argv, _) in variants.items():
        dt, _ = launch(argv)
        if i >= 2:
            walls[k].append(dt)

med = lambda v: statistics.median(v)
print(f"sbx run per step (SBX_LOG=debug), median of {N} launches; each step is the time since the previous one:")
for step, v in steps.items():
    print(f"  {step:<14} {med(v):7.3f} ms")
print("  (not logged) = wall - sum of steps: the harness's spawn, exec and start-up of sbx before")
print("                 'start', the teardown after 'exited' (netns file, record), process exit")
print()
print(f"variants, median of {N} each, interleaved, wall ms:")
for k, (_, what) in variants.items():
    print(f"  {med(walls[k]):7.3f}  {what}")
d = lambda k: med(walls["a"]) - med(walls[k])
print(f"  => network wiring (a - none): {d('none'):.3f} ms; seccomp filter (a - unconfined): {d('unconf'):.3f} ms;")
print(f"     state files on this disk rather than tmpfs (a - tmpfs): {d('tmpfs'):.3f} ms;"
      f" sbx's start/exit beyond a bare exec (version - true): {med(walls['version']) - med(walls['true']):.3f} ms")
PY
    echo
    echo "profile: strace -c -f over 20 launches of (a) (strace slows each launch several-fold) ..." >&2
    for i in $(seq 20); do
        strace -c -f -o "$WORK/strace.$i" -- "$SBX" --root "$ROOT" run --network "$NET" --ip "$IP_A" -- /bin/true >/dev/null
        for _ in $(seq 200); do [ -z "$(ls "/sys/class/net/$BR_A/brif")" ] && break; sleep 0.01; done
    done
    py "$WORK" <<'PY'
import glob, sys
rows = {}
for path in glob.glob(f"{sys.argv[1]}/strace.*"):
    for line in open(path):
        f = line.split()
        # % time, seconds, usecs/call, calls, [errors], syscall
        if len(f) < 5 or not f[0][0].isdigit() or f[-1] == "total":
            continue
        errors = int(f[4]) if len(f) == 6 else 0
        r = rows.setdefault(f[-1], [0.0, 0, 0])
        r[0] += float(f[1]); r[1] += int(f[3]); r[2] += errors
tot_s = sum(r[0] for r in rows.values()); tot_n = sum(r[1] for r in rows.values())
print("strace -c -f, summed over 20 launches (sbx, its init and /bin/true; time inside each syscall):")
print(f"  {'% time':>6} {'seconds':>9} {'us/call':>8} {'calls':>7} {'errors':>6}  syscall")
for name, (s, n, e) in sorted(rows.items(), key=lambda kv: -kv[1][0])[:25]:
    print(f"  {100 * s / tot_s:6.2f} {s:9.6f} {1e6 * s / n:8.0f} {n:7d} {e or '':>6}  {name}")
print(f"  {100:6.2f} {tot_s:9.6f} {'':8} {tot_n:7d} {'':6}  total ({tot_n / 20:.0f} syscalls per launch)")
PY
fi
