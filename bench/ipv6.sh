#!/usr/bin/env bash
# IPv6 dual-stack (issue 15's benchmark): what IPv6 adds to a launch. In
# one run, on its own state root, the wall time of
#   (v4)   sbx run --rm --network sbxb6-4 -- true   (IPv4-only network,
#          10.200.250.0/24, bridge sbxb6b4)
#   (dual) sbx run --rm --network sbxb6-6 -- true   (dual-stack network,
#          10.200.251.0/24 + fdb1:251::/64, bridge sbxb6b6): the same launch
#          plus one IPv6 lease, one IPv6 address (nodad) on eth0 and one
#          IPv6 default route inside, and an IPv6 line in /etc/hosts
# interleaved (v4, dual, dual, v4, ...: ABBA, so a drift of the machine hits
# both alike), WARMUP untimed launches of each first. Between two launches,
# untimed, the script waits until the previous launch's veth has left its
# bridge (the kernel frees a netns in the background), as bench/launch.sh
# does. Prints median, p10 and p90 of each, the ratio dual/v4 of the
# medians and their difference in ms (target: a fraction of a ms).
#
# Usage, as root, under the integration tests' lock:
#     flock /tmp/sbx-it.lock bench/ipv6.sh
#   RUNS=N     timed launches of each (default 60, at least 20); WARMUP=N (default 5)
#   SBX=PATH   the sbx binary (default: `cargo build --release` and the
#              binary it reports)
# Needs: root, python3, iproute2; cargo if the binary is built.
# Leaves nothing behind: an EXIT trap removes the sandboxes, both networks
# (bridges, nft rules) and the state root, also after a failure or Ctrl-C.
set -euo pipefail
if [ -n "${SBX:-}" ] && [ -e "$SBX" ]; then SBX=$(realpath "$SBX"); fi
cd "$(dirname "$0")/.."
case "${1:-}" in
    "") ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench/ipv6.sh: unknown argument '$1' (settings are environment variables, see --help)" >&2; exit 2 ;;
esac
RUNS=${RUNS:-60}
WARMUP=${WARMUP:-5}
[[ $RUNS =~ ^[0-9]+$ ]] && (( RUNS >= 20 )) || { echo "bench/ipv6.sh: RUNS must be a number >= 20 (got '$RUNS')" >&2; exit 2; }
[[ $WARMUP =~ ^[0-9]+$ ]] || { echo "bench/ipv6.sh: WARMUP must be a number (got '$WARMUP')" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "bench/ipv6.sh: must run as root (sbx creates namespaces, bridges, nft rules)" >&2; exit 1; }
command -v python3 >/dev/null || { echo "bench/ipv6.sh: python3 is missing (package python3)" >&2; exit 1; }

if [ -z "${SBX:-}" ]; then
    command -v cargo >/dev/null 2>&1 || { echo "bench/ipv6.sh: cargo not found; pass SBX=/path/to/sbx" >&2; exit 1; }
    echo "building sbx (cargo build --release) ..." >&2
    if ! SBX=$(cargo build --release --bin sbx --message-format=json-render-diagnostics \
            | python3 -c 'import json,sys
exe=[m["executable"] for m in map(json.loads,sys.stdin) if m.get("reason")=="compiler-artifact" and m.get("executable") and m["target"]["name"]=="sbx"]
print(exe[-1] if exe else "")') || [ -z "$SBX" ]; then
        echo "bench/ipv6.sh: cargo build --release failed; pass SBX=/path/to/a/built/sbx" >&2
        exit 1
    fi
fi
[ -x "$SBX" ] || { echo "bench/ipv6.sh: SBX=$SBX is not an executable" >&2; exit 1; }

NETS=(sbxb6-4 sbxb6-6)
BRIDGES=(sbxb6b4 sbxb6b6)
for br in "${BRIDGES[@]}"; do
    if [ -e "/sys/class/net/$br" ]; then
        echo "bench/ipv6.sh: interface $br already exists (another run of this benchmark?); not touching it" >&2
        exit 1
    fi
done
export SBX_ROOT
SBX_ROOT=$(mktemp -d /tmp/sbx-bench-ipv6-XXXXXX)
export SBX_LOG=warn
cleanup() {
    local rc=$? left
    trap - EXIT INT TERM
    set +e
    "$SBX" ps -aq 2>/dev/null | xargs -r "$SBX" rm -f >/dev/null 2>&1
    for net in "${NETS[@]}"; do "$SBX" network rm "$net" >/dev/null 2>&1; done
    for br in "${BRIDGES[@]}"; do
        [ -e "/sys/class/net/$br" ] && echo "bench/ipv6.sh: cleanup: bridge $br is still there" >&2
    done
    left=$("$SBX" ps -aq 2>/dev/null | wc -l)
    if [ "${left:-0}" != 0 ]; then
        echo "bench/ipv6.sh: cleanup: $left sandboxes could not be removed; leaving $SBX_ROOT" >&2
    else
        rm -rf "$SBX_ROOT"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

"$SBX" network create sbxb6-4 --subnet 10.200.250.0/24 --bridge sbxb6b4 >/dev/null
"$SBX" network create sbxb6-6 --subnet 10.200.251.0/24 --subnet6 fdb1:251::/64 --bridge sbxb6b6 >/dev/null

echo "sbx: $SBX ($(git rev-parse --short HEAD 2>/dev/null || echo '?')), state root $SBX_ROOT" >&2
echo "date: $(date -u '+%F %T UTC'); $(nproc) cores; load before: $(cut -d' ' -f1-3 /proc/loadavg); RUNS=$RUNS WARMUP=$WARMUP" >&2

python3 - "$SBX" "$RUNS" "$WARMUP" <<'PY'
import os, statistics, subprocess, sys, time
sbx, runs, warmup = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
KINDS = {"v4": ("sbxb6-4", "sbxb6b4"), "dual": ("sbxb6-6", "sbxb6b6")}

def settle(bridge):
    """Untimed: until the last launch's veth has left the bridge (2 s at most)."""
    deadline = time.monotonic() + 2
    while os.listdir(f"/sys/class/net/{bridge}/brif") and time.monotonic() < deadline:
        time.sleep(0.002)

def launch(kind):
    net, bridge = KINDS[kind]
    settle(bridge)
    start = time.perf_counter()
    p = subprocess.run([sbx, "run", "--rm", "--network", net, "--", "true"],
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    took = time.perf_counter() - start
    if p.returncode != 0:
        sys.exit(f"bench/ipv6.sh: sbx run on {net} failed ({p.returncode}): {p.stderr.decode()}")
    return took * 1000

for _ in range(warmup):
    launch("v4"); launch("dual")
times = {"v4": [], "dual": []}
for i in range(runs):
    order = ("v4", "dual") if i % 2 == 0 else ("dual", "v4")
    for kind in order:
        times[kind].append(launch(kind))

def pct(v, p):
    s = sorted(v)
    return s[min(len(s) - 1, int(p / 100 * len(s)))]
for kind in ("v4", "dual"):
    v = times[kind]
    print(f"{kind:>4}: median {statistics.median(v):7.2f} ms  p10 {pct(v, 10):7.2f}  p90 {pct(v, 90):7.2f}  (n={len(v)})")
m4, m6 = statistics.median(times["v4"]), statistics.median(times["dual"])
paired = statistics.median(b - a for a, b in zip(times["v4"], times["dual"]))
print(f"dual/v4 = {m6 / m4:.3f}   difference of medians {m6 - m4:+.2f} ms   median of paired differences {paired:+.2f} ms")
PY
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
