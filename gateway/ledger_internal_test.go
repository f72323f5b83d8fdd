package gateway

import (
	"context"
	"testing"
	"time"

	"github.com/wasmbed/wasmbed/fleet"
)

// The hourly sweep of the ledger, with its clock moved: expired entries go
// an hour after they expire; a usable entry no device's status names (its
// device deleted behind the gateway's back and registered again) is marked
// superseded once it is older than an hour; the device's own stay.
func TestSweepLedger(t *testing.T) {
	g, store := newTestGateway(t)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Second)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(store.Devices().Create(ctx, "dev", fleet.Device{Name: "dev", Board: "linux",
		Status: fleet.DeviceStatus{Phase: fleet.PhaseOffline, CertSerial: "c0", CertPending: "c1"}}))
	entry := func(serial, state, renews string, issued, notAfter time.Time) {
		must(store.Certificates().Create(ctx, serial, fleet.Certificate{Serial: serial, Device: "dev", Source: fleet.SourceEnrollment,
			NotAfter: notAfter, IssuedAt: issued, State: state, Renews: renews}))
	}
	later := now.Add(24 * time.Hour)
	entry("c0", fleet.CertCurrent, "", now.Add(-2*time.Hour), later)                        // the device's
	entry("c1", fleet.CertPending, "c0", now.Add(-2*time.Hour), later)                      // its latest renewal
	entry("c2", fleet.CertPending, "c0", now.Add(-3*time.Hour), later)                      // an earlier renewal of it
	entry("p1", fleet.CertPending, "a1", now.Add(-3*time.Hour), later)                      // renewed what is no longer current
	entry("a1", fleet.CertCurrent, "", now.Add(-2*time.Hour), later)                        // left by the device before
	entry("a2", fleet.CertCurrent, "", now.Add(-time.Minute), later)                        // just issued: status not written yet, perhaps
	entry("e1", fleet.CertSuperseded, "", now.Add(-48*time.Hour), now.Add(-90*time.Minute)) // expired 90 min ago
	entry("e2", fleet.CertRevoked, "", now.Add(-48*time.Hour), now.Add(-30*time.Minute))    // expired 30 min ago: kept an hour

	must(g.sweepLedger(ctx, now))
	want := map[string]string{"c0": fleet.CertCurrent, "c1": fleet.CertPending, "c2": fleet.CertPending, "p1": fleet.CertSuperseded,
		"a1": fleet.CertSuperseded, "a2": fleet.CertCurrent, "e2": fleet.CertRevoked}
	all, err := store.Certificates().List(ctx)
	must(err)
	got := map[string]string{}
	for _, c := range all {
		got[c.Serial] = c.State
	}
	if len(got) != len(want) {
		t.Fatalf("after the sweep: %v, want %v", got, want)
	}
	for sn, st := range want {
		if got[sn] != st {
			t.Fatalf("after the sweep: %v, want %v", got, want)
		}
	}
}
