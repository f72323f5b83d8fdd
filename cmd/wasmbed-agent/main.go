// Command wasmbed-agent is the Wasmbed device agent for Linux-class devices:
// it enrolls with a gateway using a provisioning bundle, keeps a mutual-TLS
// session, and runs the WebAssembly apps the gateway deploys (package agent).
//
//	wasmbed-agent -dir DIR [-bundle FILE] [-log-level info] [-local-addr IP]
//
// The first start needs -bundle (JSON: gateways, ca_root or ca_root_file,
// device, token, board); later starts resume from DIR without it. With -sim N
// it runs N simulated devices in one process instead (package agent/sim): each
// gets DIR/<name>, enrolling with the bundle's token suffixed "-<name>" unless
// already enrolled; see agent/README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/wasmbed/wasmbed/agent"
	"github.com/wasmbed/wasmbed/agent/sim"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "wasmbed-agent:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("wasmbed-agent", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", "", "state directory (key, certificate, modules); required")
	bundlePath := fs.String("bundle", "", "provisioning bundle (JSON); needed on the first start")
	level := fs.String("log-level", "info", "debug, info, warn or error")
	localAddr := fs.String("local-addr", "", "source IP for connections to the gateway")
	simN := fs.Int("sim", 0, "run this many simulated devices instead of one")
	simAddrs := fs.Int("sim-source-addrs", 0, "with -sim: connect from this many loopback addresses, 127.0.0.2 on")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" || fs.NArg() != 0 {
		fs.Usage()
		return errors.New("-dir is required")
	}
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(*level)); err != nil {
		return fmt.Errorf("-log-level: %w", err)
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: lv}))

	var bundle *agent.Bundle
	if *bundlePath != "" {
		var err error
		if bundle, err = agent.LoadBundle(*bundlePath); err != nil {
			return err
		}
	}
	if *simN > 0 {
		return runSim(ctx, log, *dir, bundle, *simN, *simAddrs)
	}
	a, err := agent.New(agent.Config{Dir: *dir, Bundle: bundle, LocalAddr: *localAddr, Logger: log})
	if err != nil {
		return err
	}
	log.Info("starting", "device", a.Name(), "board", a.Board().Name, "version", agent.Version)
	return a.Run(ctx)
}

// runSim runs n simulated devices named <bundle device>-<i>, each enrolling
// with token "<bundle token>-<name>" (how a load test provisions a fleet).
func runSim(ctx context.Context, log *slog.Logger, dir string, b *agent.Bundle, n, addrs int) error {
	cfg := sim.Config{Devices: n, Dir: dir, Logger: log, StartSpread: time.Duration(n) * 5 * time.Millisecond}
	prefix := "sim"
	if b != nil {
		prefix = b.Device
		cfg.Bundle = func(name string) (*agent.Bundle, error) {
			if _, err := os.Stat(filepath.Join(dir, name, "state.json")); err == nil {
				return nil, nil // enrolled already
			}
			c := *b
			c.Device, c.Token = name, b.Token+"-"+name
			return &c, nil
		}
	}
	cfg.Name = func(i int) string { return fmt.Sprintf("%s-%05d", prefix, i+1) }
	if addrs > 0 {
		cfg.SourceAddrs = sim.LoopbackAddrs(addrs)
	}
	f, err := sim.Start(ctx, cfg)
	if err != nil {
		return err
	}
	log.Info("fleet started", "devices", n)
	t := time.NewTicker(10 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return f.Stop()
		case <-t.C:
			log.Info("fleet", "connected", f.Connected(), "devices", n)
		}
	}
}
