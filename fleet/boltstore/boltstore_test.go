package boltstore

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wasmbed/wasmbed/fleet"
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

func TestConcurrentUpdatesAreAtomic(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "fleet.db"))
	defer s.Close()
	if err := s.Applications().Put(ctx, "app", fleet.Application{Name: "app"}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := 0; i < 100; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := s.Applications().Update(ctx, "app", func(a *fleet.Application) error { a.Generation++; return nil }); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	a, _ := s.Applications().Get(ctx, "app")
	if a.Generation != 100 {
		t.Fatalf("generation %d after 100 increments", a.Generation)
	}
}

func TestHistoriesAreBounded(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "fleet.db"))
	defer s.Close()
	for i := 0; i < maxOutputPerAppOn+50; i++ {
		v := float64(i)
		if err := s.AppendOutput(ctx, []fleet.OutputRecord{{Time: time.Unix(int64(i), 0), App: "a", Device: "d1", Key: "k", Value: &v}}); err != nil {
			t.Fatal(err)
		}
	}
	s.AppendOutput(ctx, []fleet.OutputRecord{{Time: time.Unix(10000, 0), App: "a", Device: "d2", Text: "hi", Level: "info"}})
	s.AppendOutput(ctx, []fleet.OutputRecord{{Time: time.Unix(10000, 0), App: "ab", Device: "d1", Text: "other app"}})
	out, err := s.Output(ctx, "a", "d1", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != maxOutputPerAppOn || *out[len(out)-1].Value != float64(maxOutputPerAppOn+49) || *out[0].Value != 50 {
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
}

func TestWatch(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	s := open(t, filepath.Join(t.TempDir(), "fleet.db"))
	defer s.Close()
	ch := s.Watch(ctx)
	s.Gateways().Put(ctx, "gw", fleet.Gateway{Name: "gw"})
	s.Gateways().Delete(ctx, "gw")
	if c := <-ch; c != (fleet.Change{Kind: fleet.KindGateway, Key: "gw"}) {
		t.Fatalf("first change %+v", c)
	}
	if c := <-ch; !c.Deleted {
		t.Fatalf("second change %+v", c)
	}
	cancel()
	for range ch { // closed after cancel
	}
}

func containsAll(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}
