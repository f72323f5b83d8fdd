// Package controller is Wasmbed's Kubernetes controller (a
// controller-runtime manager, one namespace, leader election):
//
//   - assignment: a Device without spec.gateway gets one, among the
//     gateways alive (their Lease renewed, liveness.go; else reporting in
//     their status), whose labels the device has, and that have capacity
//     left, the least loaded first; the devices of a gateway whose Lease
//     expires go to live gateways at once (failover); a gateway added
//     (or back) takes its share of them (rebalance.go), a bounded number
//     of devices with a session moving at once;
//   - Application status: selected, updated, in-progress and failed
//     devices, and the Ready, Progressing and Degraded conditions,
//     aggregated from the devices' deployment records with the same rules
//     as the gateways (fleet.CountRollout);
//   - progressive rollouts (rollout.go): the controller is the one writer
//     of their progress (status.rollout, status.stable) and decides which
//     devices may take the new spec (status.admission), evaluating
//     fleet's rollout logic; it applies the operators' actions asked with
//     the annotation fleet.wasmbed.dev/rollout-action;
//   - Gateway status: devices assigned, and Ready while the gateway
//     process reports in;
//   - a deleted Device's certificates are revoked before it goes (the
//     finalizer fleet.wasmbed.dev/revoke-certificates, finalizer.go);
//   - enrollment tokens used or expired for longer than a day are deleted;
//   - Kubernetes events on the objects concerned.
//
// The gateways run the reconciliation core (fleet.Plan) for the devices
// they serve; the controller writes only Device spec.gateway (and its
// finalizer), the certificate ledger of a deleted device, Application
// status (and removes the rollout-action annotation it applied) and
// Gateway status.
package controller

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"go.opentelemetry.io/otel/trace"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/wasmbed/wasmbed/api/v1alpha1"
	"github.com/wasmbed/wasmbed/fleet/kubestore"
	"github.com/wasmbed/wasmbed/tracing"
)

// Options configure the controller.
type Options struct {
	// Namespace holds the fleet. Required.
	Namespace string
	// LeaderElection: one replica works at a time (a Lease named
	// LeaderElectionID in Namespace).
	LeaderElection   bool
	LeaderElectionID string // default "wasmbed-controller"
	// MetricsAddr serves Prometheus metrics; "" or "0": none.
	MetricsAddr string
	// HealthAddr serves /healthz and /readyz; "" or "0": none.
	HealthAddr string
	// TokenRetention is how long used or expired enrollment tokens are kept
	// (default 24h).
	TokenRetention time.Duration
	// ReassignAfter: devices the controller assigned to a gateway without
	// a Lease (kubestore.GatewayLeaseName) that has not reported in for
	// this long (after it stopped counting as Ready) go to another gateway
	// (default 5m; negative: never). A gateway with a Lease loses them as
	// soon as its Lease expires. Devices given a gateway by name stay.
	ReassignAfter time.Duration
	// AssignWorkers bounds the assignments written at once, in a failover
	// too (default 4).
	AssignWorkers int
	// RebalanceEvery is how often the controller evens out the devices it
	// assigned across the live gateways when nothing changes (a gateway's
	// Lease coming alive or expiring starts a pass at once; default 30s;
	// negative: never rebalance). RebalanceMaxMoving bounds the devices
	// with a session moved at once (until online on their new gateway;
	// default 10).
	RebalanceEvery     time.Duration
	RebalanceMaxMoving int
	// RolloutOfflineGrace is how long a device taking a progressive
	// rollout may be without a session (its gateway marked it offline)
	// before it fails the heartbeat gate (default 15s: a gateway's
	// default heartbeat timeout, the time a device has to come back).
	RolloutOfflineGrace time.Duration
	Log                 *slog.Logger
	// Tracer makes a span per Reconcile (tracing.go); nil: the global
	// tracer provider, a no-op one unless the program installed another.
	Tracer trace.TracerProvider
	// lock is the leader election's lock Run keeps across the managers it
	// starts (one identity: a new manager takes the lease its predecessor
	// held at once).
	lock resourcelock.Interface
	// Webhook, when set, serves the validating admission webhook of
	// Applications and Devices (webhook.go; config/webhook).
	Webhook *WebhookOptions
}

// WebhookOptions is where the admission webhook listens, with its serving
// certificate (tls.crt and tls.key in CertDir).
type WebhookOptions struct {
	Host    string
	Port    int // default 9443
	CertDir string
	// SelfSigned: the controller issues the serving certificate itself
	// (webhookcert.go) into CertDir (a temporary directory when empty),
	// from a CA kept in the Secret named Secret (default
	// DefaultWebhookSecret) of the namespace, for the DNS names of the
	// Service named Service (default DefaultWebhookService) and
	// ExtraHosts, and injects the CA into the ValidatingWebhookConfiguration
	// named Configuration (default DefaultWebhookConfiguration).
	SelfSigned                     bool
	Service, Configuration, Secret string
	ExtraHosts                     []string
}

// fieldGateway indexes Devices by spec.gateway.
const fieldGateway = "spec.gateway"

// New makes the manager with the controllers; Start it.
func New(cfg *rest.Config, o Options) (manager.Manager, error) {
	if o.Namespace == "" {
		return nil, fmt.Errorf("controller: namespace not set")
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.LeaderElectionID == "" {
		o.LeaderElectionID = "wasmbed-controller"
	}
	if o.TokenRetention <= 0 {
		o.TokenRetention = 24 * time.Hour
	}
	if o.ReassignAfter == 0 {
		o.ReassignAfter = 5 * time.Minute
	}
	if o.AssignWorkers <= 0 {
		o.AssignWorkers = 4
	}
	if o.RebalanceEvery == 0 {
		o.RebalanceEvery = 30 * time.Second
	}
	if o.RebalanceMaxMoving <= 0 {
		o.RebalanceMaxMoving = 10
	}
	if o.RolloutOfflineGrace <= 0 {
		o.RolloutOfflineGrace = 15 * time.Second
	}
	if o.MetricsAddr == "" {
		o.MetricsAddr = "0"
	}
	if o.HealthAddr == "" {
		o.HealthAddr = "0"
	}
	skip := true
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                  kubestore.Scheme(),
		Logger:                  logr.FromSlogHandler(o.Log.Handler()),
		Cache:                   cache.Options{DefaultNamespaces: map[string]cache.Config{o.Namespace: {}}, DefaultTransform: cache.TransformStripManagedFields()},
		LeaderElection:          o.LeaderElection,
		LeaderElectionID:        o.LeaderElectionID,
		LeaderElectionNamespace: o.Namespace,
		// Run replaces a stopped manager in the same process (after an
		// outage): the new one takes the lease at once (the same identity,
		// o.lock, or the one released).
		LeaderElectionReleaseOnCancel:       true,
		LeaderElectionResourceLockInterface: o.lock,
		Metrics:                             metricsserver.Options{BindAddress: o.MetricsAddr},
		HealthProbeBindAddress:              o.HealthAddr,
		// Tests run several managers in one process.
		Controller:    config.Controller{SkipNameValidation: &skip},
		WebhookServer: webhookServer(o.Webhook),
	})
	if err != nil {
		return nil, fmt.Errorf("controller: manager: %w", err)
	}
	if o.HealthAddr != "0" {
		if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
			return nil, err
		}
		if err := mgr.AddReadyzCheck("ping", healthz.Ping); err != nil {
			return nil, err
		}
	}
	if err := mgr.GetFieldIndexer().IndexField(context.Background(), &v1alpha1.Device{}, fieldGateway, func(o client.Object) []string {
		return []string{string(o.(*v1alpha1.Device).Spec.Gateway)}
	}); err != nil {
		return nil, err
	}
	c, rec := mgr.GetClient(), mgr.GetEventRecorderFor("wasmbed-controller")
	tr := tracing.Provider(o.Tracer).Tracer(tracerName)
	live := newLeases(o.Namespace)
	a := &assigner{c: c, rec: rec, ns: o.Namespace, reassignAfter: o.ReassignAfter, workers: o.AssignWorkers, live: live,
		log: o.Log, assumed: map[string]assumption{}}
	if err := a.setup(mgr, tr); err != nil {
		return nil, err
	}
	if o.RebalanceEvery > 0 {
		if err := mgr.Add(&rebalancer{a: a, every: o.RebalanceEvery, maxMoving: o.RebalanceMaxMoving, transitTimeout: 2 * time.Minute,
			kick: live.subscribe(), now: time.Now, transit: map[string]time.Time{}}); err != nil {
			return nil, err
		}
	}
	if err := (&leaseReconciler{c: c, t: live}).setup(mgr, tr); err != nil {
		return nil, err
	}
	if err := (&applications{c: c, api: mgr.GetAPIReader(), rec: rec, ns: o.Namespace, offlineGrace: o.RolloutOfflineGrace, started: time.Now()}).setup(mgr, tr); err != nil {
		return nil, err
	}
	if err := (&gateways{c: c, rec: rec, ns: o.Namespace, live: live}).setup(mgr, tr); err != nil {
		return nil, err
	}
	if err := (&revoker{c: c, api: mgr.GetAPIReader(), rec: rec}).setup(mgr, tr); err != nil {
		return nil, err
	}
	if err := (&tokens{c: c, retention: o.TokenRetention}).setup(mgr, tr); err != nil {
		return nil, err
	}
	if o.Webhook != nil {
		if err := setupWebhooks(mgr); err != nil {
			return nil, err
		}
	}
	return mgr, nil
}

// Run runs the controller until ctx ends. When the API server answers
// again after an outage, the manager is replaced by a new one: its
// informers list the fleet at once instead of when client-go's backoff
// (up to a minute after a long outage) lets them; a manager that lost its
// leadership (an outage longer than its lease) is replaced too, and
// campaigns again.
func Run(ctx context.Context, cfg *rest.Config, o Options) error {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	probe, err := client.New(cfg, client.Options{Scheme: kubestore.Scheme()})
	if err != nil {
		return fmt.Errorf("controller: client: %w", err)
	}
	if o.LeaderElection {
		if o.lock, err = leaseLock(cfg, o); err != nil {
			return err
		}
	}
	if o.Webhook != nil && o.Webhook.SelfSigned {
		wh := *o.Webhook
		if err := selfSignWebhook(ctx, cfg, o.Namespace, &wh, o.Log.With("component", "webhook")); err != nil {
			return fmt.Errorf("controller: %w", err)
		}
		o.Webhook = &wh
	}
	for first := true; ; first = false {
		mgr, err := New(cfg, o)
		if err != nil && !first {
			// Starting anew while the API server is still away: again.
			o.Log.Warn("controller not started anew; again in a second", "err", err)
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(time.Second):
			}
			continue
		}
		if err != nil {
			return err
		}
		mctx, cancel := context.WithCancel(ctx)
		var returned atomic.Bool
		go kubestore.AwaitReturn(mctx, probe, o.Namespace, nil, o.Log.With("component", "controller"), func(down time.Duration) bool {
			o.Log.Info("API server answers again: the controller starts anew, its informers list the fleet", "unreachable_for", down.Round(time.Millisecond))
			returned.Store(true)
			cancel()
			return true
		})
		err = mgr.Start(mctx)
		cancel()
		switch {
		case ctx.Err() != nil:
			return nil
		case returned.Load():
		case err != nil && o.LeaderElection:
			o.Log.Warn("controller stopped; starting anew", "err", err)
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(time.Second):
			}
		default:
			return err
		}
	}
}

// gatewayReady reports whether the gateway reported in recently: within
// three of its heartbeat periods.
func gatewayReady(gw *v1alpha1.Gateway, now time.Time) (bool, time.Duration) {
	period := time.Duration(gw.Status.HeartbeatSeconds) * time.Second
	if period <= 0 {
		period = 30 * time.Second
	}
	stale := 3 * period
	t := gw.Status.LastHeartbeatTime
	if t == nil {
		return false, stale
	}
	age := now.Sub(t.Time)
	return age <= stale, stale - age
}

// leaseLock is the leader election's Lease with this process's identity
// (host name and a random suffix, as controller-runtime makes it).
func leaseLock(cfg *rest.Config, o Options) (resourcelock.Interface, error) {
	host, err := os.Hostname()
	if err != nil {
		return nil, fmt.Errorf("controller: leader election identity: %w", err)
	}
	cs, err := kubernetes.NewForConfig(rest.AddUserAgent(rest.CopyConfig(cfg), "leader-election"))
	if err != nil {
		return nil, fmt.Errorf("controller: leader election client: %w", err)
	}
	id := o.LeaderElectionID
	if id == "" {
		id = "wasmbed-controller"
	}
	return resourcelock.New(resourcelock.LeasesResourceLock, o.Namespace, id, cs.CoreV1(), cs.CoordinationV1(),
		resourcelock.ResourceLockConfig{Identity: host + "_" + string(uuid.NewUUID())})
}
