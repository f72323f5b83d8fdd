package board

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// firmwareConst reads `pub const NAME: T = EXPR;` from a firmware source file,
// where EXPR is a product of integers (`52 * 1024`, `168_000_000`).
func firmwareConst(t *testing.T, file, name string) uint64 {
	t.Helper()
	src, err := os.ReadFile(filepath.Join("..", "firmware", "device", "src", file))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^pub const ` + name + `: \w+ = ([0-9_ *]+);`).FindSubmatch(src)
	if m == nil {
		t.Fatalf("%s: no const %s", file, name)
	}
	v := uint64(1)
	for _, f := range strings.Split(string(m[1]), "*") {
		n, err := strconv.ParseUint(strings.ReplaceAll(strings.TrimSpace(f), "_", ""), 10, 64)
		if err != nil {
			t.Fatalf("%s: %s: %v", file, name, err)
		}
		v *= n
	}
	return v
}

// The profiles say what the firmware really has: app RAM, the largest module
// its code pool takes, the fuel a call may burn within the watchdog, and how
// many apps; computed here from the firmware's own constants as its
// apps::capacity() does.
func TestFirmwareConstants(t *testing.T) {
	base := firmwareConst(t, "apps.rs", "CODE_BASE")
	per16 := firmwareConst(t, "apps.rs", "CODE_PER_BYTE_16")
	cyclesPerFuel := firmwareConst(t, "apps.rs", "CYCLES_PER_FUEL")
	watchdog := firmwareConst(t, "main.rs", "WATCHDOG_MS")
	for name, file := range map[string]string{
		"stm32f4-discovery": "board/stm32f4_discovery.rs",
		"mps2-an386":        "board/mps2_an386.rs",
		"nano33ble":         "board/nano33ble.rs",
		"riscv32-virt":      "board/riscv32_virt.rs",
	} {
		p, ok := Lookup(name)
		if !ok {
			t.Fatalf("no profile %s", name)
		}
		appRAM := firmwareConst(t, file, "APP_RAM")
		pool := firmwareConst(t, file, "CODE_POOL")
		hz := firmwareConst(t, file, "CORE_HZ")
		apps := firmwareConst(t, file, "MAX_APPS")
		maxModule := (pool - base) * 16 / per16
		maxFuel := hz * (watchdog * 3 / 4) / 1000 / cyclesPerFuel
		if uint64(p.AppRAM) != appRAM || uint64(p.ModuleFlash) != maxModule || p.MaxFuel != maxFuel || uint64(p.MaxApps) != apps {
			t.Errorf("%s: profile AppRAM %d ModuleFlash %d MaxFuel %d MaxApps %d; firmware %d %d %d %d",
				name, p.AppRAM, p.ModuleFlash, p.MaxFuel, p.MaxApps, appRAM, maxModule, maxFuel, apps)
		}
	}
}
