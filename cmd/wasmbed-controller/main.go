// Command wasmbed-controller runs Wasmbed's Kubernetes controller (package
// controller): device assignment, Application and Gateway status, token
// cleanup, for the fleet of one namespace.
//
//	wasmbed-controller [--kubeconfig PATH] [--namespace NS] [--leader-elect] [--reassign-after 5m] [--assign-workers 4] [--rebalance-every 30s] [--webhook-self-signed]
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"
	"k8s.io/klog/v2"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/wasmbed/wasmbed/controller"
	"github.com/wasmbed/wasmbed/fleet/kubestore"
	"github.com/wasmbed/wasmbed/tracing"
)

var version = "dev"

func main() {
	if err := newRoot().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "wasmbed-controller:", err)
		os.Exit(1)
	}
}

func newRoot() *cobra.Command {
	var o controller.Options
	var kubeconfig, logLevel, logFormat, otlpEndpoint, webhookCertDir string
	var webhookPort int
	var webhookSelfSigned bool
	var webhookService, webhookConfiguration string
	cmd := &cobra.Command{
		Use:           "wasmbed-controller",
		Short:         "Wasmbed's Kubernetes controller: assigns devices to gateways, reports Application and Gateway status",
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := newLogger(logLevel, logFormat)
			if err != nil {
				return err
			}
			klog.SetSlogLogger(log.With("component", "client-go"))
			ctrllog.SetLogger(logr.FromSlogHandler(log.Handler()))
			cfg, ns, err := kubestore.RESTConfig(kubeconfig, o.Namespace)
			if err != nil {
				return err
			}
			cfg.UserAgent = "wasmbed-controller/" + version
			o.Namespace, o.Log = ns, log
			switch {
			case webhookSelfSigned:
				o.Webhook = &controller.WebhookOptions{Port: webhookPort, CertDir: webhookCertDir, SelfSigned: true,
					Service: webhookService, Configuration: webhookConfiguration}
			case webhookCertDir != "":
				o.Webhook = &controller.WebhookOptions{Port: webhookPort, CertDir: webhookCertDir}
			}
			log.Info("controller starting", "host", cfg.Host, "namespace", ns, "leader_election", o.LeaderElection)
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			tp, err := tracing.New(ctx, "wasmbed-controller", version, otlpEndpoint)
			if err != nil {
				return err
			}
			if tp != nil {
				tracing.LogErrors(log)
				defer func() {
					sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
					defer cancel()
					if err := tp.Shutdown(sctx); err != nil {
						log.Warn("tracing: flush at exit", "err", err)
					}
				}()
				o.Tracer = tp
				log.Info("tracing on: a span per Reconcile, exported over OTLP/HTTP")
			}
			return controller.Run(ctx, cfg, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&kubeconfig, "kubeconfig", "", "kubeconfig file; unset: $KUBECONFIG, ~/.kube/config, else the pod's service account")
	f.StringVar(&o.Namespace, "namespace", "", "namespace of the fleet; unset: the kubeconfig context's")
	f.BoolVar(&o.LeaderElection, "leader-elect", false, "elect a leader among replicas (a Lease in the namespace)")
	f.StringVar(&o.LeaderElectionID, "leader-election-id", "wasmbed-controller", "name of the leader election Lease")
	f.StringVar(&o.MetricsAddr, "metrics-addr", "0", "Prometheus metrics listen address; 0: none")
	f.StringVar(&o.HealthAddr, "health-addr", "0", "/healthz and /readyz listen address; 0: none")
	f.DurationVar(&o.TokenRetention, "token-retention", 24*time.Hour, "how long used or expired enrollment tokens are kept")
	f.DurationVar(&o.ReassignAfter, "reassign-after", 5*time.Minute, "move devices the controller assigned off a gateway without a Lease that has not reported in for this long (negative: never); a gateway with a Lease loses them as soon as it expires")
	f.IntVar(&o.AssignWorkers, "assign-workers", 4, "assignments written at once (a failover's too)")
	f.DurationVar(&o.RebalanceEvery, "rebalance-every", 30*time.Second, "even out the devices the controller assigned across live gateways this often (and at once when a gateway's Lease comes alive or expires); negative: never")
	f.IntVar(&o.RebalanceMaxMoving, "rebalance-max-moving", 10, "devices with a session moved by rebalancing at once (until online on their new gateway)")
	f.DurationVar(&o.RolloutOfflineGrace, "rollout-offline-grace", 15*time.Second, "how long a device taking a progressive rollout may be offline before it fails the heartbeat gate")
	f.StringVar(&webhookCertDir, "webhook-cert-dir", "", "serve the validating admission webhook of Applications and Devices with tls.crt and tls.key from this directory (with --webhook-self-signed: where the controller writes the certificate it issues; a temporary directory when unset); unset and no --webhook-self-signed: no webhook")
	f.IntVar(&webhookPort, "webhook-port", 9443, "the admission webhook's port")
	f.BoolVar(&webhookSelfSigned, "webhook-self-signed", false, "serve the admission webhook with a certificate the controller issues itself (CA in the Secret "+controller.DefaultWebhookSecret+", shared by the replicas) and inject its CA into the ValidatingWebhookConfiguration --webhook-configuration; without cert-manager")
	f.StringVar(&webhookService, "webhook-service", controller.DefaultWebhookService, "the Service the API server calls the webhook through (its DNS names go in the self-signed certificate)")
	f.StringVar(&webhookConfiguration, "webhook-configuration", controller.DefaultWebhookConfiguration, "the ValidatingWebhookConfiguration whose caBundle the self-signed CA goes into")
	f.StringVar(&otlpEndpoint, "otlp-endpoint", "", "export traces over OTLP/HTTP to this collector (http://host:4318 or host:port); unset: as OTEL_EXPORTER_OTLP_ENDPOINT and the other OTEL_* variables say, off without them")
	f.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	f.StringVar(&logFormat, "log-format", "text", "text or json")
	return cmd
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
