package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Errors every Store returns, matched with errors.Is.
var (
	ErrNotFound = errors.New("not found")
	ErrExists   = errors.New("already exists")
)

// Collection is one kind of object in a Store, keyed by name (deployments by
// DeploymentKey). Implementations return copies: changing a returned value
// changes nothing until it is Put.
type Collection[T any] interface {
	Get(ctx context.Context, key string) (T, error)
	List(ctx context.Context) ([]T, error)
	// Create stores v under key, or fails with ErrExists.
	Create(ctx context.Context, key string, v T) error
	// Put stores v under key, creating or replacing it.
	Put(ctx context.Context, key string, v T) error
	// PutMany stores several objects in one write.
	PutMany(ctx context.Context, items map[string]T) error
	// Update reads key, applies fn and stores the result atomically; fn's
	// error aborts the update and is returned. ErrNotFound if key is absent.
	Update(ctx context.Context, key string, fn func(*T) error) (T, error)
	// Delete removes key; ErrNotFound if it is absent.
	Delete(ctx context.Context, key string) error
}

// A Query asks for one page of a collection, in key order: the objects whose
// key comes after After (all when empty), that Match (every one when nil), at
// most Limit of them (all when 0).
type Query[T any] struct {
	After string
	Limit int
	Match func(*T) bool
	// Contains: byte strings the JSON encoding of every object Match accepts
	// holds (a label as "key":"value", a board as "board":"name"). A store
	// that keeps objects as JSON may skip the others without decoding them;
	// Match still decides.
	Contains [][]byte
}

// A Pager is a Collection that answers a Query without loading every object
// (Page uses it when the collection is one).
type Pager[T any] interface {
	// Page returns the page and whether objects after it match too.
	Page(ctx context.Context, q Query[T]) (items []T, more bool, err error)
}

// Page answers q from c: through c's own Pager, or from c.List (sorted by key,
// filtered) for a store without one. key is an object's key in c.
func Page[T any](ctx context.Context, c Collection[T], key func(*T) string, q Query[T]) ([]T, bool, error) {
	if p, ok := c.(Pager[T]); ok {
		return p.Page(ctx, q)
	}
	all, err := c.List(ctx)
	if err != nil {
		return nil, false, err
	}
	slices.SortStableFunc(all, func(a, b T) int { return strings.Compare(key(&a), key(&b)) })
	var out []T
	for i := range all {
		if q.After != "" && key(&all[i]) <= q.After || q.Match != nil && !q.Match(&all[i]) {
			continue
		}
		if q.Limit > 0 && len(out) == q.Limit {
			return out, true, nil
		}
		out = append(out, all[i])
	}
	return out, false, nil
}

// An Indexer is a Collection that also finds its objects by a secondary
// key (the embedded store's tokens: by device) without reading the others.
type Indexer[T any] interface {
	ByIndex(ctx context.Context, value string) ([]T, error)
}

// DeviceTokens lists the enrollment tokens issued for device (an enrollment
// does, to drop the device's unused ones). Tokens are keyed by their random
// ID: a store that indexes them by device answers from its index; another
// is read whole, through Page (a store that keeps JSON skips the other
// devices' tokens by a byte search instead of decoding them). With List,
// 19,000 enrollments decoded 19,000 tokens each.
func DeviceTokens(ctx context.Context, c Collection[EnrollmentToken], device string) ([]EnrollmentToken, error) {
	if ix, ok := c.(Indexer[EnrollmentToken]); ok {
		return ix.ByIndex(ctx, device)
	}
	toks, _, err := Page(ctx, c, func(t *EnrollmentToken) string { return t.ID }, Query[EnrollmentToken]{
		Match:    func(t *EnrollmentToken) bool { return t.Device == device },
		Contains: [][]byte{JSONField("device", device)},
	})
	return toks, err
}

// JSONField is the JSON text `"name":value` of one field or map entry, as
// Query.Contains wants it.
func JSONField(name string, value any) []byte {
	k, _ := json.Marshal(name)
	v, err := json.Marshal(value)
	if err != nil {
		return nil
	}
	return append(append(k, ':'), v...)
}

// ModuleInfo is one stored module.
type ModuleInfo struct {
	SHA256 string `json:"sha256"`
	Size   int    `json:"size"`
}

// A ModuleStore lists and deletes stored modules (the embedded store; in
// Kubernetes mode modules are ConfigMaps, managed with kubectl).
type ModuleStore interface {
	Modules(ctx context.Context) ([]ModuleInfo, error)
	// DeleteModule removes a module; ErrNotFound if it is not stored.
	DeleteModule(ctx context.Context, sha256 string) error
}

// ModuleUsersIn is ModuleUsers over st's applications and deployments as
// they are now.
func ModuleUsersIn(ctx context.Context, st Store) (func(sha256 string) []string, error) {
	apps, err := st.Applications().List(ctx)
	if err != nil {
		return nil, err
	}
	deps, err := st.Deployments().List(ctx)
	if err != nil {
		return nil, err
	}
	return func(sha256 string) []string { return ModuleUsers(sha256, apps, deps) }, nil
}

// ModuleUsers names what still needs module sha256: applications whose
// spec or stable release (a rollback's target) is it, and deployments whose
// devices were sent it (a device that resets is sent its module again).
func ModuleUsers(sha256 string, apps []Application, deps []Deployment) []string {
	var out []string
	for i := range apps {
		a := &apps[i]
		if a.SHA256 == sha256 {
			out = append(out, "application "+a.Name)
		} else if a.Stable != nil && a.Stable.SHA256 == sha256 {
			out = append(out, "application "+a.Name+" (its stable release)")
		}
	}
	n := 0
	for i := range deps {
		if deps[i].SHA256 == sha256 {
			n++
		}
	}
	if n > 0 {
		out = append(out, fmt.Sprintf("%d deployment(s)", n))
	}
	return out
}

// Kinds of objects, as Change.Kind names them.
const (
	KindGateway     = "gateway"
	KindDevice      = "device"
	KindApplication = "application"
	KindToken       = "token"
	KindDeployment  = "deployment"
	KindRevocation  = "revocation"
	KindCertificate = "certificate"
	KindAPIToken    = "apitoken"
	KindModule      = "module" // audit entries only: modules are not watched
)

// Change tells a watcher that an object was written or deleted.
type Change struct {
	Kind    string
	Key     string
	Deleted bool
}

// Revocation is a revoked device certificate.
type Revocation struct {
	Serial    string    `json:"serial"` // hex
	Device    string    `json:"device"`
	Reason    string    `json:"reason,omitempty"`
	RevokedAt time.Time `json:"revoked_at"`
}

// States of a device certificate in the ledger (Store.Certificates).
const (
	// CertCurrent: the device's certificate; a session may open with it.
	CertCurrent = "current"
	// CertPending: issued by a renewal and not used yet. A session may open
	// with it while the certificate it renews is the device's current one;
	// that makes it current and supersedes the one before and the other
	// pending ones (a device that lost a renewal's answer still holds the
	// certificate of the renewal before).
	CertPending = "pending"
	// CertSuperseded: replaced by a newer certificate (enrollment, renewal,
	// a certificate signed through the API) or left by a deleted device;
	// refused.
	CertSuperseded = "superseded"
	// CertRevoked: revoked; refused, and on the CA's revocation list.
	CertRevoked = "revoked"
)

// Sources of a device certificate: the path that had the CA sign it.
const (
	SourceEnrollment = "enrollment" // one-time token, enrollment session
	SourceRenewal    = "renewal"    // renew message in a device session
	SourceAPI        = "api"        // POST /v1/certificates (wasmbed_certificate, factory identities)
	SourceUnrecorded = "unrecorded" // issued before the ledger existed, found on the device's status
)

// Certificate is one device certificate the CA signed, by whichever path:
// the ledger entry a session is checked against. It is keyed by its serial.
type Certificate struct {
	Serial    string    `json:"serial"` // lowercase hex
	Device    string    `json:"device"`
	Source    string    `json:"source"`
	NotBefore time.Time `json:"not_before,omitzero"`
	NotAfter  time.Time `json:"not_after"`
	IssuedAt  time.Time `json:"issued_at"`
	State     string    `json:"state"`
	// Renews is the serial of the device's current certificate when a
	// renewal issued this one: it is usable only while that one is current.
	Renews string `json:"renews,omitempty"`
	// Reason says why the certificate was superseded or revoked.
	Reason    string    `json:"reason,omitempty"`
	ChangedAt time.Time `json:"changed_at,omitzero"` // when State last changed
}

// Usable reports whether a session may open with c: pending or current.
func (c *Certificate) Usable() bool { return c.State == CertCurrent || c.State == CertPending }

// OutputRecord is one log line or published value of an app on a device.
type OutputRecord struct {
	Time   time.Time `json:"time"`
	App    string    `json:"app"`
	Device string    `json:"device"`
	Level  string    `json:"level,omitempty"` // log lines: error, warn, info, debug
	Text   string    `json:"text,omitempty"`
	Key    string    `json:"key,omitempty"` // published values
	Value  *float64  `json:"value,omitempty"`
}

// Store is where the fleet's desired and observed state lives: the embedded
// store (one file) in standalone mode, Kubernetes in cluster mode.
type Store interface {
	Gateways() Collection[Gateway]
	Devices() Collection[Device]
	Applications() Collection[Application]
	Tokens() Collection[EnrollmentToken]
	Deployments() Collection[Deployment]
	Revocations() Collection[Revocation]
	// Certificates is the ledger of every device certificate the CA
	// signed, keyed by serial (lowercase hex).
	Certificates() Collection[Certificate]

	// PutModule stores module bytes under their hex sha256; GetModule reads them.
	PutModule(ctx context.Context, sha256 string, wasm []byte) error
	GetModule(ctx context.Context, sha256 string) ([]byte, error)

	// AppendEvent records an event (the store assigns Seq and keeps a bounded
	// history); Events lists those with Seq > after, oldest first, at most limit.
	AppendEvent(ctx context.Context, e Event) (Event, error)
	Events(ctx context.Context, after uint64, limit int) ([]Event, error)
	// LastEvents returns the latest limit events, oldest first.
	LastEvents(ctx context.Context, limit int) ([]Event, error)

	// AppendOutput keeps the latest records per app and device (bounded);
	// Output lists them for app (and device when not empty), newest last.
	AppendOutput(ctx context.Context, recs []OutputRecord) error
	Output(ctx context.Context, app, device string, limit int) ([]OutputRecord, error)

	// AppendAudit records an audit entry made with no write (the store
	// assigns Seq); a write's entry goes with it instead (WithAudit), in
	// the same transaction where the store has them. Audit lists the
	// entries with Seq > after, oldest first, at most limit (0: all), and
	// where the log starts and ends. Sequence numbers have no gaps: the
	// latest n are those after LastSeq-n. The history is bounded (see
	// AuditExporter).
	AppendAudit(ctx context.Context, r AuditRecord) (AuditRecord, error)
	Audit(ctx context.Context, after uint64, limit int) (AuditPage, error)

	// Watch delivers changes made after it is called until ctx ends. A slow
	// watcher misses changes rather than blocking writers; it then receives a
	// Change with Kind "" meaning "resynchronise: list everything again".
	Watch(ctx context.Context) <-chan Change

	Close() error
}

// DeploymentKey is the key of the deployment of app on device.
func DeploymentKey(app, device string) string { return app + "/" + device }
