#!/usr/bin/env bash
# scripts/npm-ci.sh DIR WHAT: installs DIR's npm packages from its
# package-lock.json with `npm ci`, once per version of the lock (a stamp in
# node_modules; seconds when done). WHAT names them in the message. Node.js
# and npm come with this machine's image; a machine without them gets
# Debian's packages. Used by contract-lint.sh and ui-assets.sh.
set -euo pipefail
DIR=$1
WHAT=$2
if ! command -v npm >/dev/null; then
	echo "npm-ci: installing Debian's nodejs and npm"
	SUDO=()
	[[ $(id -u) == 0 ]] || SUDO=(sudo)
	"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -q -y install --no-install-recommends nodejs npm >/dev/null
fi
stamp=$DIR/node_modules/.wasmbed-lock.sha256
sum=$(sha256sum "$DIR/package-lock.json" | cut -d' ' -f1)
if [[ ! -f $stamp || $(cat "$stamp") != "$sum" ]]; then
	echo "npm-ci: installing $WHAT from ${DIR#"$(cd "$(dirname "$0")/.." && pwd)"/}/package-lock.json (npm ci)"
	(cd "$DIR" && npm ci --no-audit --no-fund --loglevel=error)
	echo "$sum" >"$stamp"
fi
