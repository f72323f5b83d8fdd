package provider

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/wasmbed/wasmbed/gateway/apiv1"
)

// statusBackend answers ApplicationStatus with a fixed status (any other
// call would panic: the rollout wait makes none).
type statusBackend struct {
	Backend
	st apiv1.ApplicationStatus
}

func (b statusBackend) ApplicationStatus(context.Context, string) (apiv1.ApplicationStatus, error) {
	return b.st, nil
}

// A device whose app crashed it (its deployment failed with the detail the
// device gave) fails the apply's rollout wait at once, with an error naming
// the device and why.
func TestRolloutWaitNamesTheCrashedDevice(t *testing.T) {
	r := &applicationResource{backend: statusBackend{st: apiv1.ApplicationStatus{Application: "sensor", Version: "1.1.0",
		Generation: 2, Selected: 2, Updated: 1, Failed: 1, Devices: []apiv1.DeviceRollout{
			{Device: "dev-1", Online: true, State: "running", Current: true, Generation: 3},
			{Device: "dev-2", Online: true, State: "failed", Current: true, Generation: 3, Detail: "crashed: watchdog in tick"},
		}}}}
	start := time.Now()
	w := r.waitRollout(context.Background(), "sensor", 2, false, time.Minute)
	if time.Since(start) > 10*time.Second || w.end != rolloutFailed {
		t.Fatalf("rollout wait: %+v after %v", w, time.Since(start))
	}
	if w.summary != "Rollout of sensor failed on 1 device(s)" || !strings.Contains(w.detail, "dev-2: failed: crashed: watchdog in tick") ||
		strings.Contains(w.detail, "dev-1") {
		t.Fatalf("error: %q: %q", w.summary, w.detail)
	}
}
