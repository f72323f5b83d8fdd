package boltstore

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"

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

// listOnly hides a collection's Pager: fleet.Page then pages from List, the
// reference the store's own paging must agree with.
type listOnly[T any] struct{ fleet.Collection[T] }

// The store's paging answers what paging the whole list would: every page
// size, cursor, label and board filter, with a match function on top.
func TestPageAgreesWithTheList(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "fleet.db"))
	devs := map[string]fleet.Device{}
	for i := range 97 {
		d := fleet.Device{Name: fmt.Sprintf("d-%03d", (i*37)%97), Board: []string{"stm32f4-discovery", "mps2-an386"}[i%2],
			Labels: map[string]string{"rack": fmt.Sprintf("r%d", i%5), "odd": strconv.FormatBool(i%2 == 1), "quote": `a"b`}}
		devs[d.Name] = d
	}
	if err := s.Devices().PutMany(ctx, devs); err != nil {
		t.Fatal(err)
	}
	key := func(d *fleet.Device) string { return d.Name }
	names := func(ds []fleet.Device) []string {
		var out []string
		for _, d := range ds {
			out = append(out, d.Name)
		}
		return out
	}
	queries := []fleet.Query[fleet.Device]{
		{},
		{Contains: [][]byte{fleet.JSONField("rack", "r3")}, Match: func(d *fleet.Device) bool { return d.Labels["rack"] == "r3" }},
		{Contains: [][]byte{fleet.JSONField("board", "mps2-an386"), fleet.JSONField("quote", `a"b`)},
			Match: func(d *fleet.Device) bool { return d.Board == "mps2-an386" }},
		{Contains: [][]byte{fleet.JSONField("rack", "r9")}, Match: func(d *fleet.Device) bool { return d.Labels["rack"] == "r9" }},
		{Match: func(d *fleet.Device) bool { return d.Name[len(d.Name)-1] == '7' }},
	}
	for qi, q := range queries {
		for _, limit := range []int{0, 1, 7, 50, 200} {
			q.Limit = limit
			for _, after := range []string{"", "d-000", "d-042", "d-0425", "d-096", "zzz"} {
				q.After = after
				got, more, err := fleet.Page(ctx, s.Devices(), key, q)
				if err != nil {
					t.Fatal(err)
				}
				want, wantMore, _ := fleet.Page(ctx, listOnly[fleet.Device]{s.Devices()}, key, q)
				if !slices.Equal(names(got), names(want)) || more != wantMore {
					t.Fatalf("query %d limit %d after %q: %v more %v; from the list: %v more %v", qi, limit, after, names(got), more, names(want), wantMore)
				}
			}
		}
	}
	// The filter is exact, the hint only skips: a label whose value holds the
	// wanted one is not a match.
	got, _, _ := fleet.Page(ctx, s.Devices(), key, fleet.Query[fleet.Device]{Contains: [][]byte{fleet.JSONField("rack", "r")},
		Match: func(d *fleet.Device) bool { return d.Labels["rack"] == "r" }})
	if len(got) != 0 {
		t.Fatalf("rack=r matched %v", names(got))
	}
}

// DeviceTokens finds a device's tokens, and only its own (not those of a
// device whose name it prefixes), from the index kept by every write (create,
// put, update, delete) and built at open for a store written before it.
func TestDeviceTokens(t *testing.T) {
	path := filepath.Join(t.TempDir(), "fleet.db")
	s := open(t, path)
	ctx := context.Background()
	ids := map[string][]string{}
	for i, dev := range []string{"dev-1", "dev-10", "dev-1", "dev-2", "dev-1"} {
		id := fmt.Sprintf("%016x", 1000-i) // keys unrelated to the device
		if err := s.Tokens().Create(ctx, id, fleet.EnrollmentToken{ID: id, Device: dev}); err != nil {
			t.Fatal(err)
		}
		ids[dev] = append(ids[dev], id)
	}
	check := func(what string, s *Store, want map[string][]string) {
		t.Helper()
		for _, dev := range []string{"dev-1", "dev-10", "dev-2", "dev-3"} {
			got, err := fleet.DeviceTokens(ctx, s.Tokens(), dev)
			if err != nil {
				t.Fatal(err)
			}
			var gotIDs []string
			for _, tok := range got {
				if tok.Device != dev {
					t.Fatalf("%s: %s: %+v", what, dev, got)
				}
				gotIDs = append(gotIDs, tok.ID)
			}
			// The same as a whole read (Page, as a store without the index).
			all, _, err := fleet.Page(ctx, s.Tokens(), func(t *fleet.EnrollmentToken) string { return t.ID },
				fleet.Query[fleet.EnrollmentToken]{Match: func(t *fleet.EnrollmentToken) bool { return t.Device == dev }})
			if err != nil {
				t.Fatal(err)
			}
			var allIDs []string
			for _, tok := range all {
				allIDs = append(allIDs, tok.ID)
			}
			slices.Sort(gotIDs)
			w := slices.Sorted(slices.Values(want[dev]))
			if !slices.Equal(gotIDs, w) || !slices.Equal(gotIDs, allIDs) {
				t.Fatalf("%s: %s: index %v, want %v, whole read %v", what, dev, gotIDs, w, allIDs)
			}
		}
	}
	check("after create", s, ids)

	// A token moved to another device (Update), one replaced (Put), one
	// deleted, one added by PutMany.
	moved, replaced, deleted := ids["dev-1"][0], ids["dev-10"][0], ids["dev-1"][1]
	if _, err := s.Tokens().Update(ctx, moved, func(t *fleet.EnrollmentToken) error { t.Device = "dev-3"; return nil }); err != nil {
		t.Fatal(err)
	}
	must(t, s.Tokens().Put(ctx, replaced, fleet.EnrollmentToken{ID: replaced, Device: "dev-2"}))
	must(t, s.Tokens().Delete(ctx, deleted))
	must(t, s.Tokens().PutMany(ctx, map[string]fleet.EnrollmentToken{"00000000000000ff": {ID: "00000000000000ff", Device: "dev-10"}}))
	want := map[string][]string{"dev-1": {ids["dev-1"][2]}, "dev-10": {"00000000000000ff"}, "dev-2": {ids["dev-2"][0], replaced}, "dev-3": {moved}}
	check("after writes", s, want)

	// A store written before the index: the index is built at open.
	must(t, s.db.Update(func(tx *bolt.Tx) error { return tx.DeleteBucket(bTokensByDevice) }))
	must(t, s.Close())
	s = open(t, path)
	defer s.Close()
	check("after reopen without the index", s, want)
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// A write and its audit entry commit together: when the entry cannot be
// appended (entries not yet exported fill the log) the write fails and the
// object is as it was; once they are exported the write goes through, and
// the pruned entries are visible as where the log starts.
func TestAuditCommitsWithTheWrite(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "fleet.db"))
	defer s.Close()
	s.LimitAudit(1, 1)
	s.AuditExported(0) // an exporter is following, and has exported nothing
	put := func(board string) error {
		actx, _ := fleet.WithAudit(ctx, fleet.AuditRecord{Actor: "admin", Action: "update"}, fleet.KindDevice, "d1")
		return s.Devices().Put(actx, "d1", fleet.Device{Name: "d1", Board: board})
	}
	if err := errors.Join(put("a"), put("b")); err != nil {
		t.Fatal(err)
	}
	if err := put("c"); !errors.Is(err, fleet.ErrAuditBacklog) {
		t.Fatalf("write with a full audit log: %v, want ErrAuditBacklog", err)
	}
	if d, _ := s.Devices().Get(ctx, "d1"); d.Board != "b" {
		t.Fatalf("the refused write changed the device: board %q", d.Board)
	}
	if p, _ := s.Audit(ctx, 0, 0); len(p.Records) != 2 || p.LastSeq != 2 {
		t.Fatalf("audit log after a refused write: %+v", p)
	}
	s.AuditExported(2)
	if err := put("c"); err != nil {
		t.Fatal(err)
	}
	p, err := s.Audit(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Records) != 1 || p.Records[0].Seq != 3 || p.FirstSeq != 3 || p.Pruned != 2 || p.LastSeq != 3 {
		t.Fatalf("audit log after export and pruning: %+v", p)
	}
	if c := p.Records[0].Changes; len(c) != 1 || c[0].Field != "board" || string(c[0].Old) != `"b"` || string(c[0].New) != `"c"` {
		t.Fatalf("changes: %+v", c)
	}
}

// Without an exporter the bound prunes the oldest entries, visibly.
func TestAuditPrunedIsVisible(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "fleet.db"))
	defer s.Close()
	s.LimitAudit(3, 0)
	for i := range 5 {
		if _, err := s.AppendAudit(ctx, fleet.AuditRecord{Actor: "admin", Action: "x", Object: fmt.Sprint("device/d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	p, err := s.Audit(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Records) != 3 || p.FirstSeq != 3 || p.Pruned != 2 || p.LastSeq != 5 || p.Records[0].Object != "device/d2" {
		t.Fatalf("audit log: %+v", p)
	}
}

// appendBounded keeps the last limit entries however many are over it
// (a lower limit drops several at once).
func TestAppendBoundedDropsEveryEntryOver(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "fleet.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	count := func() (n int) {
		must(t, s.db.View(func(tx *bolt.Tx) error {
			return tx.Bucket(bEvents).ForEach(func(_, _ []byte) error { n++; return nil })
		}))
		return n
	}
	add := func(limit int) {
		must(t, s.db.Update(func(tx *bolt.Tx) error {
			_, err := appendBounded(tx.Bucket(bEvents), limit, func(uint64) ([]byte, error) { return []byte("{}"), nil })
			return err
		}))
	}
	for range 10 {
		add(10)
	}
	add(3)
	if n := count(); n != 3 {
		t.Fatalf("%d entries kept, want 3", n)
	}
}
