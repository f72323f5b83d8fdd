#!/usr/bin/env bash
# The installation the README describes, checked: `make install-provider`
# into a fresh HOME, then `terraform init` and `tofu init` in a directory of
# their own with a configuration that names wasmbed/wasmbed and nothing
# else: no CLI configuration, no network (the registries are not reachable
# here, and the provider is on none), and `validate` loads the provider.
#
#   scripts/test-install.sh TF...   (the CLIs: make passes $(TERRAFORM) $(TOFU))
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
(($#)) || { echo "test-install: no terraform or tofu given" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# A fresh HOME for the CLIs, the Go caches where they are.
export GOPATH=$(go env GOPATH) GOMODCACHE=$(go env GOMODCACHE) GOCACHE=$(go env GOCACHE)
export HOME=$work/home
mkdir -p "$HOME"
"$ROOT/scripts/install-provider.sh" >/dev/null
for tf in "$@"; do
	[[ -x $tf ]] || { echo "test-install: $tf is not executable" >&2; exit 1; }
	dir=$work/$(basename "$tf")
	mkdir -p "$dir"
	cat >"$dir/main.tf" <<'TF'
terraform {
  required_providers {
    wasmbed = { source = "wasmbed/wasmbed" }
  }
}
provider "wasmbed" {
  endpoint = "https://127.0.0.1:1"
}
TF
	(cd "$dir" && env -u TF_CLI_CONFIG_FILE TF_IN_AUTOMATION=1 "$tf" init -input=false -no-color >"$work/init.log" 2>&1) || {
		cat "$work/init.log" >&2
		echo "test-install: $(basename "$tf") init failed with the installed provider" >&2
		exit 1
	}
	(cd "$dir" && env -u TF_CLI_CONFIG_FILE "$tf" validate -no-color >"$work/validate.log" 2>&1) || {
		cat "$work/validate.log" >&2
		echo "test-install: $(basename "$tf") validate failed" >&2
		exit 1
	}
	grep -q 'wasmbed/wasmbed' "$dir/.terraform.lock.hcl" || { echo "test-install: no lock entry for wasmbed/wasmbed" >&2; exit 1; }
	echo "test-install: $(basename "$tf") init and validate with the provider from the filesystem mirror: ok"
done
