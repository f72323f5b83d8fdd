package daemon

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wasmbed/wasmbed/agent/sim"
	"github.com/wasmbed/wasmbed/fleet"
	"github.com/wasmbed/wasmbed/gateway"
	"github.com/wasmbed/wasmbed/gateway/apiv1"
)

// Progressive rollouts run by the standalone gateway: the rollout suite
// (rollout_suite_test.go) through its API, on its bbolt store.
func TestProgressiveRollout(t *testing.T) {
	runRolloutSuite(t, startStandaloneRollout)
}

// standaloneRollout is the suite's mode of one gateway, its API and agents.
type standaloneRollout struct {
	t       *testing.T
	h       *harness
	opts    Options // to start it again on the same data and ports
	c       *apiv1.Client
	applied int // actions the API applied
}

func startStandaloneRollout(t *testing.T, c rolloutFleet) (rolloutMode, *sim.Fleet) {
	cfg := gateway.Config{}
	if c.grace > 0 { // the gateway's heartbeat timeout
		cfg.HeartbeatInterval, cfg.MissedHeartbeats = c.grace/3, 3
	}
	m := &standaloneRollout{t: t, opts: Options{DataDir: t.TempDir(), Gateway: cfg, APIAddr: freePort(t), DeviceAddr: freePort(t)}}
	m.h = startGatewayWith(t, m.opts)
	u, _ := url.Parse(m.h.api)
	m.c = apiv1.NewClient(u, m.h.admin, m.h.roots)
	fl := startFleet(t, m.h, c.n, "linux", map[string]string{"role": "app"})
	for i, a := range fl.Agents() {
		labels := map[string]string{"role": "app"}
		if i < c.canaries {
			labels["ring"] = "canary"
		}
		if slices.Contains(c.faulty, a.Name()) {
			labels["hw"] = "rev-b"
			a.Device().SetPin(faultPin, true)
		}
		m.h.must(http.StatusOK, "PUT", "/v1/devices/"+a.Name(), map[string]any{"board": "linux", "labels": labels}, nil)
	}
	return m, fl
}

func (m *standaloneRollout) put(version string, wasm []byte, ro fleet.Rollout) {
	m.t.Helper()
	if _, err := m.c.PutApplication(context.Background(), "app", apiv1.ApplicationSpec{Version: version, SHA256: m.h.upload(wasm),
		Selector: fleet.Selector{Labels: map[string]string{"role": "app"}}, Limits: fleet.Limits{TickMS: 50}, Rollout: ro}); err != nil {
		m.t.Fatal(err)
	}
}

func (m *standaloneRollout) status() apiv1.ApplicationStatus {
	m.t.Helper()
	var st apiv1.ApplicationStatus
	m.h.must(http.StatusOK, "GET", "/v1/applications/app/status", nil, &st)
	return st
}

func (m *standaloneRollout) state() rolloutState {
	st := m.status()
	var app fleet.Application
	m.h.must(http.StatusOK, "GET", "/v1/applications/app", nil, &app)
	return rolloutState{p: st.Rollout, stable: st.StableVersion, converged: st.Converged, history: app.History}
}

func (m *standaloneRollout) took() int {
	st := m.status()
	return st.Updated + st.InProgress + st.Failed
}

func (m *standaloneRollout) deployments() map[string]fleet.Deployment {
	m.t.Helper()
	var deps apiv1.DeploymentList
	m.h.must(http.StatusOK, "GET", "/v1/deployments?app=app", nil, &deps)
	out := map[string]fleet.Deployment{}
	for _, d := range deps.Deployments {
		out[d.Device] = d
	}
	return out
}

func (m *standaloneRollout) events(kind string) []fleet.Event {
	m.t.Helper()
	var evs apiv1.EventList
	m.h.must(http.StatusOK, "GET", "/v1/events?limit=1000", nil, &evs)
	var out []fleet.Event
	for _, e := range evs.Events {
		if e.Kind == kind {
			out = append(out, e)
		}
	}
	return out
}

// act asks through the Go client; the API refuses an action the phase
// does not allow with 409, an unknown one with 404.
func (m *standaloneRollout) act(action string) (*fleet.RolloutProgress, error) {
	m.t.Helper()
	a, err := m.c.RolloutAction(context.Background(), "app", action)
	if err == nil {
		m.applied++
		return a.Progress, nil
	}
	want := http.StatusNotFound
	if strings.Contains(err.Error(), fleet.ErrRolloutState.Error()) {
		want = http.StatusConflict
	}
	if e := (*apiv1.Error)(nil); !errors.As(err, &e) || e.Status != want {
		m.t.Fatalf("%s: %v, want status %d", action, err, want)
	}
	return nil, err
}

func (m *standaloneRollout) actor() string { return "admin" }

// restart stops the gateway and starts it again on the same data
// directory and ports: the agents reconnect.
func (m *standaloneRollout) restart() {
	m.h.stop()
	m.h = startGatewayWith(m.t, m.opts)
}

func (m *standaloneRollout) revoke(device string) time.Time {
	m.h.must(http.StatusOK, "POST", "/v1/devices/"+device+"/revoke", map[string]string{"reason": "test: the device goes silent"}, nil)
	return time.Now()
}

func (m *standaloneRollout) device(name string) fleet.Device {
	var dev fleet.Device
	m.h.must(http.StatusOK, "GET", "/v1/devices/"+name, nil, &dev)
	return dev
}

func (m *standaloneRollout) check(at checkpoint) {
	t := m.t
	switch at {
	case rolledBack:
		metrics := m.h.metrics()
		for _, want := range []string{`wasmbed_gateway_rollout_events_total{kind="rolled_back"} 1`, `wasmbed_gateway_rollout_events_total{kind="completed"} 1`,
			`wasmbed_gateway_rollout_events_total{kind="failure"} 1`} {
			if !strings.Contains(metrics, want) {
				t.Errorf("metrics lack %s", want)
			}
		}
	case actionsDone:
		if code := m.h.call(m.h.reader, "POST", "/v1/applications/app/rollout/pause", nil, nil); code != http.StatusForbidden {
			t.Errorf("reader token: %d", code)
		}
		var recs apiv1.AuditList
		m.h.must(http.StatusOK, "GET", "/v1/audit?limit=100", nil, &recs)
		audit := 0
		for _, r := range recs.Audit {
			if strings.HasPrefix(r.Action, "rollout.") {
				audit++
			}
		}
		if audit != m.applied {
			t.Errorf("%d rollout actions in the audit log, want the %d applied", audit, m.applied)
		}
	}
}
