#!/usr/bin/env bash
# Terraform figures for `make bench` (issue 15): the provider at scale, side by
# side with Terraform's built-in terraform_data in the same run.
#
#   tf_apply_ratio    apply of N wasmbed_device / apply of N terraform_data
#   tf_plan_ratio     no-op plan of the applied configuration (refresh included)
#   tf_destroy_ratio  destroy
#
# each the median of ROUNDS runs of each side (wall clock of the CLI command,
# `init` excluded), with terraform when it is installed (else OpenTofu), and
# the same as tofu_*_ratio with OpenTofu (bin/tofu) after it. The provider is built here and installed into a
# filesystem mirror in a scratch directory (as `make install-provider` does
# into ~/.terraform.d/plugins); the gateway is the real wasmbed-gateway on
# embedded defaults (bbolt store, embedded step-ca) on free loopback ports.
# Prints one line per figure on stdout:
#
#   RESULT<TAB>key<TAB>value<TAB>unit<TAB>note
#
# (progress on stderr). Stops the gateway and removes its scratch directory
# on exit, whatever happens.
#
# Environment: WASMBED_BENCH_TF_CLI (one CLI only, for the tf_* keys; default:
# terraform on PATH, else bin/tofu, then bin/tofu for tofu_*),
# WASMBED_BENCH_TF_RESOURCES (1000), WASMBED_BENCH_TF_ROUNDS (3),
# WASMBED_BENCH_TF_PARALLELISM (the CLI's default, 10).
set -Eeuo pipefail
trap 'echo "bench/terraform.sh: failed (exit $?) at line $LINENO: $BASH_COMMAND" >&2' ERR
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
N=${WASMBED_BENCH_TF_RESOURCES:-1000}
ROUNDS=${WASMBED_BENCH_TF_ROUNDS:-3}
CLI=${WASMBED_BENCH_TF_CLI:-$(command -v terraform || echo "$ROOT/bin/tofu")}
PARALLELISM=${WASMBED_BENCH_TF_PARALLELISM:-10}
[[ -x $CLI ]] || { echo "bench/terraform.sh: $CLI is not executable (make setup builds bin/tofu)" >&2; exit 1; }

log() { echo "bench/terraform.sh: $*" >&2; }

tmp=$(mktemp -d)
GW_PID=
cleanup() {
	local pid exe
	if [[ -n $GW_PID ]] && kill -0 "$GW_PID" 2>/dev/null; then
		kill "$GW_PID" 2>/dev/null || true
		for _ in $(seq 50); do kill -0 "$GW_PID" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$GW_PID" 2>/dev/null || true
		wait "$GW_PID" 2>/dev/null || true
	fi
	# A provider process a CLI left behind (the CLI interrupted) runs a
	# binary of $tmp's mirror: end those, by pid.
	for pid in /proc/[0-9]*; do
		exe=$(readlink "$pid/exe" 2>/dev/null) || continue
		[[ $exe == "$tmp/"* ]] && kill -KILL "${pid#/proc/}" 2>/dev/null || true
	done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The provider into a filesystem mirror for both registry hosts, and the gateway.
VERSION=0.1.0
platform="$(go env GOOS)_$(go env GOARCH)"
log "building the provider and wasmbed-gateway"
go build -ldflags "-X main.version=$VERSION" -o "$tmp/terraform-provider-wasmbed_v$VERSION" .
go build -o "$tmp/" ./cmd/wasmbed-gateway
for host in registry.terraform.io registry.opentofu.org; do
	mkdir -p "$tmp/mirror/$host/wasmbed/wasmbed/$VERSION/$platform"
	cp "$tmp/terraform-provider-wasmbed_v$VERSION" "$tmp/mirror/$host/wasmbed/wasmbed/$VERSION/$platform/"
done
cat >"$tmp/cli.tfrc" <<RC
provider_installation {
  filesystem_mirror {
    path    = "$tmp/mirror"
    include = ["registry.terraform.io/wasmbed/wasmbed", "registry.opentofu.org/wasmbed/wasmbed"]
  }
}
RC

"$tmp/wasmbed-gateway" serve --data-dir "$tmp/gateway" --api-addr 127.0.0.1:0 --device-addr 127.0.0.1:0 --log-format json \
	>"$tmp/gateway.log" 2>&1 &
GW_PID=$!
api=
for _ in $(seq 150); do
	api=$(jq -r 'select(.msg == "gateway serving") | .api' "$tmp/gateway.log" 2>/dev/null || true)
	[[ -n $api ]] && break
	kill -0 "$GW_PID" 2>/dev/null || { cat "$tmp/gateway.log" >&2; exit 1; }
	sleep 0.2
done
[[ -n $api ]] || { log "the gateway did not start"; cat "$tmp/gateway.log" >&2; exit 1; }

export TF_CLI_CONFIG_FILE=$tmp/cli.tfrc TF_IN_AUTOMATION=1 CHECKPOINT_DISABLE=1
unset TF_LOG TF_PLUGIN_CACHE_DIR TF_DATA_DIR
export WASMBED_ENDPOINT=$api WASMBED_CA_CERT_FILE=$tmp/gateway/ca.crt
WASMBED_TOKEN=$(cat "$tmp/gateway/admin.token")
export WASMBED_TOKEN

# The two configurations: the same N objects, with the same attributes.
mkdir -p "$tmp/wasmbed" "$tmp/data"
cat >"$tmp/wasmbed/main.tf" <<TF
terraform {
  required_providers {
    wasmbed = { source = "wasmbed/wasmbed" }
  }
}

resource "wasmbed_device" "d" {
  count  = $N
  name   = format("bench-%04d", count.index)
  board  = "stm32f4-discovery"
  labels = { ring = count.index % 10 == 0 ? "canary" : "stable" }
}
TF
cat >"$tmp/data/main.tf" <<TF
resource "terraform_data" "d" {
  count = $N
  input = {
    name   = format("bench-%04d", count.index)
    board  = "stm32f4-discovery"
    labels = { ring = count.index % 10 == 0 ? "canary" : "stable" }
  }
}
TF
# requests COUNTS the management API requests the gateway has served
# (empty when its metrics cannot be read: the count is only a note).
requests() {
	curl -sf --retry 3 --cacert "$tmp/gateway/ca.crt" -H "Authorization: Bearer $WASMBED_TOKEN" "$api/metrics" |
		awk '/^wasmbed_http_requests_total/ {n += $NF} END {if (NR) printf "%d\n", n}' || true
}

# timed CLI DIR OP: runs the CLI's OP in DIR, prints the seconds it took.
timed() {
	local cli=$1 dir=$2 op=$3 args=() start end rc=0
	case $op in
	apply) args=(apply -auto-approve -input=false -no-color "-parallelism=$PARALLELISM") ;;
	plan) args=(plan -input=false -no-color -detailed-exitcode "-parallelism=$PARALLELISM") ;;
	destroy) args=(destroy -auto-approve -input=false -no-color "-parallelism=$PARALLELISM") ;;
	esac
	start=$EPOCHREALTIME
	(cd "$dir" && "$cli" "${args[@]}" >"$dir/$op.log" 2>&1) || rc=$?
	end=$EPOCHREALTIME
	# plan -detailed-exitcode: 0 is no changes; anything else is a failure here.
	if ((rc != 0)); then
		log "$dir: $op failed (exit $rc):"
		tail -n 20 "$dir/$op.log" >&2
		exit 1
	fi
	awk -v s="$start" -v e="$end" 'BEGIN {printf "%.3f\n", e - s}'
}

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }

# settle waits, up to 3 minutes, for the 1-min load average to drop below
# 1.5: the figures are ratios of wall-clock times on a 2-core machine that
# other work may share. The notes say the load there was.
settle() {
	local i
	for ((i = 0; i < 36; i++)); do
		awk '{exit !($1 < 1.5)}' /proc/loadavg && return
		((i == 0)) && log "waiting for the load average ($(cut -d' ' -f1 /proc/loadavg)) to drop below 1.5 (at most 3 min)"
		sleep 5
	done
}

# measure CLI PREFIX: the three ratios with CLI, as PREFIX_{apply,plan,destroy}_ratio.
measure() {
	local cli=$1 prefix=$2 version side op round t before after reqs w d ratio target what order
	local -A times=() lastreqs=()
	version=$("$cli" version 2>/dev/null | awk 'NR == 1')
	log "$version: $N resources per side, $ROUNDS rounds, -parallelism=$PARALLELISM, gateway at $api"
	for side in wasmbed data; do
		rm -rf "$tmp/$prefix-$side"
		mkdir -p "$tmp/$prefix-$side"
		cp "$tmp/$side/main.tf" "$tmp/$prefix-$side/"
		(cd "$tmp/$prefix-$side" && "$cli" init -input=false -no-color >init.log 2>&1) ||
			{ log "$version: init of $side failed:"; cat "$tmp/$prefix-$side/init.log" >&2; exit 1; }
	done
	local load_before load_after
	settle
	load_before=$(cut -d' ' -f1 /proc/loadavg)
	for ((round = 1; round <= ROUNDS; round++)); do
		# Alternate which side goes first, so that a drift in the
		# machine's load falls on both.
		order=(data wasmbed)
		((round % 2 == 0)) && order=(wasmbed data)
		for op in apply plan destroy; do
			for side in "${order[@]}"; do
				before=$(requests)
				t=$(timed "$cli" "$tmp/$prefix-$side" "$op")
				after=$(requests)
				times[$side-$op]+="$t "
				reqs=""
				if [[ $side == wasmbed && -n $before && -n $after ]]; then
					lastreqs[$op]=$((after - before - 1)) # the metrics read itself
					reqs=", ${lastreqs[$op]} API requests"
				fi
				log "$prefix round $round: $side $op ${t}s$reqs"
			done
		done
	done
	load_after=$(cut -d' ' -f1 /proc/loadavg)
	for op in apply plan destroy; do
		w=$(median <<<"${times[wasmbed-$op]}")
		d=$(median <<<"${times[data-$op]}")
		ratio=$(awk -v w="$w" -v d="$d" 'BEGIN {printf "%.2f\n", w / d}')
		case $op in
		apply) target="target <= 1.2" what="apply creating $N resources" ;;
		plan) target="target <= 1.5" what="no-op plan of the applied configuration (refresh included; -detailed-exitcode 0 on both sides)" ;;
		destroy) target="target <= 1.0" what="destroy of the $N resources" ;;
		esac
		# The targets (issue 15) are Terraform's. OpenTofu's terraform_data
		# applies and destroys many times faster than Terraform's, so there
		# the ratio is the provider's own cost per resource (gRPC, the
		# framework, the API requests) over a near-zero baseline.
		[[ $prefix == tf ]] || target="no target (the targets are Terraform's; OpenTofu's own terraform_data is the baseline here)"
		printf 'RESULT\t%s_%s_ratio\t%s\tx\t%s\n' "$prefix" "$op" "$ratio" \
			"$what with $version: $N wasmbed_device (name, board, labels) ${w} s over $N terraform_data (the same values as input) ${d} s, medians of $ROUNDS runs of each, alternating in one run (wasmbed_device: ${times[wasmbed-$op]% }; terraform_data: ${times[data-$op]% }); ${lastreqs[$op]:-?} management API requests in the last wasmbed_device run; -parallelism=$PARALLELISM, the provider from a filesystem mirror (as make install-provider installs it), a real wasmbed-gateway on embedded defaults (bbolt store, step-ca) on loopback sharing the 2 cores; $target; conditions: 1-min load average $load_before before, $load_after after"
	done
}

# tf_*: terraform when installed, else OpenTofu; tofu_*: OpenTofu as well
# when terraform was measured first (WASMBED_BENCH_TF_CLI picks one only).
measure "$CLI" tf
if [[ -z ${WASMBED_BENCH_TF_CLI:-} && $CLI != "$ROOT/bin/tofu" && -x $ROOT/bin/tofu ]]; then
	measure "$ROOT/bin/tofu" tofu
fi
