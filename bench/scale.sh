#!/usr/bin/env bash
# Launch cost at scale (issue 9's benchmark; extends issue 3's).
#
# In one run, on its own state root and its own two networks:
#   (1) the median of RUNS foreground launches `sbx run --network NET -- true`
#       with no other sandbox on the host;
#   (2) the time to launch N detached sandboxes (`sbx run -d --name bsc-I
#       --network NET -- sleep 3600`), two at a time (two launchers, one
#       process each, on these 2-core machines);
#   (3) the median of RUNS foreground launches as in (1), with the N present
#       (on their network; also, for the split, on an empty second network);
#   (4) `sbx ps` and `sbx ps -a --json` with the N present (median of RUNS);
# then the targets: (3)/(1) <= 1.3, (2) <= 10 s, `sbx ps` (4) <= 20 ms, each
# PASS or MISS; and the memory per sandbox and the time to remove them all.
#
# Networks: benchsc0 (10.250.0.0/22, bridge sbxbsc0) holds the sandboxes; a
# bridge takes at most 1024 ports (BR_MAX_PORTS) and a /22 has 1021 free
# addresses, so up to 1000 sandboxes plus the foreground launch fit on one.
# benchsc1 (10.250.4.0/22, bridge sbxbsc1) stays empty for N <= 1000 (the
# launches on it in (3) tell per-network costs from host-wide ones); for
# N > 1000 (at most 2000) the second launcher puts its half there.
# Between two foreground launches, untimed, the script waits until the
# previous launch's veth has left its bridge (the kernel removes it in the
# background), as bench/launch.sh does.
#
# Usage, as root, under the integration tests' lock:
#     flock /tmp/sbx-it.lock bench/scale.sh [--profile]
#   N=1000      detached sandboxes (at most 2000; N=200 for a quick run)
#   RUNS=30     foreground launches and `sbx ps` calls per median (>= 10)
#   SBX=PATH    the sbx binary (default: `cargo build --release`, then
#               target/x86_64-unknown-linux-gnu/release/sbx)
#   --profile   also, at 0 and at N sandboxes: per-step timings (SBX_LOG=debug),
#               variants (--network none, `unshare --mount true`, `unshare` of
#               the five namespaces), the host's mount count, the size of the
#               state root, and `strace -c -w -f` of 10 launches side by side
# Needs: root, python3; strace for --profile; cargo if the binary is built.
# Leaves nothing behind: an EXIT trap removes every sandbox (rm -f), the
# networks (and so their bridges and nft rules) and the state root, also after
# a failure or Ctrl-C; it names anything it could not remove.
set -euo pipefail
if [ -n "${SBX:-}" ] && [ -e "$SBX" ]; then SBX=$(realpath "$SBX"); fi
cd "$(dirname "$0")/.."

PROFILE=0
for arg in "$@"; do
    case $arg in
        --profile) PROFILE=1 ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "bench/scale.sh: unknown argument '$arg' (only --profile)" >&2; exit 2 ;;
    esac
done
N=${N:-1000}
RUNS=${RUNS:-30}
[[ $N =~ ^[0-9]+$ ]] && (( N >= 2 && N <= 2000 )) || { echo "bench/scale.sh: N must be a number from 2 to 2000 (got '$N')" >&2; exit 2; }
[[ $RUNS =~ ^[0-9]+$ ]] && (( RUNS >= 10 )) || { echo "bench/scale.sh: RUNS must be a number >= 10 (got '$RUNS')" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "bench/scale.sh: must run as root (sbx creates namespaces, bridges, nft rules)" >&2; exit 1; }
command -v python3 >/dev/null || { echo "bench/scale.sh: python3 is missing (package python3)" >&2; exit 1; }
if (( PROFILE )); then
    command -v strace >/dev/null || { echo "bench/scale.sh: --profile needs strace (package strace)" >&2; exit 1; }
fi

if [ -z "${SBX:-}" ]; then
    echo "building sbx (cargo build --release) ..." >&2
    cargo build --release -q || { echo "bench/scale.sh: cargo build --release failed; pass SBX=/path/to/sbx" >&2; exit 1; }
    SBX=$(realpath target/x86_64-unknown-linux-gnu/release/sbx)
fi
[ -x "$SBX" ] || { echo "bench/scale.sh: SBX=$SBX is not an executable" >&2; exit 1; }

NETS=(benchsc0 benchsc1)
SUBNETS=(10.250.0.0/22 10.250.4.0/22)
BRIDGES=(sbxbsc0 sbxbsc1)
for br in "${BRIDGES[@]}"; do
    if [ -e "/sys/class/net/$br" ]; then
        echo "bench/scale.sh: interface $br already exists (another run of this benchmark?); not touching it" >&2
        exit 1
    fi
done
# Its own state root, on the same file system as sbx's default (/run).
export SBX_ROOT
SBX_ROOT=$(mktemp -d /run/sbx-bench-scale-XXXXXX)
export SBX_LOG=warn

PYPID=
cleanup() {
    local rc=$? left
    trap - EXIT INT TERM
    if [ -n "$PYPID" ]; then kill -TERM "$PYPID" 2>/dev/null || true; wait "$PYPID" 2>/dev/null || true; fi
    "$SBX" ps -aq 2>/dev/null | xargs -r -n 50 -P 2 "$SBX" rm -f >/dev/null 2>&1 || true
    "$SBX" prune >/dev/null 2>&1 || true
    for net in "${NETS[@]}"; do "$SBX" network rm "$net" >/dev/null 2>&1 || true; done
    left=$("$SBX" ps -aq 2>/dev/null | wc -l || true)
    for br in "${BRIDGES[@]}"; do
        [ -e "/sys/class/net/$br" ] && echo "bench/scale.sh: cleanup: bridge $br is still there" >&2
    done
    if compgen -G '/run/netns/sbx-bsc-*' >/dev/null; then
        echo "bench/scale.sh: cleanup: netns files left: $(ls /run/netns | grep -c '^sbx-bsc-')" >&2
    fi
    if [ "${left:-0}" != 0 ]; then
        echo "bench/scale.sh: cleanup: $left sandboxes could not be removed; leaving the state root $SBX_ROOT" >&2
    else
        rm -rf "$SBX_ROOT"
    fi
    exit "$rc"
}
trap cleanup EXIT
# The python part runs in the background and is waited for, so that bash acts
# on a signal at once; on INT/TERM it is told to stop (it finishes the
# launches in flight) and the EXIT trap cleans up.
on_signal() {
    if [ -n "$PYPID" ]; then kill -TERM "$PYPID" 2>/dev/null || true; wait "$PYPID" 2>/dev/null || true; PYPID=; fi
    exit "$1"
}
trap 'on_signal 130' INT
trap 'on_signal 143' TERM

for i in 0 1; do
    "$SBX" network create "${NETS[$i]}" --subnet "${SUBNETS[$i]}" --bridge "${BRIDGES[$i]}" >/dev/null
done

echo "sbx: $SBX ($(git rev-parse --short HEAD 2>/dev/null || echo '?')), state root $SBX_ROOT" >&2
echo "N=$N RUNS=$RUNS profile=$PROFILE; load before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
python3 - "$SBX" "$N" "$RUNS" "$PROFILE" "${NETS[@]}" "${BRIDGES[@]}" <<'PY' &
import os, re, shutil, signal, statistics, subprocess, sys, threading, time

sbx, n, runs, profile = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "1"
nets, bridges = sys.argv[5:7], sys.argv[7:9]
stop = []
signal.signal(signal.SIGTERM, lambda s, f: stop.append(s))
devnull = subprocess.DEVNULL
med = statistics.median
def p90(v): return statistics.quantiles(v, n=10, method="inclusive")[-1]
def load(): return " ".join(open("/proc/loadavg").read().split()[:3])

def check_stop():
    if stop:
        sys.exit(143)

def ports(br): return len(os.listdir(f"/sys/class/net/{br}/brif"))

def settle(br, baseline):
    """Untimed: until the last launch's veth has left the bridge (<= 2 s)."""
    deadline = time.monotonic() + 2
    while ports(br) > baseline and time.monotonic() < deadline:
        time.sleep(0.0005)

def timed(argv, env=None):
    """Wall ms and stderr of one run of argv; its CPU time (user + sys of it
    and of the descendants it waited for, from wait4) goes to last_cpu[0]."""
    check_stop()
    t0 = time.perf_counter_ns()
    p = subprocess.Popen(argv, stdin=devnull, stdout=devnull, stderr=subprocess.PIPE, env=env)
    err = p.stderr.read()
    _, status, ru = os.wait4(p.pid, 0)
    dt = (time.perf_counter_ns() - t0) / 1e6
    p.returncode = os.waitstatus_to_exitcode(status)
    p.stderr.close()
    last_cpu[0] = 1e3 * (ru.ru_utime + ru.ru_stime)
    if p.returncode != 0:
        check_stop()
        sys.exit(f"failed ({p.returncode}): {' '.join(argv)}\n{err.decode(errors='replace')}")
    return dt, err.decode(errors="replace")
last_cpu = [0.0]

def foreground(net_i, count=runs, warmup=3, extra=(), env=None, argv=None):
    """Median etc. of `count` foreground launches on nets[net_i] (or argv)."""
    br = bridges[net_i]
    base = ports(br)
    argv = argv or [sbx, "run", "--network", nets[net_i], *extra, "--", "true"]
    out, cpus = [], []
    for i in range(warmup + count):
        dt, err = timed(argv, env)
        settle(br, base)
        if i >= warmup:
            out.append((dt, err))
            cpus.append(last_cpu[0])
    cpu[id(out)] = cpus
    return out

def times(samples): return [dt for dt, _ in samples]
cpu = {}   # id(a list foreground() returned) -> CPU ms of each of its launches
def cpu_of(samples): return med(cpu[id(samples)])

def ps_latency(args):
    return [timed([sbx, "ps", *args])[0] for _ in range(runs)]

def stats(v): return f"median {med(v):7.2f} ms   p90 {p90(v):7.2f}   min {min(v):7.2f}"

# ---------------------------------------------------------------- profile ----
unit = {"ns": 1e-6, "µs": 1e-3, "us": 1e-3, "ms": 1.0, "s": 1e3}
def steps_of(samples):
    steps = {}
    for dt, err in samples:
        total = 0.0
        for m in re.finditer(r"step (\S+): ([0-9.]+)(ns|µs|us|ms|s)\b", err):
            ms = float(m.group(2)) * unit[m.group(3)]
            total += ms
            steps.setdefault(m.group(1), []).append(ms)
        steps.setdefault("(not logged)", []).append(dt - total)
        steps.setdefault("wall", []).append(dt)
    return {k: med(v) for k, v in steps.items()}

def du(path):
    total = files = 0
    for d, _, fs in os.walk(path):
        for f in fs:
            try:
                total += os.lstat(os.path.join(d, f)).st_size
                files += 1
            except OSError:
                pass
    return total, files

def strace_c(count=10):
    """`strace -c -w -f` of `count` launches on nets[0]: {syscall: (s, calls)}."""
    rows, base = {}, ports(bridges[0])
    out = f"/tmp/sbx-bench-scale-strace.{os.getpid()}"
    try:
        for _ in range(count):
            check_stop()
            subprocess.run(["strace", "-c", "-w", "-f", "-o", out, "--", sbx, "run", "--network", nets[0],
                            "--", "true"], stdin=devnull, stdout=devnull, stderr=devnull, check=True)
            settle(bridges[0], base)
            for line in open(out):
                f = line.split()
                if len(f) < 5 or not f[0][0].isdigit() or f[-1] == "total":
                    continue
                r = rows.setdefault(f[-1], [0.0, 0])
                r[0] += float(f[1]) / count; r[1] += int(f[3]) / count
    finally:
        try: os.unlink(out)
        except OSError: pass
    return rows

def profile_at(label):
    env = dict(os.environ, SBX_LOG="debug")
    p = {"label": label}
    p["steps"] = steps_of(foreground(0, 20, 2, env=env))
    def wall_cpu(argv):
        s = foreground(0, 20, 2, argv=argv)
        return med(times(s)), cpu_of(s)
    p["fg"] = wall_cpu([sbx, "run", "--network", nets[0], "--", "true"])
    p["none"] = wall_cpu([sbx, "run", "--network", "none", "--", "true"])
    p["unshare_m"] = wall_cpu(["unshare", "--mount", "true"])
    p["unshare_5"] = wall_cpu(["unshare", "--net", "--mount", "--uts", "--ipc", "--pid", "--fork", "true"])
    p["perf"] = perf_top()
    p["mounts"] = sum(1 for _ in open("/proc/self/mountinfo"))
    p["root"] = du(os.environ["SBX_ROOT"])
    p["strace"] = strace_c()
    return p

def perf_top(count=20):
    """`perf record -e cpu-clock -g` of `count` launches on nets[0]: the top
    symbols by self time (perf report --no-children), or None without perf."""
    if not shutil.which("perf"):
        return None
    out = f"/tmp/sbx-bench-scale-perf.{os.getpid()}"
    loop = f'for i in $(seq {count}); do "$0" run --network "$1" -- true >/dev/null || exit 1; done'
    try:
        subprocess.run(["perf", "record", "-q", "-e", "cpu-clock", "-g", "-o", out, "--", "sh", "-c", loop,
                        sbx, nets[0]], stdin=devnull, stdout=devnull, stderr=devnull, check=True)
        rep = subprocess.run(["perf", "report", "-i", out, "--stdio", "--no-children", "-g", "none",
                              "--sort", "comm,sym", "--percent-limit", "1"],
                             capture_output=True, check=True).stdout.decode(errors="replace")
        flat = [l for l in rep.splitlines() if l.strip() and not l.startswith("#")][:20]
        # Inclusive time per system call entry (and page faults, exit): where
        # the kernel time goes, by what sbx asked for.
        rep = subprocess.run(["perf", "report", "-i", out, "--stdio", "--children", "-g", "none",
                              "--sort", "sym", "--percent-limit", "1"],
                             capture_output=True, check=True).stdout.decode(errors="replace")
        entry = re.compile(r"\[k\] (__x64_sys_\w+|exc_page_fault|do_exit)\s*$")
        by_call = [l for l in rep.splitlines() if entry.search(l)][:16]
        return flat, by_call
    finally:
        try: os.unlink(out)
        except OSError: pass

def print_profile(a, b):
    print(f"\nprofile: {a['label']} vs {b['label']}")
    print("  per step (SBX_LOG=debug), median of 20 launches on the sandboxes' network; each the time since the previous step:")
    for k in dict.fromkeys([*a["steps"], *b["steps"]]):
        x, y = a["steps"].get(k, float("nan")), b["steps"].get(k, float("nan"))
        print(f"    {k:<14} {x:8.3f} {y:8.3f} ms   {y - x:+8.3f}")
    print("  variants, median of 20 each: wall ms at each, CPU ms (user + sys, wait4) at each:")
    for k, what in (("fg", "sbx run --network NET -- true"), ("none", "sbx run --network none -- true"),
                    ("unshare_m", "unshare --mount true"),
                    ("unshare_5", "unshare --net --mount --uts --ipc --pid --fork true")):
        (w0, c0), (w1, c1) = a[k], b[k]
        print(f"    {what:<52} wall {w0:7.2f} {w1:7.2f}   CPU {c0:7.2f} {c1:7.2f}")
    print(f"  host mount table (/proc/self/mountinfo lines):    {a['mounts']:8d} {b['mounts']:8d}")
    print(f"  state root: bytes, files:                     {a['root'][0]:>9}/{a['root'][1]:<5} {b['root'][0]:>9}/{b['root'][1]}")
    sa, sb = a["strace"], b["strace"]
    print("  strace -c -w -f (wall time in syscalls, sbx + its init + the command), per launch, mean of 10:")
    print(f"    {'syscall':<18} {'calls':>7} {'ms':>8}   {'calls':>7} {'ms':>8}")
    keys = sorted(set(sa) | set(sb), key=lambda k: -max(sa.get(k, [0, 0])[0], sb.get(k, [0, 0])[0]))
    for k in keys[:18]:
        x, y = sa.get(k, [0.0, 0]), sb.get(k, [0.0, 0])
        print(f"    {k:<18} {x[1]:7.0f} {1e3 * x[0]:8.3f}   {y[1]:7.0f} {1e3 * y[0]:8.3f}")
    tot = lambda s: (sum(r[1] for r in s.values()), 1e3 * sum(r[0] for r in s.values()))
    print(f"    {'total':<18} {tot(sa)[0]:7.0f} {tot(sa)[1]:8.3f}   {tot(sb)[0]:7.0f} {tot(sb)[1]:8.3f}")
    for p in (a, b):
        if p["perf"]:
            flat, by_call = p["perf"]
            print(f"  perf record -e cpu-clock -g, 20 launches {p['label']}: top symbols by self time (comm, symbol):")
            for line in flat:
                print(f"    {line.strip()}")
            print(f"  same, inclusive (children) time of system call entries, page faults, exit:")
            for line in by_call:
                print(f"    {' '.join(line.split())}")

# ------------------------------------------------------------ measurement ----
print(f"sbx scale benchmark: N={n}, RUNS={runs}, networks {nets[0]} (bridge {bridges[0]}) and {nets[1]}; load {load()}", flush=True)
fg0_s = foreground(0); fg0 = times(fg0_s)
ps0 = ps_latency([])
prof0 = profile_at("at 0") if profile else None

# (2) N detached, two launchers; the second one on nets[1] only when one
# bridge cannot hold them all.
each = [[], []]
failed = []
def launcher(k):
    net = nets[1] if (k == 1 and n > 1000) else nets[0]
    for i in range(k + 1, n + 1, 2):
        if stop or failed:
            return
        t0 = time.perf_counter_ns()
        p = subprocess.run([sbx, "run", "-d", "--name", f"bsc-{i:04d}", "--network", net, "--", "sleep", "3600"],
                           stdin=devnull, stdout=devnull, stderr=subprocess.PIPE)
        each[k].append((i, (time.perf_counter_ns() - t0) / 1e6))
        if p.returncode != 0:
            failed.append(f"bsc-{i:04d} ({p.returncode}): {p.stderr.decode(errors='replace').strip()}")
def meminfo():
    return {l.split(":")[0]: int(l.split()[1]) for l in open("/proc/meminfo")}
mem_before = meminfo()
print(f"launching {n} detached sandboxes, two at a time ...", file=sys.stderr, flush=True)
t0 = time.perf_counter_ns()
threads = [threading.Thread(target=launcher, args=(k,)) for k in (0, 1)]
for t in threads: t.start()
for t in threads:
    while t.is_alive(): t.join(0.2)
launch_all = (time.perf_counter_ns() - t0) / 1e9
check_stop()
if failed:
    sys.exit("detached launch failed: " + failed[0])
load_launch = load()
mem_after = meminfo()
per = [dt for _, dt in sorted(each[0] + each[1])]
running = sum(1 for _ in subprocess.run([sbx, "ps", "-q"], capture_output=True, check=True).stdout.splitlines())

# (3), (4)
prof1 = profile_at(f"at {n}") if profile else None
fgN_s = foreground(0); fgN = times(fgN_s)
fgN_other_s = foreground(1) if n <= 1000 else None
fgN_other = times(fgN_other_s) if fgN_other_s else None
psN = ps_latency([])
psN_json = ps_latency(["-a", "--json"])

# memory: PSS of each sandbox's supervisor and init (smaps_rollup, kB)
import json
pss = 0
for s in json.loads(subprocess.run([sbx, "ps", "--json"], capture_output=True, check=True).stdout):
    pid = s.get("pid")
    if not pid:
        continue
    try:
        sup = next(int(l.split()[1]) for l in open(f"/proc/{pid}/status") if l.startswith("PPid:"))
    except (OSError, StopIteration):
        continue
    for p in (pid, sup):
        try:
            pss += next(int(l.split()[1]) for l in open(f"/proc/{p}/smaps_rollup") if l.startswith("Pss:"))
        except (OSError, StopIteration):
            pass

# mounts in the first and the last sandbox's mount namespace, and in the host's
def mounts_of(name):
    try:
        folder = f"{os.environ['SBX_ROOT']}/sandboxes/{name}"
        rec = json.load(open(f"{folder}/sandbox.json"))
        pid = (rec.get("init") or {}).get("pid")
        if pid is None:  # since issue 9: the init is an `init` link PID:START
            pid = int(os.readlink(f"{folder}/init").split(":")[0])
        lines = open(f"/proc/{pid}/mountinfo").read().splitlines()
        return len(lines), sum(1 for l in lines if " /run/netns/" in l)
    except (OSError, ValueError, TypeError):
        return None
first_last = [mounts_of(f"bsc-{1:04d}"), mounts_of(f"bsc-{n:04d}")]
host_mounts = sum(1 for _ in open("/proc/self/mountinfo"))

# remove them all, timed (the EXIT trap finds nothing left to do)
names = subprocess.run([sbx, "ps", "-aq"], capture_output=True, check=True).stdout.decode().split()
chunks = [names[i:i + 50] for i in range(0, len(names), 50)]
def remover(k):
    for c in chunks[k::2]:
        subprocess.run([sbx, "rm", "-f", *c], stdin=devnull, stdout=devnull, check=True)
t0 = time.perf_counter_ns()
threads = [threading.Thread(target=remover, args=(k,)) for k in (0, 1)]
for t in threads: t.start()
for t in threads:
    while t.is_alive(): t.join(0.2)
rm_all = (time.perf_counter_ns() - t0) / 1e9

# ----------------------------------------------------------------- report ----
ratio = med(fgN) / med(fg0)
verdict = lambda ok: "PASS" if ok else "MISS"
dec = min(100, len(per) // 10)
print(f"sandboxes running after (2): {running} of {n}")
print(f"(1) launch at 0            {stats(fg0)}   CPU {cpu_of(fg0_s):.2f} ms")
print(f"(2) launch {n} detached, two at a time: {launch_all:.2f} s ({1e3 * launch_all / n:.2f} ms each; load after: {load_launch})")
print(f"      per launch: median {med(per):.2f} ms; first {dec}: {med(per[:dec]):.2f} ms; last {dec}: {med(per[-dec:]):.2f} ms")
print(f"(3) launch at {n}         {stats(fgN)}   CPU {cpu_of(fgN_s):.2f} ms")
if fgN_other:
    print(f"      same, on the empty second network: {stats(fgN_other)}   CPU {cpu_of(fgN_other_s):.2f} ms")
print(f"(4) sbx ps at {n}          {stats(psN)}")
print(f"      sbx ps -a --json:    {stats(psN_json)}")
print(f"      sbx ps at 0:         {stats(ps0)}")
if running:
    print(f"sbx-owned PSS per sandbox (supervisor + init): {pss / running:.0f} kB")
if running:
    d = lambda k: (mem_before[k] - mem_after[k]) / running if k == "MemAvailable" else (mem_after[k] - mem_before[k]) / running
    print(f"per sandbox, host-wide (/proc/meminfo after (2) - before, / {running}): MemAvailable -{d('MemAvailable'):.0f} kB,"
          f" Slab +{d('Slab'):.0f} kB (of it SUnreclaim +{d('SUnreclaim'):.0f} kB)")
fl = ", ".join(f"{m[0]} mounts ({m[1]} under /run/netns)" if m else "?" for m in first_last)
print(f"mount table: host {host_mounts} lines; first and last sandbox's mount namespace: {fl}")
print(f"remove all {len(names)} (sbx rm -f, 50 per call, two calls at a time): {rm_all:.2f} s")
print("targets:")
print(f"  launch at {n} / launch at 0 = {ratio:.2f}   (<= 1.3)  {verdict(ratio <= 1.3)}"
      f"   (in CPU time: {cpu_of(fgN_s) / cpu_of(fg0_s):.2f})")
print(f"  launch {n}               = {launch_all:.2f} s (<= 10 s) {verdict(launch_all <= 10)}")
print(f"  sbx ps at {n}             = {med(psN):.2f} ms (<= 20 ms) {verdict(med(psN) <= 20)}")
if profile:
    print_profile(prof0, prof1)
print(f"load at the end: {load()}")
PY
PYPID=$!
wait "$PYPID"
PYPID=
