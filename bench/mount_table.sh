#!/usr/bin/env bash
# Mount namespace cost (issue 9): a launch with N netns pins on the host
# against one with none, for two sbx builds (OLD and NEW), interleaved.
#
#   OLD=path/to/sbx NEW=path/to/sbx [PINS=1000] [RUNS=30] [SANDBOXES=0] bench/mount_table.sh
#
# The pins stand for other sandboxes: one netns bound PINS times under
# /run/netns, each a bind of an nsfs file (what each sandbox's netns file is). With SANDBOXES=K, K real
# detached sandboxes (`--network none`, `sleep`) run as well, started by the
# build being measured, so their mount namespaces are of its making (each
# build is then measured alone, with only its own sandboxes present).
# Prints the median and p90 of `sbx run --network none -- /bin/true` and of
# `unshare --mount true`, in ms. Everything it made is removed on exit.
set -euo pipefail
: "${OLD:?OLD=path to the baseline sbx}" "${NEW:?NEW=path to the sbx under test}"
PINS=${PINS:-1000}
RUNS=${RUNS:-30}
SANDBOXES=${SANDBOXES:-0}
tag=mtb$$
work=$(mktemp -d /tmp/sbx-bench-mtab.XXXXXX)

cleanup() {
    for bin in "$OLD" "$NEW"; do
        for root in "$work"/root-*; do
            [ -d "$root" ] || continue
            "$bin" --root "$root" rm -f $("$bin" --root "$root" ps -a -q 2>/dev/null) >/dev/null 2>&1 || true
            "$bin" --root "$root" prune >/dev/null 2>&1 || true
        done
    done
    unpin
    [ -z "${holder:-}" ] || kill "$holder" 2>/dev/null || true
    rm -rf "$work"
}
unpin() {
    for f in /run/netns/$tag-*; do
        [ -e "$f" ] || continue
        umount -l "$f" 2>/dev/null || true
        rm -f "$f"
    done
}
trap cleanup EXIT

pin() { # each pin a bind of the holder's nsfs file, as sbx makes them
    unshare --net sleep 100000 &
    holder=$!
    sleep 0.2
    for i in $(seq 1 "$PINS"); do
        : > "/run/netns/$tag-$i"
        mount --bind "/proc/$holder/ns/net" "/run/netns/$tag-$i"
    done
}

sandboxes() { # BIN ROOT WHICH
    for i in $(seq 1 "$SANDBOXES"); do
        "$1" --root "$2" run -d --name "$tag-$3-$i" --network none -- sleep 100000 >/dev/null
    done
}

measure() { # LABEL [CASES: old,new,unshare]
    python3 - "$1" "$OLD" "$work/root-old" "$NEW" "$work/root-new" "$RUNS" "${2:-old,new,unshare}" <<'EOF'
import subprocess, sys, time, statistics
label, old, old_root, new, new_root, runs = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], int(sys.argv[6])
wanted = sys.argv[7].split(",")
cases = {
    "old": [old, "--root", old_root, "run", "--network", "none", "--", "/bin/true"],
    "new": [new, "--root", new_root, "run", "--network", "none", "--", "/bin/true"],
    "unshare": ["unshare", "--mount", "true"],
}
cases = {k: v for k, v in cases.items() if k in wanted}
times = {k: [] for k in cases}
for _ in range(3):
    for cmd in cases.values():
        subprocess.run(cmd, check=True)
for _ in range(runs):
    for k, cmd in cases.items():
        t = time.perf_counter_ns()
        subprocess.run(cmd, check=True)
        times[k].append((time.perf_counter_ns() - t) / 1e6)
for k, v in times.items():
    v.sort()
    print(f"{label:>14} {k:>8}: median {statistics.median(v):6.2f} ms  p90 {v[int(len(v) * 0.9)]:6.2f} ms")
EOF
}

mkdir -p "$work/root-old" "$work/root-new"
echo "mounts on the host: $(grep -c . /proc/self/mountinfo)"
measure "0 pins"
pin
echo "mounts on the host: $(grep -c . /proc/self/mountinfo)"
if [ "$SANDBOXES" -eq 0 ]; then
    measure "$PINS pins"
    exit 0
fi
# Real sandboxes: each build measured with only its own present, since an
# old build's sandboxes receive every later pin, the other build's too.
for which in old new; do
    bin=$OLD
    [ "$which" = new ] && bin=$NEW
    sandboxes "$bin" "$work/root-$which" "${which:0:1}"
    echo "mounts on the host: $(grep -c . /proc/self/mountinfo)"
    measure "$PINS+$SANDBOXES" "$which,unshare"
    "$bin" --root "$work/root-$which" rm -f $("$bin" --root "$work/root-$which" ps -a -q) >/dev/null
done
