#!/bin/sh
# The README's main job. Until `strata build` exists, it parses the demo Dockerfile and shows its
# stages, then BuildKit's AST dump of it.
set -e
cd "$(dirname "$0")/.."
strata() { node dist/src/cli/main.js "$@"; }
echo "== strata parse -f fixtures/demo/Dockerfile"
strata parse -f fixtures/demo/Dockerfile
echo
echo "== strata parse -f fixtures/demo/Dockerfile --format dump"
strata parse -f fixtures/demo/Dockerfile --format dump
