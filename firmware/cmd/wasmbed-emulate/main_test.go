package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/wasmbed/wasmbed/firmware/bridge"
	"github.com/wasmbed/wasmbed/firmware/provision"
)

// provisioned writes a copy of the board image with a bundle for device.
func provisioned(t *testing.T, dir, board, device string) string {
	t.Helper()
	img, err := os.ReadFile(filepath.Join("..", "..", "..", "bin", "firmware", board+".elf"))
	if err != nil {
		t.Fatalf("firmware image: %v (make firmware)", err)
	}
	b := provision.Bundle{Gateways: []string{"127.0.0.1:9"}, ServerName: "localhost", Device: device, Board: board, Token: "wbt_x",
		CARoot: []byte{0x30, 0x03, 0x02, 0x01, 0x01}}
	raw, err := b.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if img, err = provision.Write(img, raw, -1); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, device+".elf")
	if err := os.WriteFile(p+".tmp", img, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(p+".tmp", p); err != nil {
		t.Fatal(err)
	}
	return p
}

// -watch: an image that appears boots as its bundle's board, a replaced
// image reboots the device, a removed one stops it; an image without a
// bundle is refused and nothing else is disturbed.
func TestWatch(t *testing.T) {
	dir, logs := t.TempDir(), t.TempDir()
	r := &runner{bridge: bridge.New(bridge.Config{}), logs: logs, log: slog.New(slog.NewTextHandler(io.Discard, nil)), devices: map[string]*running{}}
	t.Cleanup(r.stopAll)
	ctx := context.Background()
	img := provisioned(t, dir, "mps2-an386", "watched-1")
	raw, _ := os.ReadFile(filepath.Join("..", "..", "..", "bin", "firmware", "mps2-an386.elf"))
	if err := os.WriteFile(filepath.Join(dir, "blank.elf"), raw, 0o600); err != nil {
		t.Fatal(err)
	}
	r.sync(ctx, dir)
	d, ok := r.devices[img]
	if !ok || len(r.devices) != 1 {
		t.Fatalf("devices after the first sync: %v", r.devices)
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, _, err := d.dev.Wait(wctx, 0, regexp.MustCompile(`^config: device watched-1`)); err != nil {
		t.Fatal(err)
	}
	r.sync(ctx, dir) // unchanged: the same device
	if r.devices[img] != d {
		t.Fatal("an unchanged image rebooted its device")
	}
	time.Sleep(10 * time.Millisecond)
	provisioned(t, dir, "mps2-an386", "watched-1") // reflashed
	r.sync(ctx, dir)
	if r.devices[img] == d {
		t.Fatal("a replaced image did not reboot its device")
	}
	select {
	case <-d.dev.Done():
	default:
		t.Fatal("the old emulator still runs")
	}
	if _, _, err := r.devices[img].dev.Wait(wctx, 0, regexp.MustCompile(`^config: device watched-1`)); err != nil {
		t.Fatal(err)
	}
	os.Remove(img)
	d = r.devices[img]
	r.sync(ctx, dir)
	if len(r.devices) != 0 {
		t.Fatalf("devices after removal: %v", r.devices)
	}
	<-d.dev.Done()
	log, err := os.ReadFile(filepath.Join(logs, "watched-1.console.log"))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(regexp.MustCompile(`(?m)^boot: ok`).FindAll(log, -1)); n != 2 {
		t.Errorf("console log holds %d boots, want 2 (appended across the reflash)", n)
	}
}
