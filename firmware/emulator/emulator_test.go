package emulator_test

import (
	"context"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/wasmbed/wasmbed/firmware/bridge"
	"github.com/wasmbed/wasmbed/firmware/emulator"
	"github.com/wasmbed/wasmbed/firmware/provision"
	"github.com/wasmbed/wasmbed/renode"
)

// The images come from scripts/firmware.sh build (make test-go depends on it);
// a missing image or QEMU fails the test, never skips it.
func firmwareImage(t *testing.T, board string) string {
	t.Helper()
	p := filepath.Join("..", "..", "bin", "firmware", board+".elf")
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("firmware image: %v (make firmware firmware-test)", err)
	}
	return p
}

func echoServer(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()
	return l.Addr().String()
}

func wait(t *testing.T, d *emulator.Device, from int, pattern string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	_, i, err := d.Wait(ctx, from, regexp.MustCompile(pattern))
	if err != nil {
		t.Fatal(err)
	}
	return i
}

// A provisioned board boots under QEMU, its link UART reaches a TCP server
// through the bridge (the echo diagnostic), the console is kept in the log
// file, and a reset reboots it with its provisioning intact.
func TestBootLinkReset(t *testing.T) {
	t.Parallel()
	echo := echoServer(t)
	// The test image: the shipped one has no diag modes (flash).
	img, err := os.ReadFile(firmwareImage(t, "mps2-an386-selftest"))
	if err != nil {
		t.Fatal(err)
	}
	b := provision.Bundle{Gateways: []string{echo}, Device: "emu-echo", Board: "mps2-an386", Diag: "echo"}
	raw, err := b.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	out, err := provision.Write(img, raw, -1)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	elf := filepath.Join(dir, "emu-echo.elf")
	if err := os.WriteFile(elf, out, 0o600); err != nil {
		t.Fatal(err)
	}
	br := bridge.New(bridge.Config{})
	consoleLog := filepath.Join(dir, "console.log")
	d, err := emulator.Boot(context.Background(), emulator.Options{Board: "mps2-an386", Image: elf, Bridge: br,
		ConsoleLog: consoleLog, Reboot: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Stop() })
	if d.Engine() != emulator.QEMU || d.Name() != "emu-echo" {
		t.Errorf("engine %q name %q, want qemu emu-echo", d.Engine(), d.Name())
	}
	wait(t, d, 0, `^wasmbed-firmware .* board=mps2-an386`)
	mark := wait(t, d, 0, `^link: echo ok \(22 bytes\)`)
	if br.Stats.Opens.Load() == 0 || br.Stats.FromDevice.Load() == 0 {
		t.Errorf("bridge saw no traffic: %s", br.Stats.String())
	}
	if err := d.Reset(); err != nil {
		t.Fatal(err)
	}
	wait(t, d, mark, `^wasmbed-firmware .* board=mps2-an386`)
	wait(t, d, mark, `^link: echo ok \(22 bytes\)`)
	if n := d.Count(regexp.MustCompile(`^boot: ok`)); n != 2 {
		t.Errorf("boots: %d, want 2 (one reset)", n)
	}
	if err := d.Stop(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-d.Done():
	default:
		t.Fatal("Done not closed after Stop")
	}
	logged, err := os.ReadFile(consoleLog)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(logged), "link: echo ok") {
		t.Errorf("console log lacks the echo line:\n%s", logged)
	}
}

// Without Reboot a reset ends the emulator, and Wait says so instead of
// waiting out its timeout; Reset itself is refused.
func TestEndWithoutReboot(t *testing.T) {
	t.Parallel()
	d, err := emulator.Boot(context.Background(), emulator.Options{Board: "stm32f4-discovery",
		Image: firmwareImage(t, "stm32f4-discovery"), Bridge: bridge.New(bridge.Config{})})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Stop() })
	wait(t, d, 0, `^config: not provisioned`)
	if err := d.Reset(); err == nil {
		t.Error("Reset without Reboot: no error")
	}
	d.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, _, err := d.Wait(ctx, 0, regexp.MustCompile(`never printed`)); err == nil || !strings.Contains(err.Error(), "emulator ended") {
		t.Errorf("Wait after the end: %v, want an 'emulator ended' error", err)
	}
}

func TestBadOptions(t *testing.T) {
	br := bridge.New(bridge.Config{})
	for _, tc := range []struct {
		o    emulator.Options
		want string
	}{
		{emulator.Options{Board: "linux", Image: "x.elf", Bridge: br}, `no emulated board "linux"`},
		{emulator.Options{Board: "mps2-an386", Image: "/nonexistent.elf", Bridge: br}, "firmware image"},
		{emulator.Options{Board: "mps2-an386", Image: "/nonexistent.elf"}, "Bridge is required"},
		{emulator.Options{Board: "mps2-an386", Image: firmwareImage(t, "mps2-an386"), Bridge: br, Engine: emulator.Renode},
			"Renode has no platform for board mps2-an386"},
	} {
		_, err := emulator.Boot(context.Background(), tc.o)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Boot(%+v): %v, want %q", tc.o, err, tc.want)
		}
	}
}

// Under Renode (make setup puts it in bin/): a provisioned STM32F4 board boots
// on renode/stm32f4-discovery.repl, its link UART (Renode's server socket
// terminal, dialled here) reaches a TCP server through the bridge, and a reset
// (Renode's monitor) reboots it (the reset macro restarts the core from the
// image's vector table). A missing renode fails the test.
func TestRenodeBootLinkReset(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("renode"); err != nil {
		t.Fatal("renode is not on PATH: run make setup, with bin/ on PATH (make test-go puts it there)")
	}
	echo := echoServer(t)
	img, err := os.ReadFile(firmwareImage(t, "stm32f4-discovery-selftest"))
	if err != nil {
		t.Fatal(err)
	}
	b := provision.Bundle{Gateways: []string{echo}, Device: "renode-echo", Board: "stm32f4-discovery", Diag: "echo"}
	raw, err := b.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	out, err := provision.Write(img, raw, -1)
	if err != nil {
		t.Fatal(err)
	}
	elf := filepath.Join(t.TempDir(), "renode-echo.elf")
	if err := os.WriteFile(elf, out, 0o600); err != nil {
		t.Fatal(err)
	}
	br := bridge.New(bridge.Config{})
	d, err := emulator.Boot(context.Background(), emulator.Options{Board: "stm32f4-discovery", Image: elf, Bridge: br,
		Engine: emulator.Renode, Reboot: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Stop() })
	if d.Engine() != emulator.Renode {
		t.Errorf("engine %q, want renode", d.Engine())
	}
	wait(t, d, 0, `^wasmbed-firmware .* board=stm32f4-discovery`)
	wait(t, d, 0, `^clock: 168 MHz core, uptime 20 ms`)
	mark := wait(t, d, 0, `^link: echo ok \(22 bytes\)`)
	if err := d.Reset(); err != nil {
		t.Fatal(err)
	}
	wait(t, d, mark, `^wasmbed-firmware .* board=stm32f4-discovery`)
	wait(t, d, mark, `^link: echo ok \(22 bytes\)`)
	if err := d.Stop(); err != nil {
		t.Fatal(err)
	}
}

// Each board Renode runs has its platform description in renode/, built on
// the stock platform the board names.
func TestRenodePlatforms(t *testing.T) {
	for _, b := range emulator.Boards() {
		if b.RenodePlatform == "" {
			continue
		}
		repl, err := renode.Platform(b.Name)
		if err != nil {
			t.Error(err)
			continue
		}
		if want := `using "` + b.RenodePlatform + `"`; !strings.Contains(repl, want) {
			t.Errorf("renode/%s.repl lacks %s", b.Name, want)
		}
	}
}
