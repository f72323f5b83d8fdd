#!/usr/bin/env bash
# make install-provider: builds the provider and puts it into the local
# filesystem mirror that terraform and OpenTofu search on their own (an
# "implicit local mirror": ~/.terraform.d/plugins), under both registry hosts,
# so that a configuration in any directory with
#
#   terraform { required_providers { wasmbed = { source = "wasmbed/wasmbed" } } }
#
# runs `terraform init` (or `tofu init`) with no CLI configuration and no
# network: the provider is on no registry.
#
#   scripts/install-provider.sh [PLUGIN_DIR]   (default ~/.terraform.d/plugins)
#
# WASMBED_PROVIDER_VERSION sets the version it is installed as (default 0.1.0;
# the binary reports it too).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DIR=${1:-${HOME}/.terraform.d/plugins}
VERSION=${WASMBED_PROVIDER_VERSION:-0.1.0}
GO=${GO:-go}
platform="$($GO env GOOS)_$($GO env GOARCH)"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$ROOT" && $GO build -ldflags "-X main.version=$VERSION" -o "$tmp/terraform-provider-wasmbed_v$VERSION" .)
for host in registry.terraform.io registry.opentofu.org; do
	dest=$DIR/$host/wasmbed/wasmbed/$VERSION/$platform
	mkdir -p "$dest"
	install -m 0755 "$tmp/terraform-provider-wasmbed_v$VERSION" "$dest/"
	echo "install-provider: $dest/terraform-provider-wasmbed_v$VERSION"
done
