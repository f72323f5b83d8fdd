#!/usr/bin/env bash
# make test-renode: the firmware in Renode, Robot Framework suites under renode/ run by
# renode-test (make setup links it into bin/, or the machine's is on PATH):
#
#   renode/firmware-boot.robot   the images as built boot on the boards' Renode platforms
#   renode/gateway.robot         a provisioned device against the real gateway: enrollment
#                                over TLS 1.3, mutual-TLS session, the sensor app's values
#
#   scripts/test-renode.sh [SUITE.robot...]    default: every suite above
#
# Needs bin/firmware/<board>.elf, bin/apps/sensor.wasm and the commands in bin/ (the make
# target builds them). Fails, never skips, when Renode is missing. Results (Robot's
# log.html, the gateway's and the bridge's logs): bin/renode-results/.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=$ROOT/bin/renode-results
export PATH=$ROOT/bin:$PATH

die() { echo "test-renode: $*" >&2; exit 1; }

command -v renode-test >/dev/null ||
	die "renode-test is not on PATH: run make setup (it builds Renode from ../shared/renode when the machine has none)"
for f in bin/firmware/stm32f4-discovery.elf bin/firmware/nano33ble.elf bin/firmware/riscv32-virt.elf bin/firmware/riscv32-virt-selftest.elf bin/firmware/uno-r4.elf bin/firmware/uno-r4-selftest.elf bin/apps/sensor.wasm bin/apps/blinker.wasm bin/wasmbed-gateway bin/wasmbed-provision bin/wasmbed-uart-bridge; do
	[[ -e $ROOT/$f ]] || die "$f is missing: run make build firmware apps (make test-renode does)"
done

suites=("$@")
[[ ${#suites[@]} -gt 0 ]] || suites=("$ROOT/renode/firmware-boot.robot" "$ROOT/renode/gateway.robot")
rm -rf "$OUT"
mkdir -p "$OUT"
t0=$SECONDS
# -P 0: the Robot server's port is picked by the system (no clash with another run).
# A failed test leaves Renode's log in $OUT/logs; no snapshot (Renode cannot save a
# machine with a server socket terminal: the attempt only adds an error).
if renode-test -P 0 -r "$OUT" --variable "RESULTS:$OUT" --variable CREATE_SNAPSHOT_ON_FAIL:False "${suites[@]}"; then
	echo "test-renode: passed in $((SECONDS - t0)) s (results: $OUT)"
else
	die "FAILED after $((SECONDS - t0)) s (results in $OUT: log.html, Renode's logs/, the consoles and the gateway's and bridge's logs in wasmbed/)"
fi
