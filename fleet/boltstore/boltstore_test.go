package boltstore

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wasmbed/wasmbed/fleet"
	"github.com/wasmbed/wasmbed/fleet/storetest"
)

func open(t *testing.T, path string) *Store {
	t.Helper()
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestCollectionsPersistAcrossReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "fleet.db")
	s := open(t, path)
	d := fleet.Device{Name: "dev-1", Board: "stm32f4-discovery", Labels: map[string]string{"site": "a"}}
	if err := s.Devices().Create(ctx, d.Name, d); err != nil {
		t.Fatal(err)
	}
	if err := s.Devices().Create(ctx, d.Name, d); !errors.Is(err, fleet.ErrExists) {
		t.Fatalf("second create: %v, want ErrExists", err)
	}
	if _, err := s.Devices().Update(ctx, "dev-1", func(d *fleet.Device) error { d.Status.Phase = fleet.PhaseOnline; return nil }); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	if _, err := s.Devices().Update(ctx, "dev-1", func(d *fleet.Device) error { d.Board = "x"; return boom }); !errors.Is(err, boom) {
		t.Fatalf("aborted update: %v", err)
	}
	if _, err := s.Devices().Update(ctx, "nope", func(*fleet.Device) error { return nil }); !errors.Is(err, fleet.ErrNotFound) {
		t.Fatalf("update missing: %v", err)
	}
	if err := s.PutModule(ctx, "abc", []byte("\x00asm")); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(path); err == nil || !containsAll(err.Error(), "locked") {
		t.Fatalf("second open of a held file: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = open(t, path)
	defer s.Close()
	got, err := s.Devices().Get(ctx, "dev-1")
	if err != nil {
		t.Fatal(err)
	}
	if got.Status.Phase != fleet.PhaseOnline || got.Board != "stm32f4-discovery" || got.Labels["site"] != "a" {
		t.Fatalf("after reopen: %+v", got)
	}
	if m, err := s.GetModule(ctx, "abc"); err != nil || string(m) != "\x00asm" {
		t.Fatalf("module: %q %v", m, err)
	}
	if err := s.Devices().Delete(ctx, "dev-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Devices().Get(ctx, "dev-1"); !errors.Is(err, fleet.ErrNotFound) {
		t.Fatalf("after delete: %v", err)
	}
}

// The behaviour every store shares (package storetest; fleet/kubestore
// runs the same tests against a real API server). It holds what this file
// tested before: updates atomic under 100 concurrent writers, bounded
// output and event histories, watches.
func TestConformance(t *testing.T) {
	storetest.Run(t, storetest.Harness{
		New:         func(t *testing.T) fleet.Store { return open(t, filepath.Join(t.TempDir(), "fleet.db")) },
		OutputBound: maxOutputPerAppOn,
	})
}

func containsAll(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}
