#!/usr/bin/env bash
# a/c in the median of three runs of bench/launch.sh (issue 9's target:
# a/c <= 2.0, "in the median of three runs"). Runs bench/launch.sh REPEAT
# times in a row with the same binary and settings, prints each run's
# medians and ratios, then the median a/c (and a/b) over the runs with
# PASS/MISS.
#
# Usage, as root, under the integration tests' lock:
#     flock /tmp/sbx-it.lock bench/launch3.sh
#   REPEAT=3    runs (odd, at least 3)
#   RUNS, WARMUP, ORDER, SETTLE: passed on to bench/launch.sh (see there)
#   SBX=PATH    the sbx binary (default: `cargo build --release`, once)
set -euo pipefail
if [ -n "${SBX:-}" ] && [ -e "$SBX" ]; then SBX=$(realpath "$SBX"); fi
cd "$(dirname "$0")/.."
case ${1:-} in
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    "") ;;
    *) echo "bench/launch3.sh: no arguments (got '$1'); see --help" >&2; exit 2 ;;
esac
REPEAT=${REPEAT:-3}
[[ $REPEAT =~ ^[0-9]+$ ]] && (( REPEAT >= 3 && REPEAT % 2 == 1 )) || { echo "bench/launch3.sh: REPEAT must be an odd number >= 3 (got '$REPEAT')" >&2; exit 2; }
if [ -z "${SBX:-}" ]; then
    echo "building sbx (cargo build --release) ..." >&2
    cargo build --release -q || { echo "bench/launch3.sh: cargo build --release failed; pass SBX=/path/to/sbx" >&2; exit 1; }
    SBX=$(realpath target/x86_64-unknown-linux-gnu/release/sbx)
fi
export SBX

OUT=$(mktemp /tmp/sbx-bench-launch3-XXXXXX)
trap 'rm -f "$OUT"' EXIT
for i in $(seq "$REPEAT"); do
    echo "== run $i of $REPEAT (load $(cut -d' ' -f1-3 /proc/loadavg))" | tee -a "$OUT"
    bench/launch.sh | tee -a "$OUT"
done
python3 - "$OUT" <<'PY'
import re, statistics, sys
text = open(sys.argv[1]).read()
ac = [float(x) for x in re.findall(r"a/c = ([0-9.]+)", text)]
ab = [float(x) for x in re.findall(r"a/b = ([0-9.]+)", text)]
a = [float(x) for x in re.findall(r"^\s*\(a\) .*?\s([0-9.]+)\s+[0-9.]+\s+[0-9.]+$", text, re.M)]
c = [float(x) for x in re.findall(r"^\s*\(c\) .*?\s([0-9.]+)\s+[0-9.]+\s+[0-9.]+$", text, re.M)]
m = statistics.median(ac)
print(f"\nover {len(ac)} runs: a = {', '.join(f'{x:.2f}' for x in a)} ms; c = {', '.join(f'{x:.2f}' for x in c)} ms")
print(f"  a/c = {', '.join(f'{x:.3f}' for x in ac)}; median {m:.3f}  target <= 2.0  {'PASS' if m <= 2.0 else 'MISS'}")
print(f"  a/b = {', '.join(f'{x:.3f}' for x in ab)}; median {statistics.median(ab):.3f}")
PY
