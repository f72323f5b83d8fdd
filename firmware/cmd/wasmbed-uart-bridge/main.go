// Command wasmbed-uart-bridge is the modem an emulated board's link UART talks to
// (firmware/bridge): it listens for QEMU serial ports and opens one TCP connection per
// device session.
//
//	wasmbed-uart-bridge -listen 127.0.0.1:7001 [-allow 127.0.0.1:8081]
//	qemu-system-arm -M netduinoplus2 -nographic -monitor none \
//	    -serial stdio -serial tcp:127.0.0.1:7001 -kernel dev-1.elf
//
// With -connect it dials the link instead (Renode's server socket terminal, renode/),
// and dials again whenever the link drops.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/wasmbed/wasmbed/firmware/bridge"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:7001", "address the emulators' serial ports connect to")
	connect := flag.String("connect", "", "dial this link (an emulator's UART as a TCP server) instead of listening")
	allow := flag.String("allow", "", "comma-separated host:port list devices may open (default: any)")
	verbose := flag.Bool("v", false, "debug logs")
	flag.Parse()
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	cfg := bridge.Config{Log: log}
	if *allow != "" {
		cfg.Allow = bridge.AllowList(strings.Split(*allow, ","))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	b := bridge.New(cfg)
	if *connect != "" {
		for ctx.Err() == nil {
			c, err := net.Dial("tcp", *connect)
			if err != nil {
				log.Warn("link not reachable; retrying", "addr", *connect, "err", err)
			} else {
				log.Info("link connected", "addr", *connect)
				err = b.ServeLink(ctx, c)
				log.Info("link ended", "err", err)
			}
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
		log.Info("stopped", "stats", b.Stats.String())
		return
	}
	l, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, "wasmbed-uart-bridge:", err)
		os.Exit(1)
	}
	log.Info("listening for links", "addr", l.Addr().String())
	if err := b.Serve(ctx, l); err != nil {
		fmt.Fprintln(os.Stderr, "wasmbed-uart-bridge:", err)
		os.Exit(1)
	}
	log.Info("stopped", "stats", b.Stats.String())
}
