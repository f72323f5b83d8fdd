package gateway

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// A deploy whose module the store does not hold (in Kubernetes mode, an
// Application applied before its module's ConfigMap) waits for it, visibly:
// an app.module_missing event on the device for each application and
// module, the wasmbed_gateway_modules_missing gauge, and the session marked
// for resume; the gateway looks for the module every ModuleWaitEvery and,
// once it is there, plans at once, so the deploy goes out within that
// interval rather than at the device's next reconnection.

// ModuleWaitEvery is how often the gateway looks for the modules deploys
// wait for.
const ModuleWaitEvery = 2 * time.Second

type moduleWaits struct {
	mu   sync.Mutex
	shas map[string]map[string]bool // module -> "app/device" told
}

// missing records that app's module sha is missing for device; it reports
// whether this app and device were not told yet.
func (w *moduleWaits) missing(sha, app, device string) (first bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.shas == nil {
		w.shas = map[string]map[string]bool{}
	}
	if w.shas[sha] == nil {
		w.shas[sha] = map[string]bool{}
	}
	k := app + "/" + device
	first = !w.shas[sha][k]
	w.shas[sha][k] = true
	return first
}

func (w *moduleWaits) waiting() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]string, 0, len(w.shas))
	for sha := range w.shas {
		out = append(out, sha)
	}
	return out
}

func (w *moduleWaits) arrived(sha string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.shas, sha)
}

func (w *moduleWaits) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.shas)
}

// moduleMissing makes a deploy that cannot get its module visible and
// schedules it for when the module arrives.
func (g *Gateway) moduleMissing(ctx context.Context, s *session, app, sha string, err error) {
	s.resume.Store(true)
	if g.waits.missing(sha, app, s.device) {
		g.log.Warn("deploy: module missing; waiting for it", "app", app, "device", s.device, "sha256", sha, "err", err)
		g.event(ctx, "app.module_missing", app+"/"+s.device, fmt.Sprintf("application %s: module %s is not stored (%v); "+
			"the deploy waits for it and goes out when it arrives", app, sha, err))
	}
	g.Metrics.ModulesMissing.Set(float64(g.waits.count()))
}

// moduleWaitLoop looks for the missing modules every ModuleWaitEvery and
// asks for a pass when one has arrived.
func (g *Gateway) moduleWaitLoop(ctx context.Context) {
	t := time.NewTicker(ModuleWaitEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		found := false
		for _, sha := range g.waits.waiting() {
			if _, err := g.modules.get(ctx, sha); err == nil {
				g.waits.arrived(sha)
				g.log.Info("module arrived; deploying", "sha256", sha)
				found = true
			}
		}
		g.Metrics.ModulesMissing.Set(float64(g.waits.count()))
		if found {
			g.Kick()
		}
	}
}
