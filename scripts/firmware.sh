#!/usr/bin/env bash
# Build, test and measure the Rust firmware (firmware/).
#
#   scripts/firmware.sh build [BOARD...]   ELFs into bin/firmware/<board>.elf
#   scripts/firmware.sh test               host tests, QEMU boot and self-test, then the
#                                          QEMU end-to-end tests (bridge, TLS, real gateway)
#   scripts/firmware.sh test-host          cargo test of wasmbed-proto, -runtime, -net, -kept;
#                                          go test of the bridge and provisioning packages
#   scripts/firmware.sh test-qemu [BOARD...]
#   scripts/firmware.sh test-e2e [REGEXP]  go test ./firmware/e2e under QEMU (-run REGEXP)
#   scripts/firmware.sh size [BOARD...]    flash and static RAM per board (footprint.json)
#   scripts/firmware.sh build-test [BOARD...]   bin/firmware/<board>-selftest.elf (the
#                                          test image: self-test, diag modes, faults)
#   scripts/firmware.sh build-bench [BOARD...]  bin/firmware/<board>-bench.elf (feature
#                                          `bench`: measurements at boot, bench/firmware.sh)
#
# Uses Debian's Rust (rustc-web/cargo-web 1.96, rust-web-src, lld-22: `make setup`),
# which builds core and alloc from source for thumbv7em-none-eabihf
# (firmware/.cargo/config.toml). Host tests run from the repository root so that
# config (cross target, build-std) does not apply to them.
#
# WASMBED_FIRMWARE_OUT names another directory than bin/firmware for the images and
# logs (a second worktree whose bin/ is shared with the first).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
FW=$ROOT/firmware
OUT=${WASMBED_FIRMWARE_OUT:-$ROOT/bin/firmware}
CARGO=${CARGO:-/usr/bin/cargo}
JOBS=${CARGO_BUILD_JOBS:-2}
export RUSTC=${RUSTC_FW:-/usr/bin/rustc} RUSTDOC=/usr/bin/rustdoc RUSTC_BOOTSTRAP=1
# A firmware build must not pick up flags meant for host builds.
unset RUSTFLAGS CARGO_BUILD_TARGET

# The firmware's boards: those of board/boards.toml with a memory map (make generate).
mapfile -t BOARDS_ALL < <(cd "$FW/device/boards" && ls)
BOARDS_QEMU=(stm32f4-discovery mps2-an386)
# The test images built by default: the QEMU boards' (test-qemu, e2e) and riscv32-virt's
# and uno-r4's, whose self-tests run in Renode (renode/firmware-boot.robot).
BOARDS_TEST=("${BOARDS_QEMU[@]}" riscv32-virt uno-r4)

# The Rust target of a board (firmware/.cargo/config.toml's default is the Cortex-M4's).
target() {
	case $1 in
	riscv32-virt) echo riscv32imac-unknown-none-elf ;;
	*) echo thumbv7em-none-eabihf ;;
	esac
}

# Extra cargo arguments per board. RISC-V: its own target; the interpreter at opt-level 2
# instead of 3 (RV32IMAC code is larger than Thumb-2: at 3 the image is 5.5 KB larger and
# within 300 B of the 256 KiB flash target; firmware/README.md, Footprint).
cargo_args() {
	case $1 in
	riscv32-virt) echo "--target riscv32imac-unknown-none-elf --config profile.release.package.wasefire-interpreter.opt-level=2" ;;
	esac
}

machine() {
	case $1 in
	stm32f4-discovery) echo netduinoplus2 ;;
	mps2-an386) echo mps2-an386 ;;
	*) return 1 ;;
	esac
}

need() {
	for t in "$@"; do
		command -v "$t" >/dev/null || { echo "firmware.sh: $t not found (run make setup)" >&2; exit 1; }
	done
}

# build_one BOARD FEATURES NAME: one ELF into bin/firmware/NAME.elf
build_one() {
	local board=$1 features=$2 name=$3
	need "$CARGO" "$RUSTC" rust-lld
	mkdir -p "$OUT"
	echo "firmware: building $name"
	# shellcheck disable=SC2046 # cargo_args: words
	(cd "$FW" && "$CARGO" build -j"$JOBS" --release -q -p wasmbed-firmware \
		--no-default-features --features "$board$features" $(cargo_args "$board"))
	cp "$FW/target/$(target "$board")/release/wasmbed-firmware" "$OUT/$name.elf"
}

cmd_build() {
	local boards=("$@")
	[ ${#boards[@]} -gt 0 ] || boards=("${BOARDS_ALL[@]}")
	for b in "${boards[@]}"; do build_one "$b" "" "$b"; done
}

# build-test: the test image (self-test, diag modes, fault injection) per board.
cmd_build_test() {
	local boards=("$@")
	[ ${#boards[@]} -gt 0 ] || boards=("${BOARDS_TEST[@]}")
	for b in "${boards[@]}"; do build_one "$b" ",selftest" "$b-selftest"; done
}

cmd_build_bench() {
	local boards=("$@")
	[ ${#boards[@]} -gt 0 ] || boards=(stm32f4-discovery)
	for b in "${boards[@]}"; do build_one "$b" ",bench" "$b-bench"; done
}

cmd_test_host() {
	need "$CARGO" go
	echo "firmware: host tests (wasmbed-proto, wasmbed-runtime, wasmbed-net, wasmbed-kept)"
	(cd "$ROOT" && "$CARGO" test -j"$JOBS" -q --manifest-path firmware/Cargo.toml -p wasmbed-proto -p wasmbed-runtime -p wasmbed-net -p wasmbed-kept)
	echo "firmware: go test (bridge, provisioning)"
	(cd "$ROOT" && go test -count=1 ./firmware/bridge ./firmware/provision ./firmware/cmd/...)
}

# test-e2e: the firmware images under QEMU (riscv32-virt's under Renode) against the host side (firmware/e2e): the
# link through the bridge to an echo server, TLS with the real gateway, then the fleet
# (enrollment, mutual TLS, deploy, output, a trapping app, a foreign certificate) and
# the device's life (gateway restart, renewal, reset); the corpus sweep also on the
# boards only Renode runs. Logs in bin/firmware/logs/e2e.
cmd_test_e2e() {
	need go qemu-system-arm
	# riscv32-virt's tests (TLS, corpus) run under Renode (bin/renode, make setup).
	export PATH=$ROOT/bin:$PATH
	need renode
	local b
	for b in "${BOARDS_QEMU[@]}" riscv32-virt; do
		# The shipped image, and the test image (self-test, diag modes, faults).
		[[ " $FRESH " == *" $b "* ]] || { build_one "$b" "" "$b"; build_one "$b" ",selftest" "$b-selftest"; }
	done
	# The boards only Renode runs: their shipped image, for the corpus sweep (TestCorpus).
	for b in "${BOARDS_ALL[@]}"; do
		[[ " ${BOARDS_QEMU[*]} " == *" $b "* ]] || build_one "$b" "" "$b"
	done
	[ -d "$ROOT/bin/apps" ] || echo "firmware: no bin/apps (make apps): the test compiles examples/apps with wat2wasm"
	mkdir -p "$OUT/logs/e2e"
	echo "firmware: QEMU end-to-end tests (go test ./firmware/e2e)"
	local t0=$SECONDS
	if (cd "$ROOT" && PATH="$ROOT/bin:$PATH" WASMBED_QEMU_E2E=1 WASMBED_FIRMWARE_DIR="$OUT" WASMBED_E2E_LOGS="$OUT/logs/e2e" \
		go test -tags qemu -count=1 -timeout 25m -v ${1:+-run "$1"} ./firmware/e2e | grep -E '^(--- |ok|FAIL|PASS|panic)|_test.go:'); then
		echo "ok   qemu end-to-end ($((SECONDS - t0)) s)"
		PASSED=$((PASSED + 1))
	else
		echo "FAIL qemu end-to-end (logs: $OUT/logs/e2e)"
		FAILED=$((FAILED + 1))
	fi
}

PASSED=0
FAILED=0
FRESH="" # boards whose shipped image this run built
check() { # check NAME LOG PATTERN...
	local name=$1 log=$2
	shift 2
	local ok=1 p
	for p in "$@"; do
		if ! grep -qE -- "$p" "$log"; then
			echo "  missing: $p"
			ok=0
		fi
	done
	if grep -qE "PANIC|FAULT" "$log"; then
		echo "  firmware crashed:"
		grep -E "PANIC|FAULT" "$log" | sed 's/^/    /'
		ok=0
	fi
	if [ $ok = 1 ]; then
		echo "ok   $name"
		PASSED=$((PASSED + 1))
	else
		echo "FAIL $name (console log: $log)"
		FAILED=$((FAILED + 1))
	fi
}

# run_qemu BOARD ELF LOG UNTIL SECONDS: boots the ELF, console to LOG, until a line
# matches UNTIL (or the time is up).
run_qemu() {
	local board=$1 elf=$2 log=$3 until=$4 secs=$5 pid i
	need qemu-system-arm
	: >"$log"
	qemu-system-arm -M "$(machine "$board")" -nographic -monitor none -no-reboot \
		-serial "file:$log" -serial null -kernel "$elf" 2>"$log.stderr" &
	pid=$!
	for ((i = 0; i < secs * 10; i++)); do
		grep -qE -- "$until|PANIC|FAULT" "$log" 2>/dev/null && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	sed -i 's/\r$//' "$log" # the console ends lines with CRLF
}

cmd_test_qemu() {
	local boards=("$@") b log t0
	[ ${#boards[@]} -gt 0 ] || boards=("${BOARDS_QEMU[@]}")
	mkdir -p "$OUT/logs"
	for b in "${boards[@]}"; do
		# Boot: the firmware image as shipped prints its banner (not provisioned, it
		# idles: the end-to-end tests provision copies of it).
		build_one "$b" "" "$b"
		FRESH+=" $b"
		log=$OUT/logs/$b-boot.log
		t0=$SECONDS
		run_qemu "$b" "$OUT/$b.elf" "$log" "boot: ok" 20
		check "qemu boot $b ($((SECONDS - t0)) s)" "$log" "wasmbed-firmware [0-9.]+ board=$b" "clock: " "boot: ok"

		# Self-test: the example apps side by side; the misbehaving ones stopped.
		build_one "$b" ",selftest" "$b-selftest"
		log=$OUT/logs/$b-selftest.log
		t0=$SECONDS
		run_qemu "$b" "$OUT/$b-selftest.elf" "$log" "selftest: done" 40
		local want=(
			"selftest: app sensor installed"
			"selftest: out sensor log 3 sensor started"
			"selftest: app spin stopped: fuel_exhausted"
			"selftest: app greedy stopped: out_of_memory"
			"selftest: out sensor value temperature=21$"
			"selftest: out sensor value temperature=40$"
			"selftest: final sensor running"
			"selftest: final blinker running"
			"selftest: done"
		)
		if [ "$b" = mps2-an386 ]; then
			want+=("selftest: out trap log 3 about to trap" "selftest: app trap stopped: trapped \(wasm trap: unreachable executed in tick\)")
		fi
		check "qemu selftest $b ($((SECONDS - t0)) s)" "$log" "${want[@]}"
	done
}

cmd_test() {
	local t0=$SECONDS
	cmd_test_host
	cmd_test_qemu "$@"
	# The shipped images (test-qemu built them) against the bridge and the gateway.
	cmd_test_e2e
	echo "firmware: tests took $((SECONDS - t0)) s"
	echo "firmware: $PASSED passed, $FAILED failed"
	[ "$FAILED" = 0 ]
}

# size: flash = text + data (the image), static RAM = data + bss (the heap and the apps'
# pools included: footprint.json has their sizes); the stack is the rest of RAM. For each board: the shipped image and, where it was
# built (QEMU boards, by `test-qemu`), the self-test image, which also holds the example
# apps.
# symbol_size ELF NAME [optional]: the size of a static, from the symbol table (0 when
# optional and absent).
symbol_size() {
	local n nm
	nm=$(command -v llvm-nm-22 || command -v nm || true)
	[ -n "$nm" ] || { echo "firmware.sh: need llvm-nm-22 or binutils' nm" >&2; exit 1; }
	n=$("$nm" -S -C "$1" | awk -v s="$2" '$4 == s { print $2; exit }')
	[ -z "$n" ] || n=$((16#$n))
	[ -n "$n" ] || [ "${3:-}" != optional ] || n=0
	[ -n "$n" ] || { echo "firmware.sh: no symbol $2 in $1" >&2; exit 1; }
	echo "$n"
}

cmd_size() {
	local boards=("$@") b f v
	[ ${#boards[@]} -gt 0 ] || boards=("${BOARDS_ALL[@]}")
	local sz
	sz=$(command -v llvm-size-22 || command -v size || true)
	[ -n "$sz" ] || { echo "firmware.sh: need llvm-size-22 or binutils' size" >&2; exit 1; }
	local json="{"
	printf '%-30s %10s %12s %10s %10s\n' image flash_bytes static_ram heap stack
	for b in "${boards[@]}"; do
		[ -f "$OUT/$b.elf" ] || build_one "$b" "" "$b"
		for v in "$b" "$b-selftest"; do
			f=$OUT/$v.elf
			[ -f "$f" ] || continue
			read -r text data bss _ < <("$sz" "$f" | tail -1)
			local ram ram_total heap code pages
			# riscv-rt's linker script has the stack as a section (.stack): not static.
			ram=$((data + bss - $("$sz" -A "$f" | awk '$1 == ".stack" || $1 == ".heap" { n += $2 } END { print n + 0 }')))
			# The board's RAM (its memory map, from board/boards.toml) and the firmware
			# heap's reserve (the apps' pools are static RAM too: firmware/README.md, Memory).
			ram_total=$(sed -nE 's/^ *RAM +\(rwx\) *: ORIGIN = 0x[0-9A-Fa-f]+, LENGTH = ([0-9]+)K$/\1/p' "$FW/device/boards/$b/memory.x")
			[ -n "$ram_total" ] || { echo "firmware.sh: no RAM region in boards/$b/memory.x" >&2; exit 1; }
			ram_total=$((ram_total * 1024))
			heap=$(symbol_size "$f" 'wasmbed_firmware::heap::MAIN_HEAP')
			code=$(symbol_size "$f" 'wasmbed_firmware::heap::CODE_POOL')
			# The page pool is a static array where the board has no region of its own
			# for it (the STM32F4's is the CCM; its PAGES is a pointer; uno-r4 has none).
			pages=$(symbol_size "$f" "wasmbed_firmware::board::${b//-/_}::PAGES" optional)
			((pages >= 65536)) || pages=0
			printf '%-30s %10d %12d %10d %10d\n' "$v" $((text + data)) $ram $heap $((ram_total - ram))
			json+="\"$v\":{\"flash\":$((text + data)),\"static_ram\":$ram,\"heap\":$heap,\"code_pool\":$code,\"page_pool\":$pages,\"stack\":$((ram_total - ram)),\"ram\":$ram_total},"
		done
	done
	json="${json%,}}"
	echo "$json" >"$OUT/footprint.json"
	echo "firmware: wrote $OUT/footprint.json (stm32f4-discovery's page pool, the 64 KiB CCM, is outside these)"
}

cmd=${1:-build}
shift || true
case $cmd in
build) cmd_build "$@" ;;
build-bench) cmd_build_bench "$@" ;;
build-test) cmd_build_test "$@" ;;
test) cmd_test "$@" ;;
test-host) cmd_test_host ;;
test-e2e)
	cmd_test_e2e "$@"
	echo "firmware: $PASSED passed, $FAILED failed"
	[ "$FAILED" = 0 ]
	;;
test-qemu)
	cmd_test_qemu "$@"
	echo "firmware: $PASSED passed, $FAILED failed"
	[ "$FAILED" = 0 ]
	;;
size) cmd_size "$@" ;;
*)
	echo "usage: $0 build|build-bench|test|test-host|test-qemu|test-e2e|size [BOARD...]" >&2
	exit 2
	;;
esac
