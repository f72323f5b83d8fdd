#!/usr/bin/env bash
# The dashboard's front-end libraries (htmx, uPlot), pinned
# in tools/ui/package-lock.json: installed there with `npm ci` when the lock
# changes, and their minified builds copied into gateway/ui/assets/vendor/,
# which go:embed puts into the gateway. The copies are committed so that
# `go build` needs no npm; `make generate-check` fails if they differ from
# what the lockfile gives. Node.js and npm come with this machine's image; a
# machine without them gets Debian's packages.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DIR=$ROOT/tools/ui
OUT=$ROOT/gateway/ui/assets/vendor

bash "$ROOT/scripts/npm-ci.sh" "$DIR" "htmx and uPlot"
mkdir -p "$OUT"
cp "$DIR/node_modules/htmx.org/dist/htmx.min.js" "$OUT/htmx.min.js"
cp "$DIR/node_modules/uplot/dist/uPlot.iife.min.js" "$OUT/uPlot.iife.min.js"
cp "$DIR/node_modules/uplot/dist/uPlot.min.css" "$OUT/uPlot.min.css"
