// Package boltstore is the embedded fleet.Store: one bbolt file, crash-safe
// (copy-on-write B+tree with fsync on commit), with writes from concurrent
// goroutines coalesced into shared transactions.
//
// bbolt (go.etcd.io/bbolt) is the store etcd itself is built on: one file, no
// server, ACID transactions, and a file lock so two gateways cannot open the
// same data directory.
package boltstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/wasmbed/wasmbed/fleet"
)

// History bounds.
const (
	maxEvents = 10000
	// maxAudit audit entries are kept, and as many more not yet exported
	// (fleet.AuditExporter).
	maxAudit          = 10000
	maxOutputPerAppOn = 200 // records kept per app and device
)

var (
	bGateways     = []byte("gateways")
	bDevices      = []byte("devices")
	bApplications = []byte("applications")
	bTokens       = []byte("tokens")
	// bTokensByDevice indexes tokens by device: key device + "\x00" + token
	// ID, no value (tokenIndex).
	bTokensByDevice = []byte("tokens-by-device")
	bDeployments    = []byte("deployments")
	bRevocations    = []byte("revocations")
	bCertificates   = []byte("certificates")
	bModules        = []byte("modules")
	bEvents         = []byte("events")
	bOutput         = []byte("output")
	bAudit          = []byte("audit")
	bAPITokens      = []byte("api-tokens")
)

// Store is the embedded store.
type Store struct {
	db *bolt.DB

	// The audit log's bounds (maxAudit unless LimitAudit), and how far it
	// is exported once an exporter said so (fleet.AuditExporter).
	auditKeep, auditBacklog atomic.Int64
	auditHeld               atomic.Bool
	auditExported           atomic.Uint64

	mu       sync.Mutex
	watchers map[*watcher]struct{}
}

var (
	_ fleet.Store         = (*Store)(nil)
	_ fleet.APITokenStore = (*Store)(nil)
)

// Open opens (creating if needed) the store file at path. It fails at once if
// another process holds the file.
func Open(path string) (*Store, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		if errors.Is(err, bolt.ErrTimeout) {
			return nil, fmt.Errorf("store %s: locked by another process (is a gateway already running on this data directory?)", path)
		}
		return nil, fmt.Errorf("store %s: %w", path, err)
	}
	// Concurrent writers are batched into one commit every few milliseconds.
	db.MaxBatchDelay = 2 * time.Millisecond
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bGateways, bDevices, bApplications, bTokens, bDeployments, bRevocations, bCertificates, bModules, bEvents, bOutput, bAudit, bAPITokens} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		// A store written before the index: build it once.
		if tx.Bucket(bTokensByDevice) == nil {
			ix, err := tx.CreateBucket(bTokensByDevice)
			if err != nil {
				return err
			}
			return tx.Bucket(bTokens).ForEach(func(k, raw []byte) error {
				key, err := tokenIndex.key(k, raw)
				if err != nil {
					return err
				}
				return ix.Put(key, nil)
			})
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("store %s: init: %w", path, err)
	}
	s := &Store{db: db, watchers: map[*watcher]struct{}{}}
	s.LimitAudit(maxAudit, maxAudit)
	return s, nil
}

// LimitAudit sets how many audit entries are kept (keep) and how many more
// may wait to be exported (backlog); tests make them small.
func (s *Store) LimitAudit(keep, backlog int) {
	s.auditKeep.Store(int64(max(keep, 1)))
	s.auditBacklog.Store(int64(max(backlog, 0)))
}

// Snapshot writes a consistent copy of the store's file (one read
// transaction: writers go on meanwhile) to the writer begin returns, told
// the copy's size first: an online backup. It returns the bytes written.
func (s *Store) Snapshot(begin func(size int64) (io.Writer, error)) (int64, error) {
	var n int64
	err := s.db.View(func(tx *bolt.Tx) error {
		w, err := begin(tx.Size())
		if err != nil {
			return err
		}
		n, err = tx.WriteTo(w)
		return err
	})
	if err != nil {
		return n, fmt.Errorf("boltstore: snapshot: %w", err)
	}
	return n, nil
}

// Close closes the file; watchers' channels are closed.
func (s *Store) Close() error {
	s.mu.Lock()
	for w := range s.watchers {
		close(w.ch)
		delete(s.watchers, w)
	}
	s.mu.Unlock()
	return s.db.Close()
}

func (s *Store) Gateways() fleet.Collection[fleet.Gateway] {
	return &collection[fleet.Gateway]{s, bGateways, fleet.KindGateway, nil}
}
func (s *Store) Devices() fleet.Collection[fleet.Device] {
	return &collection[fleet.Device]{s, bDevices, fleet.KindDevice, nil}
}
func (s *Store) Applications() fleet.Collection[fleet.Application] {
	return &collection[fleet.Application]{s, bApplications, fleet.KindApplication, nil}
}
func (s *Store) Tokens() fleet.Collection[fleet.EnrollmentToken] {
	return &collection[fleet.EnrollmentToken]{s, bTokens, fleet.KindToken, &tokenIndex}
}
func (s *Store) APITokens() fleet.Collection[fleet.APIToken] {
	return &collection[fleet.APIToken]{s, bAPITokens, fleet.KindAPIToken, nil}
}
func (s *Store) Deployments() fleet.Collection[fleet.Deployment] {
	return &collection[fleet.Deployment]{s, bDeployments, fleet.KindDeployment, nil}
}
func (s *Store) Revocations() fleet.Collection[fleet.Revocation] {
	return &collection[fleet.Revocation]{s, bRevocations, fleet.KindRevocation, nil}
}
func (s *Store) Certificates() fleet.Collection[fleet.Certificate] {
	return &collection[fleet.Certificate]{s, bCertificates, fleet.KindCertificate, nil}
}

type collection[T any] struct {
	s      *Store
	bucket []byte
	kind   string
	index  *index // a secondary key kept in the same transactions, or nil
}

// An index is a bucket of keys value + "\x00" + primary key, written in the
// transaction that writes the object, so that the objects of one value are
// found without reading the others (fleet.Indexer).
type index struct {
	bucket []byte
	value  func(raw []byte) (string, error) // the indexed value of a stored object
}

// tokenIndex finds a device's enrollment tokens (fleet.DeviceTokens): an
// enrollment looks them up, and tokens are keyed by their random ID.
var tokenIndex = index{bucket: bTokensByDevice, value: func(raw []byte) (string, error) {
	var t struct {
		Device string `json:"device"`
	}
	err := json.Unmarshal(raw, &t)
	return t.Device, err
}}

func (ix *index) key(pk, raw []byte) ([]byte, error) {
	v, err := ix.value(raw)
	if err != nil {
		return nil, err
	}
	return append(append([]byte(v), 0), pk...), nil
}

// reindex replaces the index entry of key (old: its stored value before, nil
// if none) by raw's; raw nil deletes it.
func (c *collection[T]) reindex(tx *bolt.Tx, key, old, raw []byte) error {
	if c.index == nil {
		return nil
	}
	b := tx.Bucket(c.index.bucket)
	if old != nil {
		k, err := c.index.key(key, old)
		if err != nil {
			return err
		}
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	if raw == nil {
		return nil
	}
	k, err := c.index.key(key, raw)
	if err != nil {
		return err
	}
	return b.Put(k, nil)
}

// ByIndex lists the objects whose indexed value is value (fleet.Indexer).
func (c *collection[T]) ByIndex(_ context.Context, value string) ([]T, error) {
	if c.index == nil {
		return nil, fmt.Errorf("%s: no index", c.kind)
	}
	var out []T
	prefix := append([]byte(value), 0)
	err := c.s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(c.bucket)
		cur := tx.Bucket(c.index.bucket).Cursor()
		for k, _ := cur.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = cur.Next() {
			raw := b.Get(k[len(prefix):])
			if raw == nil {
				continue
			}
			var v T
			if err := json.Unmarshal(raw, &v); err != nil {
				return fmt.Errorf("%s %q: %w", c.kind, k[len(prefix):], err)
			}
			out = append(out, v)
		}
		return nil
	})
	return out, err
}

func (c *collection[T]) Get(_ context.Context, key string) (T, error) {
	var v T
	err := c.s.db.View(func(tx *bolt.Tx) error {
		raw := tx.Bucket(c.bucket).Get([]byte(key))
		if raw == nil {
			return fmt.Errorf("%s %q: %w", c.kind, key, fleet.ErrNotFound)
		}
		return json.Unmarshal(raw, &v)
	})
	return v, err
}

func (c *collection[T]) List(context.Context) ([]T, error) {
	var out []T
	err := c.s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(c.bucket).ForEach(func(_, raw []byte) error {
			var v T
			if err := json.Unmarshal(raw, &v); err != nil {
				return err
			}
			out = append(out, v)
			return nil
		})
	})
	return out, err
}

// Page walks the bucket in key order from q.After, decoding only the objects
// whose JSON holds every q.Contains and stopping once the page is full: a
// page costs its objects, not the collection's.
func (c *collection[T]) Page(_ context.Context, q fleet.Query[T]) ([]T, bool, error) {
	var out []T
	more := false
	err := c.s.db.View(func(tx *bolt.Tx) error {
		cur := tx.Bucket(c.bucket).Cursor()
		k, raw := cur.First()
		if q.After != "" {
			k, raw = cur.Seek([]byte(q.After))
			if k != nil && string(k) == q.After {
				k, raw = cur.Next()
			}
		}
	next:
		for ; k != nil; k, raw = cur.Next() {
			for _, want := range q.Contains {
				if !bytes.Contains(raw, want) {
					continue next
				}
			}
			var v T
			if err := json.Unmarshal(raw, &v); err != nil {
				return fmt.Errorf("%s %q: %w", c.kind, k, err)
			}
			if q.Match != nil && !q.Match(&v) {
				continue
			}
			if q.Limit > 0 && len(out) == q.Limit {
				more = true
				return nil
			}
			out = append(out, v)
		}
		return nil
	})
	return out, more, err
}

func (c *collection[T]) Create(ctx context.Context, key string, v T) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	var audited func()
	err = c.s.db.Batch(func(tx *bolt.Tx) error {
		b := tx.Bucket(c.bucket)
		if b.Get([]byte(key)) != nil {
			return fmt.Errorf("%s %q: %w", c.kind, key, fleet.ErrExists)
		}
		if err := c.reindex(tx, []byte(key), nil, raw); err != nil {
			return err
		}
		if audited, err = c.s.audit(ctx, tx, c.kind, key, nil, raw); err != nil {
			return err
		}
		return b.Put([]byte(key), raw)
	})
	if err == nil {
		audited()
		c.s.notify(fleet.Change{Kind: c.kind, Key: key})
	}
	return err
}

func (c *collection[T]) Put(ctx context.Context, key string, v T) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	var audited func()
	err = c.s.db.Batch(func(tx *bolt.Tx) error {
		b := tx.Bucket(c.bucket)
		old := b.Get([]byte(key))
		if err := c.reindex(tx, []byte(key), old, raw); err != nil {
			return err
		}
		if audited, err = c.s.audit(ctx, tx, c.kind, key, old, raw); err != nil {
			return err
		}
		return b.Put([]byte(key), raw)
	})
	if err == nil {
		audited()
		c.s.notify(fleet.Change{Kind: c.kind, Key: key})
	}
	return err
}

func (c *collection[T]) PutMany(_ context.Context, items map[string]T) error {
	raws := make(map[string][]byte, len(items))
	for k, v := range items {
		raw, err := json.Marshal(v)
		if err != nil {
			return err
		}
		raws[k] = raw
	}
	err := c.s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(c.bucket)
		for k, raw := range raws {
			if err := c.reindex(tx, []byte(k), b.Get([]byte(k)), raw); err != nil {
				return err
			}
			if err := b.Put([]byte(k), raw); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		for k := range items {
			c.s.notify(fleet.Change{Kind: c.kind, Key: k})
		}
	}
	return err
}

func (c *collection[T]) Update(ctx context.Context, key string, fn func(*T) error) (T, error) {
	var out T
	var audited func()
	err := c.s.db.Batch(func(tx *bolt.Tx) error {
		b := tx.Bucket(c.bucket)
		raw := b.Get([]byte(key))
		if raw == nil {
			return fmt.Errorf("%s %q: %w", c.kind, key, fleet.ErrNotFound)
		}
		var v T // fresh on every attempt: Batch may run fn again
		if err := json.Unmarshal(raw, &v); err != nil {
			return err
		}
		if err := fn(&v); err != nil {
			return err
		}
		nraw, err := json.Marshal(v)
		if err != nil {
			return err
		}
		out = v
		if err := c.reindex(tx, []byte(key), raw, nraw); err != nil {
			return err
		}
		if audited, err = c.s.audit(ctx, tx, c.kind, key, raw, nraw); err != nil {
			return err
		}
		return b.Put([]byte(key), nraw)
	})
	if err == nil {
		audited()
		c.s.notify(fleet.Change{Kind: c.kind, Key: key})
	}
	return out, err
}

func (c *collection[T]) Delete(ctx context.Context, key string) error {
	var audited func()
	err := c.s.db.Batch(func(tx *bolt.Tx) error {
		b := tx.Bucket(c.bucket)
		old := b.Get([]byte(key))
		if old == nil {
			return fmt.Errorf("%s %q: %w", c.kind, key, fleet.ErrNotFound)
		}
		if err := c.reindex(tx, []byte(key), old, nil); err != nil {
			return err
		}
		var err error
		if audited, err = c.s.audit(ctx, tx, c.kind, key, old, nil); err != nil {
			return err
		}
		return b.Delete([]byte(key))
	})
	if err == nil {
		audited()
		c.s.notify(fleet.Change{Kind: c.kind, Key: key, Deleted: true})
	}
	return err
}

func (s *Store) PutModule(ctx context.Context, sha256 string, wasm []byte) error {
	var audited func()
	err := s.db.Batch(func(tx *bolt.Tx) error {
		b := tx.Bucket(bModules)
		var err error
		if audited, err = s.audit(ctx, tx, fleet.KindModule, sha256, moduleJSON(sha256, b.Get([]byte(sha256))), moduleJSON(sha256, wasm)); err != nil {
			return err
		}
		return b.Put([]byte(sha256), wasm)
	})
	if err == nil {
		audited()
	}
	return err
}

// moduleJSON is what the audit log says of a stored module (nil: none).
func moduleJSON(sha256 string, wasm []byte) []byte {
	if wasm == nil {
		return nil
	}
	b, _ := json.Marshal(fleet.ModuleInfo{SHA256: sha256, Size: len(wasm)})
	return b
}

// Modules lists the stored modules by sha256.
func (s *Store) Modules(_ context.Context) ([]fleet.ModuleInfo, error) {
	var out []fleet.ModuleInfo
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bModules).ForEach(func(k, v []byte) error {
			out = append(out, fleet.ModuleInfo{SHA256: string(k), Size: len(v)})
			return nil
		})
	})
	return out, err
}

// DeleteModule removes a stored module.
func (s *Store) DeleteModule(ctx context.Context, sha256 string) error {
	var audited func()
	err := s.db.Batch(func(tx *bolt.Tx) error {
		b := tx.Bucket(bModules)
		old := b.Get([]byte(sha256))
		if old == nil {
			return fmt.Errorf("module %s: %w", sha256, fleet.ErrNotFound)
		}
		var err error
		if audited, err = s.audit(ctx, tx, fleet.KindModule, sha256, moduleJSON(sha256, old), nil); err != nil {
			return err
		}
		return b.Delete([]byte(sha256))
	})
	if err == nil {
		audited()
	}
	return err
}

func (s *Store) GetModule(_ context.Context, sha256 string) ([]byte, error) {
	var out []byte
	err := s.db.View(func(tx *bolt.Tx) error {
		raw := tx.Bucket(bModules).Get([]byte(sha256))
		if raw == nil {
			return fmt.Errorf("module %s: %w", sha256, fleet.ErrNotFound)
		}
		out = slices.Clone(raw)
		return nil
	})
	return out, err
}

func seqKey(n uint64) []byte {
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], n)
	return k[:]
}

// appendBounded appends v under the next sequence of b and drops the oldest
// entries beyond limit. It returns the sequence.
func appendBounded(b *bolt.Bucket, limit int, v func(seq uint64) ([]byte, error)) (uint64, error) {
	seq, err := b.NextSequence()
	if err != nil {
		return 0, err
	}
	raw, err := v(seq)
	if err != nil {
		return 0, err
	}
	if err := b.Put(seqKey(seq), raw); err != nil {
		return 0, err
	}
	if seq > uint64(limit) {
		// First again after each Delete: bbolt's Next after a Delete
		// skips the key that followed the deleted one.
		c := b.Cursor()
		for k, _ := c.First(); k != nil && binary.BigEndian.Uint64(k) <= seq-uint64(limit); k, _ = c.First() {
			if err := c.Delete(); err != nil {
				return 0, err
			}
		}
	}
	return seq, nil
}

func (s *Store) AppendEvent(_ context.Context, e fleet.Event) (fleet.Event, error) {
	if e.Time.IsZero() {
		e.Time = time.Now().UTC()
	}
	err := s.db.Batch(func(tx *bolt.Tx) error {
		_, err := appendBounded(tx.Bucket(bEvents), maxEvents, func(seq uint64) ([]byte, error) {
			e.Seq = seq
			return json.Marshal(e)
		})
		return err
	})
	return e, err
}

func (s *Store) Events(_ context.Context, after uint64, limit int) ([]fleet.Event, error) {
	var out []fleet.Event
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bEvents).Cursor()
		for k, v := c.Seek(seqKey(after + 1)); k != nil && (limit <= 0 || len(out) < limit); k, v = c.Next() {
			var e fleet.Event
			if err := json.Unmarshal(v, &e); err != nil {
				return err
			}
			out = append(out, e)
		}
		return nil
	})
	return out, err
}

func (s *Store) LastEvents(_ context.Context, limit int) ([]fleet.Event, error) {
	var out []fleet.Event
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bEvents).Cursor()
		for k, v := c.Last(); k != nil && len(out) < limit; k, v = c.Prev() {
			var e fleet.Event
			if err := json.Unmarshal(v, &e); err != nil {
				return err
			}
			out = append(out, e)
		}
		return nil
	})
	slices.Reverse(out)
	return out, err
}

func outputBucket(app, device string) []byte { return []byte(app + "\x00" + device) }

func (s *Store) AppendOutput(_ context.Context, recs []fleet.OutputRecord) error {
	if len(recs) == 0 {
		return nil
	}
	return s.db.Batch(func(tx *bolt.Tx) error {
		root := tx.Bucket(bOutput)
		for i := range recs {
			b, err := root.CreateBucketIfNotExists(outputBucket(recs[i].App, recs[i].Device))
			if err != nil {
				return err
			}
			if _, err := appendBounded(b, maxOutputPerAppOn, func(uint64) ([]byte, error) { return json.Marshal(recs[i]) }); err != nil {
				return err
			}
		}
		return nil
	})
}

func (s *Store) Output(_ context.Context, app, device string, limit int) ([]fleet.OutputRecord, error) {
	var out []fleet.OutputRecord
	err := s.db.View(func(tx *bolt.Tx) error {
		root := tx.Bucket(bOutput)
		prefix := []byte(app + "\x00")
		c := root.Cursor()
		for k, _ := c.Seek(prefix); k != nil && strings.HasPrefix(string(k), string(prefix)); k, _ = c.Next() {
			if device != "" && string(k) != string(outputBucket(app, device)) {
				continue
			}
			err := root.Bucket(k).ForEach(func(_, v []byte) error {
				var r fleet.OutputRecord
				if err := json.Unmarshal(v, &r); err != nil {
					return err
				}
				out = append(out, r)
				return nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	if limit > 0 && len(out) > limit {
		out = out[len(out)-limit:]
	}
	return out, err
}

// audit appends, in tx, the audit entry ctx holds for the write of
// kind/key that turns old into new (stored JSON, nil: absent), so that the
// write and its entry commit together or not at all. The function it
// returns marks the entry recorded; call it once tx committed.
func (s *Store) audit(ctx context.Context, tx *bolt.Tx, kind, key string, old, new []byte) (func(), error) {
	p := fleet.AuditFor(ctx, kind, key)
	if p == nil {
		return func() {}, nil
	}
	r, err := s.appendAudit(tx, p.Entry(kind, key, old, new))
	if err != nil {
		return nil, fmt.Errorf("audit of %s %q: %w", kind, key, err)
	}
	return func() { p.Recorded(r) }, nil
}

// appendAudit numbers r, stores it and prunes the entries beyond the bound
// that are exported (all of them beyond it when no exporter said how far
// it got).
func (s *Store) appendAudit(tx *bolt.Tx, r fleet.AuditRecord) (fleet.AuditRecord, error) {
	if r.Time.IsZero() {
		r.Time = time.Now().UTC()
	}
	b := tx.Bucket(bAudit)
	keep, backlog := uint64(s.auditKeep.Load()), uint64(s.auditBacklog.Load())
	held, exported := s.auditHeld.Load(), s.auditExported.Load()
	if waiting := b.Sequence() - min(exported, b.Sequence()); held && waiting >= keep+backlog {
		return r, fmt.Errorf("%w: %d entries wait, from %d (is the audit export failing? see the log and wasmbed_audit_export_errors_total)",
			fleet.ErrAuditBacklog, waiting, exported+1)
	}
	seq, err := b.NextSequence()
	if err != nil {
		return r, err
	}
	r.Seq = seq
	raw, err := json.Marshal(r)
	if err != nil {
		return r, err
	}
	if err := b.Put(seqKey(seq), raw); err != nil {
		return r, err
	}
	if seq <= keep {
		return r, nil
	}
	upTo := seq - keep
	if held {
		upTo = min(upTo, exported)
	}
	// First again after each delete: a bbolt cursor's Next after Delete
	// skips an entry.
	c := b.Cursor()
	for k, _ := c.First(); k != nil && binary.BigEndian.Uint64(k) <= upTo; k, _ = c.First() {
		if err := c.Delete(); err != nil {
			return r, err
		}
	}
	return r, nil
}

// AuditExported says the audit entries up to seq are exported: from now
// on only those are pruned (fleet.AuditExporter).
func (s *Store) AuditExported(seq uint64) {
	for cur := s.auditExported.Load(); seq > cur && !s.auditExported.CompareAndSwap(cur, seq); cur = s.auditExported.Load() {
	}
	s.auditHeld.Store(true)
}

func (s *Store) AppendAudit(_ context.Context, r fleet.AuditRecord) (fleet.AuditRecord, error) {
	err := s.db.Batch(func(tx *bolt.Tx) error {
		var err error
		r, err = s.appendAudit(tx, r)
		return err
	})
	return r, err
}

func (s *Store) Audit(_ context.Context, after uint64, limit int) (fleet.AuditPage, error) {
	var p fleet.AuditPage
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bAudit)
		p.LastSeq = b.Sequence()
		c := b.Cursor()
		if k, _ := c.First(); k != nil {
			p.FirstSeq = binary.BigEndian.Uint64(k)
		}
		if after == math.MaxUint64 {
			return nil // only the bounds
		}
		for k, v := c.Seek(seqKey(after + 1)); k != nil && (limit <= 0 || len(p.Records) < limit); k, v = c.Next() {
			var r fleet.AuditRecord
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("audit entry %d: %w", binary.BigEndian.Uint64(k), err)
			}
			r.Seq = binary.BigEndian.Uint64(k) // entries stored before they had it
			p.Records = append(p.Records, r)
		}
		return nil
	})
	p.Pruned = p.LastSeq
	if p.FirstSeq > 0 {
		p.Pruned = p.FirstSeq - 1
	}
	return p, err
}

type watcher struct {
	ch      chan fleet.Change
	overrun bool
}

func (s *Store) Watch(ctx context.Context) <-chan fleet.Change {
	w := &watcher{ch: make(chan fleet.Change, 1024)}
	s.mu.Lock()
	s.watchers[w] = struct{}{}
	s.mu.Unlock()
	go func() {
		<-ctx.Done()
		s.mu.Lock()
		if _, ok := s.watchers[w]; ok {
			delete(s.watchers, w)
			close(w.ch)
		}
		s.mu.Unlock()
	}()
	return w.ch
}

func (s *Store) notify(c fleet.Change) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for w := range s.watchers {
		if w.overrun {
			select {
			case w.ch <- fleet.Change{}: // resynchronise
				w.overrun = false
			default:
				continue
			}
		}
		select {
		case w.ch <- c:
		default:
			w.overrun = true
		}
	}
}
