#!/usr/bin/env bash
# Print a base image whose root directory a non-root user can traverse.
#
# The local Debian base built by shared/tools/container-base.sh is imported from a
# tar whose "./" entry has mode 0700, so inside it "/" is 0700 and the image's
# non-root user cannot reach anything ("executable file not found"). A RUN chmod in
# the Dockerfile does not survive (layer diffs skip "/"), so re-import the base's
# file system without that entry. Other bases are printed unchanged.
# Usage: container/usable-base.sh IMAGE
set -euo pipefail
base=$1
mode=$(podman run --rm --entrypoint /usr/bin/stat "$base" -c %a / 2>/dev/null || echo 755)
if [ "$mode" != "700" ]; then
  echo "$base"
  exit 0
fi
fixed="${base%%:*}:usable"
if ! podman image exists "$fixed"; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"; podman rm -f notifier-base-export >/dev/null 2>&1 || true' EXIT
  podman create --name notifier-base-export "$base" true >/dev/null
  podman export notifier-base-export -o "$tmp/rootfs.tar"
  podman import "$tmp/rootfs.tar" "$fixed" >/dev/null
fi
echo "$fixed"
