#!/bin/bash
# `sbx image load` of one big layer (issue 13): a docker-archive whose one
# layer is SIZE_MB of incompressible files (uncompressed tar), and the same
# layer gzip'd in an OCI layout. Prints wall time of each load into a fresh
# store. Usage: bench/image_load.sh [SBX] (default: the release build).
set -euo pipefail
SBX=${1:-target/x86_64-unknown-linux-gnu/release/sbx}
SIZE_MB=${SIZE_MB:-400}
W=$(mktemp -d /tmp/sbx-bench-imgload.XXXXXX)
trap 'rm -rf "$W"' EXIT
mkdir -p "$W/root/data" "$W/docker" "$W/oci/blobs/sha256"
for i in $(seq 1 $((SIZE_MB / 100))); do
  head -c 100M /dev/urandom > "$W/root/data/f$i"
done
tar -C "$W/root" -cf "$W/layer.tar" .
diff_id=$(sha256sum "$W/layer.tar" | cut -d' ' -f1)
config='{"architecture":"amd64","os":"linux","config":{"Cmd":["/bin/true"]},"rootfs":{"type":"layers","diff_ids":["sha256:'$diff_id'"]}}'
chex=$(printf '%s' "$config" | sha256sum | cut -d' ' -f1)
# docker-archive
mkdir -p "$W/docker/l0"
ln "$W/layer.tar" "$W/docker/l0/layer.tar"
printf '%s' "$config" > "$W/docker/$chex.json"
printf '[{"Config":"%s.json","RepoTags":["bench/big:v1"],"Layers":["l0/layer.tar"]}]' "$chex" > "$W/docker/manifest.json"
tar -C "$W/docker" -cf "$W/docker.tar" .
# OCI layout, gzip'd layer
gzip -1 -c "$W/layer.tar" > "$W/layer.tar.gz"
lhex=$(sha256sum "$W/layer.tar.gz" | cut -d' ' -f1)
lsize=$(stat -c %s "$W/layer.tar.gz")
mv "$W/layer.tar.gz" "$W/oci/blobs/sha256/$lhex"
printf '%s' "$config" > "$W/oci/blobs/sha256/$chex"
manifest='{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:'$chex'","size":'${#config}'},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:'$lhex'","size":'$lsize'}]}'
mhex=$(printf '%s' "$manifest" | sha256sum | cut -d' ' -f1)
printf '%s' "$manifest" > "$W/oci/blobs/sha256/$mhex"
printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%d,"annotations":{"org.opencontainers.image.ref.name":"bench/big:gz"}}]}' "$mhex" ${#manifest} > "$W/oci/index.json"
echo '{"imageLayoutVersion":"1.0.0"}' > "$W/oci/oci-layout"
rm "$W/layer.tar"
sync
for what in docker.tar oci; do
  store="$W/store-$what"
  start=$(date +%s.%N)
  "$SBX" --image-store "$store" image load "$W/$what" >/dev/null
  end=$(date +%s.%N)
  printf '%-10s %s MB layer: %.2f s\n' "$what" "$SIZE_MB" "$(echo "$end - $start" | bc)"
  rm -rf "$store"
done
