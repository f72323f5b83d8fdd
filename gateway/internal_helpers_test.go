package gateway

import (
	"io"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/wasmbed/wasmbed/ca"
	"github.com/wasmbed/wasmbed/fleet/boltstore"
)

// newTestGateway is a Gateway over a new embedded store and CA, not
// serving: for tests of its passes (ledger sweep, module GC).
func newTestGateway(t *testing.T) (*Gateway, *boltstore.Store) {
	t.Helper()
	dir := t.TempDir()
	store, err := boltstore.Open(filepath.Join(dir, "fleet.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	authority, err := ca.NewEmbedded(filepath.Join(dir, "ca"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { authority.Close() })
	g, err := New(Config{}, store, authority, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return g, store
}
