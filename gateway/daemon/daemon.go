// Package daemon runs a whole gateway process: the data directory, the
// store (embedded, or Kubernetes custom resources), the certificate
// authority (embedded step-ca, or an external step-ca server), the device
// listener and the management API. cmd/wasmbed-gateway is a thin command
// line over it; tests start it in-process.
//
// In Kubernetes mode (Options.Store "kubernetes") the fleet's state is in
// the namespace's custom resources (package fleet/kubestore): the gateway
// serves the devices assigned to it (Device spec.gateway), writes their
// status, its Gateway's status and the devices' coarse last-seen, shares
// the embedded CA with the other gateways through a Secret, and its
// management API is read-only (the resources are where changes are made).
package daemon

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"k8s.io/client-go/rest"

	"github.com/wasmbed/wasmbed/board"
	"github.com/wasmbed/wasmbed/ca"
	"github.com/wasmbed/wasmbed/fleet"
	"github.com/wasmbed/wasmbed/fleet/admit"
	"github.com/wasmbed/wasmbed/fleet/boltstore"
	"github.com/wasmbed/wasmbed/gateway"
	"github.com/wasmbed/wasmbed/gateway/api"
	"github.com/wasmbed/wasmbed/gateway/kubemode"
	"github.com/wasmbed/wasmbed/gateway/ui"
	"github.com/wasmbed/wasmbed/tracing"
)

// Files in the data directory.
const (
	StoreFile       = "fleet.db"
	CADir           = "ca"
	CACertFile      = "ca.crt"
	AdminTokenFile  = "admin.token"
	ReaderTokenFile = "reader.token"
	// AuditFile is where the audit log is exported by default.
	AuditFile = "audit.jsonl"
	// KubeSnapshotFile keeps, in Kubernetes mode, the last state seen of the
	// fleet's resources, to start from while the API server is unreachable.
	KubeSnapshotFile = kubemode.SnapshotFile
)

// Options configure a gateway process.
type Options struct {
	DataDir string
	APIAddr string // default :8080
	// APIMaxConns caps the API's open connections (default
	// api.DefaultMaxConns; past it the oldest not in a request is closed);
	// keep Gateway.FDReserve above it.
	APIMaxConns int
	// APIMaxInFlight caps the API requests worked on at once (default
	// api.DefaultMaxInFlight(): 4 per core); one that waits past api.DefaultInFlightWait
	// for a slot is answered 429 with Retry-After.
	APIMaxInFlight int
	DeviceAddr     string // default :8081
	Gateway        gateway.Config
	// ExternalCA, when set, signs through a running step-ca server instead
	// of the embedded authority.
	ExternalCA *ca.ExternalConfig
	Log        *slog.Logger
	// Ready, if set, is called once both listeners accept connections.
	Ready func(api, device net.Addr)

	// Store is StoreEmbedded (the default: DataDir/fleet.db) or
	// StoreKubernetes.
	Store string
	// Kubeconfig is the kubeconfig file of the Kubernetes mode; empty:
	// $KUBECONFIG, ~/.kube/config, else the pod's service account.
	Kubeconfig string
	// KubeConfig, if set, is used instead of Kubeconfig (tests).
	KubeConfig *rest.Config
	// Namespace holds the fleet's resources; empty: the kubeconfig
	// context's namespace.
	Namespace string
	// LastSeenInterval is how stale an online device's stored last-seen may
	// get before it is written again (Kubernetes mode; default 5m).
	LastSeenInterval time.Duration
	// KubeSyncTimeout bounds the wait for the first list from the API server
	// (default 30s); past it the gateway starts from its snapshot
	// (KubeSnapshotFile in the data directory), if it has one.
	KubeSyncTimeout time.Duration
	// GatewayHeartbeat is how often the gateway reports in its Gateway's
	// status (Kubernetes mode; default 30s).
	GatewayHeartbeat time.Duration
	// LeaseDuration and LeaseRenew are the gateway's Lease (Kubernetes
	// mode, package gateway/kubemode): renewed every LeaseRenew (default 2s),
	// it is valid for LeaseDuration (default 10s, whole seconds), after
	// which the controller moves the gateway's devices to live gateways.
	LeaseDuration, LeaseRenew time.Duration
	// Advertise are the device addresses a gateway registers itself with
	// when its Gateway does not exist; default: the device listener's.
	Advertise []string
	// AuditLog is the file every audit entry is appended to, one JSON
	// line each, before the store's bound may prune it: default
	// DataDir/AuditFile; AuditLogOff exports to the log only.
	AuditLog string
	// OTLPEndpoint turns tracing on, exporting spans over OTLP/HTTP to this
	// collector (http://host:4318 or host:port); "": as the standard
	// OTEL_EXPORTER_OTLP_* variables say, off without them
	// (docs/observability.md). Unused when Gateway.Tracer is set.
	OTLPEndpoint string
	// Version is the gateway's version, in its spans' resource.
	Version string
}

// AuditLogOff as Options.AuditLog exports the audit log to the log only.
const AuditLogOff = "off"

// Run serves until ctx ends.
func Run(ctx context.Context, o Options) error {
	if err := o.defaults(); err != nil {
		return err
	}
	log := o.Log
	stopTracing, err := startTracing(ctx, &o)
	if err != nil {
		return err
	}
	defer stopTracing()
	st, err := openStore(ctx, &o)
	if err != nil {
		return err
	}
	defer st.store.Close()
	authority, err := openAuthority(ctx, o)
	if err != nil {
		return fmt.Errorf("certificate authority: %w", err)
	}
	defer authority.Close()
	cred, err := writeCredentials(o, authority)
	if err != nil {
		return err
	}
	if st.kube != nil {
		if err := st.kube.PublishRoot(ctx, cred.rootPEM); err != nil {
			return err
		}
		err = st.kube.MarkOffline(ctx)
	} else {
		err = markOffline(ctx, st.store)
	}
	if err != nil {
		return err
	}
	if o.Gateway.CheckModule == nil {
		o.Gateway.CheckModule = CheckModule
	}
	gw, err := gateway.New(o.Gateway, st.store, authority, log)
	if err != nil {
		return err
	}
	devL, apiL, err := listen(o)
	if err != nil {
		return err
	}
	if st.kube != nil {
		err = st.kube.Register(ctx, advertised(o, devL.Addr()))
	} else {
		err = registerGateway(ctx, st.store, gw.Config().Name, advertised(o, devL.Addr()))
	}
	if err != nil {
		devL.Close()
		apiL.Close()
		return err
	}
	handler, audit, err := newAPI(ctx, o, st, gw, authority, cred)
	if err != nil {
		devL.Close()
		apiL.Close()
		return err
	}
	defer audit.Close()
	return serve(ctx, o, st, gw, handler, audit, devL, apiL)
}

// defaults fills in the options left empty and makes the data directory.
func (o *Options) defaults() error {
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.APIAddr == "" {
		o.APIAddr = ":8080"
	}
	if o.DeviceAddr == "" {
		o.DeviceAddr = ":8081"
	}
	if o.DataDir == "" {
		return errors.New("data directory not set")
	}
	if err := os.MkdirAll(o.DataDir, 0o700); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	return nil
}

// startTracing installs the OTLP exporter when configured (o.Gateway.Tracer
// set by the caller wins); the returned func flushes it, within a bound.
func startTracing(ctx context.Context, o *Options) (func(), error) {
	if o.Gateway.Tracer != nil {
		return func() {}, nil
	}
	tp, err := tracing.New(ctx, "wasmbed-gateway", o.Version, o.OTLPEndpoint)
	if err != nil {
		return nil, fmt.Errorf("tracing: %w", err)
	}
	if tp == nil {
		return func() {}, nil
	}
	log := o.Log
	tracing.LogErrors(log)
	o.Gateway.Tracer = tp
	log.Info("tracing on: spans exported over OTLP/HTTP", "endpoint", cmp.Or(o.OTLPEndpoint, "from OTEL_EXPORTER_OTLP_*"))
	return func() {
		// What is buffered goes out, within a bound: a collector that is
		// down must not hold the gateway's exit.
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := tp.Shutdown(sctx); err != nil {
			log.Warn("tracing: flush at exit", "err", err)
		}
	}, nil
}

// Stores a gateway can run on.
const (
	StoreEmbedded   = "embedded"
	StoreKubernetes = "kubernetes"
)

// kubeConfig is the Kubernetes mode's part of o.
func (o *Options) kubeConfig() kubemode.Config {
	return kubemode.Config{Name: o.Gateway.Name, Kubeconfig: o.Kubeconfig, RESTConfig: o.KubeConfig, Namespace: o.Namespace,
		DataDir: o.DataDir, SyncTimeout: o.KubeSyncTimeout, LastSeenInterval: o.LastSeenInterval,
		GatewayHeartbeat: o.GatewayHeartbeat, LeaseDuration: o.LeaseDuration, LeaseRenew: o.LeaseRenew, Log: o.Log}
}

// advertised are the addresses a new Gateway resource gets: o.Advertise,
// else the device listener's.
func advertised(o Options, l net.Addr) []string {
	if len(o.Advertise) > 0 {
		return o.Advertise
	}
	return []string{l.String()}
}

// opened is the fleet store the gateway runs on: the embedded one, or
// Kubernetes (kube set, with the CA shared through it).
type opened struct {
	store    fleet.Store
	kube     *kubemode.Mode
	embedded *boltstore.Store
}

func openStore(ctx context.Context, o *Options) (opened, error) {
	switch o.Store {
	case "", StoreEmbedded:
		bs, err := boltstore.Open(filepath.Join(o.DataDir, StoreFile))
		if err != nil {
			return opened{}, err
		}
		return opened{store: bs, embedded: bs}, nil
	case StoreKubernetes:
		if o.Gateway.Name == "" {
			o.Gateway.Name = "gateway"
		}
		k, err := kubemode.Open(ctx, o.kubeConfig())
		if err != nil {
			return opened{}, err
		}
		o.Gateway.Serves = k.Serves
		if o.ExternalCA == nil {
			if err := k.ShareCA(ctx, filepath.Join(o.DataDir, CADir)); err != nil {
				k.Close()
				return opened{}, fmt.Errorf("certificate authority: %w", err)
			}
		}
		return opened{store: k.Store(), kube: k}, nil
	}
	return opened{}, fmt.Errorf("store %q: want %s or %s", o.Store, StoreEmbedded, StoreKubernetes)
}

func openAuthority(ctx context.Context, o Options) (ca.Authority, error) {
	if o.ExternalCA != nil {
		o.Log.Info("using external step-ca", "url", o.ExternalCA.URL, "provisioner", o.ExternalCA.Provisioner)
		return ca.NewExternal(ctx, *o.ExternalCA)
	}
	return ca.NewEmbedded(filepath.Join(o.DataDir, CADir), o.Log)
}

// credentials are what the data directory gives clients: the CA root and
// the gateway's own admin and reader tokens.
type credentials struct {
	rootPEM       []byte
	admin, reader string
}

func writeCredentials(o Options, authority ca.Authority) (credentials, error) {
	var c credentials
	caFile := filepath.Join(o.DataDir, CACertFile)
	c.rootPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: authority.Root().Raw})
	if err := os.WriteFile(caFile, c.rootPEM, 0o644); err != nil {
		return c, fmt.Errorf("write CA root: %w", err)
	}
	var err error
	if c.admin, err = ensureToken(filepath.Join(o.DataDir, AdminTokenFile)); err != nil {
		return c, err
	}
	if c.reader, err = ensureToken(filepath.Join(o.DataDir, ReaderTokenFile)); err != nil {
		return c, err
	}
	o.Log.Info("credentials", "admin_token", filepath.Join(o.DataDir, AdminTokenFile),
		"reader_token", filepath.Join(o.DataDir, ReaderTokenFile), "ca_root", caFile)
	return c, nil
}

func listen(o Options) (devL, apiL net.Listener, err error) {
	if devL, err = net.Listen("tcp", o.DeviceAddr); err != nil {
		return nil, nil, fmt.Errorf("device listener: %w", err)
	}
	if apiL, err = net.Listen("tcp", o.APIAddr); err != nil {
		devL.Close()
		return nil, nil, fmt.Errorf("API listener: %w", err)
	}
	return devL, apiL, nil
}

// newAPI makes the management API over the store: its tokens, its bound on
// requests, the audit log's export, and (standalone) backups.
func newAPI(ctx context.Context, o Options, st opened, gw *gateway.Gateway, authority ca.Authority, cred credentials) (*api.Server, *api.AuditExport, error) {
	log := o.Log
	adminRole := api.RoleAdmin
	if st.kube != nil {
		adminRole = api.RoleReader // change the fleet through its resources
	}
	handler := api.New(st.store, gw, CheckModule, board.Names,
		[]api.Token{{Name: "admin", Role: adminRole, Secret: cred.admin}, {Name: "reader", Role: api.RoleReader, Secret: cred.reader}}, log)
	if o.APIMaxInFlight > 0 {
		handler.LimitInFlight(o.APIMaxInFlight, api.DefaultInFlightWait)
	}
	auditPath := o.AuditLog
	switch auditPath {
	case "":
		auditPath = filepath.Join(o.DataDir, AuditFile)
	case AuditLogOff:
		auditPath = ""
	}
	// Before the API serves: what the store holds and the file does not is
	// exported first.
	audit, err := api.NewAuditExport(ctx, st.store, auditPath, gw.Metrics.Registry, log)
	if err != nil {
		return nil, nil, err
	}
	handler.ExportAudit(audit)
	if st.embedded != nil {
		src := backupSource{dataDir: o.DataDir, gateway: gw.Config().Name, store: st.embedded.Snapshot}
		if e, ok := authority.(*ca.Embedded); ok {
			src.caDB = e.BackupDB
		}
		handler.ServeBackup(func(w io.Writer) error {
			m, err := writeBackup(w, src)
			if err == nil {
				log.Info("backup written", "store_bytes", m.StoreBytes, "ca", m.CA, "ca_records", m.CARecords)
			}
			return err
		})
	}
	return handler, audit, nil
}

// serve runs the API (with the dashboard beside it), the device listener,
// the audit export and Kubernetes mode's loops until ctx ends or one fails.
func serve(ctx context.Context, o Options, st opened, gw *gateway.Gateway, handler *api.Server, audit *api.AuditExport, devL, apiL net.Listener) error {
	log := o.Log
	// The dashboard (/ui/) beside the API on its port, over the API itself.
	mux := http.NewServeMux()
	dash := ui.New(handler, st.store, log)
	dash.FollowOutput(gw.OutputSince)
	mux.Handle("/ui/", dash)
	mux.Handle("/ui", http.RedirectHandler("/ui/", http.StatusMovedPermanently))
	mux.Handle("/", handler)
	srv := api.HTTPServer(mux, gw.ServerCertificate, log)
	errc := make(chan error, 2)
	go func() {
		if err := srv.ServeTLS(api.Listener(apiL, o.APIMaxConns), "", ""); !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("API: %w", err)
		}
	}()
	gctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := gw.Serve(gctx, devL); err != nil {
			errc <- err
		}
	})
	wg.Go(func() { audit.Run(gctx) })
	if st.kube != nil {
		wg.Go(func() { st.kube.Run(gctx, gw) })
	}
	log.Info("gateway serving", "name", gw.Config().Name, "api", "https://"+apiL.Addr().String(), "devices", devL.Addr().String(),
		"data_dir", o.DataDir)
	if o.Ready != nil {
		o.Ready(apiL.Addr(), devL.Addr())
	}
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	sctx, scancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer scancel()
	srv.Shutdown(sctx)
	cancel()
	wg.Wait()
	log.Info("gateway stopped")
	return err
}

// ensureToken reads an API token file, creating it (mode 0600) on first start.
func ensureToken(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		if t := strings.TrimSpace(string(b)); t != "" {
			return t, nil
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("API token: %w", err)
	}
	var raw [32]byte
	rand.Read(raw[:])
	t := "wba_" + base64.RawURLEncoding.EncodeToString(raw[:])
	if err := os.WriteFile(path, []byte(t+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("API token: %w", err)
	}
	return t, nil
}

// markOffline clears "online" left by a gateway that stopped without
// closing its sessions (killed): no session survives a restart.
func markOffline(ctx context.Context, store fleet.Store) error {
	devs, err := store.Devices().List(ctx)
	if err != nil {
		return err
	}
	for _, d := range devs {
		if d.Status.Phase == fleet.PhaseOnline {
			store.Devices().Update(ctx, d.Name, func(d *fleet.Device) error {
				d.Status.Phase = fleet.PhaseOffline
				return nil
			})
		}
	}
	return nil
}

// registerGateway records this gateway in the store (an operator's
// registration, if present, is kept).
func registerGateway(ctx context.Context, store fleet.Store, name string, addrs []string) error {
	now := time.Now().UTC()
	_, err := store.Gateways().Get(ctx, name)
	if errors.Is(err, fleet.ErrNotFound) {
		return store.Gateways().Create(ctx, name, fleet.Gateway{Name: name, Addresses: addrs, CreatedAt: now, UpdatedAt: now})
	}
	return err
}

// CheckModule validates a module for a board with the limits it would run
// with (the one check, fleet/admit's).
var CheckModule = admit.Check
