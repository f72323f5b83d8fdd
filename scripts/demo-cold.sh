#!/usr/bin/env bash
# demo_cold_seconds (make bench, part "demo"): `make demo` on a fresh clone of
# the committed HEAD with every cache cold, as a newcomer meets it: an empty Go
# build and module cache (modules come from the proxy), an empty cargo home
# (crates from crates.io), an empty tools cache; apt packages as they are on
# the machine (the issue's terms: "apt packages already present"). Timed from
# `make demo` to the end of its fleet table (every device publishing), then
# `make demo-down`. Prints "demo_cold_seconds <s>" and the phases' times.
#
#   scripts/demo-cold.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
work=$(mktemp -d /tmp/demo-cold.XXXXXX)
clone=$work/clone
cleanup() {
	if [[ -d $clone ]]; then (cd "$clone" && make -s demo-down >/dev/null 2>&1) || true; fi
	GOMODCACHE=$work/gomod go clean -modcache 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

if curl -s -o /dev/null --max-time 1 http://127.0.0.1:8080/ 2>/dev/null || [[ -f $ROOT/.demo/gateway.pid ]]; then
	echo "demo-cold: a demo (or something on 127.0.0.1:8080) is running; make demo-down first" >&2
	exit 1
fi
git clone -q "$ROOT" "$clone"
export GOCACHE=$work/gocache GOMODCACHE=$work/gomod CARGO_HOME=$work/cargo WASMBED_TOOLS_CACHE=$work/tools XDG_CACHE_HOME=$work/xdg
echo "demo-cold: make demo in a fresh clone of $(git rev-parse --short HEAD), caches empty (log: $work/demo.log while it runs)"
start=$SECONDS
# Each line stamped with the seconds since the start, to say where time goes.
if ! (cd "$clone" && make demo 2>&1) | while IFS= read -r line; do printf '[%4ds] %s\n' $((SECONDS - start)) "$line"; done >"$work/demo.log"; then
	tail -n 40 "$work/demo.log" >&2
	exit 1
fi
secs=$((SECONDS - start))
grep -q '==> 4/4 The fleet' "$work/demo.log" || {
	echo "demo-cold: make demo ended without its fleet table" >&2
	tail -n 40 "$work/demo.log" >&2
	exit 1
}
# Where the time went: the first line of each phase.
grep -E '^\[ *[0-9]+s\] (setup:|demo:|firmware:|==> )' "$work/demo.log" | sed 's/^/  /'
echo "demo_cold_seconds $secs"
