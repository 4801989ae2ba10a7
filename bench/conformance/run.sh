#!/usr/bin/env bash
# The OCI runtime-tools validation suite against sbx-oci (issue 12).
#
# Nothing of runtime-tools is vendored into sbx: the suite is built from a
# local mirror of github.com/opencontainers/runtime-tools (its own vendor/
# folder makes the build offline) at commit 260e151, the newest whose go.mod
# accepts Debian's Go 1.19 (apt-get install golang-go). Run as root:
#
#   RUNTIME_TOOLS=/path/to/runtime-tools.git bench/conformance/run.sh [TEST...]
#
# RUNTIME_TOOLS: a git directory (bare or not) holding that commit; default
# the mirror the session tools fetch to. SBX_OCI: the runtime to test
# (default: target/x86_64-unknown-linux-gnu/debug/sbx-oci). TEST: names like
# `create hostname` (default: every validation). Each validation runs with
# its own state root; its TAP output goes to $WORK/logs/NAME.tap and one
# line per validation to stdout: NAME PASS|FAIL ok/total (a validation
# passes, as node-tap counts it, when it exits 0 with no `not ok`; one that
# printed no `ok` at all must also have no error diagnostic). The exit status is
# 0 even when validations fail: the pass list is the result (BENCHMARKS.md).
set -euo pipefail

COMMIT=260e151
here=$(cd "$(dirname "$0")/../.." && pwd)
RUNTIME_TOOLS=${RUNTIME_TOOLS:-/work/.mirror/opencontainers+runtime-tools/repo}
SBX_OCI=${SBX_OCI:-$here/target/x86_64-unknown-linux-gnu/debug/sbx-oci}
WORK=${WORK:-/tmp/sbx-conformance}
TIMEOUT=${TIMEOUT:-60}

if ! git --git-dir="$RUNTIME_TOOLS" cat-file -e "$COMMIT^{commit}" 2>/dev/null; then
    echo "skip: no runtime-tools mirror with commit $COMMIT at $RUNTIME_TOOLS (set RUNTIME_TOOLS)" >&2
    exit 0
fi
command -v go >/dev/null || { echo "skip: no Go (apt-get install golang-go)" >&2; exit 0; }
[ -x "$SBX_OCI" ] || { echo "no $SBX_OCI: cargo build first" >&2; exit 1; }

src=$WORK/src
if [ ! -f "$src/.built-$COMMIT" ]; then
    rm -rf "$src" && mkdir -p "$src"
    git --git-dir="$RUNTIME_TOOLS" archive "$COMMIT" | tar -x -C "$src"
    export GOFLAGS=-mod=vendor GOCACHE=$WORK/gocache GOPATH=$WORK/gopath GO111MODULE=on
    (
        cd "$src"
        go build -tags "netgo osusergo" -ldflags "-extldflags -static" -o runtimetest ./cmd/runtimetest
        for dir in validation/*/; do
            name=$(basename "$dir")
            [ "$name" = util ] || [ ! -f "$dir/$name.go" ] && continue
            go build -o "validation/$name.t" "./$dir"
        done
    )
    touch "$src/.built-$COMMIT"
fi

mkdir -p "$WORK/logs"
if [ $# -gt 0 ]; then
    tests=("$@")
else
    mapfile -t tests < <(cd "$src/validation" && ls -1 ./*.t | sed 's|^\./||; s|\.t$||')
fi

passed=0
total=0
for name in "${tests[@]}"; do
    root=$WORK/root-$name
    rm -rf "$root"
    log=$WORK/logs/$name.tap
    set +e
    (cd "$src" && SBX_ROOT=$root RUNTIME=$SBX_OCI timeout "$TIMEOUT" "validation/$name.t") >"$log" 2>&1
    code=$?
    set -e
    ok=$(grep -cE '^ok ' "$log" || true)
    notok=$(grep -cE '^not ok ' "$log" || true)
    # Whatever a validation left behind goes (containers by their state root).
    if [ -d "$root/sandboxes" ]; then
        for id in $(ls "$root/sandboxes"); do SBX_ROOT=$root "$SBX_OCI" delete --force "$id" >/dev/null 2>&1 || true; done
    fi
    rm -rf "$root"
    # A config without a mount namespace (linux_ns_itype) makes a runtime
    # mount the bundle's rootfs, /proc, /dev, ... in the host's own table
    # (runc does; sbx refuses such a config): unmount what is left under
    # the harness's bundles, deepest first, and say so.
    mapfile -t left < <(awk '$2 ~ "^'"${TMPDIR:-/tmp}"'/ocitest" {print $2}' /proc/mounts | sort -r)
    if [ ${#left[@]} -gt 0 ]; then
        for m in "${left[@]}"; do umount -l "$m" 2>/dev/null || true; done
        # The harness could not remove its bundle while it was mounted.
        printf '%s\n' "${left[@]}" | grep -oE '^.*/ocitest[0-9]+' | sort -u | xargs -r rm -rf
        echo "  ($name left ${#left[@]} mounts in the host's mount table: unmounted)" >&2
    fi
    total=$((total + 1))
    # Some validations (the hooks ones) print no `ok` line when they pass,
    # only an `error` diagnostic when they fail.
    errors=$(grep -c '"error":' "$log" || true)
    if [ "$code" -eq 0 ] && [ "$notok" -eq 0 ] && { [ "$ok" -gt 0 ] || [ "$errors" -eq 0 ]; }; then
        verdict=PASS
        passed=$((passed + 1))
    else
        verdict=FAIL
    fi
    printf '%-36s %s %s/%s\n' "$name" "$verdict" "$ok" "$((ok + notok))"
done
echo "passed $passed of $total validations"
