#!/usr/bin/env bash
# make demo: the main job. Today it shows what exists; each step that the
# gateway, firmware and provider issues add (gateway on embedded defaults,
# three QEMU devices, terraform apply of examples/quickstart) comes here.
#
#   scripts/demo.sh        run the demo
#   scripts/demo.sh down   stop what it started and remove .demo/
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
DEMO=$ROOT/.demo

if [[ ${1:-} == down ]]; then
	rm -rf "$DEMO"
	echo "demo: stopped (nothing keeps running yet) and removed .demo/"
	exit 0
fi

TF=$(command -v terraform || true)
[[ -n $TF ]] || TF=$ROOT/bin/tofu
[[ -x $TF ]] || { echo "demo: no terraform on PATH and no bin/tofu; run make setup" >&2; exit 1; }
mkdir -p "$DEMO/terraform"

echo "==> 1/2 The device protocol: decoding protocol/testdata/session.bin (every message type, framed)"
bin/wasmbed-proto decode protocol/testdata/session.bin |
	jq -r '[.type, .request_id, (.body | tostring | .[0:90])] | @tsv' |
	awk -F'\t' 'BEGIN { printf "%-18s %4s  %s\n", "TYPE", "REQ", "BODY" } { printf "%-18s %4s  %s\n", $1, $2, $3 }'

echo
echo "==> 2/2 The Terraform provider, loaded by $(basename "$TF") from bin/ (dev_overrides)"
cat >"$DEMO/terraform/cli.tfrc" <<RC
provider_installation {
  dev_overrides {
    "wasmbed/wasmbed" = "$ROOT/bin"
  }
  direct {}
}
RC
cat >"$DEMO/terraform/main.tf" <<'TF'
terraform {
  required_providers {
    wasmbed = { source = "wasmbed/wasmbed" }
  }
}
provider "wasmbed" {}
TF
(cd "$DEMO/terraform" && TF_CLI_CONFIG_FILE=$DEMO/terraform/cli.tfrc "$TF" providers schema -json 2>/dev/null) |
	jq -r '.provider_schemas | to_entries[0] | "provider \(.key), protocol 6, attributes: \(.value.provider.block.attributes | keys | join(", "))"'

cat <<MSG

What this demo does not do yet: there is no gateway, firmware or quickstart
configuration in this tree, so no device is enrolled or runs an app. When they
land, \`make demo\` starts the gateway on embedded defaults, boots three QEMU
devices and applies examples/quickstart.

Look further: bin/wasmbed-proto decode FILE (any framed capture), docs/protocol.md.
Stop: make demo-down
MSG
