package provider

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/diag"

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
	var diags diag.Diagnostics
	start := time.Now()
	r.waitRollout(context.Background(), "sensor", 2, time.Minute, &diags)
	if time.Since(start) > 10*time.Second || !diags.HasError() {
		t.Fatalf("rollout wait: %v after %v", diags, time.Since(start))
	}
	d := diags.Errors()[0]
	if d.Summary() != "Rollout of sensor failed on 1 device(s)" || !strings.Contains(d.Detail(), "dev-2: failed: crashed: watchdog in tick") ||
		strings.Contains(d.Detail(), "dev-1") {
		t.Fatalf("error: %q: %q", d.Summary(), d.Detail())
	}
}
