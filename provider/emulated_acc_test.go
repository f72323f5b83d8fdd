package provider

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/wasmbed/wasmbed/firmware/bridge"
	"github.com/wasmbed/wasmbed/firmware/emulator"
	"github.com/wasmbed/wasmbed/firmware/provision"
	"github.com/wasmbed/wasmbed/fleet"
	"github.com/wasmbed/wasmbed/module/wasmtest"
)

// The firmware under QEMU, driven by Terraform end to end: apply registers two
// devices and writes their provisioned firmware images; the images boot under
// QEMU (stm32f4-discovery as netduinoplus2, and mps2-an386), enroll with their
// one-time tokens and hold mutual-TLS sessions; an application rolls out to
// both and their published values reach the API; a module too big for one
// board is refused at plan time naming it; a new version rolls out; removing
// the application removes it from the devices.
//
// Needs bin/firmware/<board>.elf (make firmware) and qemu-system-arm (make
// setup): without them the test fails, it never skips.
func TestAccQEMUFirmware(t *testing.T) {
	testAccEmulatedFleet(t, emulator.QEMU, []emulatedDevice{{"stm32", "qemu-stm32", "stm32f4-discovery"}, {"mps2", "qemu-mps2", "mps2-an386"}})
}

// The same under Renode, on the boards' stock Renode platforms
// (renode/<board>.repl): the STM32F4 Discovery, the Arduino Nano 33 BLE
// (nRF52840), which QEMU does not have, and riscv32-virt (RV32IMAC, Renode's
// riscv_virt with a second UART). Needs bin/renode (make setup builds
// it) and the images: fails without them, never skips.
func TestAccRenodeFirmware(t *testing.T) {
	testAccEmulatedFleet(t, emulator.Renode, []emulatedDevice{{"stm32", "renode-stm32", "stm32f4-discovery"}, {"nano", "renode-nano", "nano33ble"}, {"rv", "renode-rv", "riscv32-virt"}})
}

// emulatedDevice is a device of testAccEmulatedFleet: its resource name,
// device name and board.
type emulatedDevice struct{ res, name, board string }

// testAccEmulatedFleet runs the scenario of TestAccQEMUFirmware with devs
// booted by engine.
func testAccEmulatedFleet(t *testing.T, engine emulator.Engine, devs []emulatedDevice) {
	g := startTestGateway(t)
	out := t.TempDir()
	images := map[string]string{} // board -> firmware image
	for _, d := range devs {
		p, err := filepath.Abs(filepath.Join("..", "bin", "firmware", d.board+".elf"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("firmware image for %s: %v (make firmware)", d.board, err)
		}
		images[d.board] = p
	}
	if engine == emulator.Renode {
		// The emulator finds renode on PATH; make setup links it into bin/.
		bin, err := filepath.Abs(filepath.Join("..", "bin"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(filepath.Join(bin, "renode")); err != nil {
			t.Fatalf("renode: %v (make setup builds it)", err)
		}
		t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	}
	sensor := writeModule(t, "sensor", wasmtest.App(t, "sensor"))
	// 8 pages (512 KiB) of linear memory: room on the MPS2, not on the STM32F4.
	huge := writeModule(t, "huge", wasmtest.WAT(t, `(module (memory (export "memory") 8) (func (export "tick")))`))

	// One block per device (the test framework's checks do not address
	// for_each instances).
	devices := g.providerBlock()
	var bundles []string
	for _, d := range devs {
		bundles = append(bundles, "wasmbed_provisioning_bundle."+d.res)
		devices += fmt.Sprintf(`
resource "wasmbed_device" %[1]q {
  name   = %[2]q
  board  = %[3]q
  labels = { role = "sensor" }
}

ephemeral "wasmbed_enrollment_token" %[1]q {
  device = wasmbed_device.%[1]s.id
}

resource "wasmbed_provisioning_bundle" %[1]q {
  device          = wasmbed_device.%[1]s.name
  gateways        = [%[4]q]
  server_name     = "localhost"
  path            = "%[5]s/%[2]s.json"
  token_wo        = ephemeral.wasmbed_enrollment_token.%[1]s.token
  firmware_image  = %[6]q
  firmware_output = "%[5]s/%[2]s.elf"
}
`, d.res, d.name, d.board, g.device, out, images[d.board])
	}
	app := func(version, module string, memory int) string {
		return devices + fmt.Sprintf(`
resource "wasmbed_application" "sensor" {
  name        = "sensor"
  version     = %q
  module_path = %q
  config      = { offset = "100" }
  limits      = { tick_ms = 200, memory = %d }
  selector    = { labels = { role = "sensor" } }
  timeouts    = { create = "2m", update = "2m" }
  depends_on  = [%s]
}

data "wasmbed_application" "sensor" {
  name       = wasmbed_application.sensor.name
  depends_on = [wasmbed_application.sensor]
}
`, version, module, memory, strings.Join(bundles, ", "))
	}

	br := bridge.New(bridge.Config{})
	var (
		mu     sync.Mutex
		booted = map[string]*emulator.Device{}
	)
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, d := range booted {
			d.Stop()
		}
	})
	logs := os.Getenv("WASMBED_E2E_LOGS")
	if logs == "" {
		logs = t.TempDir()
	}
	// boot starts every device whose image apply wrote, as a factory flashes
	// and powers them, and waits until each is online.
	boot := func(*terraform.State) error {
		mu.Lock()
		defer mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		for _, dev := range devs {
			name, board := dev.name, dev.board
			elf := filepath.Join(out, name+".elf")
			raw, err := os.ReadFile(elf)
			if err != nil {
				return fmt.Errorf("apply wrote no image for %s: %w", name, err)
			}
			if st, _ := os.Stat(elf); st.Mode().Perm() != 0o600 {
				return fmt.Errorf("image %s has mode %v, want 0600 (it holds a token)", elf, st.Mode().Perm())
			}
			b, err := provision.Read(raw)
			if err != nil || b == nil || b.Device != name || b.Board != board || b.ServerName != "localhost" || !strings.HasPrefix(b.Token, "wbt_") {
				return fmt.Errorf("image for %s: bundle %+v, %v", name, b, err)
			}
			d, err := emulator.Boot(ctx, emulator.Options{Board: board, Image: elf, Bridge: br, Name: name, Engine: engine,
				ConsoleLog: filepath.Join(logs, name+".console.log")})
			if err != nil {
				return err
			}
			booted[name] = d
		}
		for name, d := range booted {
			if _, _, err := d.Wait(ctx, 0, regexp.MustCompile(`^session: online as `+name)); err != nil {
				return err
			}
		}
		return nil
	}
	// published waits for a temperature from each device after a time.
	published := func(after time.Time) resource.TestCheckFunc {
		return func(*terraform.State) error {
			deadline := time.Now().Add(60 * time.Second)
			for _, d := range devs {
				name := d.name
				for {
					recs, err := g.client.ApplicationOutput(context.Background(), "sensor", name, 100)
					if err != nil {
						return err
					}
					if hasValueAfter(recs, "temperature", after) {
						break
					}
					if time.Now().After(deadline) {
						return fmt.Errorf("no temperature from %s since %v: %+v", name, after, recs)
					}
					time.Sleep(250 * time.Millisecond)
				}
			}
			return nil
		}
	}
	// each is a check per device (the data source lists them in name order).
	each := func(f func(i int, d emulatedDevice) resource.TestCheckFunc) resource.TestCheckFunc {
		var cs []resource.TestCheckFunc
		for i, d := range devs {
			cs = append(cs, f(i, d))
		}
		return resource.ComposeAggregateTestCheckFunc(cs...)
	}
	var t1 time.Time
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviders,
		CheckDestroy: func(*terraform.State) error {
			for _, d := range devs {
				if _, err := os.Stat(filepath.Join(out, d.name+".elf")); !os.IsNotExist(err) {
					return fmt.Errorf("destroy left the image of %s: %v", d.name, err)
				}
			}
			return nil
		},
		Steps: []resource.TestStep{
			{Config: devices, Check: resource.ComposeAggregateTestCheckFunc(
				resource.TestCheckNoResourceAttr("wasmbed_provisioning_bundle."+devs[0].res, "token_wo"),
				resource.TestCheckResourceAttr("wasmbed_provisioning_bundle."+devs[0].res, "board", devs[0].board),
				boot,
				resource.TestCheckResourceAttr("wasmbed_device."+devs[1].res, "board", devs[1].board),
			)},
			// The devices are online; the device resources read their status.
			{Config: devices, Check: each(func(_ int, d emulatedDevice) resource.TestCheckFunc {
				return resource.TestCheckResourceAttr("wasmbed_device."+d.res, "phase", "online")
			})},
			// Too big for the STM32F4 (192 KiB of RAM), whichever the other board is.
			{Config: app("1.0.0", huge, 8*65536), ExpectError: regexp.MustCompile(`(?s)Module cannot run on board (stm32f4-discovery|nano33ble).*memory`)},
			{PreConfig: func() { t1 = time.Now() }, Config: app("1.0.0", sensor, 65536), Check: resource.ComposeAggregateTestCheckFunc(
				resource.TestCheckResourceAttr("data.wasmbed_application.sensor", "converged", "true"),
				resource.TestCheckResourceAttr("data.wasmbed_application.sensor", "updated", strconv.Itoa(len(devs))),
				each(func(i int, _ emulatedDevice) resource.TestCheckFunc {
					return resource.TestCheckResourceAttr("data.wasmbed_application.sensor", fmt.Sprintf("devices.%d.state", i), "running")
				}),
				func(s *terraform.State) error { return published(t1)(s) },
			)},
			{PreConfig: func() { t1 = time.Now() }, Config: app("1.1.0", sensor, 65536), Check: resource.ComposeAggregateTestCheckFunc(
				resource.TestCheckResourceAttr("wasmbed_application.sensor", "generation", "2"),
				resource.TestCheckResourceAttr("data.wasmbed_application.sensor", "converged", "true"),
				each(func(i int, _ emulatedDevice) resource.TestCheckFunc {
					return resource.TestCheckResourceAttr("data.wasmbed_application.sensor", fmt.Sprintf("devices.%d.observed_version", i), "1.1.0")
				}),
				func(s *terraform.State) error { return published(t1)(s) },
			)},
			// Removing the application from the configuration removes it from
			// the devices: each firmware reports it removed.
			{Config: devices, Check: func(*terraform.State) error {
				ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
				defer cancel()
				mu.Lock()
				defer mu.Unlock()
				for name, d := range booted {
					if _, _, err := d.Wait(ctx, 0, regexp.MustCompile(`^app: sensor .*removed`)); err != nil {
						return fmt.Errorf("%s: %w", name, err)
					}
				}
				return nil
			}},
		},
	})
}

func hasValueAfter(recs []fleet.OutputRecord, key string, after time.Time) bool {
	for _, r := range recs {
		if r.Key == key && r.Value != nil && r.Time.After(after) {
			return true
		}
	}
	return false
}
