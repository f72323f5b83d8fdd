package kubestore

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/wasmbed/wasmbed/api/v1alpha1"
)

// A snapshot is the last state the informers saw of the fleet's resources,
// kept in a file (Options.SnapshotFile) so that a gateway can start, and
// serve its devices with the last known desired state, while the API server
// is unreachable. It holds no secrets: token hashes, not tokens.
type snapshot struct {
	SavedAt      time.Time                        `json:"saved_at"`
	Namespace    string                           `json:"namespace"`
	Devices      []v1alpha1.Device                `json:"devices"`
	Applications []v1alpha1.Application           `json:"applications"`
	Gateways     []v1alpha1.Gateway               `json:"gateways"`
	Tokens       []v1alpha1.EnrollmentToken       `json:"tokens"`
	Revocations  []v1alpha1.CertificateRevocation `json:"revocations"`
	Certificates []v1alpha1.DeviceCertificate     `json:"certificates"`
}

// snapshotEvery is how often a changed state is written to the snapshot.
const snapshotEvery = 10 * time.Second

// saveSnapshot writes what the cache holds to the snapshot file (mode 0600,
// atomically).
func (s *Store) saveSnapshot(ctx context.Context) error {
	snap := snapshot{SavedAt: time.Now().UTC(), Namespace: s.ns}
	r, ns := s.cache(), client.InNamespace(s.ns)
	var (
		devs v1alpha1.DeviceList
		apps v1alpha1.ApplicationList
		gws  v1alpha1.GatewayList
		toks v1alpha1.EnrollmentTokenList
		revs v1alpha1.CertificateRevocationList
		crts v1alpha1.DeviceCertificateList
	)
	for _, l := range []client.ObjectList{&devs, &apps, &gws, &toks, &revs, &crts} {
		if err := r.List(ctx, l, ns); err != nil {
			return fmt.Errorf("kubestore: snapshot: %w", err)
		}
	}
	snap.Devices, snap.Applications, snap.Gateways, snap.Tokens, snap.Revocations = devs.Items, apps.Items, gws.Items, toks.Items, revs.Items
	snap.Certificates = crts.Items
	b, err := json.Marshal(&snap)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(s.snapshotFile), 0o700); err != nil {
		return err
	}
	tmp := s.snapshotFile + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, s.snapshotFile)
}

// snapshotLoop keeps the snapshot file current: every snapshotEvery when
// something changed, and once more when the store closes.
func (s *Store) snapshotLoop(ctx context.Context) {
	t := time.NewTicker(snapshotEvery)
	defer t.Stop()
	save := func(ctx context.Context) {
		if s.rd() != client.Reader(s.cache()) {
			return // still on the snapshot: nothing newer to keep
		}
		if !s.snapshotDirty.Swap(false) {
			return
		}
		if err := s.saveSnapshot(ctx); err != nil {
			s.snapshotDirty.Store(true)
			s.log.Warn("snapshot not written", "file", s.snapshotFile, "err", err)
		}
	}
	save(ctx)
	for {
		select {
		case <-ctx.Done():
			save(context.Background())
			return
		case <-t.C:
			save(ctx)
		}
	}
}

// snapshotReader answers reads from a snapshot: the store's reader until the
// informers have listed from the API server.
type snapshotReader struct {
	objs   map[string]json.RawMessage // "Kind/name"
	kind   map[string][]string        // Kind -> keys, in order
	ns     string
	scheme *k8sruntime.Scheme
}

func loadSnapshot(path, ns string, scheme *k8sruntime.Scheme) (*snapshotReader, time.Time, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, time.Time{}, err
	}
	var snap snapshot
	if err := json.Unmarshal(b, &snap); err != nil {
		return nil, time.Time{}, fmt.Errorf("kubestore: snapshot %s: %w", path, err)
	}
	if snap.Namespace != ns {
		return nil, time.Time{}, fmt.Errorf("kubestore: snapshot %s is of namespace %q, not %q", path, snap.Namespace, ns)
	}
	r := &snapshotReader{objs: map[string]json.RawMessage{}, kind: map[string][]string{}, ns: ns, scheme: scheme}
	add := func(kind, name string, o any) error {
		raw, err := json.Marshal(o)
		if err != nil {
			return err
		}
		k := kind + "/" + name
		r.objs[k] = raw
		r.kind[kind] = append(r.kind[kind], k)
		return nil
	}
	for i := range snap.Devices {
		err = add("Device", snap.Devices[i].Name, &snap.Devices[i])
	}
	for i := range snap.Applications {
		err = add("Application", snap.Applications[i].Name, &snap.Applications[i])
	}
	for i := range snap.Gateways {
		err = add("Gateway", snap.Gateways[i].Name, &snap.Gateways[i])
	}
	for i := range snap.Tokens {
		err = add("EnrollmentToken", snap.Tokens[i].Name, &snap.Tokens[i])
	}
	for i := range snap.Revocations {
		err = add("CertificateRevocation", snap.Revocations[i].Name, &snap.Revocations[i])
	}
	for i := range snap.Certificates {
		err = add("DeviceCertificate", snap.Certificates[i].Name, &snap.Certificates[i])
	}
	if err != nil {
		return nil, time.Time{}, err
	}
	return r, snap.SavedAt, nil
}

func (r *snapshotReader) kindOf(o client.Object) (string, error) {
	gvks, _, err := r.scheme.ObjectKinds(o)
	if err != nil || len(gvks) == 0 {
		return "", fmt.Errorf("kubestore: snapshot: kind of %T: %v", o, err)
	}
	return gvks[0].Kind, nil
}

func (r *snapshotReader) Get(_ context.Context, key client.ObjectKey, obj client.Object, _ ...client.GetOption) error {
	kind, err := r.kindOf(obj)
	if err != nil {
		return err
	}
	raw, ok := r.objs[kind+"/"+key.Name]
	if !ok || key.Namespace != r.ns {
		return apierrors.NewNotFound(v1alpha1.GroupVersion.WithResource(strings.ToLower(kind)+"s").GroupResource(), key.Name)
	}
	return json.Unmarshal(raw, obj)
}

func (r *snapshotReader) List(_ context.Context, list client.ObjectList, opts ...client.ListOption) error {
	var lo client.ListOptions
	lo.ApplyOptions(opts)
	gvks, _, err := r.scheme.ObjectKinds(list)
	if err != nil || len(gvks) == 0 {
		return fmt.Errorf("kubestore: snapshot: kind of %T: %v", list, err)
	}
	kind := strings.TrimSuffix(gvks[0].Kind, "List")
	items := []json.RawMessage{}
	if lo.Namespace == "" || lo.Namespace == r.ns {
		for _, k := range r.kind[kind] {
			items = append(items, r.objs[k])
		}
	}
	raw, err := json.Marshal(map[string]any{"items": items})
	if err != nil {
		return err
	}
	return json.Unmarshal(raw, list)
}

// readerBox lets the store swap its reader (snapshot, then the cache).
type readerBox struct{ r client.Reader }

func (s *Store) rd() client.Reader { return s.reader.Load().r }

// storeReader is an atomic holder of the store's current reader.
type storeReader = atomic.Pointer[readerBox]

// Offline reports whether the store still answers from its snapshot: it
// started while the API server was unreachable and has not listed since.
func (s *Store) Offline() bool { return s.rd() != client.Reader(s.cache()) }
