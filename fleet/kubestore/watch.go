package kubestore

import (
	"context"

	"k8s.io/apimachinery/pkg/api/equality"
	toolscache "k8s.io/client-go/tools/cache"

	"github.com/wasmbed/wasmbed/api/v1alpha1"
	"github.com/wasmbed/wasmbed/fleet"
)

type watcher struct {
	ch      chan fleet.Change
	overrun bool
}

// Watch delivers the changes the informers see (this process's writes and
// everybody else's) after it is called, until ctx ends. A device's status
// change is a Change of each deployment record that changed, plus one of
// the device when anything else changed.
func (s *Store) Watch(ctx context.Context) <-chan fleet.Change {
	w := &watcher{ch: make(chan fleet.Change, 1024)}
	s.mu.Lock()
	if s.closed {
		close(w.ch)
		s.mu.Unlock()
		return w.ch
	}
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

func (s *Store) notify(cs ...fleet.Change) {
	if len(cs) == 0 {
		return
	}
	s.snapshotDirty.Store(true)
	s.mu.Lock()
	defer s.mu.Unlock()
	for w := range s.watchers {
		for _, c := range cs {
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
}

func (s *Store) handler() toolscache.ResourceEventHandler {
	return toolscache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) { s.notify(changes(nil, obj, false)...) },
		UpdateFunc: func(old, obj any) {
			if o, ok := old.(interface{ GetResourceVersion() string }); ok {
				if n, ok := obj.(interface{ GetResourceVersion() string }); ok && o.GetResourceVersion() == n.GetResourceVersion() {
					return // a resync, not a change
				}
			}
			s.notify(changes(old, obj, false)...)
		},
		DeleteFunc: func(obj any) {
			if t, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
				obj = t.Obj
			}
			s.notify(changes(nil, obj, true)...)
		},
	}
}

func changes(old, obj any, deleted bool) []fleet.Change {
	switch o := obj.(type) {
	case *v1alpha1.Device:
		prev, _ := old.(*v1alpha1.Device)
		return deviceChanges(prev, o, deleted)
	case *v1alpha1.Application:
		return []fleet.Change{{Kind: fleet.KindApplication, Key: o.Name, Deleted: deleted}}
	case *v1alpha1.Gateway:
		return []fleet.Change{{Kind: fleet.KindGateway, Key: o.Name, Deleted: deleted}}
	case *v1alpha1.EnrollmentToken:
		return []fleet.Change{{Kind: fleet.KindToken, Key: o.Name, Deleted: deleted}}
	case *v1alpha1.CertificateRevocation:
		return []fleet.Change{{Kind: fleet.KindRevocation, Key: o.Name, Deleted: deleted}}
	case *v1alpha1.DeviceCertificate:
		return []fleet.Change{{Kind: fleet.KindCertificate, Key: o.Name, Deleted: deleted}}
	}
	return nil
}

func deviceChanges(prev, o *v1alpha1.Device, deleted bool) []fleet.Change {
	var out []fleet.Change
	if deleted || prev == nil {
		out = append(out, fleet.Change{Kind: fleet.KindDevice, Key: o.Name, Deleted: deleted})
		for _, r := range o.Status.Deployments {
			out = append(out, fleet.Change{Kind: fleet.KindDeployment, Key: fleet.DeploymentKey(string(r.App), o.Name), Deleted: deleted})
		}
		return out
	}
	a, b := prev.DeepCopy(), o.DeepCopy()
	a.Status.Deployments, b.Status.Deployments = nil, nil
	if !equality.Semantic.DeepEqual(a.Spec, b.Spec) || !equality.Semantic.DeepEqual(a.Status, b.Status) ||
		!equality.Semantic.DeepEqual(a.Labels, b.Labels) {
		out = append(out, fleet.Change{Kind: fleet.KindDevice, Key: o.Name})
	}
	before := map[v1alpha1.Name]*v1alpha1.DeploymentRecord{}
	for i := range prev.Status.Deployments {
		before[prev.Status.Deployments[i].App] = &prev.Status.Deployments[i]
	}
	for i := range o.Status.Deployments {
		r := &o.Status.Deployments[i]
		if p, ok := before[r.App]; !ok || !equality.Semantic.DeepEqual(p, r) {
			out = append(out, fleet.Change{Kind: fleet.KindDeployment, Key: fleet.DeploymentKey(string(r.App), o.Name)})
		}
		delete(before, r.App)
	}
	for app := range before {
		out = append(out, fleet.Change{Kind: fleet.KindDeployment, Key: fleet.DeploymentKey(string(app), o.Name), Deleted: true})
	}
	return out
}
