#!/usr/bin/env bash
# make contract-lint: the management API's OpenAPI document (docs/openapi.json,
# generated from the route table) through two linters, with zero errors:
# Spectral with its `spectral:oas` ruleset and Redocly's `recommended` rules
# (warnings are printed, errors fail). The linters are npm packages pinned in
# tools/contract/package-lock.json and installed there with `npm ci` when the
# lock changes (seconds when done). Node.js and npm come with this machine's
# image; a machine without them gets Debian's packages.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DIR=$ROOT/tools/contract
DOC=$ROOT/docs/openapi.json

bash "$ROOT/scripts/npm-ci.sh" "$DIR" "Spectral and Redocly"

export REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true NO_UPDATE_NOTIFIER=1
echo "contract-lint: spectral lint (spectral:oas) docs/openapi.json"
"$DIR/node_modules/.bin/spectral" lint "$DOC" --ruleset "$DIR/.spectral.yaml" --fail-severity error
echo "contract-lint: redocly lint (recommended) docs/openapi.json"
"$DIR/node_modules/.bin/redocly" lint "$DOC" --config "$DIR/redocly.yaml"
