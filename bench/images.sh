#!/usr/bin/env bash
# Images (issue 13's benchmark). In one run:
#   (a) sbx run --network none --image IMG -- /bin/true
#   (b) sbx run --network none --rootfs DIR -- /bin/true
#   (c) podman run --rm --network none IMG /bin/true, when podman is installed
#       (its default runtime and storage; the same image, loaded with
#       `podman load` from the same docker-archive)
# interleaved a, b, c, a, b, c, ... RUNS times each after WARMUP, each timed
# with time.perf_counter_ns() around subprocess.run in one python3 process;
# prints median and p90 and the ratio a/b. Then N detached sandboxes of the
# image (`sleep 600`): the disk the image store holds, the disk all their
# upper layers hold together, and the same for N copies of DIR (what N
# sandboxes on private rootfs copies would need), via `du -sx`.
# IMG is the busybox root of rootfs/build.sh packed by this script into a
# one-layer docker-archive (python3), so (a) and (b) run the same files.
#
# Usage, as root: bench/images.sh
#   RUNS=N (default 100), WARMUP=N (default 5), N=N sandboxes (default 100)
#   SBX=PATH (default: `cargo build --release` and the binary it reports)
# Needs: root, python3, busybox-static (rootfs/build.sh); podman optional.
# Leaves nothing behind: an EXIT trap removes the sandboxes, the state root,
# the image store and the temp dir (and the podman image it loaded).
set -euo pipefail
if [ -n "${SBX:-}" ] && [ -e "$SBX" ]; then SBX=$(realpath "$SBX"); fi
cd "$(dirname "$0")/.."
RUNS=${RUNS:-100}
WARMUP=${WARMUP:-5}
N=${N:-100}
if [ -z "${SBX:-}" ]; then
    cargo build --release --quiet
    SBX=$(realpath target/x86_64-unknown-linux-gnu/release/sbx)
fi
bash rootfs/build.sh >/dev/null
ROOTFS=$(realpath rootfs/busybox)
TMP=$(mktemp -d /tmp/sbx-bench-img.XXXXXX)
export SBX_ROOT=$TMP/root SBX_IMAGE_STORE=$TMP/store
PODMAN=$(command -v podman || true)
cleanup() {
    "$SBX" ps -a -q 2>/dev/null | while read -r n; do "$SBX" rm -f "$n" >/dev/null 2>&1 || true; done
    if [ -n "$PODMAN" ]; then "$PODMAN" rmi -f sbx-bench/busybox:1 >/dev/null 2>&1 || true; fi
    rm -rf "$TMP"
}
trap cleanup EXIT

# A docker-archive of the rootfs: one uncompressed layer, a config, manifest.json.
python3 - "$ROOTFS" "$TMP/busybox.tar" <<'PY'
import hashlib, io, json, sys, tarfile
root, out = sys.argv[1], sys.argv[2]
layer = io.BytesIO()
with tarfile.open(fileobj=layer, mode="w", format=tarfile.PAX_FORMAT) as t:
    t.add(root, arcname=".")
layer = layer.getvalue()
diff = "sha256:" + hashlib.sha256(layer).hexdigest()
config = json.dumps({"architecture": "amd64", "os": "linux",
    "config": {"Cmd": ["/bin/sh"], "Env": ["PATH=/bin"]},
    "rootfs": {"type": "layers", "diff_ids": [diff]}}).encode()
chex = hashlib.sha256(config).hexdigest()
manifest = json.dumps([{"Config": chex + ".json", "RepoTags": ["sbx-bench/busybox:1"],
    "Layers": ["layer/layer.tar"]}]).encode()
with tarfile.open(out, "w") as t:
    for name, data in [("manifest.json", manifest), (chex + ".json", config), ("layer/layer.tar", layer)]:
        info = tarfile.TarInfo(name); info.size = len(data)
        t.addfile(info, io.BytesIO(data))
PY
"$SBX" image load "$TMP/busybox.tar" >/dev/null
if [ -n "$PODMAN" ]; then "$PODMAN" load -q -i "$TMP/busybox.tar" >/dev/null; fi

python3 - "$SBX" "$ROOTFS" "$RUNS" "$WARMUP" "$PODMAN" <<'PY'
import statistics, subprocess, sys, time
sbx, rootfs, runs, warmup, podman = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
cmds = {
    "a sbx --image": [sbx, "run", "--network", "none", "--image", "sbx-bench/busybox:1", "--", "/bin/true"],
    "b sbx --rootfs": [sbx, "run", "--network", "none", "--rootfs", rootfs, "--", "/bin/true"],
}
if podman:
    cmds["c podman run"] = [podman, "run", "--rm", "--network", "none", "sbx-bench/busybox:1", "/bin/true"]
times = {k: [] for k in cmds}
for i in range(warmup + runs):
    for k, c in cmds.items():
        t0 = time.perf_counter_ns()
        subprocess.run(c, check=True, stdout=subprocess.DEVNULL)
        if i >= warmup:
            times[k].append((time.perf_counter_ns() - t0) / 1e6)
med = {}
for k, v in times.items():
    v.sort()
    med[k] = statistics.median(v)
    print(f"{k:16} median {med[k]:7.2f} ms   p90 {v[int(len(v) * 0.9)]:7.2f} ms   (n={len(v)})")
print(f"a/b {med['a sbx --image'] / med['b sbx --rootfs']:.2f}")
if podman:
    print(f"c/a {med['c podman run'] / med['a sbx --image']:.1f}")
PY

for i in $(seq 1 "$N"); do
    "$SBX" run -d --name "bi$i" --network none --image sbx-bench/busybox:1 -- sleep 600 >/dev/null
done
# What each sandbox wrote at start: its mount points in its upper layer.
store_kb=$(du -skx "$SBX_IMAGE_STORE" | cut -f1)
uppers_kb=$(du -skxc "$SBX_ROOT"/sandboxes/*/rootfs | tail -1 | cut -f1)
rootfs_kb=$(du -skx "$ROOTFS" | cut -f1)
echo "$N sandboxes of the image: store ${store_kb} KiB, all upper layers (with work and merged dirs) ${uppers_kb} KiB;"
echo "  $N private copies of the rootfs would take $((rootfs_kb * N)) KiB ($rootfs_kb KiB each)"
