package gateway

import (
	"context"
	"slices"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/wasmbed/wasmbed/fleet"
)

// Module GC, sweep by sweep: a module is deleted at the second sweep that
// finds it unused; what an application (spec or stable release) or a
// deployment needs stays; a module that gains a user between two sweeps
// stays; each deletion is an event and a count.
func TestCollectModules(t *testing.T) {
	g, store := newTestGateway(t)
	ctx := context.Background()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	sha := func(c byte) string { return string(slices.Repeat([]byte{c}, 64)) }
	for _, c := range []byte("abcdef") {
		must(store.PutModule(ctx, sha(c), []byte("\x00asm\x01\x00\x00\x00")))
	}
	must(store.Applications().Create(ctx, "app", fleet.Application{Name: "app", Version: "2", SHA256: sha('a'),
		Stable: &fleet.Release{Version: "1", SHA256: sha('b')}}))
	must(store.Deployments().Create(ctx, fleet.DeploymentKey("old", "dev"), fleet.Deployment{App: "old", Device: "dev", SHA256: sha('c')}))

	stored := func() []string {
		mods, err := store.Modules(ctx)
		must(err)
		var out []string
		for _, m := range mods {
			out = append(out, m.SHA256[:1])
		}
		return out
	}
	seen, err := g.collectModules(ctx, store, nil)
	must(err)
	if got := stored(); !slices.Equal(got, []string{"a", "b", "c", "d", "e", "f"}) {
		t.Fatalf("after the first sweep: %v, want all (the first sweep only marks)", got)
	}
	// e gains a user before the second sweep.
	must(store.Applications().Create(ctx, "new", fleet.Application{Name: "new", Version: "1", SHA256: sha('e')}))
	seen, err = g.collectModules(ctx, store, seen)
	must(err)
	if got := stored(); !slices.Equal(got, []string{"a", "b", "c", "e"}) {
		t.Fatalf("after the second sweep: %v, want a b c e (d and f unused twice)", got)
	}
	if n := testutil.ToFloat64(g.Metrics.ModulesCollected); n != 2 {
		t.Errorf("modules collected: %v, want 2", n)
	}
	evs, err := store.Events(ctx, 0, 0)
	must(err)
	n := 0
	for _, e := range evs {
		if e.Kind == "module.deleted" {
			n++
		}
	}
	if n != 2 {
		t.Errorf("module.deleted events: %d, want 2", n)
	}
	// The deployment goes (its device confirmed): c is marked, then taken.
	must(store.Deployments().Delete(ctx, fleet.DeploymentKey("old", "dev")))
	seen, err = g.collectModules(ctx, store, seen)
	must(err)
	_, err = g.collectModules(ctx, store, seen)
	must(err)
	if got := stored(); !slices.Equal(got, []string{"a", "b", "e"}) {
		t.Fatalf("after the deployment went: %v, want a b e", got)
	}
}
