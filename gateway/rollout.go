package gateway

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/wasmbed/wasmbed/fleet"
)

// rolloutWake schedules the reconcile pass a progressive rollout needs
// next (a bake ending) with one timer, at the earliest time asked.
type rolloutWake struct {
	mu    sync.Mutex
	at    time.Time
	timer *time.Timer
}

func (w *rolloutWake) schedule(at time.Time, kick func()) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.at.IsZero() && !w.at.After(at) && time.Now().Before(w.at) {
		return // an earlier wake is pending
	}
	if w.timer != nil {
		w.timer.Stop()
	}
	w.at = at
	w.timer = time.AfterFunc(time.Until(at)+5*time.Millisecond, kick)
}

// healthValues keeps, for the applications whose progressive rollout has
// an app-level health gate (fleet.HealthValue), the latest value of its key
// per device and when it was received: in memory, as liveness is (a
// gateway that restarts hears the values again within their max age).
type healthValues struct {
	mu   sync.Mutex
	keys map[string]string          // app -> key watched
	last map[string]healthValueSeen // app/device -> latest value
}

type healthValueSeen struct {
	v                 float64
	stamped, received time.Time
}

// watch sets the keys watched (app -> key), forgetting the values of
// apps no longer watched.
func (h *healthValues) watch(keys map[string]string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for k := range h.last {
		app, _, _ := strings.Cut(k, "/")
		if _, ok := keys[app]; !ok {
			delete(h.last, k)
		}
	}
	h.keys = keys
}

// observe records a value device published for app (stamped by the
// device at stamped), if watched.
func (h *healthValues) observe(app, device, key string, v float64, stamped time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.keys[app] != key {
		return
	}
	if h.last == nil {
		h.last = map[string]healthValueSeen{}
	}
	h.last[app+"/"+device] = healthValueSeen{v, stamped, time.Now()}
}

func (h *healthValues) value(app, device, key string) (float64, time.Time, time.Time, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.keys[app] != key {
		return 0, time.Time{}, time.Time{}, false
	}
	s, ok := h.last[app+"/"+device]
	return s.v, s.stamped, s.received, ok
}

// advanceRollouts evaluates every progressive rollout before a reconcile
// pass plans (fleet.AdvanceRollout), writing the progress that changed
// and recording its events, and returns the applications as the devices
// must hold them now: after a rollback, at their stable release (or left
// out, so that the devices that took a first version remove it).
func (g *Gateway) advanceRollouts(ctx context.Context, apps []fleet.Application, devs []fleet.Device, deps []fleet.Deployment) []fleet.Application {
	now := time.Now()
	// A device has the heartbeat timeout to come back before it fails
	// the heartbeat gate: the time a session takes to be declared lost.
	grace := g.cfg.HeartbeatInterval * time.Duration(g.cfg.MissedHeartbeats)
	obs := fleet.Observations{Online: func(d *fleet.Device) bool { return g.hasSession(d.Name) }, Value: g.health.value,
		LastHeard: g.heardLast, OfflineGrace: grace, Up: g.started}
	active := int32(0)
	watched := map[string]string{}
	out := make([]fleet.Application, 0, len(apps))
	for i := range apps {
		a := &apps[i]
		if hv := a.Rollout.Health; hv != nil {
			watched[a.Name] = hv.Key
		}
		if p, changed, evs := fleet.AdvanceRollout(a, devs, deps, obs, now); changed {
			if err := g.writeProgress(ctx, a, p); err != nil {
				g.log.Warn("rollout: progress not written; the next pass evaluates again", "app", a.Name, "err", err)
				g.Kick()
			} else {
				a.Progress = p
				for _, ev := range evs {
					g.rolloutEvent(ctx, a.Name, ev)
				}
			}
		}
		if p := a.CurrentProgress(); p != nil && p.Active() {
			active++
			if !p.BakeUntil.IsZero() {
				g.wake.schedule(p.BakeUntil, g.Kick)
			}
			// A device offline past its grace is noticed within half of it.
			g.wake.schedule(now.Add(grace/2), g.Kick)
			if hv := a.Rollout.Health; hv != nil {
				// A value that stops coming is noticed within a quarter of its max age.
				g.wake.schedule(now.Add(max(250*time.Millisecond, hv.MaxAge()/4)), g.Kick)
			}
		}
		if e := a.Effective(); e != nil {
			out = append(out, *e)
		}
	}
	g.rollouts.Store(active)
	g.health.watch(watched)
	return out
}

// heardLast is when device was last heard, if its session ended since the
// gateway started (zero otherwise).
func (g *Gateway) heardLast(d *fleet.Device) time.Time {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.lastHeard[d.Name]
}

var errProgressMoved = errors.New("the application or its rollout changed meanwhile")

// writeProgress stores p as a's progress, unless the stored application
// changed spec or progress since a was read (an update or an operator's
// action won; the next pass starts from it).
func (g *Gateway) writeProgress(ctx context.Context, a *fleet.Application, p *fleet.RolloutProgress) error {
	_, err := g.store.Applications().Update(ctx, a.Name, func(cur *fleet.Application) error {
		if fleet.SpecHash(cur) != fleet.SpecHash(a) || !reflect.DeepEqual(cur.Progress, a.Progress) {
			return errProgressMoved
		}
		cur.Progress = p
		return nil
	})
	return err
}

// RolloutAction applies an operator's action (fleet.ActionPause, resume,
// abort, promote) to app's progressive rollout, by actor, records it as
// an event and has the devices follow. fleet.ErrRolloutState when the
// rollout's phase does not allow it.
func (g *Gateway) RolloutAction(ctx context.Context, app, action, actor string) (fleet.Application, error) {
	var ev fleet.RolloutEvent
	a, err := g.store.Applications().Update(ctx, app, func(a *fleet.Application) error {
		p, e, err := fleet.Act(a, action, actor, time.Now())
		if err != nil {
			return err
		}
		a.Progress, ev = p, e
		return nil
	})
	if err != nil {
		return a, err
	}
	g.rolloutEvent(ctx, app, ev)
	g.Kick()
	return a, nil
}

// rolloutEvent logs, counts and records what a rollout of app did.
func (g *Gateway) rolloutEvent(ctx context.Context, app string, ev fleet.RolloutEvent) {
	g.log.Info("rollout", "app", app, "event", ev.Kind, "msg", ev.Message)
	g.Metrics.RolloutEvents.WithLabelValues(strings.TrimPrefix(ev.Kind, "rollout.")).Inc()
	g.event(ctx, ev.Kind, app, ev.Message)
}
