// Package kubestore is the Kubernetes fleet.Store: the fleet's objects are
// custom resources (package api/v1alpha1) of one namespace, read through
// informers (controller-runtime's cache) and written with
// controller-runtime's client.
//
// What lives where:
//
//   - gateways, devices, applications: Gateway, Device and Application
//     resources; a device's deployments are records in its status, keyed by
//     app, with their protocol generations;
//   - enrollment tokens (only the hash of the secret), revocations and the
//     certificate ledger: EnrollmentToken, CertificateRevocation and
//     DeviceCertificate resources;
//   - modules: ConfigMaps named module-<sha256>, the bytes in binaryData
//     under the key <sha256>, immutable. A ConfigMap holds at most 1 MiB,
//     so modules are limited to MaxModuleSize in this mode;
//   - events: Kubernetes Events (core/v1) on the Device concerned, through
//     client-go's event broadcaster (which aggregates repeats), plus a
//     bounded in-memory history for Events;
//   - app output and the audit log: bounded, in the memory of this process
//     only. In Kubernetes mode output is per gateway: each gateway keeps
//     what its own devices sent, and loses it on restart. An audit entry
//     given with a write (fleet.WithAudit) is recorded once the write
//     succeeded: no transaction spans a resource and the log.
//
// Reads come from the informers' cache, so a gateway keeps serving with the
// last state it saw while the API server is unreachable. Writes return once
// the cache has seen them (a read after a write sees the write). A write
// that changes nothing is not sent.
//
// Device status writes (Devices().Update, Deployments().Update and
// Create: what a gateway observes) that fail because the API server cannot
// be reached are kept in memory and retried until they succeed, as the
// kubelet's status manager does; reads of this Store see them at once.
// Desired-state writes (Put, PutMany, Create and Delete of other kinds, and
// Deployments().Put and PutMany, which the gateway uses to record a
// generation before sending it) are synchronous: they fail while the API
// server is unreachable.
package kubestore

import (
	"context"
	cryptosha256 "crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/record"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/wasmbed/wasmbed/api/v1alpha1"
	"github.com/wasmbed/wasmbed/fleet"
)

// Bounds of what is kept in memory.
const (
	maxEvents         = 10000
	maxAudit          = 10000
	maxOutputPerAppOn = 200 // records per app and device, as the embedded store keeps
)

// MaxModuleSize is the largest module this store keeps: a ConfigMap holds
// at most 1 MiB of data.
const MaxModuleSize = 1<<20 - 1024

// ModulePrefix names the ConfigMap of a module: ModulePrefix + sha256.
const ModulePrefix = "module-"

// Labels on the objects the store creates.
const (
	LabelPartOf = "app.kubernetes.io/part-of"
	LabelModule = "fleet.wasmbed.dev/module"
)

// ErrInvalidName: the key is not a Kubernetes object name.
var ErrInvalidName = errors.New("not a Kubernetes object name (lowercase letters, digits, '-' and '.', at most 64)")

// Options configure a Store.
type Options struct {
	// Namespace holds the fleet. Required.
	Namespace string
	// Component names the writer in Kubernetes events, e.g.
	// "wasmbed-gateway".
	Component string
	// Host is the reporting instance in events (the gateway's name).
	Host string
	Log  *slog.Logger
	// SyncTimeout bounds the wait for the informers' first list; default 30s.
	SyncTimeout time.Duration
	// RetryInterval is how often writes kept in memory are retried;
	// default 1s.
	RetryInterval time.Duration
	// SnapshotFile, if set, keeps the last state the informers saw (every
	// 10 s when it changed, and on Close). When the informers cannot list
	// within SyncTimeout, Open starts from it instead of failing: reads
	// answer from the snapshot, device status writes wait in memory as in
	// an outage, and once the API server answers the store follows it again.
	SnapshotFile string
}

// Store is the Kubernetes store.
type Store struct {
	ns  string
	log *slog.Logger
	c   client.Client // direct to the API server
	// informers is the cache the informers fill (follow.go replaces it
	// after an outage); reader answers reads: the cache, or a snapshot
	// until the cache has synced.
	informers atomic.Pointer[cacheBox]
	newCache  func() (cache.Cache, error)
	reader    storeReader
	// suspectc asks followLoop to ask the API server now (a write found it
	// unreachable).
	suspectc chan struct{}
	// stopInformers stops the first informers (follow.go stops the ones
	// it starts itself).
	stopInformers context.CancelFunc
	scheme        *k8sruntime.Scheme
	cancel        context.CancelFunc
	done          chan struct{}

	snapshotFile  string
	snapshotDirty atomic.Bool
	snapshotDone  chan struct{}

	events     record.EventBroadcaster
	recorder   record.EventRecorder
	retryEvery time.Duration

	locks keyedMutex

	mu       sync.Mutex
	watchers map[*watcher]struct{}
	pending  map[string]*pendingDevice // device status kept in memory (write-behind)
	kickc    chan struct{}
	history  []fleet.Event
	eventSeq uint64
	output   map[string][]fleet.OutputRecord
	audit    []fleet.AuditRecord
	auditSeq uint64
	closed   bool
}

var _ fleet.Store = (*Store)(nil)

// Scheme knows the core types and fleet.wasmbed.dev/v1alpha1.
func Scheme() *k8sruntime.Scheme {
	s := k8sruntime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		panic(err)
	}
	if err := v1alpha1.AddToScheme(s); err != nil {
		panic(err)
	}
	return s
}

// Open connects to the API server of cfg, starts informers on the fleet's
// resources in o.Namespace and waits for their first list.
func Open(ctx context.Context, cfg *rest.Config, o Options) (*Store, error) {
	if o.Namespace == "" {
		return nil, errors.New("kubestore: namespace not set")
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Component == "" {
		o.Component = "wasmbed"
	}
	if o.SyncTimeout <= 0 {
		o.SyncTimeout = 30 * time.Second
	}
	if o.RetryInterval <= 0 {
		o.RetryInterval = time.Second
	}
	cfg = rest.CopyConfig(cfg)
	if cfg.Timeout == 0 {
		cfg.Timeout = 15 * time.Second
	}
	scheme := Scheme()
	log := o.Log.With("component", "kubestore", "namespace", o.Namespace)
	// A fixed REST mapping of the kinds the store uses: no discovery, so the
	// store can be made (and start from a snapshot) while the API server is
	// unreachable.
	mapper := meta.NewDefaultRESTMapper([]schema.GroupVersion{v1alpha1.GroupVersion, corev1.SchemeGroupVersion, coordinationv1.SchemeGroupVersion})
	for _, k := range []struct {
		gv     schema.GroupVersion
		kind   string
		plural string
	}{
		{v1alpha1.GroupVersion, "Device", "devices"},
		{v1alpha1.GroupVersion, "Application", "applications"},
		{v1alpha1.GroupVersion, "Gateway", "gateways"},
		{v1alpha1.GroupVersion, "EnrollmentToken", "enrollmenttokens"},
		{v1alpha1.GroupVersion, "CertificateRevocation", "certificaterevocations"},
		{v1alpha1.GroupVersion, "DeviceCertificate", "devicecertificates"},
		{corev1.SchemeGroupVersion, "ConfigMap", "configmaps"},
		{corev1.SchemeGroupVersion, "Secret", "secrets"},
		{corev1.SchemeGroupVersion, "Event", "events"},
		{coordinationv1.SchemeGroupVersion, "Lease", "leases"}, // a gateway's liveness (lease.go)
	} {
		for _, kind := range []string{k.kind, k.kind + "List"} {
			mapper.AddSpecific(k.gv.WithKind(kind), k.gv.WithResource(k.plural),
				k.gv.WithResource(strings.ToLower(k.kind)), meta.RESTScopeNamespace)
		}
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme, Mapper: mapper})
	if err != nil {
		return nil, fmt.Errorf("kubestore: client: %w", err)
	}
	s := &Store{ns: o.Namespace, log: log, c: c, scheme: scheme, retryEvery: o.RetryInterval,
		watchers: map[*watcher]struct{}{}, pending: map[string]*pendingDevice{}, kickc: make(chan struct{}, 1),
		output: map[string][]fleet.OutputRecord{}, done: make(chan struct{}), snapshotFile: o.SnapshotFile,
		snapshotDone: make(chan struct{}), suspectc: make(chan struct{}, 1)}
	s.newCache = func() (cache.Cache, error) {
		return cache.New(cfg, cache.Options{Scheme: scheme, Mapper: mapper,
			DefaultNamespaces: map[string]cache.Config{o.Namespace: {}},
			DefaultTransform:  cache.TransformStripManagedFields(),
			DefaultWatchErrorHandler: func(_ context.Context, _ *toolscache.Reflector, err error) {
				log.Debug("watch interrupted; the informer lists again", "err", err)
			}})
	}
	ca, err := s.newCache()
	if err != nil {
		return nil, fmt.Errorf("kubestore: cache: %w", err)
	}
	s.informers.Store(&cacheBox{ca})
	s.reader.Store(&readerBox{ca})

	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.cancel = cancel
	ictx, stopInformers := context.WithCancel(rctx)
	s.stopInformers = stopInformers
	regs, err := s.watch(ictx, ca)
	if err != nil {
		cancel()
		return nil, err
	}
	cacheDone := make(chan error, 1)
	go func() { cacheDone <- ca.Start(ictx) }()
	sctx, scancel := context.WithTimeout(ctx, o.SyncTimeout)
	defer scancel()
	if ca.WaitForCacheSync(sctx) {
		synced(regs)
	} else {
		var snap *snapshotReader
		var savedAt time.Time
		var serr error = errors.New("no snapshot file configured")
		if o.SnapshotFile != "" {
			snap, savedAt, serr = loadSnapshot(o.SnapshotFile, o.Namespace, scheme)
		}
		if serr != nil {
			cancel()
			select {
			case err := <-cacheDone:
				if err != nil {
					return nil, fmt.Errorf("kubestore: informers: %w", err)
				}
			default:
			}
			return nil, fmt.Errorf("kubestore: no first list of the fleet's resources in namespace %s within %v (API server unreachable, CRDs not installed, or not allowed to list them), and no snapshot to start from (%v)", o.Namespace, o.SyncTimeout, serr)
		}
		// Start from the snapshot; follow the API server once it answers.
		s.reader.Store(&readerBox{snap})
		log.Warn("API server unreachable: serving from the last snapshot until it answers",
			"snapshot", o.SnapshotFile, "saved_at", savedAt)
		go func() {
			if !ca.WaitForCacheSync(rctx) || s.cache() != ca {
				return // closed first, or follow.go started informers anew
			}
			synced(regs)
			s.reader.Store(&readerBox{ca})
			s.snapshotDirty.Store(true)
			log.Info("API server reachable: following it again")
			s.notify(fleet.Change{}) // watchers look at everything again
		}()
	}

	core, err := typedcorev1.NewForConfig(cfg)
	if err != nil {
		cancel()
		return nil, err
	}
	s.events = record.NewBroadcaster(record.WithSleepDuration(2 * time.Second))
	s.events.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: core.Events(o.Namespace)})
	s.recorder = s.events.NewRecorder(scheme, corev1.EventSource{Component: o.Component, Host: o.Host})

	go func() {
		defer close(s.done)
		go s.followLoop(rctx)
		s.retryLoop(rctx)
	}()
	if s.snapshotFile != "" {
		s.snapshotDirty.Store(s.rd() == client.Reader(s.cache()))
		go func() {
			defer close(s.snapshotDone)
			s.snapshotLoop(rctx)
		}()
	} else {
		close(s.snapshotDone)
	}
	return s, nil
}

// RESTConfig loads the configuration to reach the API server: the kubeconfig
// file path if given, else $KUBECONFIG or ~/.kube/config, else the
// in-cluster service account. namespace, if empty, is the kubeconfig
// context's (in a pod: the pod's), else "default".
func RESTConfig(path, namespace string) (*rest.Config, string, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if path != "" {
		rules.ExplicitPath = path
	}
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{})
	cfg, err := cc.ClientConfig()
	if err != nil {
		return nil, "", fmt.Errorf("kubernetes: %w", err)
	}
	if namespace == "" {
		if namespace, _, err = cc.Namespace(); err != nil || namespace == "" {
			namespace = "default"
		}
	}
	if cfg.QPS == 0 {
		// client-go's default (5 requests/s, bursts of 10) would hold a
		// gateway rolling an application out to a thousand devices (a few
		// status writes each) for minutes; the API server's priority and
		// fairness is the limit that matters.
		cfg.QPS, cfg.Burst = DefaultQPS, DefaultBurst
	}
	return cfg, namespace, nil
}

// The client rate limit RESTConfig sets when the kubeconfig sets none.
const (
	DefaultQPS   = 100
	DefaultBurst = 200
)

// Namespace is the namespace of the fleet.
func (s *Store) Namespace() string { return s.ns }

// Client is the store's client (direct to the API server), for what
// fleet.Store does not cover (the gateway's own status).
func (s *Store) Client() client.Client { return s.c }

// Reader reads from the informers' cache.
func (s *Store) Reader() client.Reader { return s.rd() }

// Close stops the informers, after a last attempt (a few seconds) to write
// device status kept in memory; watchers' channels are closed.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	s.flushPending(ctx)
	cancel()
	s.cancel()
	<-s.done
	<-s.snapshotDone
	s.events.Shutdown()
	s.mu.Lock()
	for w := range s.watchers {
		close(w.ch)
		delete(s.watchers, w)
	}
	n := len(s.pending)
	s.mu.Unlock()
	if n > 0 {
		s.log.Warn("closing with device status not yet written to the API server", "devices", n)
	}
	return nil
}

// ---- names, errors, writes

func (s *Store) key(name string) client.ObjectKey {
	return client.ObjectKey{Namespace: s.ns, Name: name}
}

func checkName(kind, name string) error {
	if len(name) > 64 || len(validation.IsDNS1123Subdomain(name)) > 0 {
		return fmt.Errorf("%s %q: %w", kind, name, ErrInvalidName)
	}
	return nil
}

// mapErr turns API errors into fleet's.
func mapErr(kind, key string, err error) error {
	switch {
	case err == nil:
		return nil
	case apierrors.IsNotFound(err):
		return fmt.Errorf("%s %q: %w", kind, key, fleet.ErrNotFound)
	case apierrors.IsAlreadyExists(err):
		return fmt.Errorf("%s %q: %w", kind, key, fleet.ErrExists)
	}
	return fmt.Errorf("%s %q: %w", kind, key, err)
}

// Unreachable reports whether err says the API server could not be reached
// or did not answer (as opposed to refusing the request).
func Unreachable(err error) bool {
	if err == nil {
		return false
	}
	if apierrors.IsServerTimeout(err) || apierrors.IsTimeout(err) || apierrors.IsTooManyRequests(err) ||
		apierrors.IsServiceUnavailable(err) || apierrors.IsInternalError(err) || apierrors.IsUnexpectedServerError(err) {
		return true
	}
	var ue *url.Error
	var ne net.Error
	var se apierrors.APIStatus
	switch {
	case errors.As(err, &se):
		return false
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.EOF),
		errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, context.DeadlineExceeded):
		return true
	case errors.As(err, &ne), errors.As(err, &ue):
		return true
	}
	return false
}

// rv orders resource versions. Kubernetes calls them opaque; etcd's are
// its revision numbers, which is what every API server here stores in.
func rv(o client.Object) uint64 {
	n, _ := strconv.ParseUint(o.GetResourceVersion(), 10, 64)
	return n
}

// waitCache returns once the cache holds obj at its resource version or
// later (deleted: once it holds no object of that name and UID), so that a
// read after a write sees it. It gives up after a few seconds: the write
// is done anyway.
func (s *Store) waitCache(ctx context.Context, obj client.Object, deleted bool) {
	want := rv(obj)
	fresh := obj.DeepCopyObject().(client.Object)
	deadline := time.Now().Add(5 * time.Second)
	for delay := 200 * time.Microsecond; time.Now().Before(deadline) && ctx.Err() == nil; delay = min(delay*2, 20*time.Millisecond) {
		err := s.rd().Get(ctx, client.ObjectKeyFromObject(obj), fresh)
		switch {
		case deleted && (apierrors.IsNotFound(err) || err == nil && fresh.GetUID() != obj.GetUID()):
			return
		case !deleted && err == nil && (rv(fresh) >= want || fresh.GetUID() != obj.GetUID() && obj.GetUID() != ""):
			return
		}
		time.Sleep(delay)
	}
	s.log.Debug("cache did not catch up with a write", "object", client.ObjectKeyFromObject(obj), "rv", want)
}

// keyedMutex serialises this process's writes to one object, so that they
// do not conflict with each other.
type keyedMutex struct {
	mu sync.Mutex
	m  map[string]*keyedEntry
}

type keyedEntry struct {
	mu   sync.Mutex
	refs int
}

func (k *keyedMutex) lock(key string) func() {
	k.mu.Lock()
	if k.m == nil {
		k.m = map[string]*keyedEntry{}
	}
	e := k.m[key]
	if e == nil {
		e = &keyedEntry{}
		k.m[key] = e
	}
	e.refs++
	k.mu.Unlock()
	e.mu.Lock()
	return func() {
		e.mu.Unlock()
		k.mu.Lock()
		if e.refs--; e.refs == 0 {
			delete(k.m, key)
		}
		k.mu.Unlock()
	}
}

// ---- modules

// PutModule stores module bytes in the ConfigMap module-<sha256>
// (immutable; storing the same module again is a no-op).
func (s *Store) PutModule(ctx context.Context, sha256 string, wasm []byte) error {
	if len(validation.IsDNS1123Subdomain(ModulePrefix+sha256)) > 0 {
		return fmt.Errorf("module %q: %w", sha256, ErrInvalidName)
	}
	if len(wasm) > MaxModuleSize {
		return fmt.Errorf("module %s: %d bytes; in Kubernetes mode a module is kept in a ConfigMap and may have at most %d bytes", sha256, len(wasm), MaxModuleSize)
	}
	immutable := true
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: ModulePrefix + sha256, Namespace: s.ns,
		Labels: map[string]string{LabelPartOf: "wasmbed", LabelModule: "true"}},
		BinaryData: map[string][]byte{sha256: wasm}, Immutable: &immutable}
	err := s.c.Create(ctx, cm)
	var old *fleet.ModuleInfo
	if apierrors.IsAlreadyExists(err) {
		err, old = nil, &fleet.ModuleInfo{SHA256: sha256, Size: len(wasm)} // content-addressed: the same bytes
	}
	if err == nil {
		audited(ctx, s, fleet.KindModule, sha256, old, &fleet.ModuleInfo{SHA256: sha256, Size: len(wasm)})
	}
	return mapErr("module", sha256, err)
}

func sha256sum(b []byte) string {
	sum := cryptosha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// GetModule reads module bytes (from the API server: modules are not cached
// here; the gateway keeps the ones it sends).
func (s *Store) GetModule(ctx context.Context, sha256 string) ([]byte, error) {
	return ReadModule(ctx, s.c, s.ns, sha256)
}

// ReadModule reads the module sha256 from its ConfigMap in namespace ns
// (fleet.ErrNotFound when there is none, or it holds other bytes): the
// store's GetModule, and the admission webhook's.
func ReadModule(ctx context.Context, r client.Reader, ns, sha256 string) ([]byte, error) {
	if len(validation.IsDNS1123Subdomain(ModulePrefix+sha256)) > 0 {
		return nil, fmt.Errorf("module %s: %w", sha256, fleet.ErrNotFound)
	}
	var cm corev1.ConfigMap
	if err := r.Get(ctx, client.ObjectKey{Namespace: ns, Name: ModulePrefix + sha256}, &cm); err != nil {
		return nil, mapErr("module", sha256, err)
	}
	// Under binaryData (PutModule, or kubectl for a file that is not
	// UTF-8), or data: `kubectl create configmap --from-file` puts a file
	// that is valid UTF-8 there (most small modules are).
	b, ok := cm.BinaryData[sha256]
	if !ok {
		d, inData := cm.Data[sha256]
		if !inData {
			return nil, fmt.Errorf("module %s: ConfigMap %s has no key %s (in binaryData or data): %w", sha256, cm.Name, sha256, fleet.ErrNotFound)
		}
		b = []byte(d)
	}
	if sum := sha256sum(b); sum != sha256 {
		return nil, fmt.Errorf("module %s: ConfigMap %s holds %d bytes whose sha256 is %s, not its name's: %w", sha256, cm.Name, len(b), sum, fleet.ErrNotFound)
	}
	return b, nil
}

// ---- events, output, audit (memory)

// AppendEvent keeps e in the bounded history and records a Kubernetes
// Event on the Device it concerns (object "device" or "app/device"), if
// that device exists.
func (s *Store) AppendEvent(ctx context.Context, e fleet.Event) (fleet.Event, error) {
	if e.Time.IsZero() {
		e.Time = time.Now().UTC()
	}
	s.mu.Lock()
	s.eventSeq++
	e.Seq = s.eventSeq
	s.history = append(s.history, e)
	if len(s.history) > maxEvents {
		s.history = append(s.history[:0], s.history[len(s.history)-maxEvents:]...)
	}
	s.mu.Unlock()

	device, app := e.Object, ""
	if a, d, ok := cutLast(e.Object); ok {
		app, device = a, d
	}
	var dev v1alpha1.Device
	if checkName("device", device) == nil && s.rd().Get(ctx, s.key(device), &dev) == nil {
		typ := corev1.EventTypeNormal
		if warning(e.Kind) {
			typ = corev1.EventTypeWarning
		}
		msg := e.Message
		if app != "" {
			msg = "app " + app + ": " + msg
		}
		if msg == "" {
			msg = e.Kind
		}
		s.recorder.Event(&dev, typ, reason(e.Kind), msg)
	}
	return e, nil
}

func cutLast(s string) (before, after string, ok bool) {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == '/' {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

func warning(kind string) bool {
	for _, w := range []string{"refused", "trapped", "fuel_exhausted", "out_of_memory", "failed", "error", "revoked", "reset", "missing"} {
		if len(kind) >= len(w) && kind[len(kind)-len(w):] == w {
			return true
		}
	}
	return false
}

// Events lists the events this process recorded with Seq > after.
func (s *Store) Events(_ context.Context, after uint64, limit int) ([]fleet.Event, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := sort.Search(len(s.history), func(i int) bool { return s.history[i].Seq > after })
	var out []fleet.Event
	for ; i < len(s.history) && (limit <= 0 || len(out) < limit); i++ {
		out = append(out, s.history[i])
	}
	return out, nil
}

func (s *Store) LastEvents(_ context.Context, limit int) ([]fleet.Event, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.history[max(0, len(s.history)-limit):]), nil
}

func (s *Store) AppendOutput(_ context.Context, recs []fleet.OutputRecord) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range recs {
		k := r.App + "\x00" + r.Device
		l := append(s.output[k], r)
		if len(l) > maxOutputPerAppOn {
			l = append(l[:0], l[len(l)-maxOutputPerAppOn:]...)
		}
		s.output[k] = l
	}
	return nil
}

func (s *Store) Output(_ context.Context, app, device string, limit int) ([]fleet.OutputRecord, error) {
	s.mu.Lock()
	var out []fleet.OutputRecord
	for k, l := range s.output {
		a, d, _ := cutNul(k)
		if a == app && (device == "" || d == device) {
			out = append(out, l...)
		}
	}
	s.mu.Unlock()
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].Time.Equal(out[j].Time) {
			return out[i].Time.Before(out[j].Time)
		}
		return out[i].Device < out[j].Device
	})
	if limit > 0 && len(out) > limit {
		out = out[len(out)-limit:]
	}
	return out, nil
}

func cutNul(s string) (string, string, bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == 0 {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

// AppendAudit keeps r in memory, numbered; the oldest beyond the bound go.
func (s *Store) AppendAudit(_ context.Context, r fleet.AuditRecord) (fleet.AuditRecord, error) {
	if r.Time.IsZero() {
		r.Time = time.Now().UTC()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.auditSeq++
	r.Seq = s.auditSeq
	s.audit = append(s.audit, r)
	if len(s.audit) > maxAudit {
		s.audit = append(s.audit[:0], s.audit[len(s.audit)-maxAudit:]...)
	}
	return r, nil
}

// audited records the audit entry ctx holds for a write of kind/key that
// succeeded, turning old into new (nil: absent). Kubernetes has no
// transaction spanning a resource and the audit log: the entry is recorded
// once the write is done, in this process's memory (docs/kubernetes.md).
func audited[T any](ctx context.Context, s *Store, kind, key string, old, new *T) {
	p := fleet.AuditFor(ctx, kind, key)
	if p == nil {
		return
	}
	var ob, nb []byte
	if old != nil {
		ob, _ = json.Marshal(old)
	}
	if new != nil {
		nb, _ = json.Marshal(new)
	}
	r, _ := s.AppendAudit(ctx, p.Entry(kind, key, ob, nb))
	p.Recorded(r)
}

func (s *Store) Audit(_ context.Context, after uint64, limit int) (fleet.AuditPage, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := fleet.AuditPage{LastSeq: s.auditSeq, Pruned: s.auditSeq}
	if len(s.audit) > 0 {
		p.FirstSeq = s.audit[0].Seq
		p.Pruned = p.FirstSeq - 1
	}
	i := sort.Search(len(s.audit), func(i int) bool { return s.audit[i].Seq > after })
	for ; i < len(s.audit) && (limit <= 0 || len(p.Records) < limit); i++ {
		p.Records = append(p.Records, s.audit[i])
	}
	return p, nil
}
