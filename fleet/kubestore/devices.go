package kubestore

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/wasmbed/wasmbed/api/v1alpha1"
	"github.com/wasmbed/wasmbed/fleet"
)

// Devices and their deployments share one resource: the deployments are
// records in the Device's status. Both collections write through
// modifyDevice, which also keeps device status in memory while the API
// server is unreachable (write-behind) for the writes that allow it.

type deviceMutation func(*v1alpha1.Device) error

// pendingDevice is device status not yet written: the mutations, in order,
// replayed on the device as the API server has it when they are retried.
type pendingDevice struct {
	muts  []deviceMutation
	since time.Time
}

// Pending is the number of devices whose status is kept in memory until
// the API server can be reached.
func (s *Store) Pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.pending)
}

func (s *Store) pendingMuts(name string) []deviceMutation {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p := s.pending[name]; p != nil {
		return append([]deviceMutation(nil), p.muts...)
	}
	return nil
}

// dropPending forgets the first n mutations of name (all when n < 0): they
// were written, or can never be.
func (s *Store) dropPending(name string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.pending[name]
	if p == nil {
		return
	}
	if n < 0 || n >= len(p.muts) {
		delete(s.pending, name)
		return
	}
	p.muts = append(p.muts[:0], p.muts[n:]...)
}

func (s *Store) addPending(name string, m deviceMutation) {
	s.suspect()
	s.mu.Lock()
	p := s.pending[name]
	if p == nil {
		p = &pendingDevice{since: time.Now()}
		s.pending[name] = p
	}
	p.muts = append(p.muts, m)
	s.mu.Unlock()
	select {
	case s.kickc <- struct{}{}:
	default:
	}
}

// overlay applies the mutations kept in memory to a copy of o.
func overlay(o *v1alpha1.Device, muts []deviceMutation) *v1alpha1.Device {
	if len(muts) == 0 {
		return o
	}
	v := o.DeepCopy()
	for _, m := range muts {
		next := v.DeepCopy()
		if m(next) == nil {
			v = next
		}
	}
	return v
}

// deviceView is the device as this store sees it: the cache's copy with
// the status kept in memory applied.
func (s *Store) deviceView(ctx context.Context, name string) (*v1alpha1.Device, error) {
	if checkName(fleet.KindDevice, name) != nil {
		return nil, fmt.Errorf("device %q: %w", name, fleet.ErrNotFound)
	}
	var o v1alpha1.Device
	if err := s.rd().Get(ctx, s.key(name), &o); err != nil {
		return nil, mapErr(fleet.KindDevice, name, err)
	}
	return overlay(&o, s.pendingMuts(name)), nil
}

func (s *Store) deviceViews(ctx context.Context) ([]*v1alpha1.Device, error) {
	var l v1alpha1.DeviceList
	if err := s.rd().List(ctx, &l, client.InNamespace(s.ns)); err != nil {
		return nil, err
	}
	sort.Slice(l.Items, func(i, j int) bool { return l.Items[i].Name < l.Items[j].Name })
	out := make([]*v1alpha1.Device, len(l.Items))
	for i := range l.Items {
		out[i] = overlay(&l.Items[i], s.pendingMuts(l.Items[i].Name))
	}
	return out, nil
}

func deviceSpec(o *v1alpha1.Device) any { return []any{o.Spec, o.Annotations, o.Labels} }

// behindTimeout bounds a write that may be kept in memory, so that a device
// session does not wait long on an API server that does not answer.
const behindTimeout = 3 * time.Second

// modifyDevice applies mut to the device name (as this store sees it) and
// writes what changed. With behind, a status write that fails because the
// API server is unreachable is kept in memory and retried, and modifyDevice
// succeeds; a spec write is always synchronous.
func (s *Store) modifyDevice(ctx context.Context, name string, mode writeMode, behind bool, mut deviceMutation) (*v1alpha1.Device, error) {
	if err := checkName(fleet.KindDevice, name); err != nil {
		if mode == modeUpdate {
			return nil, deviceMissing{name}
		}
		return nil, err
	}
	unlock := s.locks.lock("device/" + name)
	defer unlock()
	for attempt := 0; ; attempt++ {
		if attempt >= maxAttempts {
			return nil, fmt.Errorf("device %q: still conflicting after %d attempts", name, attempt)
		}
		if attempt > 1 {
			time.Sleep(time.Duration(rand.IntN(20*attempt)) * time.Millisecond)
		}
		cur := &v1alpha1.Device{}
		err := s.rd().Get(ctx, s.key(name), cur)
		if attempt > 0 || apierrors.IsNotFound(err) {
			cur = &v1alpha1.Device{}
			err = s.c.Get(ctx, s.key(name), cur)
			if err != nil && Unreachable(err) && behind && attempt == 0 {
				// Not in the cache and no API server: nothing to write on.
				return nil, mapErr(fleet.KindDevice, name, err)
			}
		}
		switch {
		case apierrors.IsNotFound(err) && mode == modeUpdate:
			s.dropPending(name, -1)
			return nil, deviceMissing{name}
		case apierrors.IsNotFound(err):
			s.dropPending(name, -1)
			o, err := s.createDevice(ctx, name, mut)
			if apierrors.IsAlreadyExists(err) {
				if mode == modePut {
					continue
				}
				return nil, mapErr(fleet.KindDevice, name, err)
			}
			return o, err
		case err != nil:
			return nil, mapErr(fleet.KindDevice, name, err)
		case mode == modeCreate:
			return nil, fmt.Errorf("device %q: %w", name, fleet.ErrExists)
		}
		muts := s.pendingMuts(name)
		view := overlay(cur, muts)
		next := view.DeepCopy()
		if err := mut(next); err != nil {
			return nil, err
		}
		if equality.Semantic.DeepEqual(deviceSpec(view), deviceSpec(next)) && equality.Semantic.DeepEqual(view.Status, next.Status) {
			return next, nil // changes nothing this store does not already hold
		}
		want := next.DeepCopy()
		specChanged := !equality.Semantic.DeepEqual(deviceSpec(cur), deviceSpec(next))
		statusChanged := !equality.Semantic.DeepEqual(cur.Status, want.Status)
		if !specChanged && !statusChanged {
			s.dropPending(name, len(muts)) // they change nothing any more
			return next, nil
		}
		if specChanged {
			if err := s.c.Update(ctx, next); apierrors.IsConflict(err) {
				continue
			} else if err != nil {
				return nil, mapErr(fleet.KindDevice, name, err)
			}
		}
		if statusChanged {
			next.Status = *want.Status.DeepCopy()
			wctx, cancel := ctx, context.CancelFunc(func() {})
			if behind {
				wctx, cancel = context.WithTimeout(ctx, behindTimeout)
			}
			err := s.c.Status().Update(wctx, next)
			cancel()
			switch {
			case apierrors.IsConflict(err):
				continue
			case err != nil && behind && Unreachable(err) && ctx.Err() == nil:
				s.addPending(name, mut)
				s.log.Info("API server unreachable; device status kept in memory until it answers", "device", name, "err", err)
				return want, nil
			case err != nil:
				return nil, mapErr(fleet.KindDevice, name, err)
			}
		}
		s.dropPending(name, len(muts))
		s.waitCache(ctx, next, false)
		return next, nil
	}
}

func (s *Store) createDevice(ctx context.Context, name string, mut deviceMutation) (*v1alpha1.Device, error) {
	o := &v1alpha1.Device{}
	o.Name, o.Namespace = name, s.ns
	if err := mut(o); err != nil {
		return nil, err
	}
	want := o.DeepCopy()
	if err := s.c.Create(ctx, o); err != nil {
		if apierrors.IsAlreadyExists(err) {
			return nil, err
		}
		return nil, mapErr(fleet.KindDevice, name, err)
	}
	// The status goes in a second write; another writer (the controller
	// assigning the device) may come in between.
	for attempt := 0; !equality.Semantic.DeepEqual(o.Status, want.Status); attempt++ {
		o.Status = want.Status
		err := s.c.Status().Update(ctx, o)
		if err == nil {
			break
		}
		if !apierrors.IsConflict(err) || attempt >= maxAttempts {
			return nil, mapErr(fleet.KindDevice, name, err)
		}
		if err := s.c.Get(ctx, s.key(name), o); err != nil {
			return nil, mapErr(fleet.KindDevice, name, err)
		}
	}
	s.waitCache(ctx, o, false)
	return o, nil
}

// retryLoop writes device status kept in memory once the API server answers.
func (s *Store) retryLoop(ctx context.Context) {
	t := time.NewTicker(s.retryEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.kickc:
			select { // let the API server breathe: retry at most every interval
			case <-ctx.Done():
				return
			case <-time.After(s.retryEvery):
			}
		}
		s.flushPending(ctx)
	}
}

func (s *Store) flushPending(ctx context.Context) {
	s.mu.Lock()
	names := make([]string, 0, len(s.pending))
	for n := range s.pending {
		names = append(names, n)
	}
	s.mu.Unlock()
	sort.Strings(names)
	for _, n := range names {
		if !s.flushDevice(ctx, n) {
			return // unreachable: try them all again later
		}
	}
}

// flushDevice writes the status kept for name; false if the API server
// could not be reached.
func (s *Store) flushDevice(ctx context.Context, name string) bool {
	unlock := s.locks.lock("device/" + name)
	defer unlock()
	for attempt := 0; attempt < 5; attempt++ {
		muts := s.pendingMuts(name)
		if len(muts) == 0 {
			return true
		}
		cur := &v1alpha1.Device{}
		err := s.c.Get(ctx, s.key(name), cur)
		switch {
		case apierrors.IsNotFound(err):
			// An API server just started may not serve the resource yet:
			// the device is gone only when the informer says so too.
			var cached v1alpha1.Device
			if s.rd().Get(ctx, s.key(name), &cached) == nil {
				return false
			}
			s.log.Info("device deleted; dropping its status kept in memory", "device", name)
			s.dropPending(name, -1)
			return true
		case err != nil && Unreachable(err):
			return false
		case err != nil:
			s.log.Warn("read device to write its status kept in memory", "device", name, "err", err)
			return true
		}
		next := overlay(cur, muts)
		if equality.Semantic.DeepEqual(cur.Status, next.Status) {
			s.dropPending(name, len(muts))
			return true
		}
		err = s.c.Status().Update(ctx, next)
		switch {
		case err == nil:
			s.dropPending(name, len(muts))
			s.log.Info("wrote device status kept in memory", "device", name, "writes", len(muts))
			s.waitCache(ctx, next, false)
			return true
		case apierrors.IsConflict(err):
			continue
		case Unreachable(err):
			return false
		default:
			s.log.Error("device status kept in memory refused by the API server; dropped", "device", name, "err", err)
			s.dropPending(name, len(muts))
			return true
		}
	}
	return true
}

// deviceMissing: the device to modify does not exist.
type deviceMissing struct{ name string }

func (e deviceMissing) Error() string        { return fmt.Sprintf("device %q: %v", e.name, fleet.ErrNotFound) }
func (e deviceMissing) Is(target error) bool { return target == fleet.ErrNotFound }

func isDeviceMissing(err error) bool {
	var dm deviceMissing
	return errors.As(err, &dm)
}

// ---- Devices

type devices struct{ s *Store }

func (s *Store) Devices() fleet.Collection[fleet.Device] { return devices{s} }

func (c devices) Get(ctx context.Context, key string) (fleet.Device, error) {
	o, err := c.s.deviceView(ctx, key)
	if err != nil {
		return fleet.Device{}, err
	}
	return DeviceToFleet(o), nil
}

func (c devices) List(ctx context.Context) ([]fleet.Device, error) {
	objs, err := c.s.deviceViews(ctx)
	if err != nil {
		return nil, err
	}
	var out []fleet.Device
	for _, o := range objs {
		out = append(out, DeviceToFleet(o))
	}
	return out, nil
}

func (c devices) Create(ctx context.Context, key string, v fleet.Device) error {
	o, err := c.s.modifyDevice(ctx, key, modeCreate, false, func(o *v1alpha1.Device) error { DeviceFromFleet(v, o); return nil })
	if err == nil {
		audited(ctx, c.s, fleet.KindDevice, key, nil, ptr(DeviceToFleet(o)))
	}
	return err
}

// Put replaces the device's spec and status; its deployment records stay.
func (c devices) Put(ctx context.Context, key string, v fleet.Device) error {
	var old *fleet.Device
	o, err := c.s.modifyDevice(ctx, key, modePut, false, func(o *v1alpha1.Device) error {
		old = nil
		if o.ResourceVersion != "" { // it exists
			old = ptr(DeviceToFleet(o))
		}
		DeviceFromFleet(v, o)
		return nil
	})
	if err == nil {
		audited(ctx, c.s, fleet.KindDevice, key, old, ptr(DeviceToFleet(o)))
	}
	return err
}

func (c devices) PutMany(ctx context.Context, items map[string]fleet.Device) error {
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

// Update may keep a status change in memory while the API server is
// unreachable (see the package comment).
func (c devices) Update(ctx context.Context, key string, fn func(*fleet.Device) error) (fleet.Device, error) {
	var old fleet.Device
	o, err := c.s.modifyDevice(ctx, key, modeUpdate, true, func(o *v1alpha1.Device) error {
		old = DeviceToFleet(o)
		v := DeviceToFleet(o)
		if err := fn(&v); err != nil {
			return err
		}
		DeviceFromFleet(v, o)
		return nil
	})
	if err != nil {
		return fleet.Device{}, err
	}
	v := DeviceToFleet(o)
	audited(ctx, c.s, fleet.KindDevice, key, &old, &v)
	return v, nil
}

// Delete deletes the Device and with it its deployment records.
func (c devices) Delete(ctx context.Context, key string) error {
	if checkName(fleet.KindDevice, key) != nil {
		return fmt.Errorf("device %q: %w", key, fleet.ErrNotFound)
	}
	unlock := c.s.locks.lock("device/" + key)
	defer unlock()
	var o v1alpha1.Device
	if err := c.s.c.Get(ctx, c.s.key(key), &o); err != nil {
		return mapErr(fleet.KindDevice, key, err)
	}
	if err := c.s.c.Delete(ctx, &o, client.Preconditions{UID: &o.UID}); err != nil {
		return mapErr(fleet.KindDevice, key, err)
	}
	c.s.dropPending(key, -1)
	c.s.waitCache(ctx, &o, true)
	audited(ctx, c.s, fleet.KindDevice, key, ptr(DeviceToFleet(&o)), nil)
	return nil
}

// ---- Deployments: records in the devices' status

type deployments struct{ s *Store }

func (s *Store) Deployments() fleet.Collection[fleet.Deployment] { return deployments{s} }

func splitKey(key string) (app, device string, err error) {
	i := strings.LastIndexByte(key, '/')
	if i <= 0 || i == len(key)-1 {
		return "", "", fmt.Errorf("deployment key %q: want app/device: %w", key, fleet.ErrNotFound)
	}
	return key[:i], key[i+1:], nil
}

func (c deployments) Get(ctx context.Context, key string) (fleet.Deployment, error) {
	app, dev, err := splitKey(key)
	if err != nil {
		return fleet.Deployment{}, err
	}
	o, err := c.s.deviceView(ctx, dev)
	if errors.Is(err, fleet.ErrNotFound) {
		return fleet.Deployment{}, fmt.Errorf("deployment %q: %w", key, fleet.ErrNotFound)
	} else if err != nil {
		return fleet.Deployment{}, err
	}
	i := findDeployment(o, app)
	if i < 0 {
		return fleet.Deployment{}, fmt.Errorf("deployment %q: %w", key, fleet.ErrNotFound)
	}
	return DeploymentToFleet(dev, &o.Status.Deployments[i]), nil
}

func (c deployments) List(ctx context.Context) ([]fleet.Deployment, error) {
	objs, err := c.s.deviceViews(ctx)
	if err != nil {
		return nil, err
	}
	var out []fleet.Deployment
	for _, o := range objs {
		out = append(out, DeploymentsToFleet(o)...)
	}
	return out, nil
}

// modify changes the record of key on its device, which must exist.
func (c deployments) modify(ctx context.Context, key string, behind bool, fn func(o *v1alpha1.Device, app, device string) error) (*v1alpha1.Device, error) {
	app, dev, err := splitKey(key)
	if err != nil {
		return nil, err
	}
	o, err := c.s.modifyDevice(ctx, dev, modeUpdate, behind, func(o *v1alpha1.Device) error { return fn(o, app, dev) })
	if isDeviceMissing(err) {
		return nil, fmt.Errorf("deployment %q: device %q does not exist: %w", key, dev, fleet.ErrNotFound)
	}
	return o, err
}

// Create may be kept in memory while the API server is unreachable (the
// gateway creates records for apps a device reports).
func (c deployments) Create(ctx context.Context, key string, v fleet.Deployment) error {
	_, err := c.modify(ctx, key, true, func(o *v1alpha1.Device, app, dev string) error {
		if findDeployment(o, app) >= 0 {
			return fmt.Errorf("deployment %q: %w", key, fleet.ErrExists)
		}
		v.App, v.Device = app, dev
		setDeployment(o, v)
		return nil
	})
	return err
}

// Put is synchronous: the gateway records a generation with it before
// sending the command.
func (c deployments) Put(ctx context.Context, key string, v fleet.Deployment) error {
	_, err := c.modify(ctx, key, false, func(o *v1alpha1.Device, app, dev string) error {
		v.App, v.Device = app, dev
		setDeployment(o, v)
		return nil
	})
	return err
}

// PutMany writes one status update per device, synchronously. Kubernetes
// has no transaction over several objects: when a device's write fails,
// the records already written on other devices are put back as they were
// (in memory at once, on the API server as soon as it answers), so that a
// failed PutMany leaves nothing a caller could mistake for sent.
func (c deployments) PutMany(ctx context.Context, items map[string]fleet.Deployment) error {
	byDevice := map[string]map[string]fleet.Deployment{}
	for k, v := range items {
		app, dev, err := splitKey(k)
		if err != nil {
			return err
		}
		v.App, v.Device = app, dev
		if byDevice[dev] == nil {
			byDevice[dev] = map[string]fleet.Deployment{}
		}
		byDevice[dev][app] = v
	}
	devs := make([]string, 0, len(byDevice))
	for d := range byDevice {
		devs = append(devs, d)
	}
	sort.Strings(devs)
	type written struct {
		device string
		before map[string]*v1alpha1.DeploymentRecord // nil: no record
		after  map[string]v1alpha1.DeploymentRecord
	}
	var done []written
	for _, dev := range devs {
		w := written{device: dev, before: map[string]*v1alpha1.DeploymentRecord{}, after: map[string]v1alpha1.DeploymentRecord{}}
		_, err := c.s.modifyDevice(ctx, dev, modeUpdate, false, func(o *v1alpha1.Device) error {
			clear(w.before)
			for app, v := range byDevice[dev] {
				if i := findDeployment(o, app); i >= 0 {
					w.before[app] = o.Status.Deployments[i].DeepCopy()
				} else {
					w.before[app] = nil
				}
				setDeployment(o, v)
				w.after[app] = DeploymentFromFleet(v)
			}
			return nil
		})
		if err != nil {
			for _, d := range done {
				c.revert(ctx, d.device, d.before, d.after)
			}
			if errors.Is(err, fleet.ErrNotFound) {
				return fmt.Errorf("deployments of device %q: %w", dev, err)
			}
			return err
		}
		done = append(done, w)
	}
	return nil
}

// revert puts back the records PutMany replaced on dev, where they are
// still what PutMany wrote.
func (c deployments) revert(ctx context.Context, dev string, before map[string]*v1alpha1.DeploymentRecord, after map[string]v1alpha1.DeploymentRecord) {
	_, err := c.s.modifyDevice(ctx, dev, modeUpdate, true, func(o *v1alpha1.Device) error {
		for app, prev := range before {
			i := findDeployment(o, app)
			if i < 0 {
				continue
			}
			wrote := after[app]
			if !equality.Semantic.DeepEqual(o.Status.Deployments[i], wrote) {
				continue // changed since: keep
			}
			if prev == nil {
				o.Status.Deployments = append(o.Status.Deployments[:i], o.Status.Deployments[i+1:]...)
			} else {
				o.Status.Deployments[i] = *prev
			}
		}
		return nil
	})
	if err != nil {
		c.s.log.Warn("put back deployment records after a failed PutMany", "device", dev, "err", err)
	}
}

// Update may be kept in memory while the API server is unreachable (the
// gateway records what devices report with it).
func (c deployments) Update(ctx context.Context, key string, fn func(*fleet.Deployment) error) (fleet.Deployment, error) {
	var out fleet.Deployment
	_, err := c.modify(ctx, key, true, func(o *v1alpha1.Device, app, dev string) error {
		i := findDeployment(o, app)
		if i < 0 {
			return fmt.Errorf("deployment %q: %w", key, fleet.ErrNotFound)
		}
		v := DeploymentToFleet(dev, &o.Status.Deployments[i])
		if err := fn(&v); err != nil {
			return err
		}
		v.App, v.Device = app, dev
		o.Status.Deployments[i] = DeploymentFromFleet(v)
		out = DeploymentToFleet(dev, &o.Status.Deployments[i])
		return nil
	})
	if err != nil {
		return fleet.Deployment{}, err
	}
	return out, nil
}

func (c deployments) Delete(ctx context.Context, key string) error {
	_, err := c.modify(ctx, key, false, func(o *v1alpha1.Device, app, _ string) error {
		i := findDeployment(o, app)
		if i < 0 {
			return fmt.Errorf("deployment %q: %w", key, fleet.ErrNotFound)
		}
		o.Status.Deployments = append(o.Status.Deployments[:i], o.Status.Deployments[i+1:]...)
		return nil
	})
	return err
}
