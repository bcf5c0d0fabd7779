#!/bin/sh
# The README's main job: build strata's demo image offline from fixtures/ and show it.
# Its base is made on first use from Debian's busybox-static package (no registry needed).
set -e
cd "$(dirname "$0")/.."
strata() { node dist/bundle/strata.cjs "$@"; }

BASE=localhost/strata-demo/busybox:latest
if ! strata inspect "$BASE" >/dev/null 2>&1; then
  echo "== making the base image $BASE from busybox-static"
  # A fixed timestamp keeps the base, and so the demo image, identical on every machine.
  SOURCE_DATE_EPOCH=1704067200 strata import "$(node dist/test/helpers/base-images.js busybox)" "$BASE"
fi

echo "== strata build -t strata-demo:latest fixtures/demo"
strata build --progress plain -t strata-demo:latest fixtures/demo

echo
echo "== strata images"
strata images
echo
echo "== strata history strata-demo:latest"
strata history strata-demo:latest
echo
echo "== what the image holds under /app (strata export strata-demo:latest -o - | tar -tv)"
strata export strata-demo:latest -o - | tar -tvf - | grep ' app/'
