#!/usr/bin/env bash
# Installs everything Wasmbed's builds and tests need on a Debian 12 machine:
#   - Debian packages (Rust for thumbv7em-none-eabihf, qemu, wabt, etcd, ...)
#   - pinned Go tools, built once into a cache outside the clone
#     (${XDG_CACHE_HOME:-$HOME/.cache}/wasmbed/tools/<tool>-<version>/<tool>)
#     and linked into ./bin (git-ignored), together with etcd, so that
#     KUBEBUILDER_ASSETS=$PWD/bin works for envtest.
#
# Idempotent: a warm run checks dpkg and the cache, re-links bin/ and runs
# neither apt-get nor go build.
#
# Versions are declared in tools/versions.env; the go.mod files under tools/
# must require the same versions (checked below). To bump a tool: edit
# versions.env and the `require` in tools/go.mod, tools/kube/go.mod,
# tools/opentofu/go.mod, tools/terraform-docs/go.mod or tools/otelcol/go.mod
# (for Kubernetes also
# the k8s.io/* replaces), run
# `go mod tidy` in that folder, then `bash tools/setup.sh`.
#
# Environment: WASMBED_TOOLS_CACHE overrides the cache folder. WASMBED_EMULATOR=renode
# (make demo EMULATOR=renode) has the demo set up Renode too. WASMBED_SETUP=demo
# (what `make demo` sets) builds only what the demo runs: OpenTofu when the machine
# has no terraform; the tools only tests need (tfplugindocs, terraform-docs,
# controller-gen, step-ca, step, kube-apiserver, kubectl) and the Debian
# packages only tests need (APT_TEST_PACKAGES: chromium) are left to the test
# targets' own `make setup`; so is the OpenTelemetry Collector (otelcol) of
# the trace test; and Renode (built from source when the machine has none).
set -Eeuo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
BIN=$ROOT/bin
CACHE=${WASMBED_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/wasmbed/tools}

# shellcheck source=versions.env
source "$ROOT/tools/versions.env"

log() { echo "setup: $*"; }
die() { echo "setup: ERROR: $*" >&2; exit 1; }
trap 'rc=$?; echo "setup: FAILED (exit $rc) at tools/setup.sh:$LINENO: $BASH_COMMAND" >&2' ERR

CLEANUP=()
cleanup() { local c; for c in "${CLEANUP[@]+"${CLEANUP[@]}"}"; do eval "$c" || true; done; }
trap cleanup EXIT

SUDO=()
if [[ $(id -u) != 0 ]]; then
	command -v sudo >/dev/null || die "not root and sudo is missing: cannot install apt packages"
	SUDO=(sudo)
fi

start=$SECONDS

# ---------------------------------------------------------------- apt ----
# Daemons shipped by packages we install only for their binaries; our tests
# start their own instances (etcd on 2379 would otherwise collide).
SERVICES="etcd mosquitto"

quiesce_service() { # name, was_just_installed
	local svc=$1 fresh=$2
	if [[ -d /run/systemd/system ]] && command -v systemctl >/dev/null; then
		if systemctl is-active --quiet "$svc" 2>/dev/null || systemctl is-enabled --quiet "$svc" 2>/dev/null; then
			log "stopping and disabling the $svc service (tests start their own)"
			"${SUDO[@]}" systemctl disable --now --quiet "$svc" || die "could not stop/disable $svc"
		fi
	elif [[ -x /etc/init.d/$svc ]]; then
		if /etc/init.d/"$svc" status >/dev/null 2>&1; then
			log "stopping the $svc service (tests start their own)"
			"${SUDO[@]}" /etc/init.d/"$svc" stop >/dev/null || die "could not stop $svc"
		fi
		if [[ $fresh == 1 ]] && command -v update-rc.d >/dev/null; then
			"${SUDO[@]}" update-rc.d "$svc" disable >/dev/null 2>&1 || true
		fi
	fi
}

missing=()
packages=$APT_PACKAGES
[[ ${WASMBED_SETUP:-} == demo ]] || packages="$packages $APT_TEST_PACKAGES"
for p in $packages; do
	if [[ $(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true) != "install ok installed" ]]; then
		missing+=("$p")
	fi
done

if ((${#missing[@]})); then
	command -v apt-get >/dev/null || die "apt-get not found: this script supports Debian 12 only"
	# Keep package maintainer scripts from starting daemons (Docker images
	# usually ship such a policy already; we add one only for this run).
	if [[ ! -e /usr/sbin/policy-rc.d ]]; then
		printf '#!/bin/sh\n# temporary, from wasmbed tools/setup.sh\nexit 101\n' |
			"${SUDO[@]}" tee /usr/sbin/policy-rc.d >/dev/null
		"${SUDO[@]}" chmod 755 /usr/sbin/policy-rc.d
		CLEANUP+=('"${SUDO[@]}" rm -f /usr/sbin/policy-rc.d')
	fi
	aptlog=$(mktemp)
	CLEANUP+=('rm -f "$aptlog"')
	apt=("${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -q -y
		-o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)
	log "installing apt packages: ${missing[*]} (takes ~1-2 min)..."
	t=$SECONDS
	if ! { "${apt[@]}" update && "${apt[@]}" install --no-install-recommends "${missing[@]}"; } >"$aptlog" 2>&1; then
		tail -n 40 "$aptlog" >&2
		die "apt-get failed (last 40 lines above)"
	fi
	log "apt packages installed in $((SECONDS - t))s"
	for s in $SERVICES; do quiesce_service "$s" 1; done
else
	for s in $SERVICES; do quiesce_service "$s" 0; done
fi

# ------------------------------------------------------------ Go tools ----
# require_pin DIR MODULE VERSION: tools/DIR/go.mod must require MODULE VERSION.
require_pin() {
	local gomod=$ROOT/tools/$1/go.mod
	awk -v m="$2" -v v="$3" '
		$1 == "require" && $2 == m && $3 == v { ok = 1 }
		$1 == m && $2 == v                   { ok = 1 }
		END { exit !ok }' "$gomod" ||
		die "tools/versions.env pins $2 $3 but ${gomod#"$ROOT"/} does not require it (edit go.mod, run go mod tidy there)"
}

# The k8s.io staging modules are published as v0.X.Y for Kubernetes v1.X.Y.
KUBE_STAGING_VERSION=v0.${KUBERNETES_VERSION#v1.}
if awk -v v="$KUBE_STAGING_VERSION" '$2 == "=>" && $1 ~ /^k8s\.io\// && $4 != v { bad = 1 } END { exit !bad }' \
	"$ROOT/tools/kube/go.mod"; then
	die "tools/kube/go.mod: every k8s.io/* replace must point to $KUBE_STAGING_VERSION (KUBERNETES_VERSION=$KUBERNETES_VERSION)"
fi

require_pin . github.com/hashicorp/terraform-plugin-docs "$TFPLUGINDOCS_VERSION"
require_pin . sigs.k8s.io/controller-tools "$CONTROLLER_TOOLS_VERSION"
require_pin . github.com/smallstep/certificates "$STEP_CA_VERSION"
require_pin . github.com/smallstep/cli "$STEP_CLI_VERSION"
require_pin opentofu github.com/opentofu/opentofu "$OPENTOFU_VERSION"
require_pin kube k8s.io/kubernetes "$KUBERNETES_VERSION"
require_pin terraform-docs github.com/terraform-docs/terraform-docs "$TERRAFORM_DOCS_VERSION"
# The collector's modules, one release: core and the contrib file exporter.
require_pin otelcol go.opentelemetry.io/collector/otelcol "$OTELCOL_VERSION"
require_pin otelcol go.opentelemetry.io/collector/receiver/otlpreceiver "$OTELCOL_VERSION"
require_pin otelcol github.com/open-telemetry/opentelemetry-collector-contrib/exporter/fileexporter "$OTELCOL_VERSION"

mkdir -p "$BIN"

link() { # target name
	[[ -x $1 ]] || die "$1 is missing or not executable"
	ln -sfn "$1" "$BIN/$2"
}

# build_tool NAME VERSION DIR PACKAGE HINT LDFLAGS
# Builds PACKAGE from the module in tools/DIR (so its go.mod/go.sum decide
# every dependency version) into $CACHE/NAME-VERSION/NAME, then links it.
build_tool() {
	local name=$1 version=$2 dir=$3 pkg=$4 hint=$5 ldflags=$6
	local out=$CACHE/$name-$version/$name
	if [[ ! -x $out ]]; then
		command -v go >/dev/null || die "go is not on PATH (needed to build $name)"
		log "building $name $version (takes ~$hint cold)..."
		mkdir -p "${out%/*}"
		local t=$SECONDS tmp=$out.tmp.$$
		CLEANUP+=("rm -f '$tmp'")
		(cd "$ROOT/tools/$dir" &&
			GOWORK=off CGO_ENABLED=0 go build -mod=readonly -trimpath -buildvcs=false \
				-ldflags "-s -w $ldflags" -o "$tmp" "$pkg") ||
			die "building $name $version failed (see the go output above)"
		mv -f "$tmp" "$out"
		log "built $name in $((SECONDS - t))s"
	fi
	link "$out" "$name"
}

kube_ldflags="-X k8s.io/component-base/version.gitVersion=$KUBERNETES_VERSION"
kube_ldflags+=" -X k8s.io/component-base/version.gitMajor=$(cut -d. -f1 <<<"${KUBERNETES_VERSION#v}")"
kube_ldflags+=" -X k8s.io/component-base/version.gitMinor=$(cut -d. -f2 <<<"$KUBERNETES_VERSION")"
kube_ldflags+=" -X k8s.io/component-base/version.gitTreeState=clean"

# Renode, for make test-renode: the machine's when `renode` is on PATH (bin/ aside),
# else built once from the sources in WASMBED_RENODE_SRC (default ../shared/renode,
# beside the clone, else /work/shared/renode) by its build-renode.sh into
# $CACHE/renode-$RENODE_VERSION (6-9
# minutes on 2 cores, 630 MB; apt packages: Mono, cmake, LLVM 14), and its `renode`
# and `renode-test` wrappers linked into bin/.
setup_renode() {
	local d own=
	local IFS=:
	for d in $PATH; do
		[[ -n $d && $d != "$BIN" && -x $d/renode ]] && { own=$d/renode; break; }
	done
	unset IFS
	if [[ -n $own ]]; then
		# Our links would shadow the machine's Renode.
		for d in renode renode-test; do [[ -L $BIN/$d ]] && rm -f "$BIN/$d"; done
		log "renode: the machine's, $own"
		return
	fi
	local dest=$CACHE/renode-$RENODE_VERSION
	if [[ ! -x $dest/bin/renode || ! -x $dest/bin/renode-test || ! -f $dest/src/output/bin/Release/Renode.exe ]]; then
		local src=${WASMBED_RENODE_SRC:-}
		if [[ -z $src ]]; then
			for src in "$ROOT/../shared/renode" /work/shared/renode; do
				[[ -f $src/build-renode.sh ]] && break
			done
		fi
		[[ -f $src/build-renode.sh ]] ||
			die "renode is not on PATH and there is no build-renode.sh in ${WASMBED_RENODE_SRC:-../shared/renode or /work/shared/renode} (set WASMBED_RENODE_SRC to the folder holding it and the Renode $RENODE_VERSION sources)"
		grep -qx "VERSION=$RENODE_VERSION" "$src/build-renode.sh" ||
			die "$src/build-renode.sh does not build Renode $RENODE_VERSION (tools/versions.env)"
		mkdir -p "$CACHE"
		exec 8>"$dest.lock"
		flock 8 # another setup may be building it
		if [[ ! -x $dest/bin/renode || ! -f $dest/src/output/bin/Release/Renode.exe ]]; then
			log "building Renode $RENODE_VERSION from $src (takes ~6-9 min cold; log: $dest/build.log)..."
			local t=$SECONDS
			bash "$src/build-renode.sh" "$dest" || die "building Renode failed (see the lines above and $dest/build.log)"
			log "built Renode in $((SECONDS - t))s"
		fi
		exec 8>&-
	fi
	link "$dest/bin/renode" renode
	link "$dest/bin/renode-test" renode-test
}
# The demo: OpenTofu only where there is no terraform, and Renode for
# make demo EMULATOR=renode; nothing else.
if [[ ${WASMBED_SETUP:-} == demo ]]; then
	if [[ ${WASMBED_EMULATOR:-} == renode ]]; then
		setup_renode
	fi
	if ! command -v terraform >/dev/null; then
		build_tool tofu "$OPENTOFU_VERSION" opentofu \
			github.com/opentofu/opentofu/cmd/tofu "3 min" \
			"-X github.com/opentofu/opentofu/version.dev=no"
	fi
	log "what the demo needs is present ($((SECONDS - start))s; WASMBED_SETUP=demo: no test tools)"
	exit 0
fi

build_tool tfplugindocs "$TFPLUGINDOCS_VERSION" . \
	github.com/hashicorp/terraform-plugin-docs/cmd/tfplugindocs "30 s" \
	"-X github.com/hashicorp/terraform-plugin-docs/cmd/tfplugindocs/build.version=${TFPLUGINDOCS_VERSION#v}"
# terraform-docs: the input and output tables of the modules' READMEs (its
# own module, tools/terraform-docs: its dependencies stay out of tools/go.mod).
build_tool terraform-docs "$TERRAFORM_DOCS_VERSION" terraform-docs \
	github.com/terraform-docs/terraform-docs "45 s" ""
build_tool controller-gen "$CONTROLLER_TOOLS_VERSION" . \
	sigs.k8s.io/controller-tools/cmd/controller-gen "1 min" \
	"-X sigs.k8s.io/controller-tools/pkg/version.version=$CONTROLLER_TOOLS_VERSION"
build_tool step-ca "$STEP_CA_VERSION" . \
	github.com/smallstep/certificates/cmd/step-ca "1.5 min" \
	"-X main.Version=${STEP_CA_VERSION#v}"
build_tool step "$STEP_CLI_VERSION" . \
	github.com/smallstep/cli/cmd/step "1.5 min" \
	"-X main.Version=${STEP_CLI_VERSION#v}"
build_tool tofu "$OPENTOFU_VERSION" opentofu \
	github.com/opentofu/opentofu/cmd/tofu "3 min" \
	"-X github.com/opentofu/opentofu/version.dev=no"
build_tool kube-apiserver "$KUBERNETES_VERSION" kube \
	k8s.io/kubernetes/cmd/kube-apiserver "3 min" "$kube_ldflags"
build_tool kubectl "$KUBERNETES_VERSION" kube \
	k8s.io/kubernetes/cmd/kubectl "1 min" "$kube_ldflags"

# The OpenTelemetry Collector of the trace test (provider TestAccTraces):
# tools/otelcol's own main (OTLP receiver, file exporter). Its cache folder
# names the release and a digest of that main and its go.mod/go.sum, so an
# edit of either builds it anew.
otelcol_digest=$(cat "$ROOT"/tools/otelcol/{main.go,go.mod,go.sum} | sha256sum | cut -c1-12)
build_tool otelcol "$OTELCOL_VERSION-$otelcol_digest" otelcol . "1 min" ""

# etcd from Debian's etcd-server, next to kube-apiserver and kubectl
# (KUBEBUILDER_ASSETS=$PWD/bin).
link /usr/bin/etcd etcd

setup_renode


# Warn (only) when something already listens on the ports our tests use.
for port in 2379 1883; do
	if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
		log "WARNING: something listens on 127.0.0.1:$port (a system etcd/mosquitto?); tests start their own"
	fi
done

log "all tools present in bin/ ($((SECONDS - start))s)"
