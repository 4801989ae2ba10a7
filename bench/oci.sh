#!/usr/bin/env bash
# create + start + delete of one bundle, sbx-oci against runc (issue 12's
# benchmark), run as root in one go on the same bundle: the busybox rootfs
# of rootfs/ (built if missing), process `true`, the config `runc spec`
# writes (terminal off). Prints the median wall time of N rounds of each
# and their ratio (sbx-oci / runc). Each runtime has its own state root.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
N=${N:-30}
SBX_OCI=${SBX_OCI:-$here/target/x86_64-unknown-linux-gnu/debug/sbx-oci}
RUNC=${RUNC:-runc}
work=$(mktemp -d /tmp/sbx-bench-oci.XXXXXX)
trap 'rm -rf "$work"' EXIT
[ -d "$here/rootfs/busybox" ] || bash "$here/rootfs/build.sh" >/dev/null
mkdir -p "$work/bundle"
(cd "$work/bundle" && "$RUNC" spec)
python3 - "$work/bundle/config.json" "$here/rootfs/busybox" <<'PY'
import json, sys
path, rootfs = sys.argv[1], sys.argv[2]
c = json.load(open(path))
c["root"]["path"] = rootfs
c["process"]["terminal"] = False
c["process"]["args"] = ["true"]
json.dump(c, open(path, "w"), indent=1)
PY

# One round: create, start, wait for stopped, delete; prints milliseconds.
round() {
    local rt=$1 root=$2 id=$3
    local t0 t1
    t0=$(date +%s%N)
    "$rt" --root "$root" create --bundle "$work/bundle" "$id" </dev/null >/dev/null 2>&1
    "$rt" --root "$root" start "$id"
    while "$rt" --root "$root" state "$id" 2>/dev/null | grep -q '"running"'; do :; done
    "$rt" --root "$root" delete --force "$id"
    t1=$(date +%s%N)
    echo $(( (t1 - t0) / 1000 ))
}

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

for rt in "$SBX_OCI" "$RUNC"; do
    name=$(basename "$rt")
    : > "$work/$name.times"
    for i in $(seq "$N"); do
        # Interleaved with the other runtime's rounds would be fairer; one
        # warm-up round each is dropped instead.
        round "$rt" "$work/root-$name" "bench-$name-$i" >> "$work/$name.times"
    done
done
s=$(tail -n +2 "$work/sbx-oci.times" | median)
r=$(tail -n +2 "$work/$(basename "$RUNC").times" | median)
echo "sbx-oci create+start+delete median: $((s / 1000)).$(( (s % 1000) / 100 )) ms"
echo "runc    create+start+delete median: $((r / 1000)).$(( (r % 1000) / 100 )) ms"
python3 -c "print(f'ratio sbx-oci/runc: {$s/$r:.2f}')"
