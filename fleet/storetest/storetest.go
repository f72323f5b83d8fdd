// Package storetest is the behaviour every fleet.Store must have, as tests
// that run against any implementation: the embedded store
// (fleet/boltstore) and Kubernetes (fleet/kubestore) both run them.
package storetest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wasmbed/wasmbed/fleet"
)

// Harness tells the tests how to get a store.
type Harness struct {
	// New returns an empty store for one test; the tests close it.
	New func(t *testing.T) fleet.Store
	// OutputBound is how many output records the store keeps per app and
	// device.
	OutputBound int
	// Writers is how many goroutines update one object at once in the
	// atomicity test (default 100).
	Writers int
}

// Run runs every conformance test as a subtest of t.
func Run(t *testing.T, h Harness) {
	if h.Writers == 0 {
		h.Writers = 100
	}
	for _, tc := range []struct {
		name string
		fn   func(*testing.T, fleet.Store, Harness)
	}{
		{"RoundTrip", testRoundTrip},
		{"CreateUpdateDelete", testCreateUpdateDelete},
		{"Modules", testModules},
		{"ConcurrentUpdatesAreAtomic", testConcurrentUpdates},
		{"ConcurrentDeploymentsOfOneDevice", testConcurrentDeployments},
		{"DeploymentsOutliveDeviceWrites", testDeploymentsOutliveDeviceWrites},
		{"HistoriesAreBounded", testHistories},
		{"AuditWithWrites", testAuditWithWrites},
		{"Watch", testWatch},
		{"CertificateLedger", testCertificateLedger},
		{"ProgressiveRollout", testProgressiveRollout},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := h.New(t)
			t.Cleanup(func() { s.Close() })
			tc.fn(t, s, h)
		})
	}
}

// at is a time a store keeps exactly (whole seconds, UTC).
func at(sec int64) time.Time { return time.Unix(1_700_000_000+sec, 0).UTC() }

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// roundTrip checks that what was written is read back, field by field;
// clear drops what a store may set itself (creation times, generations).
func roundTrip[T any](t *testing.T, c fleet.Collection[T], key string, v T, clear func(*T)) {
	t.Helper()
	ctx := context.Background()
	must(t, c.Put(ctx, key, v))
	got, err := c.Get(ctx, key)
	must(t, err)
	want := v
	clear(&got)
	clear(&want)
	// As JSON: what a pointer field holds is compared, not its address.
	gj, err := json.Marshal(got)
	must(t, err)
	wj, err := json.Marshal(want)
	must(t, err)
	if string(gj) != string(wj) {
		t.Fatalf("%T round trip:\n got %s\nwant %s", v, gj, wj)
	}
	all, err := c.List(ctx)
	must(t, err)
	if len(all) != 1 {
		t.Fatalf("%T: list has %d objects, want 1", v, len(all))
	}
	clear(&all[0])
	lj, err := json.Marshal(all[0])
	must(t, err)
	if string(lj) != string(wj) {
		t.Fatalf("%T listed:\n got %s\nwant %s", v, lj, wj)
	}
}

func testRoundTrip(t *testing.T, s fleet.Store, _ Harness) {
	ctx := context.Background()
	roundTrip(t, s.Gateways(), "gw-1", fleet.Gateway{Name: "gw-1", Addresses: []string{"10.0.0.1:8081", "gw.example:8081"},
		Labels: map[string]string{"site": "a"}, Capacity: 50, UpdatedAt: at(2)},
		func(g *fleet.Gateway) { g.CreatedAt = time.Time{} })
	dev := fleet.Device{Name: "dev-1", Board: "stm32f4-discovery", Labels: map[string]string{"site": "a", "role": "sensor"},
		Gateway: "gw-1", UpdatedAt: at(3), Status: fleet.DeviceStatus{Phase: fleet.PhaseOnline, LastSeen: at(4),
			Firmware: "wasmbed-fw 0.3.1", RAMFree: 65536, FlashFree: 400000, MaxFrame: 4096, Features: []string{"gpio", "publish"},
			CertSerial: "1f2e3d", CertNotAfter: at(86400), CertPending: "4a5b6c", Message: "ok",
			Reset: &fleet.ResetStatus{Cause: "watchdog", Detail: "app sensor in tick", Time: time.Unix(1_700_000_000, 123456000).UTC(),
				Boots: 3, Unexpected: 2, SafeMode: true, BootID: 0xffffffff}}}
	roundTrip(t, s.Devices(), "dev-1", dev, func(d *fleet.Device) { d.CreatedAt = time.Time{} })
	roundTrip(t, s.Applications(), "sensor", fleet.Application{Name: "sensor", Version: "1.2.3+b4",
		SHA256: "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", Size: 1234,
		Config: map[string]string{"offset": "100", "unit": "C"}, Limits: fleet.Limits{Fuel: 5000, Memory: 131072, TickMS: 250},
		Selector: fleet.Selector{Labels: map[string]string{"role": "sensor"}, Boards: []string{"linux", "stm32f4-discovery"}},
		Rollout:  fleet.Rollout{Strategy: fleet.RolloutBatched, MaxUnavailable: 2, MinReadySeconds: 5}, Running: false, UpdatedAt: at(5)},
		// Admission is the Kubernetes controller's, not part of what is put.
		func(a *fleet.Application) { a.CreatedAt, a.Generation, a.Admission = time.Time{}, 0, nil })
	roundTrip(t, s.Tokens(), "00112233aabbccdd", fleet.EnrollmentToken{ID: "00112233aabbccdd", Device: "dev-1",
		Hash: "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100", ExpiresAt: at(3600), UsedAt: at(60),
		UsedKey: "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff", UsedSerial: "1f2e3d4c"},
		func(tok *fleet.EnrollmentToken) { tok.CreatedAt = time.Time{} })
	roundTrip(t, s.Revocations(), "1f2e3d", fleet.Revocation{Serial: "1f2e3d", Device: "dev-1", Reason: "lost", RevokedAt: at(7)},
		func(*fleet.Revocation) {})
	roundTrip(t, s.Certificates(), "5e1a1c0ffee0ddba11", fleet.Certificate{Serial: "5e1a1c0ffee0ddba11", Device: "dev-1",
		Source: fleet.SourceRenewal, NotBefore: at(8), NotAfter: at(86408), IssuedAt: at(9), State: fleet.CertSuperseded,
		Renews: "1f2e3d", Reason: "superseded by 77aa", ChangedAt: at(10)}, func(*fleet.Certificate) {})
	roundTrip(t, s.Deployments(), fleet.DeploymentKey("sensor", "dev-1"), fleet.Deployment{App: "sensor", Device: "dev-1",
		Generation: 42, Command: "deploy", Version: "1.2.3+b4", SHA256: "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
		SpecHash: "a1b2c3d4e5f60718", Running: true, State: "running", Observed: "1.2.3+b4", Detail: "up", Offset: 1234,
		UpdatedAt: time.Unix(1_700_000_000, 123456000).UTC()}, func(*fleet.Deployment) {})

	// A tombstone keeps its generation.
	must(t, s.Deployments().Put(ctx, fleet.DeploymentKey("old", "dev-1"), fleet.Deployment{App: "old", Device: "dev-1",
		Generation: 9, Command: "remove", Removing: true, State: "removed"}))
	d, err := s.Deployments().Get(ctx, fleet.DeploymentKey("old", "dev-1"))
	must(t, err)
	if !d.Tombstone() || d.Generation != 9 {
		t.Fatalf("tombstone: %+v", d)
	}
}

// What boltstore's first test checked, on every store: create twice,
// updates applied, aborted and of a missing key, delete.
func testCreateUpdateDelete(t *testing.T, s fleet.Store, _ Harness) {
	ctx := context.Background()
	d := fleet.Device{Name: "dev-1", Board: "stm32f4-discovery", Labels: map[string]string{"site": "a"}}
	must(t, s.Devices().Create(ctx, d.Name, d))
	if err := s.Devices().Create(ctx, d.Name, d); !errors.Is(err, fleet.ErrExists) {
		t.Fatalf("second create: %v, want ErrExists", err)
	}
	got, err := s.Devices().Update(ctx, "dev-1", func(d *fleet.Device) error { d.Status.Phase = fleet.PhaseOnline; return nil })
	must(t, err)
	if got.Status.Phase != fleet.PhaseOnline || got.Board != "stm32f4-discovery" {
		t.Fatalf("Update returned %+v", got)
	}
	boom := errors.New("boom")
	if _, err := s.Devices().Update(ctx, "dev-1", func(d *fleet.Device) error { d.Board = "linux"; return boom }); !errors.Is(err, boom) {
		t.Fatalf("aborted update: %v", err)
	}
	if _, err := s.Devices().Update(ctx, "nope", func(*fleet.Device) error { return nil }); !errors.Is(err, fleet.ErrNotFound) {
		t.Fatalf("update missing: %v", err)
	}
	got, err = s.Devices().Get(ctx, "dev-1")
	must(t, err)
	if got.Status.Phase != fleet.PhaseOnline || got.Board != "stm32f4-discovery" || got.Labels["site"] != "a" {
		t.Fatalf("after updates: %+v", got)
	}
	must(t, s.Devices().Delete(ctx, "dev-1"))
	if _, err := s.Devices().Get(ctx, "dev-1"); !errors.Is(err, fleet.ErrNotFound) {
		t.Fatalf("after delete: %v", err)
	}
	if err := s.Devices().Delete(ctx, "dev-1"); !errors.Is(err, fleet.ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}

	// Every collection: missing keys, PutMany, Update of a missing key.
	if _, err := s.Gateways().Get(ctx, "nope"); !errors.Is(err, fleet.ErrNotFound) {
		t.Fatalf("gateway get missing: %v", err)
	}
	if _, err := s.Applications().Get(ctx, "nope"); !errors.Is(err, fleet.ErrNotFound) {
		t.Fatalf("application get missing: %v", err)
	}
	if _, err := s.Tokens().Update(ctx, "0000000000000000", func(*fleet.EnrollmentToken) error { return nil }); !errors.Is(err, fleet.ErrNotFound) {
		t.Fatalf("token update missing: %v", err)
	}
	if _, err := s.Deployments().Get(ctx, "app/nope"); !errors.Is(err, fleet.ErrNotFound) {
		t.Fatalf("deployment get missing: %v", err)
	}
	must(t, s.Gateways().PutMany(ctx, map[string]fleet.Gateway{"gw-a": {Name: "gw-a", Capacity: 1}, "gw-b": {Name: "gw-b", Capacity: 2}}))
	gws, err := s.Gateways().List(ctx)
	must(t, err)
	if len(gws) != 2 || gws[0].Capacity+gws[1].Capacity != 3 {
		t.Fatalf("after PutMany: %+v", gws)
	}

	// Deployments of a device: create, update, PutMany, delete.
	must(t, s.Devices().Create(ctx, "dev-2", fleet.Device{Name: "dev-2", Board: "linux"}))
	key := fleet.DeploymentKey("app", "dev-2")
	must(t, s.Deployments().Create(ctx, key, fleet.Deployment{App: "app", Device: "dev-2", Generation: 1, Command: "deploy"}))
	if err := s.Deployments().Create(ctx, key, fleet.Deployment{App: "app", Device: "dev-2"}); !errors.Is(err, fleet.ErrExists) {
		t.Fatalf("second deployment create: %v", err)
	}
	dep, err := s.Deployments().Update(ctx, key, func(d *fleet.Deployment) error { d.State = "running"; return nil })
	must(t, err)
	if dep.State != "running" || dep.Generation != 1 {
		t.Fatalf("deployment update returned %+v", dep)
	}
	must(t, s.Deployments().PutMany(ctx, map[string]fleet.Deployment{
		key:                                  {App: "app", Device: "dev-2", Generation: 2, Command: "stop"},
		fleet.DeploymentKey("app2", "dev-2"): {App: "app2", Device: "dev-2", Generation: 1, Command: "deploy"}}))
	deps, err := s.Deployments().List(ctx)
	must(t, err)
	if len(deps) != 2 || deps[0].Generation+deps[1].Generation != 3 {
		t.Fatalf("deployments after PutMany: %+v", deps)
	}
	must(t, s.Deployments().Delete(ctx, key))
	if _, err := s.Deployments().Get(ctx, key); !errors.Is(err, fleet.ErrNotFound) {
		t.Fatalf("deployment after delete: %v", err)
	}
	if err := s.Deployments().Delete(ctx, key); !errors.Is(err, fleet.ErrNotFound) {
		t.Fatalf("second deployment delete: %v", err)
	}
}

func testModules(t *testing.T, s fleet.Store, _ Harness) {
	ctx := context.Background()
	sum := sha256.Sum256([]byte("\x00asm\x01\x00\x00\x00")) // modules are named by their content
	sha := hex.EncodeToString(sum[:])
	must(t, s.PutModule(ctx, sha, []byte("\x00asm\x01\x00\x00\x00")))
	must(t, s.PutModule(ctx, sha, []byte("\x00asm\x01\x00\x00\x00"))) // again: the same content
	m, err := s.GetModule(ctx, sha)
	if err != nil || string(m) != "\x00asm\x01\x00\x00\x00" {
		t.Fatalf("module: %q %v", m, err)
	}
	if _, err := s.GetModule(ctx, "cd0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd"); !errors.Is(err, fleet.ErrNotFound) {
		t.Fatalf("missing module: %v", err)
	}
}

func testConcurrentUpdates(t *testing.T, s fleet.Store, h Harness) {
	ctx := context.Background()
	must(t, s.Applications().Put(ctx, "app", fleet.Application{Name: "app", Version: "1",
		SHA256: "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}))
	var wg sync.WaitGroup
	for i := 0; i < h.Writers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := s.Applications().Update(ctx, "app", func(a *fleet.Application) error { a.Size++; return nil }); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	a, _ := s.Applications().Get(ctx, "app")
	if a.Size != h.Writers {
		t.Fatalf("size %d after %d increments", a.Size, h.Writers)
	}
}

// The records of one device change concurrently (one session per device,
// but status reports, plans and adoptions of several apps interleave).
func testConcurrentDeployments(t *testing.T, s fleet.Store, _ Harness) {
	ctx := context.Background()
	must(t, s.Devices().Create(ctx, "dev", fleet.Device{Name: "dev", Board: "linux"}))
	const apps, bumps = 10, 5
	for i := 0; i < apps; i++ {
		app := fmt.Sprint("app", i)
		must(t, s.Deployments().Put(ctx, fleet.DeploymentKey(app, "dev"), fleet.Deployment{App: app, Device: "dev", Generation: 1}))
	}
	var wg sync.WaitGroup
	for i := 0; i < apps; i++ {
		for j := 0; j < bumps; j++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				key := fleet.DeploymentKey(fmt.Sprint("app", i), "dev")
				if _, err := s.Deployments().Update(ctx, key, func(d *fleet.Deployment) error { d.Generation++; return nil }); err != nil {
					t.Error(err)
				}
			}()
		}
	}
	wg.Wait()
	deps, err := s.Deployments().List(ctx)
	must(t, err)
	for _, d := range deps {
		if d.Generation != 1+bumps {
			t.Errorf("%s: generation %d after %d increments", d.App, d.Generation, bumps)
		}
	}
	if len(deps) != apps {
		t.Fatalf("%d deployments, want %d", len(deps), apps)
	}
}

// Writing a device (its spec or status) keeps its deployments and their
// generations.
func testDeploymentsOutliveDeviceWrites(t *testing.T, s fleet.Store, _ Harness) {
	ctx := context.Background()
	must(t, s.Devices().Create(ctx, "dev", fleet.Device{Name: "dev", Board: "linux", Status: fleet.DeviceStatus{Phase: fleet.PhaseRegistered}}))
	key := fleet.DeploymentKey("app", "dev")
	must(t, s.Deployments().Put(ctx, key, fleet.Deployment{App: "app", Device: "dev", Generation: 7, State: "running"}))
	d, err := s.Devices().Get(ctx, "dev")
	must(t, err)
	d.Labels = map[string]string{"site": "b"}
	must(t, s.Devices().Put(ctx, "dev", d))
	_, err = s.Devices().Update(ctx, "dev", func(d *fleet.Device) error { d.Status.Phase = fleet.PhaseOffline; return nil })
	must(t, err)
	dep, err := s.Deployments().Get(ctx, key)
	must(t, err)
	if dep.Generation != 7 || dep.State != "running" {
		t.Fatalf("deployment after device writes: %+v", dep)
	}
	d, err = s.Devices().Get(ctx, "dev")
	must(t, err)
	if d.Labels["site"] != "b" || d.Status.Phase != fleet.PhaseOffline {
		t.Fatalf("device: %+v", d)
	}
}

func testHistories(t *testing.T, s fleet.Store, h Harness) {
	ctx := context.Background()
	bound := h.OutputBound
	for i := 0; i < bound+50; i++ {
		v := float64(i)
		must(t, s.AppendOutput(ctx, []fleet.OutputRecord{{Time: time.Unix(int64(i), 0), App: "a", Device: "d1", Key: "k", Value: &v}}))
	}
	must(t, s.AppendOutput(ctx, []fleet.OutputRecord{{Time: time.Unix(10000, 0), App: "a", Device: "d2", Text: "hi", Level: "info"}}))
	must(t, s.AppendOutput(ctx, []fleet.OutputRecord{{Time: time.Unix(10000, 0), App: "ab", Device: "d1", Text: "other app"}}))
	out, err := s.Output(ctx, "a", "d1", 0)
	must(t, err)
	if len(out) != bound || *out[len(out)-1].Value != float64(bound+49) || *out[0].Value != 50 {
		t.Fatalf("kept %d records, first %v last %v", len(out), *out[0].Value, *out[len(out)-1].Value)
	}
	all, _ := s.Output(ctx, "a", "", 3)
	if len(all) != 3 || all[2].Device != "d2" {
		t.Fatalf("app-wide newest 3: %+v", all)
	}
	for i := 0; i < 5; i++ {
		if _, err := s.AppendEvent(ctx, fleet.Event{Kind: "k", Message: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
	ev, _ := s.Events(ctx, 2, 2)
	if len(ev) != 2 || ev[0].Seq != 3 || ev[1].Message != "3" {
		t.Fatalf("events after 2: %+v", ev)
	}
	ev, _ = s.LastEvents(ctx, 2)
	if len(ev) != 2 || ev[0].Seq != 4 || ev[1].Seq != 5 || ev[1].Message != "4" {
		t.Fatalf("the latest 2 events, oldest first: %+v", ev)
	}
	if ev, _ = s.LastEvents(ctx, 100); len(ev) != 5 {
		t.Fatalf("the latest 100 of 5 events: %d", len(ev))
	}
	for i := 0; i < 5; i++ {
		r, err := s.AppendAudit(ctx, fleet.AuditRecord{Actor: "admin", Action: "update", Object: fmt.Sprint("device/d", i)})
		must(t, err)
		if r.Seq != uint64(i+1) {
			t.Fatalf("audit entry %d numbered %d", i+1, r.Seq)
		}
	}
	au, err := s.Audit(ctx, 3, 0)
	must(t, err)
	if len(au.Records) != 2 || au.Records[0].Object != "device/d3" || au.Records[1].Object != "device/d4" || au.Records[1].Time.IsZero() ||
		au.Records[1].Seq != 5 || au.FirstSeq != 1 || au.LastSeq != 5 || au.Pruned != 0 {
		t.Fatalf("audit entries after 3, oldest first: %+v", au)
	}
	if au, _ := s.Audit(ctx, 0, 2); len(au.Records) != 2 || au.Records[0].Seq != 1 {
		t.Fatalf("first 2 audit entries: %+v", au)
	}
}

// A write whose context carries an audit entry for it records the entry,
// numbered, naming the object and the fields the write changed (never a
// secret's value); other writes under that context, and writes that fail,
// record nothing; the entry is recorded once.
func testAuditWithWrites(t *testing.T, s fleet.Store, _ Harness) {
	ctx := context.Background()
	rec := fleet.AuditRecord{Actor: "ops", Source: "192.0.2.7", RequestID: "req-1", Action: "create"}
	actx, p := fleet.WithAudit(ctx, rec, fleet.KindDevice, "d1")
	// Another object under the same context: not the audited write.
	must(t, s.Devices().Create(actx, "d0", fleet.Device{Name: "d0", Board: "mps2-an386"}))
	if _, ok := p.Record(); ok {
		t.Fatal("a write of another object recorded the entry")
	}
	must(t, s.Devices().Create(actx, "d1", fleet.Device{Name: "d1", Board: "mps2-an386", Labels: map[string]string{"env": "dev"}}))
	got, ok := p.Record()
	if !ok || got.Seq != 1 || got.Object != "device/d1" || got.Actor != "ops" || got.Source != "192.0.2.7" || got.RequestID != "req-1" {
		t.Fatalf("create recorded %+v (%v)", got, ok)
	}
	if c := changed(got); c["board"] != `"mps2-an386"` || c["labels.env"] != `"dev"` {
		t.Fatalf("create's changes: %+v", got.Changes)
	}
	// Recorded once: another write of d1 under the context records nothing.
	if _, err := s.Devices().Update(actx, "d1", func(d *fleet.Device) error { d.Board = "uno-r4"; return nil }); err != nil {
		t.Fatal(err)
	}
	// An update records only what differs.
	rec.Action = "update"
	actx, p = fleet.WithAudit(ctx, rec, fleet.KindDevice, "d1")
	_, err := s.Devices().Update(actx, "d1", func(d *fleet.Device) error {
		d.Labels = map[string]string{"env": "prod", "ring": "canary"}
		return nil
	})
	must(t, err)
	got, ok = p.Record()
	if c := changed(got); !ok || len(got.Changes) != 2 || c["labels.env"] != `"dev" -> "prod"` || c["labels.ring"] != `"canary"` {
		t.Fatalf("update's changes: %+v", got.Changes)
	}
	// A failed write records nothing.
	actx, p = fleet.WithAudit(ctx, rec, fleet.KindDevice, "d1")
	if _, err := s.Devices().Update(actx, "d1", func(*fleet.Device) error { return errors.New("no") }); err == nil {
		t.Fatal("update should fail")
	}
	if _, ok := p.Record(); ok {
		t.Fatal("a failed write recorded its audit entry")
	}
	// A token's hash is said to be set, never shown; a key left empty
	// audits the first object of its kind written (a token's new ID).
	rec.Action = "create"
	actx, p = fleet.WithAudit(ctx, rec, fleet.KindToken, "")
	must(t, s.Tokens().Create(actx, "t1", fleet.EnrollmentToken{ID: "t1", Device: "d1", Hash: strings.Repeat("5e", 32), ExpiresAt: at(100), CreatedAt: at(0)}))
	got, ok = p.Record()
	if c := changed(got); !ok || got.Object != "token/t1" || c["hash"] != "redacted" || c["device"] != `"d1"` {
		t.Fatalf("token create: %+v", got)
	}
	// A delete names the object.
	rec.Action = "delete"
	actx, p = fleet.WithAudit(ctx, rec, fleet.KindDevice, "d0")
	must(t, s.Devices().Delete(actx, "d0"))
	if got, ok = p.Record(); !ok || got.Object != "device/d0" || len(got.Changes) != 0 {
		t.Fatalf("delete: %+v", got)
	}
	page, err := s.Audit(ctx, 0, 0)
	must(t, err)
	if len(page.Records) != 4 || page.LastSeq != 4 || page.Records[3].Object != "device/d0" {
		t.Fatalf("audit log: %+v", page)
	}
	for _, r := range page.Records {
		for _, c := range r.Changes {
			if strings.Contains(string(c.Old)+string(c.New), "5e5e") {
				t.Fatalf("a secret in the audit log: %+v", r)
			}
		}
	}
}

// changed maps an audit entry's fields to "new", "old -> new" or
// "redacted".
func changed(r fleet.AuditRecord) map[string]string {
	m := map[string]string{}
	for _, c := range r.Changes {
		switch {
		case c.Redacted:
			m[c.Field] = "redacted"
		case c.Old == nil:
			m[c.Field] = string(c.New)
		default:
			m[c.Field] = string(c.Old) + " -> " + string(c.New)
		}
	}
	return m
}

func testWatch(t *testing.T, s fleet.Store, _ Harness) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := s.Watch(ctx)
	next := func() fleet.Change {
		t.Helper()
		select {
		case c := <-ch:
			return c
		case <-time.After(10 * time.Second):
			t.Fatal("no change within 10s")
		}
		return fleet.Change{}
	}
	s.Gateways().Put(ctx, "gw", fleet.Gateway{Name: "gw"})
	s.Gateways().Delete(ctx, "gw")
	if c := next(); c != (fleet.Change{Kind: fleet.KindGateway, Key: "gw"}) {
		t.Fatalf("first change %+v", c)
	}
	if c := next(); !c.Deleted {
		t.Fatalf("second change %+v", c)
	}

	// A deployment written is a change of that deployment.
	must(t, s.Devices().Create(ctx, "dev", fleet.Device{Name: "dev", Board: "linux"}))
	for c := next(); c.Kind != fleet.KindDevice; c = next() {
	}
	must(t, s.Deployments().Put(ctx, fleet.DeploymentKey("app", "dev"), fleet.Deployment{App: "app", Device: "dev", Generation: 1}))
	seen := map[fleet.Change]bool{}
	for !seen[fleet.Change{Kind: fleet.KindDeployment, Key: "app/dev"}] {
		seen[next()] = true
	}
	delete(seen, fleet.Change{Kind: fleet.KindDeployment, Key: "app/dev"})
	for c := range maps.Keys(seen) {
		if !slices.Contains([]string{fleet.KindDevice, ""}, c.Kind) {
			t.Fatalf("unexpected change %+v", c)
		}
	}

	cancel()
	for range ch { // closed after cancel
	}
}

// testCertificateLedger: a certificate's state moves (current, superseded,
// revoked) with Update, a watcher hears of each change under the serial,
// and the ledger lists every device's certificates.
func testCertificateLedger(t *testing.T, s fleet.Store, _ Harness) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := s.Watch(ctx)
	certs := s.Certificates()
	first := fleet.Certificate{Serial: "a1", Device: "dev-1", Source: fleet.SourceEnrollment, NotBefore: at(0), NotAfter: at(3600),
		IssuedAt: at(1), State: fleet.CertCurrent}
	second := fleet.Certificate{Serial: "b2", Device: "dev-1", Source: fleet.SourceAPI, NotBefore: at(5), NotAfter: at(3605),
		IssuedAt: at(6), State: fleet.CertCurrent}
	other := fleet.Certificate{Serial: "c3", Device: "dev-2", Source: fleet.SourceRenewal, NotBefore: at(5), NotAfter: at(3605),
		IssuedAt: at(6), State: fleet.CertPending}
	must(t, certs.Create(ctx, first.Serial, first))
	if err := certs.Create(ctx, first.Serial, first); !errors.Is(err, fleet.ErrExists) {
		t.Fatalf("second create of one serial: %v, want ErrExists", err)
	}
	must(t, certs.PutMany(ctx, map[string]fleet.Certificate{second.Serial: second, other.Serial: other}))
	got, err := certs.Update(ctx, first.Serial, func(c *fleet.Certificate) error {
		c.State, c.Reason, c.ChangedAt = fleet.CertSuperseded, "superseded by b2", at(6)
		return nil
	})
	must(t, err)
	if got.State != fleet.CertSuperseded || got.Usable() {
		t.Fatalf("after supersede: %+v", got)
	}
	_, err = certs.Update(ctx, other.Serial, func(c *fleet.Certificate) error {
		c.State, c.Reason, c.ChangedAt = fleet.CertRevoked, "lost", at(7)
		return nil
	})
	must(t, err)
	all, err := certs.List(ctx)
	must(t, err)
	states := map[string]string{}
	for _, c := range all {
		states[c.Serial+"/"+c.Device] = c.State
	}
	want := map[string]string{"a1/dev-1": fleet.CertSuperseded, "b2/dev-1": fleet.CertCurrent, "c3/dev-2": fleet.CertRevoked}
	if !maps.Equal(states, want) {
		t.Fatalf("ledger %v, want %v", states, want)
	}
	c, err := certs.Get(ctx, "a1")
	must(t, err)
	if c.Reason != "superseded by b2" || !c.ChangedAt.Equal(at(6)) || !c.NotAfter.Equal(at(3600)) {
		t.Fatalf("a1 read back as %+v", c)
	}
	must(t, certs.Delete(ctx, "a1"))
	if _, err := certs.Get(ctx, "a1"); !errors.Is(err, fleet.ErrNotFound) {
		t.Fatalf("get after delete: %v", err)
	}

	// Every write was a change of that certificate.
	seen := map[string]bool{}
	deadline := time.After(10 * time.Second)
	for !seen["a1 deleted"] || !seen["b2"] || !seen["c3"] {
		select {
		case c := <-ch:
			if c.Kind == fleet.KindCertificate {
				seen[c.Key+map[bool]string{true: " deleted"}[c.Deleted]] = true
			} else if c.Kind != "" {
				t.Fatalf("unexpected change %+v", c)
			}
		case <-deadline:
			t.Fatalf("changes seen within 10s: %v", seen)
		}
	}
}

// A progressive rollout's policy, its progress and the stable release
// round-trip exactly (the Kubernetes store keeps them in the
// Application's spec.rollout, status.rollout and status.stable), so the
// rollout logic (fleet.AdvanceRollout, fleet.Act) evaluated on what one
// writer stored finds nothing changed when it reads it back.
func testProgressiveRollout(t *testing.T, s fleet.Store, _ Harness) {
	ctx := context.Background()
	bake, stepBake, lo, hi := 30, 5, 0.5, 100.0
	sha1 := "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	sha2 := "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"
	app := fleet.Application{Name: "sensor", Version: "2.0.0", SHA256: sha2, Size: 2048,
		Config: map[string]string{"unit": "C"}, Limits: fleet.Limits{Fuel: 5000, Memory: 65536, TickMS: 100},
		Selector: fleet.Selector{Labels: map[string]string{"role": "sensor"}}, Running: true, UpdatedAt: at(5),
		Rollout: fleet.Rollout{Strategy: fleet.RolloutBatched, MaxUnavailable: 2, MinReadySeconds: 1,
			Steps:         []fleet.RolloutStep{{Devices: 1, BakeSeconds: &stepBake}, {Percent: 12.5}, {Percent: 50}},
			Canary:        map[string]string{"ring": "canary"},
			BakeSeconds:   &bake,
			StepFailures:  fleet.FailureThreshold{Count: 1, Percent: 2.5},
			TotalFailures: fleet.FailureThreshold{Percent: 10},
			Health:        &fleet.HealthValue{Key: "health", Min: &lo, Max: &hi, MaxAgeSeconds: 20},
			OnFailure:     fleet.OnFailurePause},
		Stable: &fleet.Release{Version: "1.0.0", SHA256: sha1, Size: 1024, Config: map[string]string{"unit": "F"},
			Limits: fleet.Limits{Fuel: 4000, Memory: 65536, TickMS: 250}}}
	app.Progress = &fleet.RolloutProgress{SpecHash: fleet.SpecHash(&app), Version: "2.0.0", Phase: fleet.RolloutPaused,
		Step: 2, Steps: 4, Target: 3, Selected: 20, Updated: 2, Failed: 1, BakeUntil: at(40), StartedAt: at(10), StepStartedAt: at(20),
		Failures: []fleet.RolloutFailure{{Device: "dev-1", Step: 1, Reason: "trapped: unreachable", Time: at(15), Generation: 7, Accepted: true},
			{Device: "dev-2", Step: 2, Reason: "unexpected reset: watchdog", Time: at(21), Generation: 3}},
		Reason: "1 failed device(s) in step 2 of 4 (tolerated 0): dev-2: unexpected reset: watchdog"}
	clear := func(a *fleet.Application) { a.CreatedAt, a.Generation, a.Admission = time.Time{}, 0, nil }
	roundTrip(t, s.Applications(), "sensor", app, clear)

	// An operator's action, then the rollout logic's next evaluation:
	// written, read back, and nothing left to change.
	a, err := s.Applications().Update(ctx, "sensor", func(a *fleet.Application) error {
		p, _, err := fleet.Act(a, fleet.ActionResume, "storetest", time.Unix(1_700_000_100, 123456789))
		a.Progress = p
		return err
	})
	must(t, err)
	if p := a.CurrentProgress(); p == nil || p.Phase != fleet.RolloutRollingOut || !p.Failures[1].Accepted || p.Failed != 0 {
		t.Fatalf("after resume: %+v", a.Progress)
	}
	now := time.Unix(1_700_000_200, 987654321)
	devs := []fleet.Device{{Name: "dev-1", Labels: map[string]string{"role": "sensor"}}}
	p, changed, _ := fleet.AdvanceRollout(&a, devs, nil, fleet.Observations{}, now)
	if !changed {
		t.Fatal("AdvanceRollout changed nothing after a resume")
	}
	a, err = s.Applications().Update(ctx, "sensor", func(a *fleet.Application) error { a.Progress = p; return nil })
	must(t, err)
	got, err := s.Applications().Get(ctx, "sensor")
	must(t, err)
	if _, changed, _ := fleet.AdvanceRollout(&got, devs, nil, fleet.Observations{}, now); changed {
		t.Fatalf("the stored progress does not read back as written:\n got %+v\nwant %+v", got.Progress, p)
	}

	// A new spec remembers the last that passed; clearing the progress
	// and the stable release clears them.
	a, err = s.Applications().Update(ctx, "sensor", func(a *fleet.Application) error {
		old := *a
		a.Version, a.SHA256, a.Stable = "3.0.0", sha1, fleet.NextStable(&old)
		return nil
	})
	must(t, err)
	if a.Stable == nil || a.Stable.Version != "1.0.0" || a.CurrentProgress() != nil || a.Progress == nil {
		t.Fatalf("after a new spec: stable %+v, progress %+v", a.Stable, a.Progress)
	}
	_, err = s.Applications().Update(ctx, "sensor", func(a *fleet.Application) error { a.Stable, a.Progress = nil, nil; return nil })
	must(t, err)
	got, err = s.Applications().Get(ctx, "sensor")
	must(t, err)
	if got.Stable != nil || got.Progress != nil || !got.Rollout.Progressive() || got.Rollout.Health == nil {
		t.Fatalf("after clearing: %+v", got)
	}
}
