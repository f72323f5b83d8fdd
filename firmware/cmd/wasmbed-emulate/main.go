// Command wasmbed-emulate runs provisioned firmware images as emulated devices
// (firmware/emulator: QEMU, or Renode: -engine renode, make setup provides it), with the modem
// bridge in the same process, so each device's link reaches the gateway.
//
//	wasmbed-emulate [-logs DIR] [-state DIR] [-allow 127.0.0.1:8081] IMAGE.elf...
//	wasmbed-emulate -watch DIR [-logs DIR] [-state DIR] [-allow ...]
//
// The board comes from the bundle written into each image
// (wasmbed-provision, or wasmbed_provisioning_bundle.firmware_output in
// Terraform). With -watch it boots every *.elf that appears in DIR, reboots a
// device whose image is replaced (reflashed) and stops one whose image is
// removed: point it at where `terraform apply` writes images. A device's
// console goes to DIR/<name>.console.log under -logs. Watchdog and fault
// resets reboot the device, as on hardware. SIGINT/SIGTERM stop everything.
//
// What a board keeps across power loss (its flash, with its identity) lives in
// DIR/<name>/ under -state (default: DIR/state under -watch, else nothing kept):
// a device stopped and booted again comes back with its certificate, without a
// new enrollment token.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/wasmbed/wasmbed/firmware/bridge"
	"github.com/wasmbed/wasmbed/firmware/emulator"
	"github.com/wasmbed/wasmbed/firmware/provision"
)

func main() {
	watch := flag.String("watch", "", "boot every *.elf appearing in this directory; follow replacements and removals")
	logs := flag.String("logs", "", "write each device's console to DIR/<name>.console.log")
	allow := flag.String("allow", "", "comma-separated host:port list devices may open (default: any)")
	engine := flag.String("engine", "", "qemu or renode (renode: in Renode the boards it has, the others under QEMU; default: QEMU when it has a machine for the board)")
	state := flag.String("state", "", "keep each device's flash in DIR/<name>/ (default: DIR/state under -watch)")
	flag.Parse()
	if *state == "" && *watch != "" {
		*state = filepath.Join(*watch, "state")
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if (*watch == "") == (flag.NArg() == 0) {
		fmt.Fprintln(os.Stderr, "wasmbed-emulate: give image files or -watch DIR (not both)")
		flag.Usage()
		os.Exit(2)
	}
	cfg := bridge.Config{Log: log.With("component", "bridge")}
	if *allow != "" {
		cfg.Allow = bridge.AllowList(strings.Split(*allow, ","))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	r := &runner{bridge: bridge.New(cfg), logs: *logs, state: *state, engine: emulator.Engine(*engine), log: log, devices: map[string]*running{}}
	defer r.stopAll()
	if *watch == "" {
		for _, img := range flag.Args() {
			if err := r.boot(ctx, img); err != nil {
				log.Error("cannot boot", "image", img, "err", err)
				os.Exit(1)
			}
		}
		<-ctx.Done()
		return
	}
	log.Info("watching for firmware images", "dir", *watch)
	for {
		r.sync(ctx, *watch)
		select {
		case <-ctx.Done():
			return
		case <-time.After(300 * time.Millisecond):
		}
	}
}

type running struct {
	dev     *emulator.Device
	modTime time.Time
}

type runner struct {
	bridge  *bridge.Bridge
	logs    string
	state   string
	engine  emulator.Engine
	log     *slog.Logger
	devices map[string]*running // by image path
}

// sync boots new images, reboots replaced ones and stops removed ones.
func (r *runner) sync(ctx context.Context, dir string) {
	imgs, _ := filepath.Glob(filepath.Join(dir, "*.elf"))
	seen := map[string]bool{}
	for _, img := range imgs {
		seen[img] = true
		st, err := os.Stat(img)
		if err != nil {
			continue
		}
		if d, ok := r.devices[img]; ok {
			select {
			case <-d.dev.Done():
				r.log.Warn("device ended; booting it again", "device", d.dev.Name())
			default:
				if st.ModTime().Equal(d.modTime) {
					continue
				}
				r.log.Info("image replaced; rebooting the device with it", "device", d.dev.Name())
			}
			d.dev.Stop()
			delete(r.devices, img)
		}
		if err := r.boot(ctx, img); err != nil {
			r.log.Error("cannot boot", "image", img, "err", err)
		}
	}
	for img, d := range r.devices {
		if !seen[img] {
			r.log.Info("image removed; stopping the device", "device", d.dev.Name())
			d.dev.Stop()
			delete(r.devices, img)
		}
	}
}

func (r *runner) boot(ctx context.Context, img string) error {
	st, err := os.Stat(img)
	if err != nil {
		return err
	}
	raw, err := os.ReadFile(img)
	if err != nil {
		return err
	}
	b, err := provision.Read(raw)
	if err != nil {
		return fmt.Errorf("read its bundle: %w", err)
	}
	if b == nil || b.Board == "" {
		return errors.New("the image has no bundle naming its board (provision it first)")
	}
	engine := r.engine
	if eb, err := emulator.LookupBoard(b.Board); err == nil && engine == emulator.Renode && eb.RenodePlatform == "" {
		r.log.Info("Renode has no platform for the board: QEMU runs it", "device", b.Device, "board", b.Board)
		engine = emulator.QEMU
	}
	o := emulator.Options{Board: b.Board, Image: img, Bridge: r.bridge, Engine: engine, Name: b.Device, Reboot: true}
	if r.logs != "" {
		o.ConsoleLog = filepath.Join(r.logs, b.Device+".console.log")
	}
	if r.state != "" {
		o.StateDir = filepath.Join(r.state, b.Device)
	}
	d, err := emulator.Boot(ctx, o)
	if err != nil {
		return err
	}
	r.devices[img] = &running{dev: d, modTime: st.ModTime()}
	r.log.Info("device booted", "device", b.Device, "board", b.Board, "engine", d.Engine(), "console", o.ConsoleLog)
	return nil
}

func (r *runner) stopAll() {
	for _, d := range r.devices {
		d.dev.Stop()
	}
	r.log.Info("stopped", "devices", len(r.devices), "bridge", r.bridge.Stats.String())
}
