#!/usr/bin/env bash
# make demo: the main job. Starts a gateway on embedded defaults, applies
# examples/quickstart with terraform (or OpenTofu), starts each device as soon
# as terraform writes its provisioned firmware image, waits until the sensor
# app runs on all three, and prints devices, app state and the latest
# published values.
#
# The devices are the Rust firmware under QEMU (stm32f4-discovery on
# netduinoplus2, mps2-an386), each booting the copy of its board image that
# terraform wrote with its provisioning bundle in it
# (wasmbed_provisioning_bundle.firmware_output), its link UART bridged to the
# gateway by the modem bridge in bin/wasmbed-emulate (one real TCP
# connection per device session). EMULATOR=renode (make demo EMULATOR=renode)
# runs in Renode the boards Renode has (stm32f4-discovery), the others under
# QEMU.
#
#   scripts/demo.sh        run the demo (again: reuses what is running)
#   scripts/demo.sh down   stop everything it started and remove .demo/
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
DEMO=$ROOT/.demo
QS=$ROOT/examples/quickstart
API=https://127.0.0.1:8080
DEVICE_ADDR=127.0.0.1:8081
EMULATOR=${EMULATOR:-${WASMBED_EMULATOR:-qemu}}
case $EMULATOR in
qemu | renode) ;;
*) echo "demo: EMULATOR=$EMULATOR: want qemu or renode" >&2; exit 2 ;;
esac

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

stop_pidfile() {
	local f=$1
	[[ -f $f ]] || return 0
	local pid
	pid=$(cat "$f")
	if kill -0 "$pid" 2>/dev/null; then
		kill "$pid" 2>/dev/null || true
		for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$pid" 2>/dev/null || true
	fi
	rm -f "$f"
}

if [[ ${1:-} == down ]]; then
	if [[ -d $DEMO ]]; then
		stop_pidfile "$DEMO/emulate.pid"
		stop_pidfile "$DEMO/gateway.pid"
	fi
	rm -rf "$DEMO" "$QS"/terraform.tfstate "$QS"/terraform.tfstate.backup "$QS"/.terraform
	echo "demo: stopped the gateway, the bridge and the QEMU devices, removed .demo/ and the quickstart's state"
	exit 0
fi

TF=$(command -v terraform || true)
[[ -n $TF ]] || TF=$ROOT/bin/tofu
[[ -x $TF ]] || { echo "demo: no terraform on PATH and no bin/tofu; run make setup" >&2; exit 1; }
mkdir -p "$DEMO/devices" "$DEMO/bundles" "$DEMO/images"

# 1. The gateway.
if [[ -f $DEMO/gateway.pid ]] && kill -0 "$(cat "$DEMO/gateway.pid")" 2>/dev/null; then
	say "1/4 Gateway already running (pid $(cat "$DEMO/gateway.pid"))"
else
	say "1/4 Starting the gateway on embedded defaults (store and step-ca in .demo/gateway)"
	bin/wasmbed-gateway serve --data-dir "$DEMO/gateway" --api-addr 127.0.0.1:8080 --device-addr "$DEVICE_ADDR" \
		--heartbeat-interval 2s >"$DEMO/gateway.log" 2>&1 &
	echo $! >"$DEMO/gateway.pid"
	for i in $(seq 100); do
		if curl -sf --cacert "$DEMO/gateway/ca.crt" "$API/healthz" >/dev/null 2>&1; then break; fi
		if ! kill -0 "$(cat "$DEMO/gateway.pid")" 2>/dev/null; then
			echo "demo: the gateway exited; its log:" >&2
			cat "$DEMO/gateway.log" >&2
			exit 1
		fi
		sleep 0.2
	done
	curl -sf --cacert "$DEMO/gateway/ca.crt" "$API/healthz" >/dev/null || { echo "demo: gateway not healthy; see $DEMO/gateway.log" >&2; exit 1; }
fi
TOKEN=$(cat "$DEMO/gateway/admin.token")
api() { curl -sf --cacert "$DEMO/gateway/ca.crt" -H "Authorization: Bearer $TOKEN" "$API$1"; }

# 2. The emulated devices: bin/wasmbed-emulate boots each firmware image
# terraform writes into .demo/images/ under QEMU, or with EMULATOR=renode in
# Renode where it has the board (the way a factory flashes a
# device, then it boots and enrolls), with the modem bridge their link UARTs
# talk to in the same process.
if ! { [[ -f $DEMO/emulate.pid ]] && kill -0 "$(cat "$DEMO/emulate.pid")" 2>/dev/null; }; then
	PATH="$ROOT/bin:$PATH" bin/wasmbed-emulate -engine "$EMULATOR" -watch "$DEMO/images" -logs "$DEMO/devices" -allow "$DEVICE_ADDR" >"$DEMO/emulate.log" 2>&1 &
	echo $! >"$DEMO/emulate.pid"
fi

# 3. terraform apply, the provider from bin/ (dev_overrides: nothing to download).
cat >"$DEMO/cli.tfrc" <<RC
provider_installation {
  dev_overrides {
    "wasmbed/wasmbed" = "$ROOT/bin"
  }
  direct {}
}
RC
export TF_CLI_CONFIG_FILE=$DEMO/cli.tfrc TF_IN_AUTOMATION=1
say "2/4 $(basename "$TF") apply examples/quickstart (3 devices, their tokens and bundles, the sensor app); the devices boot under $EMULATOR as their images appear"
(cd "$QS" && "$TF" apply -auto-approve -input=false -no-color 2>&1 | grep -v -E '^\s*$|dev_overrides|Provider development overrides|The following provider|applying changes may|releases\.|- wasmbed/wasmbed in|^│|^╵|^╷|Warning:' ) || {
	echo "demo: apply failed; gateway log: $DEMO/gateway.log, devices: $DEMO/devices/*.console.log" >&2
	exit 1
}

# 4. Wait for published values from all three, then the table.
say "3/4 Waiting for values from every device"
for i in $(seq 60); do
	n=$(api "/v1/applications/sensor/output?limit=100" | jq '[.output[] | select(.key != null) | .device] | unique | length')
	[[ $n -ge 3 ]] && break
	printf '.'
	sleep 1
done
echo
say "4/4 The fleet"
{
	printf 'DEVICE\tBOARD\tPHASE\tAPP\tSTATE\tVERSION\tLATEST VALUE\n'
	status=$(api /v1/applications/sensor/status)
	output=$(api "/v1/applications/sensor/output?limit=200")
	api /v1/devices | jq -r '.devices[] | [.name, .board, .status.phase] | @tsv' | while IFS=$'\t' read -r name board phase; do
		state=$(jq -r --arg d "$name" '.devices[] | select(.device == $d) | "\(.state)\t\(.observed_version // "-")"' <<<"$status")
		value=$(jq -r --arg d "$name" '[.output[] | select(.device == $d and .key != null)] | last | if . then "\(.key)=\(.value) at \(.time[11:19])" else "-" end' <<<"$output")
		printf '%s\t%s\t%s\tsensor\t%s\t%s\n' "$name" "$board" "$phase" "${state:-pending	-}" "$value"
	done
} | column -t -s $'\t'

cat <<MSG

Dashboard: $API/ui/ (log in with the token in .demo/gateway/admin.token, or reader.token to look
  only; the certificate is from the fleet's CA, .demo/gateway/ca.crt: accept it or import the CA).
The gateway serves its API at $API (token: .demo/gateway/admin.token, CA: .demo/gateway/ca.crt):
  curl --cacert .demo/gateway/ca.crt -H "Authorization: Bearer \$(cat .demo/gateway/admin.token)" $API/v1/applications/sensor/status
Logs: .demo/gateway.log, .demo/emulate.log (the emulators and the bridge), the devices' consoles .demo/devices/<name>.console.log. Metrics: $API/metrics. API description: docs/openapi.json.
Terraform: cd examples/quickstart && TF_CLI_CONFIG_FILE=$DEMO/cli.tfrc $(basename "$TF") plan
  (try -var sensor_version=1.1.0 with apply to roll out a new version, then destroy).
Stop: make demo-down
MSG
