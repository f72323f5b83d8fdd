#!/usr/bin/env bash
# Renders the provider documentation in docs/ (index.md, resources/,
# data-sources/...) from the provider schema, templates/ and examples/ with
# tfplugindocs. Other files in docs/ (protocol.md...) are left alone.
# Then the input and output tables of each module's README (modules/*/README.md,
# between <!-- BEGIN_TF_DOCS --> and <!-- END_TF_DOCS -->) with terraform-docs
# (modules/.terraform-docs.yml), refusing a variable or output without a
# description.
#
# tfplugindocs reads the schema through a local `terraform` binary and would
# try to download one if there were none: when the machine has no terraform,
# OpenTofu from bin/ stands in under that name.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

[[ -x bin/tfplugindocs ]] || { echo "generate: bin/tfplugindocs missing; run make setup" >&2; exit 1; }
if ! command -v terraform >/dev/null; then
	[[ -x bin/tofu ]] || { echo "generate: neither terraform nor bin/tofu found; run make setup" >&2; exit 1; }
	shim=$(mktemp -d)
	trap 'rm -rf "$shim"' EXIT
	ln -s "$PWD/bin/tofu" "$shim/terraform"
	export PATH=$shim:$PATH
fi

echo "generate: board facts (profiles, firmware constants and memory maps, CRD enum, docs/abi.md) from board/boards.toml"
go run ./board/boardgen

echo "generate: provider docs with tfplugindocs"
out=$(bin/tfplugindocs generate --provider-name wasmbed --rendered-provider-name Wasmbed 2>&1) || {
	echo "$out" >&2
	exit 1
}

echo "generate: module READMEs' inputs and outputs with terraform-docs"
[[ -x bin/terraform-docs ]] || { echo "generate: bin/terraform-docs missing; run make setup" >&2; exit 1; }
for m in modules/*/; do
	m=${m%/}
	grep -q '^<!-- BEGIN_TF_DOCS -->$' "$m/README.md" 2>/dev/null ||
		{ echo "generate: $m/README.md needs the <!-- BEGIN_TF_DOCS --> and <!-- END_TF_DOCS --> markers" >&2; exit 1; }
	undocumented=$(bin/terraform-docs json --read-comments=false --show inputs,outputs "$m" |
		jq -r '(.inputs[] | select((.description // "") == "") | "variable \(.name)"), (.outputs[] | select((.description // "") == "") | "output \(.name)")')
	[[ -z $undocumented ]] || { echo "generate: $m: no description for:" $undocumented >&2; exit 1; }
	bin/terraform-docs -c modules/.terraform-docs.yml "$m" >/dev/null
done

echo "generate: docs/openapi.json from the management API's route table"
WASMBED_UPDATE_OPENAPI=1 go test ./gateway/api -run '^TestOpenAPIDocument$' -count=1 >/dev/null

echo "generate: Kubernetes API (deepcopy, CRDs) with controller-gen"
[[ -x bin/controller-gen ]] || { echo "generate: bin/controller-gen missing; run make setup" >&2; exit 1; }
rm -f config/crd/bases/*.yaml
bin/controller-gen object paths=./api/...
bin/controller-gen crd:crdVersions=v1 paths=./api/... output:crd:artifacts:config=config/crd/bases
bin/controller-gen webhook paths=./controller/... output:webhook:artifacts:config=config/webhook

echo "generate: the dashboard's vendored front-end libraries from tools/ui/package-lock.json"
bash scripts/ui-assets.sh
