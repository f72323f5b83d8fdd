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

echo "bench: protocol codec"
cmd="go test -run '^\$' -bench . -benchmem -benchtime 2s ./protocol"
while read -r name ns mbs bop allocs; do
	case $name in
	BenchmarkMarshalHeartbeat) record protocol_marshal_heartbeat_ns "$ns" ns/op "$cmd" "$allocs allocs, $bop B per message" ;;
	BenchmarkUnmarshalHeartbeat) record protocol_unmarshal_heartbeat_ns "$ns" ns/op "$cmd" "$allocs allocs, $bop B per message" ;;
	BenchmarkUnmarshalModuleChunk4K) record protocol_unmarshal_chunk_mb_per_s "$mbs" MB/s "$cmd" "4 KiB module_chunk messages" ;;
	esac
done < <(go_bench ./protocol .)

# The gateway as a process, measured from outside by bench/gatewaybench:
# device sessions held and their memory (against mosquitto with as many TLS
# clients), heartbeat and enrollment rates, a 32 KiB fan-out. It prints
# "RESULT<TAB>key<TAB>value<TAB>unit<TAB>note" lines on stdout, progress on
# stderr. BENCH_GATEWAY_FLAGS adds flags (e.g. "-sessions 2000" for a quick run).
echo "bench: gateway (sessions, heartbeats, enrollments, fan-out; mosquitto for comparison)"
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
gw_args=(run -gateway "$gw_tmp/wasmbed-gateway" -work "$gw_tmp" ${BENCH_GATEWAY_FLAGS:-})
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
exit "$gw_rc"
