#!/usr/bin/env bash
# make bench: runs the benchmarks, merges their figures into bench/results.json
# (a flat map of key -> number) and rewrites docs/benchmarks.md from it, with
# the command that produced each figure. Benchmarks never run inside `make test`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

results=bench/results.json
meta=bench/meta.json   # key -> {unit, command, note}
[[ -f $results ]] || echo '{}' >"$results"
[[ -f $meta ]] || echo '{}' >"$meta"

# record KEY VALUE UNIT COMMAND [NOTE]
record() {
	local tmp
	tmp=$(mktemp)
	jq --arg k "$1" --argjson v "$2" '.[$k] = $v' "$results" >"$tmp" && mv "$tmp" "$results"
	tmp=$(mktemp)
	jq --arg k "$1" --arg u "$3" --arg c "$4" --arg n "${5:-}" '.[$k] = {unit: $u, command: $c, note: $n}' "$meta" >"$tmp" && mv "$tmp" "$meta"
}

# BENCH_ONLY="protocol gateway kubernetes catchup rollout firmware terraform demo ui" picks parts (default: all);
# the figures of parts not run stay as they were in results.json.
want() { [[ -z ${BENCH_ONLY:-} || " $BENCH_ONLY " == *" $1 "* ]]; }
rc=0

# go_bench PACKAGE REGEXP: prints "name ns/op MB/s B/op allocs/op" lines.
go_bench() {
	go test -run '^$' -bench "$2" -benchmem -count 1 -benchtime 2s "$1" |
		awk '/^Benchmark/ {
			name=$1; sub(/-[0-9]+$/, "", name); ns=""; mbs=""; bop=""; allocs=""
			for (i = 3; i < NF; i++) {
				if ($(i+1) == "ns/op") ns=$i
				if ($(i+1) == "MB/s") mbs=$i
				if ($(i+1) == "B/op") bop=$i
				if ($(i+1) == "allocs/op") allocs=$i
			}
			print name, ns, (mbs == "" ? 0 : mbs), bop, allocs
		}'
}

if want protocol; then
echo "bench: protocol codec"
cmd="go test -run '^\$' -bench . -benchmem -benchtime 2s ./protocol"
while read -r name ns mbs bop allocs; do
	case $name in
	BenchmarkMarshalHeartbeat) record protocol_marshal_heartbeat_ns "$ns" ns/op "$cmd" "$allocs allocs, $bop B per message" ;;
	BenchmarkUnmarshalHeartbeat) record protocol_unmarshal_heartbeat_ns "$ns" ns/op "$cmd" "$allocs allocs, $bop B per message" ;;
	BenchmarkUnmarshalModuleChunk4K) record protocol_unmarshal_chunk_mb_per_s "$mbs" MB/s "$cmd" "4 KiB module_chunk messages" ;;
	esac
done < <(go_bench ./protocol .)
fi

# The gateway as a process, measured from outside by bench/gatewaybench:
# device sessions held and their memory (against mosquitto with as many TLS
# clients), heartbeat and enrollment rates, a 32 KiB fan-out, and the memory
# of a connection stalled before authentication (gateway_stalled_handshake_bytes). It prints
# "RESULT<TAB>key<TAB>value<TAB>unit<TAB>note" lines on stdout, progress on
# stderr. BENCH_GATEWAY_FLAGS adds flags (e.g. "-sessions 2000" for a quick run).
# BENCH_ONLY=rollout runs only its progressive-rollout phase (after the fan-out
# it compares with, on the same 10000 agent/sim devices).
if want gateway || want rollout; then
gw_only=()
if ! want gateway; then gw_only=(-only rollout); fi
echo "bench: gateway (sessions, heartbeats, enrollments, fan-out, progressive rollouts; mosquitto for comparison)"
gw_tmp=$(mktemp -d)
gw_rc=0
cleanup_gateway_bench() {
	# The tool stops what it started; this ends, by pid, whatever it could
	# not (every such process names the scratch directory in its arguments).
	local pid
	if [[ -f $gw_tmp/pids ]]; then
		while read -r pid; do
			if [[ -r /proc/$pid/cmdline ]] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF "$gw_tmp"; then
				kill -KILL "$pid" 2>/dev/null || true
			fi
		done <"$gw_tmp/pids"
	fi
	rm -rf "$gw_tmp" "/dev/shm/gatewaybench-${gw_tmp##*/}"
}
trap cleanup_gateway_bench EXIT
go build -o "$gw_tmp/" ./cmd/wasmbed-gateway ./bench/gatewaybench
# shellcheck disable=SC2086 # BENCH_GATEWAY_FLAGS is a list of flags
gw_args=(run -gateway "$gw_tmp/wasmbed-gateway" -work "$gw_tmp" "${gw_only[@]}" ${BENCH_GATEWAY_FLAGS:-})
gw_cmd="go build -o \$TMP/ ./cmd/wasmbed-gateway ./bench/gatewaybench && \$TMP/gatewaybench ${gw_args[*]//"$gw_tmp"/\$TMP}"
"$gw_tmp/gatewaybench" "${gw_args[@]}" >"$gw_tmp/results.tsv" || gw_rc=$?
while IFS=$'\t' read -r tag key value unit note; do
	if [[ $tag == RESULT ]]; then record "$key" "$value" "$unit" "$gw_cmd" "$note"; fi
done <"$gw_tmp/results.tsv"
if ((gw_rc != 0)); then
	echo "bench: gateway benchmark FAILED (exit $gw_rc); figures measured before the failure were recorded. Last lines of its logs:" >&2
	tail -n 5 "$gw_tmp"/*.log >&2 || true
fi
cleanup_gateway_bench
trap - EXIT
((gw_rc == 0)) || rc=$gw_rc
fi

# Kubernetes mode at 1000 devices behind 10 gateways: the real kube-apiserver
# and etcd, the controller, ten gateways and agent/sim devices in one test
# binary (gateway/daemon/kube_bench_test.go says how each figure is made).
if want kubernetes; then
	echo "bench: kubernetes (1000 devices, 10 gateways, one application, one gateway killed)"
	load=$(cut -d' ' -f1 /proc/loadavg)
	cmd="go test -run '^\$' -bench BenchmarkKubernetesFleet -benchtime 1x -timeout 30m ./gateway/daemon"
	if out=$(go test -run '^$' -bench BenchmarkKubernetesFleet -benchtime 1x -timeout 30m ./gateway/daemon 2>&1); then
		line=$(grep '^BenchmarkKubernetesFleet' <<<"$out")
		metric() { awk -v u="$1" '{for (i = 2; i < NF; i++) if ($(i+1) == u) print $i}' <<<"$line"; }
		record k8s_reconcile_seconds "$(metric reconcile-s)" s "$cmd" \
			"$(metric devices) devices behind 10 gateways: an Application written to the controller reporting it converged, every device running it"
		record k8s_writes_per_device_hour "$(metric writes/device-hour)" writes "$cmd" \
			"mutating requests on fleet.wasmbed.dev resources and events while every device heartbeats (5 s), time-compressed: last-seen every 30 s over 60 s, $(metric writes/device-interval) writes per device per last-seen interval, scaled to the default 45 min; leases apart: $(metric lease-writes/hour) per hour"
		record k8s_failover_seconds "$(metric failover-s)" s "$cmd" \
			"$(metric devices) devices behind 10 gateways, every bundle listing all 10 (the assigned one first), an app running on each; gw-00 killed as by SIGKILL (its API server access cut, then stopped: its Lease neither renewed nor released), until all $(metric failover-devices) of its devices ran their app (the agent's runtime says running) in a session with another gateway, assigned there and online; default lease 10 s renewed every 2 s, default agent backoff (500 ms, 30 s); $(metric failover-device-writes) writes to Devices meanwhile beyond the steady state's (raw $(metric failover-device-writes-raw), the time-compressed last-seen writes included); target <= 30 s; 1-min load average before: $load"
		grep -E 'kube_bench_test.go' <<<"$out" | sed 's/^ */  /'
	else
		echo "bench: kubernetes benchmark FAILED:" >&2
		tail -n 30 <<<"$out" >&2
		rc=1
	fi
fi

# Catch-up after an API server outage: kube-apiserver stopped 60 s and
# started again, ten gateways and the controller (BENCH_ONLY=catchup alone).
if want kubernetes || want catchup; then
	echo "bench: kubernetes catch-up (API server stopped 60 s, 10 gateways, the controller)"
	cmd="go test -run '^\$' -bench BenchmarkKubernetesCatchUp -benchtime 1x -timeout 10m ./gateway/daemon"
	if out=$(go test -run '^$' -bench BenchmarkKubernetesCatchUp -benchtime 1x -timeout 10m ./gateway/daemon 2>&1); then
		line=$(grep '^BenchmarkKubernetesCatchUp' <<<"$out")
		value=$(awk '{for (i = 2; i < NF; i++) if ($(i+1) == "catchup-s") print $i}' <<<"$line")
		record k8s_catchup_seconds "$value" s "$cmd" \
			"kube-apiserver stopped 60 s and started again: a label changed and a device created right after it answers, until all 10 gateways' APIs show the label and the controller assigned the device (target <= 5)"
		grep -E 'kube_catchup_bench_test.go' <<<"$out" | sed 's/^ */  /'
	else
		echo "bench: kubernetes catch-up benchmark FAILED:" >&2
		tail -n 30 <<<"$out" >&2
		rc=1
	fi
fi

# The dashboard in headless Chromium against a gateway with 10,000 devices
# (gateway/ui/bench_test.go says how each figure is made).
if want ui; then
	echo "bench: dashboard (headless Chromium, 10,000 devices)"
	cmd="go test -run '^\$' -bench BenchmarkDashboard -benchtime 1x ./gateway/ui"
	if out=$(go test -run '^$' -bench BenchmarkDashboard -benchtime 1x ./gateway/ui 2>&1); then
		line=$(grep '^BenchmarkDashboard' <<<"$out")
		metric() { awk -v u="$1" '{for (i = 2; i < NF; i++) if ($(i+1) == u) print $i}' <<<"$line"; }
		record ui_first_paint_ms "$(metric first-paint-ms)" ms "$cmd" \
			"the overview's first contentful paint (the browser's paint timing) with 10,000 devices, median of 5 loads (target <= 1000)"
		record ui_event_latency_ms "$(metric event-latency-ms)" ms "$cmd" \
			"a device going online (the API first answers it online) to the open overview showing it (the page's clock), median of 5 (target <= 1000)"
		record gateway_metrics_series "$(metric metric-series)" series "$cmd" \
			"series of the gateway's /metrics with 10,000 registered devices (5 connected) and 10 applications: no metric has a device label (target <= 2000)"
	else
		echo "bench: dashboard benchmark FAILED:" >&2
		tail -n 30 <<<"$out" >&2
		rc=1
	fi
fi

# The firmware: footprint of the images, and cycle counts under QEMU
# -icount (bench/firmware.sh says how).
if want firmware; then
	echo "bench: firmware (footprint, TLS handshake, WASM instantiate, interpreter slowdown)"
	fw_tmp=$(mktemp)
	if bash bench/firmware.sh >"$fw_tmp"; then
		while IFS=$'\t' read -r tag key value unit note; do
			if [[ $tag == RESULT ]]; then record "$key" "$value" "$unit" "bash bench/firmware.sh" "$note"; fi
		done <"$fw_tmp"
	else
		echo "bench: firmware benchmark FAILED" >&2
		rc=1
	fi
	rm -f "$fw_tmp"
fi

# The provider at 1,000 resources against terraform_data in the same run:
# apply, no-op plan and destroy ratios, with terraform and OpenTofu
# (bench/terraform.sh says how).
if want terraform; then
	echo "bench: terraform (1000 wasmbed_device vs 1000 terraform_data: apply, plan, destroy)"
	tf_tmp=$(mktemp)
	if bash bench/terraform.sh >"$tf_tmp"; then
		while IFS=$'\t' read -r tag key value unit note; do
			if [[ $tag == RESULT ]]; then record "$key" "$value" "$unit" "bash bench/terraform.sh" "$note"; fi
		done <"$tf_tmp"
	else
		echo "bench: terraform benchmark FAILED" >&2
		rc=1
	fi
	rm -f "$tf_tmp"
fi

# A newcomer's first run: `make demo` on a fresh clone with every cache cold
# (scripts/demo-cold.sh says how; target 600 s).
if want demo; then
	echo "bench: demo (make demo on a fresh clone, caches cold)"
	load=$(cut -d' ' -f1 /proc/loadavg)
	if out=$(bash scripts/demo-cold.sh 2>&1); then
		echo "$out"
		secs=$(awk '$1 == "demo_cold_seconds" {print $2}' <<<"$out")
		phases=$(grep -E '^  \[' <<<"$out" | sed 's/^ *//' | paste -sd ';' | sed 's/;/; /g')
		record demo_cold_seconds "$secs" s "bash scripts/demo-cold.sh" \
			"make demo on a fresh clone of the committed HEAD, from the command to its fleet table (3 QEMU devices publishing), with an empty Go build and module cache, cargo home and tools cache (apt packages present; terraform on the machine, so no OpenTofu build), target 600 s; phases: $phases; 1-min load average before: $load"
	else
		echo "bench: demo benchmark FAILED:" >&2
		tail -n 30 <<<"$out" >&2
		rc=1
	fi
fi

# docs/benchmarks.md, from results.json and meta.json.
{
	echo "# Benchmarks"
	echo
	echo "Written by \`make bench\` (bench/run.sh) from bench/results.json; do not edit by hand."
	echo "Machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(go version | awk '{print $3}'), $(date -u +%Y-%m-%d)."
	echo
	echo "| key | value | unit | command | note |"
	echo "|-----|------:|------|---------|------|"
	jq -r --slurpfile m "$meta" 'to_entries | sort_by(.key)[] | "| `\(.key)` | \(.value) | \($m[0][.key].unit) | `\($m[0][.key].command)` | \($m[0][.key].note) |"' "$results"
} >docs/benchmarks.md
echo "bench: wrote $results and docs/benchmarks.md"
exit "$rc"
