package fleet

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"time"
)

// AuditRecord is one change made through the management API. The store
// numbers it (Seq, from 1, never reused) and, when it goes with a write,
// names the object written and what changed in it.
type AuditRecord struct {
	Seq       uint64    `json:"seq"`
	Time      time.Time `json:"time"`
	Actor     string    `json:"actor"`                // token name
	Source    string    `json:"source,omitempty"`     // the client's address (host)
	RequestID string    `json:"request_id,omitempty"` // the request's X-Request-ID
	Action    string    `json:"action"`
	Object    string    `json:"object"` // kind/key
	Detail    string    `json:"detail,omitempty"`
	// Changes are the fields the write changed in the stored object: on a
	// create the fields set, on an update those that differ, none on a
	// delete.
	Changes []FieldChange `json:"changes,omitempty"`
}

// FieldChange is one changed field of an object.
type FieldChange struct {
	// Field is the field's path in the object's JSON, dot-separated
	// (labels.env, status.phase); a list is one field.
	Field string `json:"field"`
	// Old and New are the JSON values before and after (absent: unset),
	// cut to a JSON string ending in "…" past MaxAuditValue bytes.
	Old json.RawMessage `json:"old,omitempty"`
	New json.RawMessage `json:"new,omitempty"`
	// Redacted: a secret (a token's hash, key material) changed; its
	// values are not recorded.
	Redacted bool `json:"redacted,omitempty"`
}

// MaxAuditValue bounds the JSON of a value an audit record keeps: the audit
// log says what changed, the object says what it is.
const MaxAuditValue = 128

// AuditPage is a page of the audit log, with where the log starts: entries
// before FirstSeq were pruned by the store's bound (Pruned of them).
type AuditPage struct {
	Records  []AuditRecord
	FirstSeq uint64 // the oldest entry kept; 0 when there is none
	LastSeq  uint64 // the newest entry ever recorded; 0 when none was
	Pruned   uint64
}

// ErrAuditBacklog: the audit log holds as many entries not yet exported as
// it may (the export is failing); writes that must be audited are refused
// rather than recorded without their audit entry.
var ErrAuditBacklog = errors.New("audit log full of entries not yet exported")

// PendingAudit is the audit entry of a write yet to be made: a store writes
// it in the same transaction as the first write to its target that
// succeeds (WithAudit).
type PendingAudit struct {
	kind, key string // the target; key "" is any object of kind

	mu       sync.Mutex
	rec      AuditRecord
	recorded bool
}

type auditKey struct{}

// WithAudit returns a context whose write to the object kind/key (key "":
// the first object of that kind written, for a key a handler cannot know
// yet, like a new token's ID) is recorded with rec. Writes to other
// objects under the context are not audited: an action that makes several
// writes is recorded with the one that is the action.
func WithAudit(ctx context.Context, rec AuditRecord, kind, key string) (context.Context, *PendingAudit) {
	p := &PendingAudit{kind: kind, key: key, rec: rec}
	return context.WithValue(ctx, auditKey{}, p), p
}

// WithoutAudit returns ctx without its pending audit entry, for the writes
// an audited action makes around its main one.
func WithoutAudit(ctx context.Context) context.Context {
	if ctx.Value(auditKey{}) == nil {
		return ctx
	}
	return context.WithValue(ctx, auditKey{}, (*PendingAudit)(nil))
}

// AuditFor returns the audit entry pending in ctx for a write of kind/key,
// nil when that write is not audited (or its entry was recorded already).
func AuditFor(ctx context.Context, kind, key string) *PendingAudit {
	p, _ := ctx.Value(auditKey{}).(*PendingAudit)
	if p == nil || p.kind != kind || p.key != "" && p.key != key {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.recorded {
		return nil
	}
	return p
}

// Entry is the audit record of the write of kind/key that changed old into
// new (JSON; nil: absent), for the store to append (it sets Seq).
func (p *PendingAudit) Entry(kind, key string, old, new []byte) AuditRecord {
	p.mu.Lock()
	r := p.rec
	p.mu.Unlock()
	if r.Time.IsZero() {
		r.Time = time.Now().UTC()
	}
	r.Object = kind + "/" + key
	if new != nil {
		r.Changes = Changes(old, new)
	}
	return r
}

// Recorded marks the entry recorded, once its transaction committed.
func (p *PendingAudit) Recorded(r AuditRecord) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rec, p.recorded = r, true
}

// Record returns the entry as recorded, and whether it was.
func (p *PendingAudit) Record() (AuditRecord, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.rec, p.recorded
}

// secretFields are the fields whose values never enter the audit log: a
// token's hash (an API token's before its rotation too), the key that used
// it, key and request material.
var secretFields = []string{"hash", "previous_hash", "used_key", "secret", "token", "csr", "csr_pem", "private_key", "password"}

// Changes lists the fields that differ between two JSON objects (old nil:
// every field new sets), by path, objects compared field by field and
// everything else as a whole; secret fields are named, never valued.
func Changes(old, new []byte) []FieldChange {
	var o, n any
	if old != nil && json.Unmarshal(old, &o) != nil {
		o = nil
	}
	if json.Unmarshal(new, &n) != nil {
		return nil
	}
	var out []FieldChange
	diff("", o, n, &out)
	return out
}

func diff(path string, o, n any, out *[]FieldChange) {
	if slices.Contains(secretFields, path[strings.LastIndexByte(path, '.')+1:]) {
		if !bytes.Equal(jsonOf(o), jsonOf(n)) {
			*out = append(*out, FieldChange{Field: path, Redacted: true})
		}
		return
	}
	om, oOK := o.(map[string]any)
	nm, nOK := n.(map[string]any)
	if oOK && nOK || o == nil && nOK || oOK && n == nil {
		keys := make([]string, 0, len(om)+len(nm))
		for k := range om {
			keys = append(keys, k)
		}
		for k := range nm {
			if _, ok := om[k]; !ok {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
		for _, k := range keys {
			p := k
			if path != "" {
				p = path + "." + k
			}
			diff(p, om[k], nm[k], out)
		}
		return
	}
	ob, nb := jsonOf(o), jsonOf(n)
	if bytes.Equal(ob, nb) {
		return
	}
	*out = append(*out, FieldChange{Field: path, Old: clip(ob), New: clip(nb)})
}

// jsonOf is v's JSON, nil for nil (absent or null) and for the zero values
// a stored object leaves out anyway.
func jsonOf(v any) []byte {
	switch x := v.(type) {
	case nil:
		return nil
	case string:
		if x == "" || x == "0001-01-01T00:00:00Z" {
			return nil
		}
	case []any:
		if len(x) == 0 {
			return nil
		}
	}
	b, _ := json.Marshal(v)
	return b
}

// clip cuts a JSON value longer than MaxAuditValue to a JSON string of its
// start, marked with "…".
func clip(b []byte) json.RawMessage {
	if b == nil || len(b) <= MaxAuditValue {
		return b
	}
	cut := b[:MaxAuditValue]
	for len(cut) > 0 && cut[len(cut)-1]&0xc0 == 0x80 { // not inside a UTF-8 sequence
		cut = cut[:len(cut)-1]
	}
	if len(cut) > 0 && cut[len(cut)-1] >= 0xc0 {
		cut = cut[:len(cut)-1]
	}
	s, _ := json.Marshal(string(cut) + "…")
	return s
}

// An AuditExporter is a store that keeps the audit entries not yet
// exported (to a file, a log) past its bound. Once AuditExported was
// called, an entry is pruned only when it is both beyond the bound and
// exported, and appending an entry fails with ErrAuditBacklog while as many
// again wait to be exported: a change is refused rather than left
// unaudited, and the store still cannot grow without end.
type AuditExporter interface {
	// AuditExported says the entries up to seq are exported.
	AuditExported(seq uint64)
}
