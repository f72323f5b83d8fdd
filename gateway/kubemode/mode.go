// Package kubemode is the gateway's Kubernetes mode: what a gateway runs
// besides the standalone one's parts when its fleet store is the
// namespace's custom resources (fleet/kubestore). It shares the embedded
// CA through a Secret and publishes its root, registers the Gateway,
// holds its liveness Lease (lease.go), reports its status and its
// devices' coarse last-seen, marks revoked the devices whose certificate
// was revoked elsewhere, serves only the devices assigned to it (telling
// others where to go), and reports app-level health values
// (health.go). Package daemon wires it in when --store=kubernetes.
package kubemode

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/wasmbed/wasmbed/api/v1alpha1"
	"github.com/wasmbed/wasmbed/ca"
	"github.com/wasmbed/wasmbed/fleet"
	"github.com/wasmbed/wasmbed/fleet/kubestore"
	"github.com/wasmbed/wasmbed/gateway"
)

// SnapshotFile, in the gateway's data directory, keeps the last state seen
// of the fleet's resources: a gateway starts from it when the API server
// does not answer.
const SnapshotFile = "kube-snapshot.json"

// Config is the Kubernetes mode of one gateway.
type Config struct {
	// Name is the gateway's (its Gateway resource, its Lease, the
	// assignment of its devices). Required.
	Name string
	// Kubeconfig is the kubeconfig file; empty: $KUBECONFIG,
	// ~/.kube/config, else the pod's service account. RESTConfig, if set,
	// is used instead (tests).
	Kubeconfig string
	RESTConfig *rest.Config
	// Namespace holds the fleet's resources; empty: the kubeconfig
	// context's (default with RESTConfig).
	Namespace string
	// DataDir holds SnapshotFile.
	DataDir string
	// SyncTimeout bounds the wait for the first list from the API server
	// before starting from the snapshot (kubestore.Options.SyncTimeout).
	SyncTimeout time.Duration
	// LastSeenInterval: an online device's last-seen is written when the
	// stored one is this old (default DefaultLastSeenInterval).
	LastSeenInterval time.Duration
	// GatewayHeartbeat: how often the Gateway's status is written (default
	// DefaultGatewayHeartbeat).
	GatewayHeartbeat time.Duration
	// LeaseDuration and LeaseRenew: the gateway's Lease (LeaseTimes).
	LeaseDuration, LeaseRenew time.Duration
	Log                       *slog.Logger
}

// Kubernetes objects the gateways share.
const (
	// CASecret holds the embedded CA's files (keys included): the first
	// gateway creates it, the others copy it, so that every gateway of the
	// namespace issues and accepts the same certificates.
	CASecret = "wasmbed-ca"
	// CAConfigMap publishes the CA root (ca.crt) for devices and clients.
	CAConfigMap = "wasmbed-ca"
	// CAConfigMapKey is the key of the root certificate in CAConfigMap.
	CAConfigMapKey = "ca.crt"
)

// Defaults of the Kubernetes mode.
const (
	DefaultLastSeenInterval = 45 * time.Minute
	DefaultGatewayHeartbeat = 30 * time.Second
)

// The gateway's permissions in Kubernetes mode: config/rbac/gateway_role.yaml
// and the policy of config/policy (the daemon's tests run gateways as users
// bound to that role, under that policy).

// caFiles are the embedded CA's files shared through CASecret (not its
// database, which each gateway keeps).
var caFiles = []string{ca.FilePassword, ca.FileRootCert, ca.FileRootKey, ca.FileIntermediateCert, ca.FileIntermediateKey, ca.FileConfig}

// Mode is what the gateway runs besides the embedded mode's parts.
type Mode struct {
	store *followStore
	c     client.Client
	ns    string
	name  string
	log   *slog.Logger
	cfg   Config

	// What a start from the snapshot left for when the API server answers.
	mu         sync.Mutex
	laterRoot  []byte
	laterAddrs []string
}

// catchUp does what a start from the snapshot left for later, once the API
// server answers.
func (k *Mode) catchUp(ctx context.Context) {
	if k.store.Offline() {
		return
	}
	k.mu.Lock()
	root, addrs := k.laterRoot, k.laterAddrs
	k.mu.Unlock()
	if root != nil {
		if err := k.PublishRoot(ctx, root); err != nil {
			k.log.Warn("CA root not published yet", "err", err)
		} else {
			k.mu.Lock()
			k.laterRoot = nil
			k.mu.Unlock()
		}
	}
	if addrs != nil {
		if err := k.Register(ctx, addrs); err != nil {
			k.log.Warn("gateway not registered yet", "err", err)
		} else {
			k.mu.Lock()
			k.laterAddrs = nil
			k.mu.Unlock()
		}
	}
}

// Open opens the fleet store on the namespace's resources (from the
// snapshot when the API server does not answer within cfg.SyncTimeout).
func Open(ctx context.Context, c Config) (*Mode, error) {
	if c.Name == "" {
		return nil, errors.New("kubernetes mode: the gateway has no name")
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if _, _, err := c.LeaseTimes(); err != nil {
		return nil, err
	}
	cfg, ns := c.RESTConfig, c.Namespace
	if cfg == nil {
		var err error
		if cfg, ns, err = kubestore.RESTConfig(c.Kubeconfig, c.Namespace); err != nil {
			return nil, err
		}
	} else if ns == "" {
		ns = "default"
	}
	cfg = rest.CopyConfig(cfg)
	cfg.UserAgent = "wasmbed-gateway/" + c.Name
	log := c.Log
	store, err := kubestore.Open(ctx, cfg, kubestore.Options{Namespace: ns, Component: "wasmbed-gateway", Host: c.Name, Log: log,
		SnapshotFile: filepath.Join(c.DataDir, SnapshotFile), SyncTimeout: c.SyncTimeout})
	if err != nil {
		return nil, err
	}
	log.Info("kubernetes store", "host", cfg.Host, "namespace", ns)
	return &Mode{store: &followStore{store, newHealthReports(store, ns, log)}, c: store.Client(), ns: ns, name: c.Name,
		log: log.With("component", "kubernetes"), cfg: c}, nil
}

// Store is the fleet store the gateway runs on in this mode.
func (k *Mode) Store() fleet.Store { return k.store }

// Close closes the store.
func (k *Mode) Close() error { return k.store.Close() }

// Serves (gateway.Config.Serves): this gateway holds the sessions of the devices assigned to it.
// Another gateway's device is told that gateway's addresses (from the
// informers' cache), so that it goes there next.
func (k *Mode) Serves(d *fleet.Device) error {
	switch d.Gateway {
	case k.name:
		return nil
	case "":
		return &gateway.ServedElsewhere{Reason: fmt.Sprintf("device %s is not assigned to a gateway yet (the controller assigns it)", d.Name)}
	}
	name := d.Gateway
	return &gateway.ServedElsewhere{Reason: fmt.Sprintf("device %s is served by gateway %s", d.Name, name),
		Addresses: func() []string {
			gw, err := k.store.Gateways().Get(context.Background(), name)
			if err != nil {
				return nil // not registered (yet): the device tries the next gateway
			}
			return gw.Addresses
		}}
}

// ShareCA makes dir hold the namespace's CA: a copy of the Secret
// wasmbed-ca if it exists, else the CA found in (or created in) dir, which
// is then published in that Secret. Two gateways starting at once agree:
// the one whose Secret is created first wins, the other adopts it.
func (k *Mode) ShareCA(ctx context.Context, dir string) error {
	if k.store.Offline() {
		// Started from the snapshot: the CA this gateway used last time.
		if _, err := os.Stat(filepath.Join(dir, ca.FileConfig)); err != nil {
			return fmt.Errorf("the API server is unreachable and %s holds no CA from an earlier start: %w", dir, err)
		}
		k.log.Warn("API server unreachable: using the CA kept in the data directory", "dir", dir)
		return nil
	}
	var sec corev1.Secret
	err := k.c.Get(ctx, client.ObjectKey{Namespace: k.ns, Name: CASecret}, &sec)
	switch {
	case err == nil:
		return k.adoptCA(dir, &sec)
	case !apierrors.IsNotFound(err):
		return fmt.Errorf("read secret %s: %w", CASecret, err)
	}
	if _, err := os.Stat(filepath.Join(dir, ca.FileConfig)); errors.Is(err, os.ErrNotExist) {
		e, err := ca.NewEmbedded(dir, k.log) // creates it
		if err != nil {
			return err
		}
		e.Close()
	}
	sec = corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: CASecret, Namespace: k.ns,
		Labels: map[string]string{kubestore.LabelPartOf: "wasmbed"}}, Data: map[string][]byte{}}
	for _, f := range caFiles {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			return err
		}
		sec.Data[f] = b
	}
	err = k.c.Create(ctx, &sec)
	if apierrors.IsAlreadyExists(err) {
		if err := k.c.Get(ctx, client.ObjectKey{Namespace: k.ns, Name: CASecret}, &sec); err != nil {
			return err
		}
		return k.adoptCA(dir, &sec)
	}
	if err != nil {
		return fmt.Errorf("create secret %s: %w", CASecret, err)
	}
	k.log.Info("published the CA for the other gateways", "secret", CASecret)
	return nil
}

func (k *Mode) adoptCA(dir string, sec *corev1.Secret) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	changed := false
	for _, f := range caFiles {
		b, ok := sec.Data[f]
		if !ok {
			return fmt.Errorf("secret %s has no %s", CASecret, f)
		}
		old, err := os.ReadFile(filepath.Join(dir, f))
		if err == nil && bytes.Equal(old, b) {
			continue
		}
		changed = true
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o600); err != nil {
			return err
		}
	}
	if changed {
		// A database of another CA's certificates has nothing to say about this one's.
		os.Remove(filepath.Join(dir, ca.FileDB))
		k.log.Info("using the namespace's CA", "secret", CASecret)
	}
	return nil
}

// publishRoot keeps the ConfigMap wasmbed-ca holding the CA root. While the
// store answers from its snapshot it is left for later (catchUp).
func (k *Mode) PublishRoot(ctx context.Context, root []byte) error {
	if k.store.Offline() {
		k.mu.Lock()
		k.laterRoot = root
		k.mu.Unlock()
		return nil
	}
	var cm corev1.ConfigMap
	err := k.c.Get(ctx, client.ObjectKey{Namespace: k.ns, Name: CAConfigMap}, &cm)
	switch {
	case apierrors.IsNotFound(err):
		cm = corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: CAConfigMap, Namespace: k.ns,
			Labels: map[string]string{kubestore.LabelPartOf: "wasmbed"}}, Data: map[string]string{CAConfigMapKey: string(root)}}
		if err := k.c.Create(ctx, &cm); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("publish CA root: %w", err)
		}
		return nil
	case err != nil:
		return fmt.Errorf("read configmap %s: %w", CAConfigMap, err)
	case cm.Data[CAConfigMapKey] == string(root):
		return nil
	}
	if cm.Data == nil {
		cm.Data = map[string]string{}
	}
	cm.Data[CAConfigMapKey] = string(root)
	return k.c.Update(ctx, &cm)
}

// register creates the Gateway resource if absent (an operator's or
// Terraform's registration is kept as it is).
func (k *Mode) Register(ctx context.Context, addrs []string) error {
	if k.store.Offline() {
		k.mu.Lock()
		k.laterAddrs = addrs
		k.mu.Unlock()
		return nil
	}
	var gw v1alpha1.Gateway
	err := k.c.Get(ctx, client.ObjectKey{Namespace: k.ns, Name: k.name}, &gw)
	if !apierrors.IsNotFound(err) {
		return err
	}
	gw = v1alpha1.Gateway{ObjectMeta: metav1.ObjectMeta{Name: k.name, Namespace: k.ns}}
	for _, a := range addrs {
		gw.Spec.Addresses = append(gw.Spec.Addresses, v1alpha1.Address(a))
	}
	if err := k.c.Create(ctx, &gw); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("register gateway %s: %w", k.name, err)
	}
	return nil
}

// markOffline: sessions of this gateway's devices did not survive its restart.
func (k *Mode) MarkOffline(ctx context.Context) error {
	devs, err := k.store.Devices().List(ctx)
	if err != nil {
		return err
	}
	for _, d := range devs {
		if d.Gateway == k.name && d.Status.Phase == fleet.PhaseOnline {
			k.store.Devices().Update(ctx, d.Name, func(d *fleet.Device) error {
				if d.Status.Phase == fleet.PhaseOnline {
					d.Status.Phase = fleet.PhaseOffline
				}
				return nil
			})
		}
	}
	return nil
}

// run keeps, until ctx ends, the gateway's Lease (lease.go) and
// status (sessions, heartbeat) and the coarse last-seen of its online
// devices, and marks revoked the devices whose current certificate was
// revoked elsewhere.
func (k *Mode) Run(ctx context.Context, gw *gateway.Gateway) {
	heartbeat := k.cfg.GatewayHeartbeat
	if heartbeat <= 0 {
		heartbeat = DefaultGatewayHeartbeat
	}
	lastSeen := k.cfg.LastSeenInterval
	if lastSeen <= 0 {
		lastSeen = DefaultLastSeenInterval
	}
	hb := time.NewTicker(heartbeat)
	defer hb.Stop()
	ls := time.NewTicker(min(lastSeen/4, time.Minute))
	defer ls.Stop()
	changes := k.store.Watch(ctx)
	lctx, stopLease := context.WithCancel(ctx)
	leaseDone := make(chan struct{})
	go func() {
		defer close(leaseDone)
		k.holdLease(lctx, gw.Metrics)
	}()
	defer func() { stopLease(); <-leaseDone }()
	k.reportGateway(ctx, gw, heartbeat)
	for {
		select {
		case <-ctx.Done():
			return
		case <-hb.C:
			k.catchUp(ctx)
			k.reportGateway(ctx, gw, heartbeat)
		case <-ls.C:
			k.touchLastSeen(ctx, gw, lastSeen)
		case c, ok := <-changes:
			if !ok {
				return
			}
			if c.Kind == fleet.KindRevocation || c.Kind == "" {
				k.markRevoked(ctx)
			}
		}
	}
}

// reportGateway writes the gateway's status (a merge patch of its own
// fields: the controller writes the others).
func (k *Mode) reportGateway(ctx context.Context, gw *gateway.Gateway, period time.Duration) {
	now := metav1.NowMicro()
	patch := fmt.Sprintf(`{"status":{"devices":%d,"lastHeartbeatTime":%q,"heartbeatSeconds":%d}}`,
		gw.Sessions(), now.UTC().Format(metav1.RFC3339Micro), int(period/time.Second))
	obj := &v1alpha1.Gateway{ObjectMeta: metav1.ObjectMeta{Name: k.name, Namespace: k.ns}}
	if err := k.c.Status().Patch(ctx, obj, client.RawPatch("application/merge-patch+json", []byte(patch))); err != nil {
		k.log.Debug("gateway status not written", "err", err)
	}
}

// touchLastSeen writes the last-seen of online devices whose stored one is
// older than every, and repairs phases that went astray (a status write
// lost with the API server): what the gateway holds in memory wins.
func (k *Mode) touchLastSeen(ctx context.Context, gw *gateway.Gateway, every time.Duration) {
	devs, err := k.store.Devices().List(ctx)
	if err != nil {
		return
	}
	for _, d := range devs {
		if d.Gateway != k.name {
			continue
		}
		online, last := gw.Online(d.Name)
		switch {
		case online && (d.Status.Phase != fleet.PhaseOnline || last.Sub(d.Status.LastSeen) >= every):
		case !online && d.Status.Phase == fleet.PhaseOnline:
		default:
			continue
		}
		k.store.Devices().Update(ctx, d.Name, func(d *fleet.Device) error {
			if online {
				d.Status.Phase, d.Status.LastSeen, d.Status.SessionGateway = fleet.PhaseOnline, last.UTC(), k.name
			} else if d.Status.Phase == fleet.PhaseOnline {
				d.Status.Phase = fleet.PhaseOffline
			}
			return nil
		})
	}
}

// markRevoked sets the phase of this gateway's devices whose current
// certificate is revoked (the gateway closed their sessions already).
func (k *Mode) markRevoked(ctx context.Context) {
	revs, err := k.store.Revocations().List(ctx)
	if err != nil {
		return
	}
	bySerial := map[string]fleet.Revocation{}
	for _, r := range revs {
		bySerial[r.Serial] = r
	}
	devs, err := k.store.Devices().List(ctx)
	if err != nil {
		return
	}
	for _, d := range devs {
		r, ok := bySerial[d.Status.CertSerial]
		if d.Gateway != k.name || !ok || d.Status.Phase == fleet.PhaseRevoked {
			continue
		}
		k.store.Devices().Update(ctx, d.Name, func(d *fleet.Device) error {
			d.Status.Phase = fleet.PhaseRevoked
			d.Status.Message = "certificate revoked: " + r.Reason
			return nil
		})
	}
}

// followStore is the Kubernetes store as a gateway uses it: the controller
// is the one writer of progressive rollout progress in Kubernetes mode, so
// the applications the gateway lists to plan are shown as the controller
// lets the gateway deploy them (kubestore.FollowerView): a progressive
// rollout as a batched one admitting the devices the controller admitted,
// a rolled-back one as its stable release. The gateway's own rollout
// engine (gateway/rollout.go) thus never runs on them, and the devices of
// other gateways are never judged here. Get (the read-only API, a kick
// after a device's report) and every write see the Application as it is.
type followStore struct {
	*kubestore.Store
	health *healthReports // the values of app-level health gates (health.go)
}

func (s *followStore) Applications() fleet.Collection[fleet.Application] {
	return followApps{s.Store.Applications()}
}

type followApps struct {
	fleet.Collection[fleet.Application]
}

func (c followApps) List(ctx context.Context) ([]fleet.Application, error) {
	apps, err := c.Collection.List(ctx)
	if err != nil {
		return nil, err
	}
	out := apps[:0]
	for _, a := range apps {
		if v, ok := kubestore.FollowerView(a); ok {
			out = append(out, v)
		}
	}
	return out, nil
}
