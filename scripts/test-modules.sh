#!/usr/bin/env bash
# make test-modules: runs each module's `terraform test` files against a real
# gateway (started here on free loopback ports with a throwaway data
# directory), with the provider built into bin/ (dev_overrides: offline), once
# with terraform (when installed) and once with OpenTofu.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
WORK=$ROOT/.test/modules
rm -rf "$WORK"
mkdir -p "$WORK"

cleanup() {
	[[ -n ${GW_PID:-} ]] && kill "$GW_PID" 2>/dev/null && wait "$GW_PID" 2>/dev/null
	rm -rf "$WORK"
}
trap cleanup EXIT

bin/wasmbed-gateway serve --data-dir "$WORK/gateway" --api-addr 127.0.0.1:0 --device-addr 127.0.0.1:0 --log-format json \
	>"$WORK/gateway.log" 2>&1 &
GW_PID=$!
for _ in $(seq 150); do
	api=$(jq -r 'select(.msg == "gateway serving") | .api' "$WORK/gateway.log" 2>/dev/null || true)
	[[ -n $api ]] && break
	kill -0 $GW_PID 2>/dev/null || { cat "$WORK/gateway.log" >&2; exit 1; }
	sleep 0.2
done
[[ -n $api ]] || { echo "test-modules: the gateway did not start" >&2; cat "$WORK/gateway.log" >&2; exit 1; }

export WASMBED_ENDPOINT=$api
WASMBED_TOKEN=$(cat "$WORK/gateway/admin.token")
export WASMBED_TOKEN
export WASMBED_CA_CERT_FILE=$WORK/gateway/ca.crt
cat >"$WORK/cli.tfrc" <<RC
provider_installation {
  dev_overrides {
    "wasmbed/wasmbed" = "$ROOT/bin"
  }
  direct {}
}
RC
export TF_CLI_CONFIG_FILE=$WORK/cli.tfrc TF_IN_AUTOMATION=1

clis=()
command -v terraform >/dev/null && clis+=("$(command -v terraform)")
clis+=("$ROOT/bin/tofu")
for cli in "${clis[@]}"; do
	[[ -x $cli ]] || { echo "test-modules: $cli missing; run make setup" >&2; exit 1; }
	for m in modules/*/; do
		echo "test-modules: $(basename "$cli") test in $m"
		(cd "$m" && "$cli" test -no-color 2>&1 | grep -v -E 'dev_overrides|Provider development overrides|The following provider|applying changes may|releases\.|- wasmbed/wasmbed in|^\s*$|^│ *$|Warning: Provider development')
		rc=${PIPESTATUS[0]}
		[[ $rc == 0 ]] || { echo "test-modules: $m failed with $cli; gateway log: $WORK/gateway.log" >&2; trap - EXIT; kill $GW_PID; exit 1; }
	done
done
