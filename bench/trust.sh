#!/usr/bin/env bash
# Trusted networks (issue 10's benchmark): what published ports and
# anti-spoofing cost per packet and per connection, and per launch.
#
# In one run, on its own state root and its own four networks:
#   (1) published ports: a client in a namespace outside the host (netns
#       sbxbt-cl, routed through veth btcl0, 10.219.250.2 -> 10.219.250.1,
#       like the tests' HandNetns) sends to the host's address; the kernel
#       DNATs to a sandbox on sbxbt-port:
#         - new TCP connections per second (connect + RST close, THREADS
#           loops) to a published TCP port, and
#         - the 64-byte UDP packet rate (sendmmsg, 64 per call) to a
#           published UDP port, counted where it arrives (the sink's
#           /proc/PID/net/snmp: InDatagrams + RcvbufErrors);
#       with 1 published port per protocol, and with 500 (five more
#       sandboxes publishing 21000-21498 for tcp and for udp, at most 100
#       each: more than ~270 in one `sbx run` fail, ENOBUFS), the two
#       alternating (ABBA) over ROUNDS rounds; target 500/1 >= 0.8 for each;
#   (2) the 64-byte UDP packet rate between two sandboxes on one bridge
#       (a sender sandbox, `sbx run --rm`, to a sink sandbox), with 2
#       sandboxes on the bridge and with 300 (298 `sleep` sandboxes added),
#       anti-spoofing on (target 300/2 >= 0.85); and, in the same rounds,
#       "off": the same pair, both `--allow-spoofing`, on a bridge of its own
#       (target on/off >= 0.9), and "bare": two namespaces made by hand on
#       that bridge (veths btha0/bthb0: not named sbx*, so the bridge table's
#       only cost is the `iifname "sbx*"` compare). The phases run
#       2, 300, 2, 300 sandboxes; each round runs on, off, bare (rotated);
#   (3) launch time, `sbx run --rm --network sbxbt-l -- true`, anti-spoofing
#       on vs `--allow-spoofing`, interleaved, median of RUNS each (the
#       difference is one element in set `allow` vs one in set `spoofers`).
# Order: (3) first (no other sandbox yet), then (1), then (2).
# "Off" never touches the host's shared `bridge sbx` table (other state
# roots and tests use it): off means what sbx offers, `--allow-spoofing`
# (the frame still enters `chain sandbox` and matches `@spoofers`), and
# "bare" is a port the table does not check at all.
#
# Usage, as root, under the integration tests' lock:
#     flock /tmp/sbx-it.lock bench/trust.sh
#   ROUNDS=6    rounds of (1), each a UDP and a TCP trial per port count
#   PROUNDS=3   rounds per phase of (2)
#   SECS=2      seconds per trial
#   THREADS=2   connect loops of the TCP client
#   RUNS=30     launches per median in (3)
#   PIN=1       UDP senders on CPU 0, UDP sinks on CPU 1 (taskset); PIN=0:
#               left to the scheduler (the spread is as wide either way,
#               see BENCHMARKS.md)
#   PROFILE=1   also one extra trial of each kind (not counted in the
#               medians) under `perf record -a`: where the CPU time of the
#               netbench processes (sender, sink, and the kernel path they
#               run: softirqs on their CPU) goes, nf_tables vs the rest
#   SBX=PATH NETBENCH=PATH  the binaries (default: `cargo build --release`
#               and `cargo build --release --example netbench`, in target/)
# Needs: root, python3, iproute2; cargo if the binaries are built. The load
# generator is examples/netbench.rs (no iperf3: it sends one datagram per
# syscall, `apt-get install iperf3` if you want to compare).
# Networks: sbxbt-port 10.219.0.0/24 (bridge sbxbt0), sbxbt-on 10.219.2.0/23
# (sbxbt1), sbxbt-off 10.219.4.0/24 (sbxbt2, hand pair .200/.201), sbxbt-l
# 10.219.6.0/24 (sbxbt3); host ports 21000-21498, 21500 (udp), 21501 (tcp).
# Leaves nothing behind: an EXIT trap removes the sandboxes, the hand-made
# namespaces and veths, the networks (their bridges and nft rules) and the
# state root, also after a failure or Ctrl-C, and names what it could not.
set -euo pipefail
for v in SBX NETBENCH; do
    if [ -n "${!v:-}" ] && [ -e "${!v}" ]; then printf -v "$v" %s "$(realpath "${!v}")"; fi
done
cd "$(dirname "$0")/.."
case "${1:-}" in
    "") ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench/trust.sh: unknown argument '$1' (none expected; settings are environment variables, see --help)" >&2; exit 2 ;;
esac
ROUNDS=${ROUNDS:-6}
PROUNDS=${PROUNDS:-3}
SECS=${SECS:-2}
THREADS=${THREADS:-2}
RUNS=${RUNS:-30}
PROFILE=${PROFILE:-0}
PIN=${PIN:-1}
[[ $PIN =~ ^[01]$ ]] || { echo "bench/trust.sh: PIN must be 0 or 1 (got '$PIN')" >&2; exit 2; }
[ "$PIN" = 0 ] || command -v taskset >/dev/null || { echo "bench/trust.sh: PIN=1 needs taskset (package util-linux)" >&2; exit 1; }
[[ $PROFILE =~ ^[01]$ ]] || { echo "bench/trust.sh: PROFILE must be 0 or 1 (got '$PROFILE')" >&2; exit 2; }
if [ "$PROFILE" = 1 ]; then
    command -v perf >/dev/null || { echo "bench/trust.sh: PROFILE=1 needs perf (package linux-perf)" >&2; exit 1; }
fi
for v in ROUNDS PROUNDS SECS THREADS RUNS; do
    [[ ${!v} =~ ^[0-9]+$ ]] && (( ${!v} >= 1 )) || { echo "bench/trust.sh: $v must be a whole number >= 1 (got '${!v}')" >&2; exit 2; }
done
[ "$(id -u)" = 0 ] || { echo "bench/trust.sh: must run as root (sbx creates namespaces, bridges, nft rules)" >&2; exit 1; }
command -v python3 >/dev/null || { echo "bench/trust.sh: python3 is missing (package python3)" >&2; exit 1; }
command -v ip >/dev/null || { echo "bench/trust.sh: ip is missing (package iproute2)" >&2; exit 1; }

if [ -z "${SBX:-}" ] || [ -z "${NETBENCH:-}" ]; then
    echo "building sbx and examples/netbench (cargo build --release) ..." >&2
    cargo build --release -q --bin sbx --example netbench ||
        { echo "bench/trust.sh: cargo build --release failed; pass SBX=... NETBENCH=..." >&2; exit 1; }
    SBX=${SBX:-$(realpath target/x86_64-unknown-linux-gnu/release/sbx)}
    NETBENCH=${NETBENCH:-$(realpath target/x86_64-unknown-linux-gnu/release/examples/netbench)}
fi
for b in "$SBX" "$NETBENCH"; do
    [ -x "$b" ] || { echo "bench/trust.sh: $b is not an executable" >&2; exit 1; }
done

NETS=(sbxbt-port sbxbt-on sbxbt-off sbxbt-l)
SUBNETS=(10.219.0.0/24 10.219.2.0/23 10.219.4.0/24 10.219.6.0/24)
BRIDGES=(sbxbt0 sbxbt1 sbxbt2 sbxbt3)
HAND_NS=(sbxbt-cl sbxbt-ha sbxbt-hb)
HAND_IF=(btcl0 btha0 bthb0)
for i in "${!BRIDGES[@]}"; do
    for dev in "${BRIDGES[$i]}" "${HAND_IF[$i]:-}"; do
        if [ -n "$dev" ] && [ -e "/sys/class/net/$dev" ]; then
            echo "bench/trust.sh: interface $dev already exists (another run of this benchmark?); not touching it" >&2
            exit 1
        fi
    done
done
for ns in "${HAND_NS[@]}"; do
    [ ! -e "/run/netns/$ns" ] || { echo "bench/trust.sh: netns $ns already exists (another run?); not touching it" >&2; exit 1; }
done

export SBX_ROOT
SBX_ROOT=$(mktemp -d /tmp/sbx-bench-trust-XXXXXX)
export SBX_LOG=warn
MADE_NS=()
SINKPID=
PYPID=
cleanup() {
    local rc=$? left ns dev
    trap - EXIT INT TERM
    set +e
    if [ -n "$PYPID" ]; then kill -TERM "$PYPID" 2>/dev/null || true; wait "$PYPID" 2>/dev/null || true; fi
    if [ -n "$SINKPID" ]; then kill -KILL "$SINKPID" 2>/dev/null || true; wait "$SINKPID" 2>/dev/null || true; fi
    "$SBX" ps -aq 2>/dev/null | xargs -r -n 50 -P 2 "$SBX" rm -f >/dev/null 2>&1 || true
    for dev in "${HAND_IF[@]}"; do
        [ -e "/sys/class/net/$dev" ] && ip link del "$dev" 2>/dev/null
    done
    for ns in "${MADE_NS[@]}"; do ip netns del "$ns" 2>/dev/null || true; done
    for net in "${NETS[@]}"; do "$SBX" network rm "$net" >/dev/null 2>&1 || true; done
    left=$("$SBX" ps -aq 2>/dev/null | wc -l || true)
    for dev in "${BRIDGES[@]}" "${HAND_IF[@]}"; do
        [ -e "/sys/class/net/$dev" ] && echo "bench/trust.sh: cleanup: interface $dev is still there" >&2
    done
    for ns in "${HAND_NS[@]}"; do
        [ -e "/run/netns/$ns" ] && echo "bench/trust.sh: cleanup: netns $ns is still there" >&2
    done
    if [ "${left:-0}" != 0 ]; then
        echo "bench/trust.sh: cleanup: $left sandboxes could not be removed; leaving the state root $SBX_ROOT" >&2
    else
        rm -rf "$SBX_ROOT"
    fi
    exit "$rc"
}
trap cleanup EXIT
on_signal() {
    if [ -n "$PYPID" ]; then kill -TERM "$PYPID" 2>/dev/null || true; wait "$PYPID" 2>/dev/null || true; PYPID=; fi
    exit "$1"
}
trap 'on_signal 130' INT
trap 'on_signal 143' TERM

# Other work on the machine before we start: CPU busy over 3 s, of 100% * cores.
busy() {
    local a b
    read -r -a a < /proc/stat; sleep 3; read -r -a b < /proc/stat
    python3 -c 'import sys; a=list(map(int,sys.argv[1].split())); b=list(map(int,sys.argv[2].split()))
d=[y-x for x,y in zip(a,b)]; t=sum(d[:8]); print(f"{100*(t-d[3]-d[4])/t:.0f}%")' "${a[*]:1}" "${b[*]:1}"
}
echo "sbx: $SBX ($(git rev-parse --short HEAD 2>/dev/null || echo '?')), netbench: $NETBENCH, state root $SBX_ROOT" >&2
echo "date: $(date -u '+%F %T UTC'); $(nproc) cores; load before: $(cut -d' ' -f1-3 /proc/loadavg); CPU busy before start (3 s): $(busy)" >&2
echo "ROUNDS=$ROUNDS PROUNDS=$PROUNDS SECS=$SECS THREADS=$THREADS RUNS=$RUNS PROFILE=$PROFILE PIN=$PIN" >&2

for i in "${!NETS[@]}"; do
    "$SBX" network create "${NETS[$i]}" --subnet "${SUBNETS[$i]}" --bridge "${BRIDGES[$i]}" >/dev/null
done

# The client outside the host, and the bare pair on sbxbt2.
hand_ns() {   # NS IF: netns NS, veth IF on the host, eth0 inside
    ip netns add "$1"
    MADE_NS+=("$1")
    ip link add "$2" type veth peer name eth0 netns "$1"
    ip -n "$1" link set lo up
    ip -n "$1" link set eth0 up
}
hand_ns sbxbt-cl btcl0
ip addr add 10.219.250.1/30 dev btcl0
ip link set btcl0 up
ip -n sbxbt-cl addr add 10.219.250.2/30 dev eth0
ip -n sbxbt-cl route add default via 10.219.250.1
for pair in "sbxbt-ha btha0 10.219.4.200" "sbxbt-hb bthb0 10.219.4.201"; do
    set -- $pair
    hand_ns "$1" "$2"
    ip link set "$2" master sbxbt2 up
    ip -n "$1" addr add "$3/24" dev eth0
done
ip netns exec sbxbt-hb "$NETBENCH" udp-sink 21600 &
SINKPID=$!

# The servers: one published UDP and one published TCP port, and the sinks
# of the pairs (on: sbxbt-on; off: sbxbt-off, --allow-spoofing).
"$SBX" run -d --name bt-usrv --network sbxbt-port -p 21500:21500/udp -- "$NETBENCH" udp-sink 21500 >/dev/null
"$SBX" run -d --name bt-tsrv --network sbxbt-port -p 21501:21501 -- "$NETBENCH" tcp-accept 21501 >/dev/null
"$SBX" run -d --name bt-son --network sbxbt-on -- "$NETBENCH" udp-sink 21600 >/dev/null
"$SBX" run -d --name bt-soff --network sbxbt-off --allow-spoofing -- "$NETBENCH" udp-sink 21600 >/dev/null

python3 - "$SBX" "$NETBENCH" "$SINKPID" "$ROUNDS" "$PROUNDS" "$SECS" "$THREADS" "$RUNS" "$PROFILE" "$PIN" <<'PY' &
import json, os, signal, statistics, subprocess, sys, time
from concurrent.futures import ThreadPoolExecutor

sbx, nb, hand_sink = sys.argv[1], sys.argv[2], int(sys.argv[3])
rounds, prounds, secs, threads, runs, profile, pin = map(int, sys.argv[4:11])
# The UDP senders on CPU 0 and the sinks on CPU 1, so that sender and sink
# never share a CPU on these 2 cores (it did not narrow the spread of the
# rates in BENCHMARKS.md's run D, but makes the placement the same each time).
PIN = ["taskset", "-c", "0"] if pin else []
def pin_sink(pid):
    if not pin: return
    pids = [pid]
    for t in os.listdir(f"/proc/{pid}/task"):
        pids += [int(c) for c in open(f"/proc/{pid}/task/{t}/children").read().split()]
    for p in pids:
        run(["taskset", "-a", "-p", "-c", "1", str(p)])
stop = []
signal.signal(signal.SIGTERM, lambda s, f: stop.append(s))
med = statistics.median
DEV = subprocess.DEVNULL

def load(): return " ".join(open("/proc/loadavg").read().split()[:3])
def log(*a): print(*a, file=sys.stderr, flush=True)

def run(argv, out=False):
    if stop: sys.exit(143)
    p = subprocess.run(argv, stdin=DEV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if p.returncode != 0:
        if stop: sys.exit(143)
        sys.exit(f"failed ({p.returncode}): {' '.join(argv)}\n{p.stderr}")
    return p.stdout

def inspect(name): return json.loads(run([sbx, "inspect", name]))

def arrived(pid):
    """UDP datagrams that reached a socket in PID's netns (kept or dropped
    for a full buffer), from the kernel's counters."""
    lines = [l.split() for l in open(f"/proc/{pid}/net/snmp") if l.startswith("Udp:")]
    row = dict(zip(lines[0][1:], map(int, lines[1][1:])))
    return row["InDatagrams"] + row["RcvbufErrors"]

def fields(line):
    f = line.split()
    return {f[i]: f[i + 1] for i in range(0, len(f) - 1, 2)}

def udp_trial(client_argv, sink_pid):
    """Packets/s that arrived at the sink, and that the client sent."""
    before = arrived(sink_pid)
    out = fields(run(client_argv))
    got = arrived(sink_pid) - before
    s = float(out["secs"])
    return got / s, int(out["sent"]) / s

CLIENT = ["ip", "netns", "exec", "sbxbt-cl", nb]
UCLIENT = ["ip", "netns", "exec", "sbxbt-cl", *PIN, nb]

def tcp_trial():
    out = fields(run(CLIENT + ["tcp-connect-loop", "10.219.250.1:21501", str(secs), str(threads)]))
    if int(out["failed"]):
        log(f"  tcp: {out['failed']} connects failed ({out.get('first-error', '?')})")
    return float(out["cps"])

def ct_count():
    try: return int(open("/proc/sys/net/netfilter/nf_conntrack_count").read())
    except OSError: return -1

def busy(secs=1.0):
    """The machine's CPU use (all cores) over `secs` while this script idles:
    other work (builds, the kernel tearing namespaces down)."""
    def snap(): return list(map(int, open("/proc/stat").readline().split()[1:9]))
    a = snap(); time.sleep(secs); b = snap()
    d = [y - x for x, y in zip(a, b)]
    return f"{100 * (sum(d) - d[3] - d[4]) / max(sum(d), 1):.0f}%"

GROUPS = [("nf_tables rules (nft_*)", ("nft_", "__nft_", "nf_tables")),
          ("conntrack (nf_conntrack*, nf_ct_*)", ("nf_conntrack", "nf_ct_", "__nf_conntrack", "nf_confirm", "__nf_ct")),
          ("NAT (nf_nat*)", ("nf_nat", "__nf_nat")),
          ("br_netfilter (br_nf_*)", ("br_nf_",)),
          ("bridge (br_*)", ("br_", "__br_")),
          ("netfilter hooks (nf_hook*)", ("nf_hook",))]
def perf_trial(label, fn):
    """fn() under `perf record -a`; prints where the netbench processes'
    samples went (per cent of theirs)."""
    f = f"/tmp/sbx-bench-trust-perf.{os.getpid()}"
    rec = subprocess.Popen(["perf", "record", "-a", "-q", "-o", f, "--", "sleep", str(secs + 3)],
                           stdin=DEV, stdout=DEV, stderr=DEV)
    try:
        time.sleep(0.5)
        r = fn()
        rec.wait()
        rep = subprocess.run(["perf", "report", "-i", f, "--stdio", "--no-children", "--comms", "netbench",
                              "--percentage", "relative", "--sort", "sym", "-q"],
                             stdin=DEV, capture_output=True, text=True).stdout
    finally:
        if rec.poll() is None: rec.kill(); rec.wait()
        for g in (f, f + ".old"):
            try: os.unlink(g)
            except OSError: pass
    rows = []
    for line in rep.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[0].endswith("%"):
            rows.append((float(parts[0][:-1]), parts[-1]))
    groups = {}
    for pct, sym in rows:
        for name, prefixes in GROUPS:
            if sym.startswith(prefixes):
                groups[name] = groups.get(name, 0.0) + pct
                break
    log(f"  perf, {label}: " + ", ".join(f"{k} {v:.1f}%" for k, v in groups.items()))
    log("    top: " + ", ".join(f"{sym} {pct:.1f}%" for pct, sym in rows[:10]))
    return r

def stats(v): return f"median {med(v):>9.0f}  min {min(v):>9.0f}  max {max(v):>9.0f}"
results = []   # (what, ratio, target)

def verdict(what, num, den, target):
    r = num / den if den else float("nan")
    results.append((what, r, target))
    return r

# ------------------------------------------------------------ (3) launches --
log(f"\n(3) launches (first, before any other sandbox exists); load {load()}, CPU busy {busy()}")
def brports(): return len(os.listdir("/sys/class/net/sbxbt3/brif"))
def settle():
    deadline = time.monotonic() + 2
    while brports() > 0 and time.monotonic() < deadline:
        time.sleep(0.0005)
arms = {"on": [sbx, "run", "--rm", "--network", "sbxbt-l", "--", "true"],
        "off": [sbx, "run", "--rm", "--network", "sbxbt-l", "--allow-spoofing", "--", "true"]}
lt = {"on": [], "off": []}
for i in range(3 + runs):
    for k in (("on", "off") if i % 2 == 0 else ("off", "on")):
        if stop: sys.exit(143)
        t0 = time.perf_counter_ns()
        p = subprocess.run(arms[k], stdin=DEV, stdout=DEV, stderr=subprocess.PIPE)
        dt = (time.perf_counter_ns() - t0) / 1e6
        if p.returncode != 0:
            sys.exit(f"failed ({p.returncode}): {' '.join(arms[k])}\n{p.stderr.decode(errors='replace')}")
        settle()
        if i >= 3: lt[k].append(dt)
def p90(v): return statistics.quantiles(v, n=10, method="inclusive")[-1]
for k in lt:
    v = lt[k]
    log(f"  anti-spoofing {k:3}: median {med(v):6.2f} ms  p90 {p90(v):6.2f}  min {min(v):6.2f}")
d = med(lt["on"]) - med(lt["off"])
diffs = sorted(a - b for a, b in zip(lt["on"], lt["off"]))
log(f"  on - off: {d:+.3f} ms (medians); median of paired differences {med(diffs):+.3f} ms; "
    f"noise: p90-p10 of the 'on' launches {statistics.quantiles(lt['on'], n=10)[-1] - statistics.quantiles(lt['on'], n=10)[0]:.2f} ms")

# ---------------------------------------------------------------- (1) ports --
usrv = inspect("bt-usrv")["pid"]
pin_sink(usrv)
log(f"\n(1) published ports; load {load()}, CPU busy {busy()}")
samples = {1: {"udp": [], "sent": [], "tcp": []}, 500: {"udp": [], "sent": [], "tcp": []}}
many = False
# 499 more ports per protocol: five sandboxes of at most 100 (tcp and udp),
# as one `sbx run` publishing more than about 270 ports fails (ENOBUFS: the
# kernel's acks of the one batch overflow the netlink socket's buffer).
SPANS = [(21000 + 100 * i, min(21000 + 100 * i + 99, 21498)) for i in range(5)]
def set_many(on):
    global many
    if on and not many:
        for i, (a, b) in enumerate(SPANS):
            run([sbx, "run", "-d", "--name", f"bt-p{i}", "--network", "sbxbt-port",
                 "-p", f"{a}-{b}:{a}-{b}", "-p", f"{a}-{b}:{a}-{b}/udp", "--", "sleep", "3600"])
    elif not on and many:
        run([sbx, "rm", "-f", *[f"bt-p{i}" for i in range(len(SPANS))]])
    many = on
for r in range(rounds):
    for n in ((1, 500) if r % 2 == 0 else (500, 1)):
        set_many(n == 500)
        time.sleep(1)   # let the kernel finish tearing down removed sandboxes
        got, sent = udp_trial(UCLIENT + ["udp-flood", "10.219.250.1:21500", str(secs)], usrv)
        cps = tcp_trial()
        s = samples[n]
        s["udp"].append(got); s["sent"].append(sent); s["tcp"].append(cps)
        log(f"  round {r} ports {n:3}: udp {got:9.0f} pps arrived ({sent:9.0f} sent)  tcp {cps:7.0f} conn/s"
            f"  conntrack {ct_count()}  load {load()}")
if profile:
    for n in (500, 1):
        set_many(n == 500)
        time.sleep(1)
        got, snt = perf_trial(f"{n} ports, udp", lambda: udp_trial(UCLIENT + ["udp-flood", "10.219.250.1:21500", str(secs)], usrv))
        log(f"    ({got:.0f} pps)")
        cps = perf_trial(f"{n} ports, tcp", tcp_trial)
        log(f"    ({cps:.0f} conn/s)")
set_many(False)
for n in (1, 500):
    s = samples[n]
    log(f"  {n:3} ports: udp arrived {stats(s['udp'])}   sent {stats(s['sent'])}")
    log(f"  {n:3} ports: tcp conn/s  {stats(s['tcp'])}")
def paired(a, b):
    """The median of per-round ratios a[i]/b[i] (each pair measured
    back to back, so slow phases of the machine cancel better)."""
    return med([x / y for x, y in zip(a, b)])
log(f"  paired (per round) 500/1: tcp {paired(samples[500]['tcp'], samples[1]['tcp']):.3f}"
    f"  udp {paired(samples[500]['udp'], samples[1]['udp']):.3f}")
verdict("(1) TCP conn/s, 500 ports / 1 port", med(samples[500]["tcp"]), med(samples[1]["tcp"]), 0.8)
verdict("(1) UDP 64 B pps, 500 ports / 1 port", med(samples[500]["udp"]), med(samples[1]["udp"]), 0.8)

# ----------------------------------------------------------- (2) the bridge --
son, soff = inspect("bt-son"), inspect("bt-soff")
son_ip, soff_ip = son["network"]["ip"], soff["network"]["ip"]
for p in (son["pid"], soff["pid"], hand_sink): pin_sink(p)
variants = {
    "on": ([sbx, "run", "--rm", "--network", "sbxbt-on", "--", *PIN, nb, "udp-flood", f"{son_ip}:21600", str(secs)], son["pid"]),
    "off": ([sbx, "run", "--rm", "--network", "sbxbt-off", "--allow-spoofing", "--",
             *PIN, nb, "udp-flood", f"{soff_ip}:21600", str(secs)], soff["pid"]),
    "bare": (["ip", "netns", "exec", "sbxbt-ha", *PIN, nb, "udp-flood", "10.219.4.201:21600", str(secs)], hand_sink),
}
fillers = [f"bt-f{i:03}" for i in range(298)]
def launch_filler(name):
    run([sbx, "run", "-d", "--name", name, "--network", "sbxbt-on", "--", "sleep", "3600"])
def remove(names):
    run([sbx, "rm", "-f", *names])
def settle_pair():
    """Untimed: until the sender's veth has left its bridge (<= 2 s), and a
    little more for its namespace to be freed, so no trial pays for the
    teardown of the one before."""
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline and (
            len(os.listdir("/sys/class/net/sbxbt1/brif")) > 1 + (len(fillers) if filled else 0)
            or len(os.listdir("/sys/class/net/sbxbt2/brif")) > 3):
        time.sleep(0.001)
    time.sleep(0.3)
filled = False
pair = {}   # (phase size, variant) -> [arrived pps]
sent = {}
for phase, size in enumerate((2, 300, 2, 300)):
    t0 = time.monotonic()
    with ThreadPoolExecutor(2) as ex:
        if size == 300:
            list(ex.map(launch_filler, fillers))
            filled = True
        elif phase:
            list(ex.map(remove, [fillers[i:i + 50] for i in range(0, len(fillers), 50)]))
            filled = False
    took = time.monotonic() - t0
    time.sleep(5 if phase else 0)   # removed namespaces are freed in the background
    ports = len(os.listdir("/sys/class/net/sbxbt1/brif"))
    log(f"\n(2) phase {phase}: {size} sandboxes on sbxbt1 during a trial ({ports} bridge ports"
        f" between trials: the sender joins for each; {took:.1f} s to get there);"
        f" load {load()}, CPU busy {busy()}")
    names = list(variants)
    for r in range(prounds):
        order = names[r % 3:] + names[:r % 3]
        line = []
        for v in order:
            argv, pid = variants[v]
            got, s = udp_trial(argv, pid)
            settle_pair()
            pair.setdefault((size, v), []).append(got)
            sent.setdefault((size, v), []).append(s)
            line.append(f"{v} {got:8.0f} ({s:8.0f} sent)")
        log(f"  round {r}: " + "  ".join(line) + f"  load {load()}")
    if profile and phase >= 2:
        for v in names:
            argv, pid = variants[v]
            got, _ = perf_trial(f"{size} on the bridge, {v}", lambda: udp_trial(argv, pid))
            log(f"    ({got:.0f} pps)")
            settle_pair()
remove(fillers)
log("")
for key in sorted(pair):
    log(f"  {key[0]:3} on the bridge, {key[1]:4}: arrived {stats(pair[key])}   sent median {med(sent[key]):9.0f}")
log(f"  paired (per round): on 300/2 {paired(pair[(300, 'on')], pair[(2, 'on')]):.3f}"
    f"  on/off at 2 {paired(pair[(2, 'on')], pair[(2, 'off')]):.3f}"
    f"  on/off at 300 {paired(pair[(300, 'on')], pair[(300, 'off')]):.3f}"
    f"  on/bare at 2 {paired(pair[(2, 'on')], pair[(2, 'bare')]):.3f}"
    f"  off/bare at 2 {paired(pair[(2, 'off')], pair[(2, 'bare')]):.3f}")
verdict("(2) UDP 64 B pps sandbox->sandbox, anti-spoofing on: 300 / 2 on the bridge",
        med(pair[(300, "on")]), med(pair[(2, "on")]), 0.85)
verdict("(2) ... 2 on the bridge: on / off (--allow-spoofing)", med(pair[(2, "on")]), med(pair[(2, "off")]), 0.9)
verdict("(2) ... 300 on the bridge: on / off (--allow-spoofing)", med(pair[(300, "on")]), med(pair[(300, "off")]), 0.9)
verdict("(2) ... 2 on the bridge: on / bare (no sbx port)", med(pair[(2, "on")]), med(pair[(2, "bare")]), None)

# ---------------------------------------------------------------- summary --
print(f"\nsummary (load after: {load()})")
for what, r, target in results:
    mark = "" if target is None else ("PASS" if r >= target else "MISS")
    tgt = "" if target is None else f">= {target}"
    print(f"  {what:<75} {r:6.3f}  {tgt:<7} {mark}")
print(f"  (3) launch on - off (--allow-spoofing), medians of {runs}: {d:+.3f} ms "
      f"(on {med(lt['on']):.2f} ms, off {med(lt['off']):.2f} ms)")
PY
PYPID=$!
wait "$PYPID"
PYPID=
