package kubestore

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/wasmbed/wasmbed/api/v1alpha1"
	"github.com/wasmbed/wasmbed/fleet"
)

// Catching up after an API server outage. client-go's reflectors retry a
// failed watch with an exponential backoff that reaches 30 s, jittered up to
// a minute: after a long outage an informer may stay behind for as long
// after the API server answers again. The store does not wait for them: it
// asks the API server itself (a list of at most one Gateway) every
// followCheck (at once when a write could not reach it), and every
// FollowProbe once it did not answer; when it answers again after it did not, the store starts the
// informers anew (a fresh list of the fleet's resources), switches reads to
// them once they have synced, and stops the old ones.

// FollowProbe is how often the store asks an API server it could not reach
// whether it answers again.
const FollowProbe = 500 * time.Millisecond

// followCheck is how often it asks while all is well.
const followCheck = 5 * time.Second

// kinds are the resources the store's informers follow.
func kinds() []client.Object {
	return []client.Object{&v1alpha1.Device{}, &v1alpha1.Application{}, &v1alpha1.Gateway{},
		&v1alpha1.EnrollmentToken{}, &v1alpha1.CertificateRevocation{}, &v1alpha1.DeviceCertificate{}}
}

type cacheBox struct{ cache.Cache }

// cache is the cache the informers fill now.
func (s *Store) cache() cache.Cache { return s.informers.Load().Cache }

// watch makes c's informers for the fleet's resources, with the store's
// event handler.
func (s *Store) watch(ctx context.Context, c cache.Cache) ([]toolscache.ResourceEventHandlerRegistration, error) {
	var regs []toolscache.ResourceEventHandlerRegistration
	for _, obj := range kinds() {
		inf, err := c.GetInformer(ctx, obj)
		if err != nil {
			return nil, fmt.Errorf("kubestore: informer for %T: %w", obj, err)
		}
		reg, err := inf.AddEventHandler(s.handler())
		if err != nil {
			return nil, err
		}
		regs = append(regs, reg)
	}
	return regs, nil
}

// synced waits until every handler has seen its informer's first list.
func synced(regs []toolscache.ResourceEventHandlerRegistration) {
	for _, r := range regs {
		for !r.HasSynced() {
			time.Sleep(time.Millisecond)
		}
	}
}

// AwaitReturn asks the API server behind r (a list of at most one Gateway
// in namespace ns) every followCheck, at once on a value from suspect, and
// every FollowProbe while it does not answer; when it answers again after
// it did not, it calls back with how long it did not, and goes on if back
// reports it caught up (else it asks again at the next probe). It returns
// when ctx ends. The store restarts its informers from it, the controller
// its manager.
func AwaitReturn(ctx context.Context, r client.Reader, ns string, suspect <-chan struct{}, log *slog.Logger, back func(down time.Duration) bool) {
	unreachable := false
	var since time.Time
	wait := followCheck
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		case <-suspect:
		}
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := r.List(pctx, &v1alpha1.GatewayList{}, client.InNamespace(ns), client.Limit(1))
		cancel()
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			if !unreachable {
				since = time.Now()
				log.Warn("API server unreachable", "err", err)
			}
			unreachable, wait = true, FollowProbe
			continue
		case !unreachable:
			continue
		}
		if back(time.Since(since)) {
			unreachable, wait = false, followCheck
		}
	}
}

// followLoop restarts the informers when the API server answers again
// after an outage (see above).
func (s *Store) followLoop(ctx context.Context) {
	stopOld := s.stopInformers
	defer func() { stopOld() }()
	AwaitReturn(ctx, s.c, s.ns, s.suspectc, s.log, func(down time.Duration) bool {
		stop, err := s.restartInformers(ctx)
		if err != nil {
			s.log.Warn("API server answers again; informers not restarted, they catch up on their own", "err", err)
			return false
		}
		stopOld()
		stopOld = stop
		s.log.Info("API server answers again: informers listed the fleet anew", "unreachable_for", down.Round(time.Millisecond))
		return true
	})
}

// suspect tells followLoop that a write found the API server unreachable:
// it asks at once rather than at its next check.
func (s *Store) suspect() {
	select {
	case s.suspectc <- struct{}{}:
	default:
	}
}

// restartInformers starts new informers, waits for their first list and
// switches the store to them. It returns what stops them.
func (s *Store) restartInformers(ctx context.Context) (func(), error) {
	c, err := s.newCache()
	if err != nil {
		return nil, err
	}
	cctx, cancel := context.WithCancel(ctx)
	regs, err := s.watch(cctx, c)
	if err != nil {
		cancel()
		return nil, err
	}
	go c.Start(cctx) //nolint:errcheck // ends with cctx
	sctx, scancel := context.WithTimeout(ctx, 30*time.Second)
	defer scancel()
	if !c.WaitForCacheSync(sctx) {
		cancel()
		return nil, fmt.Errorf("kubestore: the new informers did not list within 30s")
	}
	synced(regs)
	s.informers.Store(&cacheBox{c})
	s.reader.Store(&readerBox{c}) // a snapshot's reads too: this is newer
	s.snapshotDirty.Store(true)
	s.notify(fleet.Change{}) // watchers look at everything again
	return cancel, nil
}
