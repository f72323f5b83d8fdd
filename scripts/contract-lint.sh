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

if ! command -v npm >/dev/null; then
	echo "contract-lint: installing Debian's nodejs and npm"
	SUDO=()
	[[ $(id -u) == 0 ]] || SUDO=(sudo)
	"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -q -y install --no-install-recommends nodejs npm >/dev/null
fi

stamp=$DIR/node_modules/.wasmbed-lock.sha256
sum=$(sha256sum "$DIR/package-lock.json" | cut -d' ' -f1)
if [[ ! -f $stamp || $(cat "$stamp") != "$sum" ]]; then
	echo "contract-lint: installing Spectral and Redocly from tools/contract/package-lock.json (npm ci)"
	(cd "$DIR" && npm ci --no-audit --no-fund --loglevel=error)
	echo "$sum" >"$stamp"
fi

export REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true NO_UPDATE_NOTIFIER=1
echo "contract-lint: spectral lint (spectral:oas) docs/openapi.json"
"$DIR/node_modules/.bin/spectral" lint "$DOC" --ruleset "$DIR/.spectral.yaml" --fail-severity error
echo "contract-lint: redocly lint (recommended) docs/openapi.json"
"$DIR/node_modules/.bin/redocly" lint "$DOC" --config "$DIR/redocly.yaml"
