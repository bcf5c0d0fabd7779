#!/bin/sh
# One-time, idempotent set-up for a fresh Debian 12 machine: the apt packages strata's tests and
# demo use (peer tools, base-image makers, kernel helpers) and the npm dependencies from the lock.
# Fast when everything is already there, so `npm test` can always run it first.
set -e
cd "$(dirname "$0")/.."

APT_PACKAGES="gcc libc6-dev busybox-static mmdebstrap buildah podman skopeo umoci docker-registry docker.io uidmap attr zstd xz-utils bzip2 openssh-client"

missing=""
for p in $APT_PACKAGES; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "strata setup: missing apt packages:$missing (run as root, or install them)" >&2
  else
    echo "strata setup: installing apt packages:$missing" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends $missing >/dev/null
  fi
fi

# npm ci only when node_modules is missing or older than the lock file.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "strata setup: npm ci" >&2
  npm ci --no-audit --no-fund >/dev/null
fi
