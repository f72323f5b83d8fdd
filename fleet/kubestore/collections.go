package kubestore

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/wasmbed/wasmbed/api/v1alpha1"
	"github.com/wasmbed/wasmbed/fleet"
)

// maxAttempts bounds the retries of a write that conflicts with another
// writer's.
const maxAttempts = 30

// adapter maps a fleet type T onto a resource O.
type adapter[T any, O client.Object] struct {
	kind      string
	new       func() O
	list      func(ctx context.Context, r client.Reader, ns string) ([]O, error)
	toFleet   func(O) T
	fromFleet func(T, O)
	// spec and status are what the main resource and the status
	// subresource carry; status is nil when fleet has nothing to write there.
	spec       func(O) any
	status     func(O) any
	copyStatus func(dst, src O)
}

type coll[T any, O client.Object] struct {
	s *Store
	a *adapter[T, O]
}

func (s *Store) Gateways() fleet.Collection[fleet.Gateway] {
	return &coll[fleet.Gateway, *v1alpha1.Gateway]{s, &gatewayAdapter}
}
func (s *Store) Applications() fleet.Collection[fleet.Application] {
	return &coll[fleet.Application, *v1alpha1.Application]{s, &applicationAdapter}
}
func (s *Store) Tokens() fleet.Collection[fleet.EnrollmentToken] {
	return &coll[fleet.EnrollmentToken, *v1alpha1.EnrollmentToken]{s, &tokenAdapter}
}
func (s *Store) Revocations() fleet.Collection[fleet.Revocation] {
	return &coll[fleet.Revocation, *v1alpha1.CertificateRevocation]{s, &revocationAdapter}
}
func (s *Store) Certificates() fleet.Collection[fleet.Certificate] {
	return &coll[fleet.Certificate, *v1alpha1.DeviceCertificate]{s, &certificateAdapter}
}

var gatewayAdapter = adapter[fleet.Gateway, *v1alpha1.Gateway]{
	kind: fleet.KindGateway, new: func() *v1alpha1.Gateway { return &v1alpha1.Gateway{} },
	list: func(ctx context.Context, r client.Reader, ns string) ([]*v1alpha1.Gateway, error) {
		var l v1alpha1.GatewayList
		err := r.List(ctx, &l, client.InNamespace(ns))
		return ptrs(l.Items), err
	},
	toFleet: GatewayToFleet, fromFleet: GatewayFromFleet,
	spec: func(o *v1alpha1.Gateway) any { return []any{o.Spec, o.Annotations, o.Labels} },
}

var applicationAdapter = adapter[fleet.Application, *v1alpha1.Application]{
	kind: fleet.KindApplication, new: func() *v1alpha1.Application { return &v1alpha1.Application{} },
	list: func(ctx context.Context, r client.Reader, ns string) ([]*v1alpha1.Application, error) {
		var l v1alpha1.ApplicationList
		err := r.List(ctx, &l, client.InNamespace(ns))
		return ptrs(l.Items), err
	},
	toFleet: ApplicationToFleet, fromFleet: ApplicationFromFleet,
	spec: func(o *v1alpha1.Application) any { return []any{o.Spec, o.Annotations, o.Labels} },
	// Of the status, fleet writes the rollout's progress and the stable
	// release (the controller writes the rest).
	status: func(o *v1alpha1.Application) any { return []any{o.Status.Rollout, o.Status.Stable} },
	copyStatus: func(dst, src *v1alpha1.Application) {
		dst.Status.Rollout, dst.Status.Stable = src.Status.Rollout.DeepCopy(), src.Status.Stable.DeepCopy()
	},
}

var tokenAdapter = adapter[fleet.EnrollmentToken, *v1alpha1.EnrollmentToken]{
	kind: fleet.KindToken, new: func() *v1alpha1.EnrollmentToken { return &v1alpha1.EnrollmentToken{} },
	list: func(ctx context.Context, r client.Reader, ns string) ([]*v1alpha1.EnrollmentToken, error) {
		var l v1alpha1.EnrollmentTokenList
		err := r.List(ctx, &l, client.InNamespace(ns))
		return ptrs(l.Items), err
	},
	toFleet: TokenToFleet, fromFleet: TokenFromFleet,
	spec:       func(o *v1alpha1.EnrollmentToken) any { return []any{o.Spec, o.Annotations, o.Labels} },
	status:     func(o *v1alpha1.EnrollmentToken) any { return o.Status },
	copyStatus: func(dst, src *v1alpha1.EnrollmentToken) { dst.Status = *src.Status.DeepCopy() },
}

var revocationAdapter = adapter[fleet.Revocation, *v1alpha1.CertificateRevocation]{
	kind: fleet.KindRevocation, new: func() *v1alpha1.CertificateRevocation { return &v1alpha1.CertificateRevocation{} },
	list: func(ctx context.Context, r client.Reader, ns string) ([]*v1alpha1.CertificateRevocation, error) {
		var l v1alpha1.CertificateRevocationList
		err := r.List(ctx, &l, client.InNamespace(ns))
		return ptrs(l.Items), err
	},
	toFleet: RevocationToFleet, fromFleet: RevocationFromFleet,
	spec: func(o *v1alpha1.CertificateRevocation) any { return []any{o.Spec, o.Annotations, o.Labels} },
}

var certificateAdapter = adapter[fleet.Certificate, *v1alpha1.DeviceCertificate]{
	kind: fleet.KindCertificate, new: func() *v1alpha1.DeviceCertificate { return &v1alpha1.DeviceCertificate{} },
	list: func(ctx context.Context, r client.Reader, ns string) ([]*v1alpha1.DeviceCertificate, error) {
		var l v1alpha1.DeviceCertificateList
		err := r.List(ctx, &l, client.InNamespace(ns))
		return ptrs(l.Items), err
	},
	toFleet: CertificateToFleet, fromFleet: CertificateFromFleet,
	spec: func(o *v1alpha1.DeviceCertificate) any { return []any{o.Spec, o.Annotations, o.Labels} },
}

func ptrs[E any](items []E) []*E {
	out := make([]*E, len(items))
	for i := range items {
		out[i] = &items[i]
	}
	return out
}

func (c *coll[T, O]) Get(ctx context.Context, key string) (T, error) {
	var zero T
	if checkName(c.a.kind, key) != nil {
		return zero, fmt.Errorf("%s %q: %w", c.a.kind, key, fleet.ErrNotFound)
	}
	o := c.a.new()
	if err := c.s.rd().Get(ctx, c.s.key(key), o); err != nil {
		return zero, mapErr(c.a.kind, key, err)
	}
	return c.a.toFleet(o), nil
}

func (c *coll[T, O]) List(ctx context.Context) ([]T, error) {
	objs, err := c.a.list(ctx, c.s.rd(), c.s.ns)
	if err != nil {
		return nil, err
	}
	sort.Slice(objs, func(i, j int) bool { return objs[i].GetName() < objs[j].GetName() })
	var out []T
	for _, o := range objs {
		out = append(out, c.a.toFleet(o))
	}
	return out, nil
}

func (c *coll[T, O]) Create(ctx context.Context, key string, v T) error {
	o, err := c.modify(ctx, key, modeCreate, func(o O) error { c.a.fromFleet(v, o); return nil })
	if err == nil {
		audited(ctx, c.s, c.a.kind, key, nil, ptr(c.a.toFleet(o)))
	}
	return err
}

func (c *coll[T, O]) Put(ctx context.Context, key string, v T) error {
	var old *T
	o, err := c.modify(ctx, key, modePut, func(o O) error {
		old = nil
		if o.GetResourceVersion() != "" { // it exists
			old = ptr(c.a.toFleet(o))
		}
		c.a.fromFleet(v, o)
		return nil
	})
	if err == nil {
		audited(ctx, c.s, c.a.kind, key, old, ptr(c.a.toFleet(o)))
	}
	return err
}

// PutMany writes each object in turn: Kubernetes has no transaction over
// several objects.
func (c *coll[T, O]) PutMany(ctx context.Context, items map[string]T) error {
	keys := make([]string, 0, len(items))
	for k := range items {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if err := c.Put(ctx, k, items[k]); err != nil {
			return err
		}
	}
	return nil
}

func (c *coll[T, O]) Update(ctx context.Context, key string, fn func(*T) error) (T, error) {
	var old T
	o, err := c.modify(ctx, key, modeUpdate, func(o O) error {
		old = c.a.toFleet(o)
		v := c.a.toFleet(o)
		if err := fn(&v); err != nil {
			return err
		}
		c.a.fromFleet(v, o)
		return nil
	})
	if err != nil {
		var zero T
		return zero, err
	}
	v := c.a.toFleet(o)
	audited(ctx, c.s, c.a.kind, key, &old, &v)
	return v, nil
}

func (c *coll[T, O]) Delete(ctx context.Context, key string) error {
	if checkName(c.a.kind, key) != nil {
		return fmt.Errorf("%s %q: %w", c.a.kind, key, fleet.ErrNotFound)
	}
	unlock := c.s.locks.lock(c.a.kind + "/" + key)
	defer unlock()
	o := c.a.new()
	if err := c.s.c.Get(ctx, c.s.key(key), o); err != nil {
		return mapErr(c.a.kind, key, err)
	}
	if err := c.s.c.Delete(ctx, o, client.Preconditions{UID: ptr(o.GetUID())}); err != nil {
		return mapErr(c.a.kind, key, err)
	}
	c.s.waitCache(ctx, o, true)
	audited[T](ctx, c.s, c.a.kind, key, ptr(c.a.toFleet(o)), nil)
	return nil
}

func ptr[V any](v V) *V { return &v }

type writeMode int

const (
	modeUpdate writeMode = iota // the object must exist
	modeCreate                  // the object must not exist
	modePut                     // either
)

// modify reads key (from the cache, then from the API server after a
// conflict), applies mut to a copy and writes what changed: the main
// resource (spec, labels, annotations) and then the status subresource.
// Nothing is written when nothing changed.
func (c *coll[T, O]) modify(ctx context.Context, key string, mode writeMode, mut func(O) error) (O, error) {
	var zero O
	if err := checkName(c.a.kind, key); err != nil {
		if mode == modeUpdate {
			return zero, fmt.Errorf("%s %q: %w", c.a.kind, key, fleet.ErrNotFound)
		}
		return zero, err
	}
	unlock := c.s.locks.lock(c.a.kind + "/" + key)
	defer unlock()
	for attempt := 0; ; attempt++ {
		if attempt >= maxAttempts {
			return zero, fmt.Errorf("%s %q: still conflicting after %d attempts", c.a.kind, key, attempt)
		}
		if attempt > 1 {
			time.Sleep(time.Duration(rand.IntN(20*attempt)) * time.Millisecond)
		}
		cur := c.a.new()
		err := c.s.rd().Get(ctx, c.s.key(key), cur)
		if attempt > 0 || apierrors.IsNotFound(err) {
			cur = c.a.new()
			err = c.s.c.Get(ctx, c.s.key(key), cur)
		}
		switch {
		case apierrors.IsNotFound(err) && mode == modeUpdate:
			return zero, mapErr(c.a.kind, key, err)
		case apierrors.IsNotFound(err):
			o, err := c.create(ctx, key, mut)
			if apierrors.IsAlreadyExists(err) {
				if mode == modePut {
					continue
				}
				return zero, mapErr(c.a.kind, key, err)
			}
			return o, err
		case err != nil:
			return zero, mapErr(c.a.kind, key, err)
		case mode == modeCreate:
			return zero, fmt.Errorf("%s %q: %w", c.a.kind, key, fleet.ErrExists)
		}
		next := cur.DeepCopyObject().(O)
		if err := mut(next); err != nil {
			return zero, err
		}
		want := next.DeepCopyObject().(O)
		wrote := false
		if !equality.Semantic.DeepEqual(c.a.spec(cur), c.a.spec(next)) {
			if err := c.s.c.Update(ctx, next); apierrors.IsConflict(err) {
				continue
			} else if err != nil {
				return zero, mapErr(c.a.kind, key, err)
			}
			wrote = true
		}
		if c.a.status != nil && !equality.Semantic.DeepEqual(c.a.status(cur), c.a.status(want)) {
			c.a.copyStatus(next, want)
			if err := c.s.c.Status().Update(ctx, next); apierrors.IsConflict(err) {
				continue
			} else if err != nil {
				return zero, mapErr(c.a.kind, key, err)
			}
			wrote = true
		}
		if wrote {
			c.s.waitCache(ctx, next, false)
		}
		return next, nil
	}
}

// create makes the object (and writes its status, which a create does not
// carry).
func (c *coll[T, O]) create(ctx context.Context, key string, mut func(O) error) (O, error) {
	var zero O
	o := c.a.new()
	o.SetName(key)
	o.SetNamespace(c.s.ns)
	if err := mut(o); err != nil {
		return zero, err
	}
	want := o.DeepCopyObject().(O)
	if err := c.s.c.Create(ctx, o); err != nil {
		if apierrors.IsAlreadyExists(err) {
			return zero, err
		}
		return zero, mapErr(c.a.kind, key, err)
	}
	for attempt := 0; c.a.status != nil && !equality.Semantic.DeepEqual(c.a.status(o), c.a.status(want)); attempt++ {
		c.a.copyStatus(o, want)
		err := c.s.c.Status().Update(ctx, o)
		if err == nil {
			break
		}
		if !apierrors.IsConflict(err) || attempt >= maxAttempts {
			return zero, mapErr(c.a.kind, key, err)
		}
		if err := c.s.c.Get(ctx, c.s.key(key), o); err != nil {
			return zero, mapErr(c.a.kind, key, err)
		}
	}
	c.s.waitCache(ctx, o, false)
	return o, nil
}
