#!/usr/bin/env bash
# The test command: installs the tools the tests use inside sandboxes and to
# check the kernel (ping, busybox, ip, nft, iperf3), then runs every test as root.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then
    echo "tests/run.sh: the tests create namespaces, bridges and NAT rules: run as root" >&2
    exit 1
fi
need=()
command -v ip >/dev/null || need+=(iproute2)
command -v nft >/dev/null || need+=(nftables)
command -v busybox >/dev/null || need+=(busybox-static)
command -v ping >/dev/null || need+=(iputils-ping)
command -v setpriv >/dev/null || need+=(util-linux)
command -v script >/dev/null || need+=(bsdutils)
[ -x /usr/bin/python3 ] || need+=(python3)
command -v skopeo >/dev/null || need+=(skopeo)
command -v docker-registry >/dev/null || need+=(docker-registry)
command -v ethtool >/dev/null || need+=(ethtool)
command -v socat >/dev/null || need+=(socat)
command -v iperf3 >/dev/null || need+=(iperf3)
command -v dot >/dev/null || need+=(graphviz)
[ -x /usr/lib/cni/bridge ] && [ -x /usr/lib/cni/host-local ] || need+=(containernetworking-plugins)
command -v podman >/dev/null || need+=(podman)
command -v runc >/dev/null || need+=(runc)
if [ ${#need[@]} -gt 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${need[@]}" >/dev/null
fi
# --no-fail-fast: one failing test binary must not hide the others.
cargo test --no-fail-fast "$@"
