package main

import (
	"context"
	"flag"
	"log/slog"
	"net/http"
	_ "net/http/pprof" // the profiling variant's /debug/pprof
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/wasmbed/wasmbed/gateway/daemon"
)

// cmdGateway is the gateway with a pprof listener, for run -profile-dir: the
// same daemon.Run that cmd/wasmbed-gateway serves, with the flags the
// benchmark uses. The figures in bench/results.json come from the real
// binary; this variant is only for profiles.
func cmdGateway(args []string) error {
	fs := flag.NewFlagSet("gateway", flag.ExitOnError)
	var o daemon.Options
	pprofAddr := fs.String("pprof-addr", "127.0.0.1:6060", "net/http/pprof listen address")
	fs.StringVar(&o.DataDir, "data-dir", "", "data directory")
	fs.StringVar(&o.APIAddr, "api-addr", "127.0.0.1:8080", "management API address")
	fs.StringVar(&o.DeviceAddr, "device-addr", "127.0.0.1:8081", "device listener address")
	fs.DurationVar(&o.Gateway.HeartbeatInterval, "heartbeat-interval", 30*time.Second, "heartbeat period")
	fs.Parse(args)
	o.Log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	go func() {
		if err := http.ListenAndServe(*pprofAddr, nil); err != nil {
			o.Log.Error("pprof listener", "err", err)
		}
	}()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return daemon.Run(ctx, o)
}
