#!/usr/bin/env bash
# Builds a minimal busybox root filesystem for sandboxes from Debian's
# busybox-static package: one static binary and a link per applet.
# Idempotent: a second run returns at once.
#
# Usage, as root: rootfs/build.sh [DIR]   (default: rootfs/busybox, ignored by git)
#        sbx run --rootfs rootfs/busybox -- sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/busybox}
[ -f "$out/.sbx-rootfs-complete" ] && exit 0
# Parallel callers (tests, demos) wait for one build instead of racing.
mkdir -p "$(dirname "$out")"
exec 9>"$out.lock"
flock 9
[ -f "$out/.sbx-rootfs-complete" ] && exit 0

work=$(mktemp -d)
trap 'rm -rf "$work" "$out.lock"' EXIT
cd "$work"
if ! apt-get download busybox-static >/dev/null 2>&1; then
    apt-get update -qq && apt-get download busybox-static >/dev/null
fi
dpkg-deb -x busybox-static_*.deb pkg

rm -rf "$out.tmp"
mkdir -p "$out.tmp"
cd "$out.tmp"
mkdir -p bin sbin usr/bin usr/sbin etc root tmp mnt proc sys dev run var/log home
chmod 1777 tmp
cp "$work/pkg/bin/busybox" bin/busybox
# One link per applet, where busybox would install it.
for applet in $(bin/busybox --list-full); do
    [ "$applet" = bin/busybox ] || ln -sf /bin/busybox "$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' > etc/passwd
printf 'root:x:0:\nnogroup:x:65534:\n' > etc/group
: > etc/hostname; : > etc/hosts; : > etc/resolv.conf
touch .sbx-rootfs-complete
cd /
rm -rf "$out"
mv "$out.tmp" "$out"
echo "busybox rootfs ready in $out"
