// Command wasmbed-gateway runs a Wasmbed gateway.
//
//	wasmbed-gateway serve [flags]
//
// Every flag can also come from the environment (WASMBED_GATEWAY_ + the flag
// name in upper case with '-' as '_', e.g. WASMBED_GATEWAY_DATA_DIR) or from
// a YAML or JSON config file given with --config whose keys are flag names.
// A flag on the command line wins over the environment, which wins over the
// file.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/klog/v2"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/yaml"

	"github.com/wasmbed/wasmbed/ca"
	"github.com/wasmbed/wasmbed/fleet"
	"github.com/wasmbed/wasmbed/gateway/daemon"
)

var version = "dev"

func main() {
	if err := newRoot().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "wasmbed-gateway:", err)
		os.Exit(1)
	}
}

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:           "wasmbed-gateway",
		Short:         "Wasmbed gateway: device sessions, enrollment, deployments and the management API",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version,
	}
	root.AddCommand(newServe(), newBackup(), newRestore())
	return root
}

func newServe() *cobra.Command {
	var o daemon.Options
	var configFile, logLevel, logFormat string
	var ext ca.ExternalConfig
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve devices and the management API (embedded store and CA by default, or Kubernetes with --store kubernetes)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := applyEnvAndFile(cmd.Flags(), configFile); err != nil {
				return err
			}
			log, err := newLogger(logLevel, logFormat)
			if err != nil {
				return err
			}
			o.Log, o.Version = log, version
			if o.Store == daemon.StoreKubernetes {
				// client-go and controller-runtime log through the gateway's
				// logger (process-wide: the daemon package leaves them alone).
				klog.SetSlogLogger(log.With("component", "client-go"))
				ctrllog.SetLogger(logr.FromSlogHandler(log.With("component", "controller-runtime").Handler()))
			}
			if o.Store != daemon.StoreEmbedded && o.Store != daemon.StoreKubernetes {
				return fmt.Errorf("--store %q: want %s or %s", o.Store, daemon.StoreEmbedded, daemon.StoreKubernetes)
			}
			if o.Store != daemon.StoreKubernetes && (o.Kubeconfig != "" || o.Namespace != "") {
				return errors.New("--kubeconfig and --namespace need --store kubernetes")
			}
			// Refused here rather than by the store when the gateway registers.
			if err := fleet.ValidateAddresses(o.Advertise); err != nil {
				return fmt.Errorf("--advertise: %w", err)
			}
			if ext.URL != "" {
				if ext.RootFile == "" || ext.Provisioner == "" || ext.PasswordFile == "" {
					return errors.New("--ca-url needs --ca-root, --ca-provisioner and --ca-password-file")
				}
				o.ExternalCA = &ext
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return daemon.Run(ctx, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&configFile, "config", "", "YAML or JSON file of flag values")
	f.StringVar(&o.DataDir, "data-dir", "wasmbed-data", "directory for the store, the embedded CA, the API tokens and ca.crt")
	f.StringVar(&o.APIAddr, "api-addr", ":8080", "management API listen address (HTTPS)")
	f.StringVar(&o.DeviceAddr, "device-addr", ":8081", "device listen address (TLS 1.3)")
	f.StringVar(&o.Gateway.Name, "name", "gateway", "gateway name")
	f.StringSliceVar(&o.Gateway.ServerHosts, "host", []string{"localhost", "127.0.0.1"}, "DNS names and IPs in the gateway's server certificate")
	f.DurationVar(&o.Gateway.HeartbeatInterval, "heartbeat-interval", 0, "heartbeat period devices are told to keep (default 5s)")
	f.IntVar(&o.Gateway.MissedHeartbeats, "missed-heartbeats", 0, "heartbeats a device may miss before it is offline (default 3)")
	f.DurationVar(&o.Gateway.CertTTL, "cert-ttl", 0, "device certificate lifetime (default 24h)")
	f.IntVar(&o.Gateway.ChunkSize, "chunk-size", 0, "module chunk payload in bytes (default 4096, capped by the device's frame size)")
	f.DurationVar(&o.Gateway.HandshakeTimeout, "handshake-timeout", 0, "time from accept to a device session or an enrollment's end (TLS handshake, hello, enroll) (default 10s)")
	f.DurationVar(&o.Gateway.ModuleGCInterval, "module-gc-interval", 0, "stored modules nothing needs (no application, stable release or deployment) are deleted once two sweeps this far apart found them unused; negative: never (default 1h)")
	f.IntVar(&o.Gateway.MaxPreAuth, "max-preauth", 0, "unauthenticated device connections held; past it the oldest still waiting for its ClientHello is closed (default 4096)")
	f.IntVar(&o.Gateway.MaxHandshakes, "max-handshakes", 0, "device connections in the TLS handshake, hello or enrollment at once; more wait for a slot (default 256)")
	f.IntVar(&o.Gateway.MaxEnrollments, "max-enrollments", 0, "enrollment sessions at once; more are answered busy (default 128)")
	f.IntVar(&o.Gateway.MaxPreAuthPerSource, "max-preauth-per-source", 0, "unauthenticated device connections held per source address, IPv6 per /64 (default 128)")
	f.Float64Var(&o.Gateway.SourceFailureRate, "source-failure-rate", 0, "failed handshakes and enrollments per second a source address may keep making before it is refused; negative: no limit (default 2)")
	f.IntVar(&o.Gateway.SourceFailureBurst, "source-failure-burst", 0, "failed handshakes and enrollments a source address may make in a burst (default 100)")
	f.IntVar(&o.Gateway.MaxFDs, "max-fds", 0, "file descriptors the gateway counts on (default and at most: RLIMIT_NOFILE)")
	f.IntVar(&o.Gateway.FDReserve, "fd-reserve", 0, "file descriptors device connections leave for the API, the store, the CA and the Kubernetes client; keep it above --api-max-conns (default a quarter of the limit, at most 512)")
	f.IntVar(&o.APIMaxConns, "api-max-conns", 0, "management API connections open at once; past it the oldest not in a request is closed (default 256)")
	f.IntVar(&o.APIMaxInFlight, "api-max-inflight", 0, "management API requests worked on at once (the watch stream not counted); one that waits 100ms for a slot is answered 429 with Retry-After (default 4 per core)")
	f.StringVar(&o.AuditLog, "audit-log", "", "file every audit entry is appended to (JSON lines) before the store's bounded history may prune it; off: the log only (default <data-dir>/audit.jsonl)")
	f.StringVar(&o.Store, "store", daemon.StoreEmbedded, "where the fleet's state lives: embedded (a file in --data-dir) or kubernetes (custom resources)")
	f.StringVar(&o.Kubeconfig, "kubeconfig", "", "kubernetes store: kubeconfig file; unset: $KUBECONFIG, ~/.kube/config, else the pod's service account")
	f.StringVar(&o.Namespace, "namespace", "", "kubernetes store: namespace of the fleet; unset: the kubeconfig context's")
	f.DurationVar(&o.LastSeenInterval, "last-seen-interval", 0, "kubernetes store: how stale an online device's stored last-seen may get (default 45m)")
	f.DurationVar(&o.KubeSyncTimeout, "kube-sync-timeout", 0, "kubernetes store: wait this long for the API server's first list before starting from <data-dir>/kube-snapshot.json (default 30s)")
	f.DurationVar(&o.GatewayHeartbeat, "gateway-heartbeat", 0, "kubernetes store: how often the gateway reports in its Gateway status (default 30s)")
	f.DurationVar(&o.LeaseDuration, "lease-duration", 0, "kubernetes store: how long the gateway's Lease is valid after a renewal; the controller moves its devices once it expires (default 10s, whole seconds)")
	f.DurationVar(&o.LeaseRenew, "lease-renew", 0, "kubernetes store: how often the gateway renews its Lease (default 2s; less than --lease-duration)")
	f.StringSliceVar(&o.Advertise, "advertise", nil, "device addresses (host:port) the gateway registers itself with when it is not registered; default: the device listener's")
	f.StringVar(&ext.URL, "ca-url", "", "external step-ca URL; unset: the embedded authority")
	f.StringVar(&ext.RootFile, "ca-root", "", "external step-ca root certificate file")
	f.StringVar(&ext.Provisioner, "ca-provisioner", "", "external step-ca JWK provisioner name")
	f.StringVar(&ext.PasswordFile, "ca-password-file", "", "file holding the provisioner's password")
	f.StringVar(&o.OTLPEndpoint, "otlp-endpoint", "", "export traces over OTLP/HTTP to this collector (http://host:4318 or host:port); unset: as OTEL_EXPORTER_OTLP_ENDPOINT and the other OTEL_* variables say, off without them")
	f.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	f.StringVar(&logFormat, "log-format", "text", "text or json")
	return cmd
}

// applyEnvAndFile fills flags not given on the command line from
// WASMBED_GATEWAY_* variables, then from the config file.
func applyEnvAndFile(fs *pflag.FlagSet, file string) error {
	values := map[string]any{}
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return fmt.Errorf("config: %w", err)
		}
		if err := yaml.Unmarshal(b, &values); err != nil {
			return fmt.Errorf("config %s: %w", file, err)
		}
		for k := range values {
			if fs.Lookup(k) == nil || k == "config" {
				return fmt.Errorf("config %s: unknown key %q", file, k)
			}
		}
	}
	var errs []error
	fs.VisitAll(func(fl *pflag.Flag) {
		if fl.Changed || fl.Name == "config" {
			return
		}
		env := "WASMBED_GATEWAY_" + strings.ToUpper(strings.ReplaceAll(fl.Name, "-", "_"))
		if v, ok := os.LookupEnv(env); ok {
			if err := fl.Value.Set(v); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", env, err))
			}
			return
		}
		if v, ok := values[fl.Name]; ok {
			s := fmt.Sprint(v)
			if list, ok := v.([]any); ok {
				parts := make([]string, len(list))
				for i, p := range list {
					parts[i] = fmt.Sprint(p)
				}
				s = strings.Join(parts, ",")
			}
			if err := fl.Value.Set(s); err != nil {
				errs = append(errs, fmt.Errorf("config %s: %s: %w", file, fl.Name, err))
			}
		}
	})
	return errors.Join(errs...)
}

func newLogger(level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(os.Stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(os.Stderr, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", format)
}
