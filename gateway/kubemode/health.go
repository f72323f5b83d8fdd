package kubemode

import (
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/wasmbed/wasmbed/api/v1alpha1"
	"github.com/wasmbed/wasmbed/fleet"
	"github.com/wasmbed/wasmbed/fleet/kubestore"
)

// healthReports brings the values apps publish under the key of their
// progressive rollout's health gate (fleet.HealthValue) to the controller,
// which evaluates the gates in Kubernetes mode: into the Device's
// status.healthValues. Not one write per value: a device's record is
// written when a value enters or leaves the gate's range, when the first
// value of a new version arrives, and at least every quarter of the
// gate's max age while values come (the controller notices a value that
// stops coming within that), and only while the rollout is under way and
// for devices at its new spec (those the gates judge).
type healthReports struct {
	s   *kubestore.Store
	ns  string
	log *slog.Logger

	mu       sync.Mutex
	apps     map[string]gatedApp              // app -> whether gated, looked up recently
	last     map[string]map[string]healthSeen // device -> app -> latest value
	written  map[string]map[string]healthSeen // device -> app -> as last written
	inflight map[string]bool                  // devices being written
	again    map[string]bool                  // and to write once more after that
}

// gatedApp caches, for appLookup, an application whose rollout is gated
// (nil: not gated) as read at.
type gatedApp struct {
	a  *fleet.Application
	at time.Time
}

// appLookup is how long a gatedApp is used: values come every tick of
// every device; the application changes rarely.
const appLookup = 250 * time.Millisecond

type healthSeen struct {
	key               string
	v                 float64
	stamped, received time.Time
	at                time.Time // written at
}

func newHealthReports(s *kubestore.Store, ns string, log *slog.Logger) *healthReports {
	return &healthReports{s: s, ns: ns, log: log, apps: map[string]gatedApp{}, last: map[string]map[string]healthSeen{}, written: map[string]map[string]healthSeen{},
		inflight: map[string]bool{}, again: map[string]bool{}}
}

// gated: a's progressive rollout is under way with an app-level gate.
func gated(a *fleet.Application) bool {
	p := a.CurrentProgress()
	return a.Rollout.Health != nil && p != nil && p.Active()
}

func inRange(h *fleet.HealthValue, v float64) bool {
	return (h.Min == nil || v >= *h.Min) && (h.Max == nil || v <= *h.Max)
}

// observe looks at output records a gateway stored.
func (h *healthReports) observe(ctx context.Context, recs []fleet.OutputRecord) {
	apps := map[string]*fleet.Application{}
	for _, r := range recs {
		if r.Value == nil || r.Key == "" {
			continue
		}
		a, seen := apps[r.App]
		if !seen {
			a = h.gatedApp(ctx, r.App)
			apps[r.App] = a
		}
		if a == nil {
			h.forget(r.Device, r.App)
			continue
		}
		if a.Rollout.Health.Key != r.Key {
			continue
		}
		dep, err := h.s.Deployments().Get(ctx, fleet.DeploymentKey(r.App, r.Device))
		if err != nil || dep.SpecHash != fleet.SpecHash(a) || dep.Removing {
			continue
		}
		hv, now := a.Rollout.Health, time.Now()
		cur := healthSeen{key: r.Key, v: *r.Value, stamped: r.Time, received: now}
		h.mu.Lock()
		if h.last[r.Device] == nil {
			h.last[r.Device] = map[string]healthSeen{}
		}
		h.last[r.Device][r.App] = cur
		w, ok := h.written[r.Device][r.App]
		need := !ok || w.key != cur.key || inRange(hv, w.v) != inRange(hv, cur.v) || now.Sub(w.at) >= hv.MaxAge()/4 ||
			w.stamped.Before(dep.UpdatedAt) || w.received.Before(dep.UpdatedAt)
		start := need && !h.inflight[r.Device]
		if need && !start {
			h.again[r.Device] = true
		}
		if start {
			h.inflight[r.Device] = true
		}
		h.mu.Unlock()
		if start {
			go h.write(r.Device)
		}
	}
}

// gatedApp is app if its rollout is gated, else nil (cached appLookup).
func (h *healthReports) gatedApp(ctx context.Context, app string) *fleet.Application {
	now := time.Now()
	h.mu.Lock()
	c, ok := h.apps[app]
	h.mu.Unlock()
	if ok && now.Sub(c.at) < appLookup {
		return c.a
	}
	c = gatedApp{at: now}
	if got, err := h.s.Applications().Get(ctx, app); err == nil && gated(&got) {
		c.a = &got
	}
	h.mu.Lock()
	h.apps[app] = c
	h.mu.Unlock()
	return c.a
}

// forget drops what is kept of app on device once its rollout is no
// longer gated (the record in the Device stays, harmless: the gate reads
// only values newer than the deployment).
func (h *healthReports) forget(device, app string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.last[device][app]; !ok {
		return
	}
	delete(h.last[device], app)
	delete(h.written[device], app)
	if len(h.last[device]) == 0 {
		delete(h.last, device)
		delete(h.written, device)
	}
}

// write patches device's status.healthValues with the latest values
// (the gateway serving a device is the only writer of its list).
func (h *healthReports) write(device string) {
	for {
		h.mu.Lock()
		snap := make(map[string]healthSeen, len(h.last[device]))
		for app, s := range h.last[device] {
			snap[app] = s
		}
		h.again[device] = false
		h.mu.Unlock()
		var recs []v1alpha1.HealthValueRecord
		for app, s := range snap {
			recs = append(recs, kubestore.HealthValueRecord(app, s.key, s.v, s.stamped, s.received))
		}
		slices.SortFunc(recs, func(a, b v1alpha1.HealthValueRecord) int { return strings.Compare(string(a.App), string(b.App)) })
		patch, _ := json.Marshal(map[string]any{"status": map[string]any{"healthValues": recs}})
		o := &v1alpha1.Device{}
		o.Name, o.Namespace = device, h.ns
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := h.s.Client().Status().Patch(ctx, o, client.RawPatch(types.MergePatchType, patch))
		cancel()
		now := time.Now()
		h.mu.Lock()
		if err != nil {
			h.log.Debug("health values not written; the next value retries", "device", device, "err", err)
		} else {
			if h.written[device] == nil {
				h.written[device] = map[string]healthSeen{}
			}
			for app, s := range snap {
				s.at = now
				h.written[device][app] = s
			}
		}
		if err != nil || !h.again[device] {
			h.inflight[device] = false
			h.mu.Unlock()
			return
		}
		h.mu.Unlock()
	}
}

// AppendOutput stores the records and reports the health values the
// controller needs.
func (s *followStore) AppendOutput(ctx context.Context, recs []fleet.OutputRecord) error {
	err := s.Store.AppendOutput(ctx, recs)
	if s.health != nil {
		s.health.observe(ctx, recs)
	}
	return err
}
