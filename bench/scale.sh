#!/usr/bin/env bash
# Many detached sandboxes on one host (issue 3's benchmark).
#
# Launches N detached sandboxes (default 1000, `sleep` each) on one network
# and measures: the time to launch them all, `sbx ps` latency at 10, 100 and
# N sandboxes (median of 20 runs each), the memory of sbx's own processes
# per sandbox (supervisor + init: RSS, and PSS which splits shared pages
# fairly), and the time to stop them all. A Linux bridge takes at most 1024
# ports (BR_MAX_PORTS), so one /22 network holds the default 1000.
#
# Usage, as root: bench/scale.sh            (N=1000 by default; N=200 bench/scale.sh for a quick run)
# Needs: python3 (timing), a release build of sbx (built if missing).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-1000}
SBX=${SBX:-target/x86_64-unknown-linux-gnu/release/sbx}
[ -x "$SBX" ] || cargo build --release -q
export SBX_ROOT=$(mktemp -d /tmp/sbx-bench-scale-XXXXXX)
NET=benchscale
cleanup() {
    "$SBX" ps -q | xargs -r "$SBX" rm -f >/dev/null 2>&1 || true
    "$SBX" ps -aq | xargs -r "$SBX" rm >/dev/null 2>&1 || true
    "$SBX" network rm "$NET" >/dev/null 2>&1 || true
    rm -rf "$SBX_ROOT"
}
trap cleanup EXIT

now() { python3 -c 'import time; print(time.perf_counter_ns())'; }
ms() { python3 -c "print(f'{($2 - $1) / 1e6:.1f}')"; }

# Median wall time of `sbx ps` over 20 runs, in ms, timed inside one python.
ps_latency() {
    python3 - "$SBX" <<'PY'
import statistics, subprocess, sys, time
samples = []
for _ in range(20):
    t = time.perf_counter_ns()
    subprocess.run([sys.argv[1], "ps"], stdout=subprocess.DEVNULL, check=True)
    samples.append((time.perf_counter_ns() - t) / 1e6)
print(f"{statistics.median(samples):.1f}")
PY
}

# Sum of a smaps_rollup field over sbx's own processes (supervisors, inits), in kB.
sbx_memory() {
    local field=$1 total=0 pid
    for pid in $("$SBX" ps --json | python3 -c '
import json, subprocess, sys
for s in json.load(sys.stdin):
    print(s["pid"])
'); do
        sup=$(awk -v p="$pid" '$1=="PPid:"{print $2}' /proc/"$pid"/status 2>/dev/null || true)
        for p in $pid $sup; do
            v=$(awk -v f="$field:" '$1==f{print $2}' /proc/"$p"/smaps_rollup 2>/dev/null || echo 0)
            total=$((total + v))
        done
    done
    echo "$total"
}

"$SBX" network create "$NET" --subnet 10.250.0.0/22 --bridge sbxbscale >/dev/null
launch() {  # launch FROM TO: sandboxes s-FROM..s-TO, two at a time (2 cores)
    seq "$1" "$2" | xargs -P 2 -I{} "$SBX" run -d --name s-{} --network "$NET" -- sleep 3600 >/dev/null
}

declare -A latency
launch_ns=0
timed_launch() {  # timed_launch FROM TO: launch, adding the time to launch_ns
    local t0 t1
    t0=$(now); launch "$1" "$2"; t1=$(now)
    launch_ns=$((launch_ns + t1 - t0))
}
timed_launch 1 10;     latency[10]=$(ps_latency)
timed_launch 11 100;   latency[100]=$(ps_latency)
timed_launch 101 "$N"; latency[$N]=$(ps_latency)
launch_ms=$(python3 -c "print(f'{$launch_ns / 1e6:.0f}')")
running=$("$SBX" ps -q | wc -l)
rss=$(sbx_memory Rss); pss=$(sbx_memory Pss)

t4=$(now)
"$SBX" ps -q | xargs -P 2 -n 50 "$SBX" stop -t 5 >/dev/null
t5=$(now)
left=$("$SBX" ps -q | wc -l)

echo "sandboxes running:             $running of $N"
echo "launch all (2 in parallel):    ${launch_ms} ms ($(python3 -c "print(f'{$launch_ms / $N:.2f}')") ms each)"
echo "sbx ps at 10:                  ${latency[10]} ms"
echo "sbx ps at 100:                 ${latency[100]} ms"
echo "sbx ps at $N:                ${latency[$N]} ms   (target < 50 ms: $(python3 -c "print('PASS' if ${latency[$N]} < 50 else 'MISS')"))"
echo "sbx-owned RSS per sandbox:     $(python3 -c "print(f'{$rss / $running:.0f}')") kB (supervisor + init; shared pages counted in each)"
echo "sbx-owned PSS per sandbox:     $(python3 -c "print(f'{$pss / $running:.0f}')") kB (target <= 1024 kB: $(python3 -c "print('PASS' if $pss / $running <= 1024 else 'MISS')"))"
echo "stop all:                      $(ms "$t4" "$t5") ms (left running: $left)"
