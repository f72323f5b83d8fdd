#!/usr/bin/env bash
# Firmware figures for `make bench`: footprint and speed of the Rust firmware
# (firmware/, issue #4). Builds what it needs through scripts/firmware.sh, measures,
# and prints one line per figure on stdout:
#
#   RESULT<TAB>key<TAB>value<TAB>unit<TAB>note
#
# (progress on stderr). Exits non-zero, after the figures it did measure, if any
# measurement fails: no figure is ever made up.
#
# Footprint, per board: the shipped image's flash (text + data, the config area's first
# 4 KiB included), and the most RAM the firmware itself holds: its statics outside its heap
# and the apps' pools, plus the peaks of its heap and stack while it enrolls and runs apps
# (firmware/e2e TestFirmwareRAM; the console's `peak:` line).
#
# Speed, under QEMU with `-icount shift=0`: QEMU then advances its virtual clock by
# exactly 1 ns per guest instruction, and the firmware's SysTick (core clock, 168 MHz
# on stm32f4-discovery) counts virtual time, so cycles * 1e9 / 168e6 is the number of
# instructions executed. A "cycle" below is one such instruction (a core that runs one
# instruction per cycle); QEMU models no caches, wait states or pipeline, and not the
# DWT cycle counter (the bench image checks: it reads 0). The bench image calibrates
# the conversion against a loop of known length first.
#
#   firmware_update_resets_<board>, firmware_heap_free_after_100_updates_<board>,
#   firmware_max_module_bytes_<board> firmware/e2e TestUpdateLoop and TestFirmwareMaxModule
#                                     under QEMU (issue #11)
#   firmware_tls_handshake_cycles     a server-authenticated TLS 1.3 handshake (P-256
#                                     ECDHE, the gateway's chain of 2 and its
#                                     CertificateVerify checked) with the real gateway,
#                                     waits for the link left out (firmware/e2e
#                                     TestFirmwareBench, diag `tls-bench`); the median
#                                     of FW_BENCH_HANDSHAKES (5) handshakes
#   firmware_wasm_instantiate_cycles  examples/apps/sensor.wat from its bytes to running:
#                                     install (validate, side table), instantiate,
#                                     init (firmware/device/src/bench.rs)
#   firmware_interp_slowdown          a CRC-32 kernel (firmware/device/bench/kernel.wat)
#                                     run by the device's runtime (the in-place
#                                     interpreter, fuel metered) over the same compiled
#                                     into the firmware
#   firmware_fuel_instructions        the most instructions one unit of fuel cost, over
#                                     integer, double, call and bulk-memory loops
#                                     (bench/kernel.wat spin_*): the basis of the fuel caps
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=$ROOT/bin/firmware
HANDSHAKES=${FW_BENCH_HANDSHAKES:-5}
[[ "$HANDSHAKES" =~ ^[1-9][0-9]*$ ]] || { echo "bench/firmware.sh: FW_BENCH_HANDSHAKES must be a positive number" >&2; exit 2; }
export CARGO_BUILD_JOBS=${CARGO_BUILD_JOBS:-1}

say() { echo "bench/firmware.sh: $*" >&2; }
fail() {
	say "FAILED: $*"
	exit 1
}
result() { printf 'RESULT\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4"; }

for t in qemu-system-arm go; do
	command -v "$t" >/dev/null || fail "$t not found (make setup)"
done
SIZE=$(command -v llvm-size-22 || command -v size || true)
[ -n "$SIZE" ] || fail "need llvm-size-22 or binutils' size"

say "building the images (scripts/firmware.sh)"
"$ROOT/scripts/firmware.sh" build stm32f4-discovery nano33ble mps2-an386 riscv32-virt uno-r4 >&2 || fail "firmware build"
"$ROOT/scripts/firmware.sh" build-bench stm32f4-discovery >&2 || fail "bench image build"
"$ROOT/scripts/firmware.sh" build-test stm32f4-discovery >&2 || fail "test image build (diag tls-bench)"

# --- footprint: flash, and the RAM the firmware holds at most ----------------------------

say "RAM: enrollment and three corpus apps per board, the blinker twice on uno-r4 (firmware/e2e TestFirmwareRAM; nano33ble, riscv32-virt and uno-r4 in Renode)"
LOGRAM=$(mktemp)
if ! (cd "$ROOT" && PATH="$ROOT/bin:$PATH" WASMBED_QEMU_E2E=1 WASMBED_FIRMWARE_DIR="$OUT" \
	go test -tags qemu,firmwarebench -count=1 -timeout 15m -v -run '^TestFirmwareRAM$' ./firmware/e2e) >"$LOGRAM" 2>&1; then
	tail -20 "$LOGRAM" >&2
	rm -f "$LOGRAM"
	fail "go test -run TestFirmwareRAM ./firmware/e2e"
fi
grep '^bench: firmware_ram_peaks' "$LOGRAM" >&2 || true
"$ROOT/scripts/firmware.sh" size stm32f4-discovery mps2-an386 nano33ble riscv32-virt uno-r4 >&2 || fail "scripts/firmware.sh size"
for board in stm32f4-discovery nano33ble riscv32-virt uno-r4 mps2-an386; do
	read -r heap_peak stack_peak < <(sed -nE "s/^bench: firmware_ram_peaks $board ([0-9]+) ([0-9]+)$/\1 \2/p" "$LOGRAM") || true
	[ -n "${stack_peak:-}" ] || fail "no RAM peaks for $board"
	read -r flash static heap code pages total < <(jq -r --arg b "$board" '.[$b] | "\(.flash) \(.static_ram) \(.heap) \(.code_pool) \(.page_pool) \(.ram)"' "$OUT/footprint.json")
	[[ "${total:-}" =~ ^[0-9]+$ ]] || fail "no footprint for $board"
	key=firmware_${board//-/_}
	own=$((static - heap - code - pages))
	result "${key}_flash_bytes" "$flash" bytes "$board image: text + data, the config area's first 4 KiB included (target <= 262144)"
	result "${key}_ram_bytes" $((own + heap_peak + stack_peak)) bytes \
		"$board: the most RAM the firmware itself held: its statics outside its heap and the apps' pools ($own) + peak heap ($heap_peak of a $heap reserve) + peak stack ($stack_peak), measured while the shipped image enrolled (key generation, two TLS 1.3 handshakes, the second mutual) and ran three corpus apps, uno-r4 the blinker twice (firmware/e2e TestFirmwareRAM); the image reserves $static of static RAM (heap, code pool $code, page pool $pages in it) + the stack, of the board's $total (target <= 98304; uno-r4 <= 32768)"
done
rm -f "$LOGRAM"

# --- the bench image: instantiation and the interpreter ---------------------------------

LOG=$(mktemp)
trap 'rm -f "$LOG" "$LOG.go" "$LOG.renode" "$LOG.apps"' EXIT
say "bench image under QEMU (-icount shift=0)"
qemu-system-arm -M netduinoplus2 -nographic -monitor none -no-reboot -icount shift=0 \
	-serial "file:$LOG" -serial null -kernel "$OUT/stm32f4-discovery-bench.elf" >&2 &
qpid=$!
for ((i = 0; i < 600; i++)); do
	grep -qaE 'bench: (done|FAIL)|PANIC|FAULT' "$LOG" 2>/dev/null && break
	kill -0 "$qpid" 2>/dev/null || break
	sleep 0.1
done
kill "$qpid" 2>/dev/null || true
wait "$qpid" 2>/dev/null || true
sed -i 's/\r$//' "$LOG"
grep -a '^bench: ' "$LOG" >&2 || true
grep -qa '^bench: done' "$LOG" && ! grep -qaE 'bench: FAIL|PANIC|FAULT' "$LOG" || fail "bench image did not finish (console: $(tail -5 "$LOG" | tr '\n' '|'))"

hz=$(sed -nE 's/^clock: ([0-9]+) MHz core.*/\1/p' "$LOG")
[ -n "$hz" ] || fail "no core clock line"
hz=$((hz * 1000000))
instr() { echo $(($1 * 1000000000 / hz)); } # core cycles -> instructions (icount)

read -r cal_insns cal_cycles dwt < <(sed -nE 's/^bench: calibration ([0-9]+) instructions ([0-9]+) cycles dwt_cyccnt ([0-9]+).*/\1 \2 \3/p' "$LOG") || true
[ -n "${cal_cycles:-}" ] || fail "no calibration line"
got=$(instr "$cal_cycles")
# The loop's instructions, plus the few of the clock reads around it: within 0.1 %.
if ((got < cal_insns || got > cal_insns + cal_insns / 1000)); then
	fail "calibration: a loop of $cal_insns instructions measured $got (is -icount in effect?)"
fi
say "calibration: $cal_insns instructions measured as $got; DWT CYCCNT advanced $dwt (0: not modelled)"

inst=$(sed -nE 's/^bench: wasm_instantiate ([0-9]+) cycles \(([0-9]+) bytes, running\).*/\1 \2/p' "$LOG")
[ -n "$inst" ] || fail "no wasm_instantiate line (or the sensor app is not running)"
read -r inst_cycles inst_bytes <<<"$inst"
result firmware_wasm_instantiate_cycles "$(instr "$inst_cycles")" cycles \
	"stm32f4-discovery under QEMU -icount shift=0, 1 cycle = 1 instruction executed: examples/apps/sensor.wat ($inst_bytes B) install (validate, side table) + instantiate + init"

read -r crc wasm_cycles native_cycles < <(sed -nE 's/^bench: kernel crc32 (0x[0-9a-f]+) wasm ([0-9]+) cycles native ([0-9]+) cycles.*/\1 \2 \3/p' "$LOG") || true
[ -n "${native_cycles:-}" ] && ((native_cycles > 0)) || fail "no kernel line"
ratio=$(awk -v w="$wasm_cycles" -v n="$native_cycles" 'BEGIN { printf "%.1f", w / n }')
result firmware_interp_slowdown "$ratio" x \
	"CRC-32 of 4 KiB (firmware/device/bench/kernel.wat, crc $crc) in the in-place interpreter (wasefire-interpreter 0.5.0, vendored, opt-level 3) with fuel metering: $(instr "$wasm_cycles") instructions, over the same in Rust compiled into the firmware (opt-level z): $(instr "$native_cycles"); QEMU -icount shift=0 (wasmi 0.31 before: 14731642 instructions, 44.9x)"

worst=0 kinds=""
while read -r f c n; do
	per=$(($(instr "$c") / n))
	kinds="$kinds ${f#spin_} $per,"
	((per > worst)) && worst=$per
done < <(sed -nE 's/^bench: fuel_cost ([a-z_0-9]+) ([0-9]+) cycles per ([0-9]+) fuel.*/\1 \2 \3/p' "$LOG")
[ -n "$kinds" ] || fail "no fuel_cost lines"
result firmware_fuel_instructions "$worst" instructions \
	"the most instructions one unit of fuel cost (bench/kernel.wat spin_* run until their fuel is used up, QEMU -icount shift=0):${kinds%,}; the firmware's cap assumes at most 500 cycles per unit (firmware/device/src/apps.rs CYCLES_PER_FUEL)"

# --- the TLS handshake with the real gateway ----------------------------------------------

say "TLS handshakes with the real gateway under QEMU (-icount shift=0): $HANDSHAKES"
if ! (cd "$ROOT" && WASMBED_QEMU_E2E=1 WASMBED_FIRMWARE_BENCH="$HANDSHAKES" WASMBED_FIRMWARE_DIR="$OUT" \
	go test -tags qemu,firmwarebench -count=1 -timeout 10m -v -run '^TestFirmwareBench$' ./firmware/e2e) >"$LOG.go" 2>&1; then
	tail -20 "$LOG.go" >&2
	fail "go test -run TestFirmwareBench ./firmware/e2e"
fi
mapfile -t hs < <(sed -nE 's/^bench: tls_handshake_instructions ([0-9]+) .*/\1/p' "$LOG.go" | sort -n)
grep '^bench: tls_handshake' "$LOG.go" >&2 || true
((${#hs[@]} == HANDSHAKES)) || fail "expected $HANDSHAKES handshake figures, got ${#hs[@]}"
median=${hs[$((HANDSHAKES / 2))]}
spread=$(awk -v lo="${hs[0]}" -v hi="${hs[$((HANDSHAKES - 1))]}" -v m="$median" 'BEGIN { printf "%.2f", (hi - lo) * 100 / m }')
result firmware_tls_handshake_cycles "$median" cycles \
	"server-auth TLS 1.3 handshake (P-256 ECDHE; the gateway's 2-certificate chain and CertificateVerify checked) with the real gateway, stm32f4-discovery under QEMU -icount shift=0, 1 cycle = 1 instruction executed, waits for the link excluded; median of $HANDSHAKES, spread $spread % (random keys; ECDSA verification inverts in variable time)"
# --- Renode: boot to online, per board Renode runs -----------------------------------------

say "Renode: emulator start to device online at the real gateway, 3 boots per board"
if ! (cd "$ROOT" && PATH="$ROOT/bin:$PATH" WASMBED_QEMU_E2E=1 WASMBED_FIRMWARE_DIR="$OUT" \
	go test -tags qemu,firmwarebench -count=1 -timeout 10m -v -run '^TestRenodeBootToOnline$' ./firmware/e2e) >"$LOG.renode" 2>&1; then
	tail -20 "$LOG.renode" >&2
	fail "go test -run TestRenodeBootToOnline ./firmware/e2e"
fi
grep '^bench: renode_' "$LOG.renode" >&2 || true
for board in stm32f4-discovery nano33ble riscv32-virt uno-r4; do
	read -r median lo hi < <(sed -nE "s/^bench: renode_boot_to_online_seconds $board ([0-9.]+) ([0-9.]+) ([0-9.]+)$/\1 \2 \3/p" "$LOG.renode") || true
	[ -n "${hi:-}" ] || fail "no Renode boot figure for $board"
	result "renode_boot_to_online_seconds_${board//-/_}" "$median" s \
		"$board in Renode 1.15.3 (renode/$board.repl): from starting the emulator with a freshly provisioned image to the device online at the real gateway (Renode's start, boot, key generation, TLS 1.3 enrollment, the mutual-TLS session); median of 3, $lo to $hi"
done

# --- apps under load (issue #11): 100 updates, the largest module ---------------------------

say "100 updates per QEMU board, and the largest corpus module that runs (firmware/e2e)"
if ! (cd "$ROOT" && WASMBED_QEMU_E2E=1 WASMBED_FIRMWARE_DIR="$OUT" \
	go test -tags qemu,firmwarebench -count=1 -timeout 20m -v -run '^(TestUpdateLoop|TestFirmwareMaxModule)$' ./firmware/e2e) >"$LOG.apps" 2>&1; then
	tail -30 "$LOG.apps" >&2
	fail "go test -run 'TestUpdateLoop|TestFirmwareMaxModule' ./firmware/e2e"
fi
grep '^bench: firmware_' "$LOG.apps" >&2 || true
for board in stm32f4-discovery mps2-an386; do
	key=${board//-/_}
	n=$(sed -nE "s/^bench: firmware_update_resets $board ([0-9]+)$/\1/p" "$LOG.apps")
	[ -n "$n" ] || fail "no update figure for $board"
	result "firmware_update_resets_$key" "$n" resets \
		"$board under QEMU: unexpected resets over 100 updates alternating two versions of a 3.4 KB corpus app through the gateway API (firmware/e2e TestUpdateLoop; target 0)"
	read -r updates first last < <(sed -nE "s/^bench: firmware_heap_free_after_updates $board ([0-9]+) ([0-9]+) ([0-9]+)$/\1 \2 \3/p" "$LOG.apps") || true
	[ -n "${last:-}" ] || fail "no heap figure for $board"
	result "firmware_heap_free_after_100_updates_$key" "$last" bytes \
		"$board: the firmware heap free after the last of $updates updates; after the first: $first (target: equal)"
	m=$(sed -nE "s/^bench: firmware_max_module_bytes $board ([0-9]+) .*/\1/p" "$LOG.apps")
	[ -n "$m" ] || fail "no largest-module figure for $board"
	result "firmware_max_module_bytes_$key" "$m" bytes \
		"$board under QEMU: the largest corpus module (firmware/corpus, bisected) that installs and runs; the in-place interpreter's budget is 10 KiB + 1.875 B of RAM per module byte (firmware/README.md, Memory; target: 48 KiB of code on stm32f4-discovery)"
done
say "done"
