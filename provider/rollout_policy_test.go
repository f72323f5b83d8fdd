package provider

import (
	"bytes"
	"context"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-log/tflogtest"

	"github.com/wasmbed/wasmbed/fleet"
	"github.com/wasmbed/wasmbed/gateway/apiv1"
)

// seqBackend answers ApplicationStatus with each status of seq in turn,
// then the last one again.
type seqBackend struct {
	Backend
	mu  sync.Mutex
	seq []apiv1.ApplicationStatus
}

func (b *seqBackend) ApplicationStatus(context.Context, string) (apiv1.ApplicationStatus, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	st := b.seq[0]
	if len(b.seq) > 1 {
		b.seq = b.seq[1:]
	}
	return st, nil
}

// A progressive rollout that rolls back ends the wait with an error naming
// the step, each failing device with its reason, and where the devices
// went back to; failures within the thresholds (the gateway decides) do
// not end it.
func TestRolloutWaitHaltedNamesStepDevicesAndReasons(t *testing.T) {
	rolling := apiv1.ApplicationStatus{Application: "app", Version: "2.0.0", Generation: 3, Selected: 6, Failed: 1,
		Rollout: &fleet.RolloutProgress{Version: "2.0.0", Phase: fleet.RolloutRollingOut, Step: 1, Steps: 3, Target: 2, Selected: 6, Failed: 1}}
	back := rolling
	back.StableVersion = "1.0.0"
	back.Rollout = &fleet.RolloutProgress{Version: "2.0.0", Phase: fleet.RolloutRolledBack, Step: 1, Steps: 3, Target: 2, Selected: 6, Failed: 2,
		RolledBackTo: "1.0.0", Reason: "2 failed device(s) in step 1 of 3 (tolerated 1): sim-00000: trapped: unreachable; sim-00001: out_of_memory",
		Failures: []fleet.RolloutFailure{{Device: "sim-00001", Step: 1, Reason: "out_of_memory"}, {Device: "sim-00000", Step: 1, Reason: "trapped: unreachable"},
			{Device: "sim-00009", Step: 1, Reason: "trapped: earlier", Accepted: true}}}
	r := &applicationResource{backend: &seqBackend{seq: []apiv1.ApplicationStatus{rolling, rolling, back}}}
	w := r.waitRollout(context.Background(), "app", 3, true, time.Minute)
	if w.end != rolloutHalted || w.summary != "Rollout of app version 2.0.0 rolled back at step 1 of 3" {
		t.Fatalf("wait: %+v", w)
	}
	for _, want := range []string{"sim-00000 (step 1): trapped: unreachable", "sim-00001 (step 1): out_of_memory", "(tolerated 1)",
		"went back to version 1.0.0", "never got it were not touched"} {
		if !strings.Contains(w.detail, want) {
			t.Errorf("detail lacks %q:\n%s", want, w.detail)
		}
	}
	if strings.Contains(w.detail, "sim-00009 (step") {
		t.Errorf("an accepted failure is listed:\n%s", w.detail)
	}

	// Paused: the operator is told how to go on.
	paused := back
	paused.Rollout = &fleet.RolloutProgress{Version: "2.0.0", Phase: fleet.RolloutPaused, Step: 2, Steps: 3, Reason: "1 failed device(s) in step 2 of 3 (tolerated 0): sim-00003: failed: crashed: hard fault",
		Failures: []fleet.RolloutFailure{{Device: "sim-00003", Step: 2, Reason: "failed: crashed: hard fault"}}}
	r = &applicationResource{backend: &seqBackend{seq: []apiv1.ApplicationStatus{paused}}}
	w = r.waitRollout(context.Background(), "app", 3, true, time.Minute)
	if w.end != rolloutHalted || w.summary != "Rollout of app version 2.0.0 paused at step 2 of 3" ||
		!strings.Contains(w.detail, "sim-00003 (step 2): failed: crashed: hard fault") || !strings.Contains(w.detail, "/v1/applications/app/rollout/{resume,promote,abort}") ||
		!strings.Contains(w.detail, "the others keep version 1.0.0") {
		t.Fatalf("paused: %+v", w)
	}

	// A status of an older generation (the write not seen yet) is not
	// taken for the new rollout's.
	old := back
	old.Generation = 2
	done := rolling
	done.Failed, done.Updated, done.Converged = 0, 6, true
	done.Rollout = &fleet.RolloutProgress{Version: "2.0.0", Phase: fleet.RolloutCompleted, Step: 3, Steps: 3, Updated: 6}
	r = &applicationResource{backend: &seqBackend{seq: []apiv1.ApplicationStatus{old, done}}}
	if w = r.waitRollout(context.Background(), "app", 3, true, time.Minute); w.end != rolloutDone {
		t.Fatalf("completed: %+v", w)
	}
}

// A rollout still under way at the timeout says where it stands.
func TestRolloutWaitTimeoutSaysWhereItStands(t *testing.T) {
	st := apiv1.ApplicationStatus{Application: "app", Version: "2.0.0", Generation: 1, Selected: 4, Updated: 1,
		Devices: []apiv1.DeviceRollout{{Device: "sim-00002", State: "pending"}},
		Rollout: &fleet.RolloutProgress{Version: "2.0.0", Phase: fleet.RolloutRollingOut, Step: 1, Steps: 2, Target: 1, Selected: 4, Updated: 1,
			BakeUntil: time.Now().Add(time.Hour)}}
	r := &applicationResource{backend: &seqBackend{seq: []apiv1.ApplicationStatus{st}}}
	start := time.Now()
	w := r.waitRollout(context.Background(), "app", 1, true, 300*time.Millisecond)
	if w.end != rolloutTimedOut || time.Since(start) > 5*time.Second ||
		!strings.Contains(w.detail, "step 1 of 2 (up to 1 devices): 1 of 4 devices updated, 0 failed, baking until") ||
		!strings.Contains(w.detail, "sim-00002: pending (offline)") {
		t.Fatalf("timeout: %+v", w)
	}
}

// The state records what the devices run: a progressive rollout that has
// not completed leaves the last release that passed (none: no module).
func TestDeployedRelease(t *testing.T) {
	a := fleet.Application{Name: "app", Version: "2.0.0", SHA256: "bb", Limits: fleet.Limits{Fuel: 1, Memory: 2, TickMS: 3},
		Rollout: fleet.Rollout{Strategy: fleet.RolloutAllAtOnce, Steps: []fleet.RolloutStep{{Devices: 1}}, OnFailure: fleet.OnFailureRollback}}
	if rel := deployedRelease(&a); rel.Version != "2.0.0" || rel.SHA256 != "" {
		t.Errorf("first version, not started: %+v", rel)
	}
	a.Stable = &fleet.Release{Version: "1.0.0", SHA256: "aa", Config: map[string]string{"k": "v"}}
	for _, phase := range []string{fleet.RolloutRollingOut, fleet.RolloutPaused, fleet.RolloutRolledBack} {
		a.Progress = &fleet.RolloutProgress{SpecHash: fleet.SpecHash(&a), Phase: phase}
		if rel := deployedRelease(&a); rel.Version != "1.0.0" || rel.SHA256 != "aa" || rel.Config["k"] != "v" {
			t.Errorf("%s: %+v", phase, rel)
		}
	}
	a.Progress.Phase = fleet.RolloutCompleted
	if rel := deployedRelease(&a); rel.Version != "2.0.0" || rel.SHA256 != "bb" {
		t.Errorf("completed: %+v", rel)
	}
	a.Rollout.Steps, a.Progress = nil, nil
	if rel := deployedRelease(&a); rel.Version != "2.0.0" || rel.SHA256 != "bb" {
		t.Errorf("no steps: %+v", rel)
	}
}

// The rollout object and fleet's policy convert both ways: what the
// gateway answers (after SetDefaults) reads back as the configured object
// (unset attributes stay null), and gives the same policy again.
func TestRolloutObjectRoundTrip(t *testing.T) {
	ctx := context.Background()
	bake, stepBake, minV := 30, 0, 1.0
	for _, ro := range []fleet.Rollout{
		{Strategy: fleet.RolloutAllAtOnce, MaxUnavailable: 1},
		{Strategy: fleet.RolloutBatched, MaxUnavailable: 3, MinReadySeconds: 5},
		{Strategy: fleet.RolloutAllAtOnce, MaxUnavailable: 1, Steps: []fleet.RolloutStep{{Devices: 1}, {Percent: 25, BakeSeconds: &stepBake}, {Percent: 100}},
			Canary: map[string]string{"ring": "canary"}, BakeSeconds: &bake, StepFailures: fleet.FailureThreshold{Count: 1},
			TotalFailures: fleet.FailureThreshold{Count: 3, Percent: 2.5}, Health: &fleet.HealthValue{Key: "health", Min: &minV},
			OnFailure: fleet.OnFailurePause},
		{Strategy: fleet.RolloutAllAtOnce, MaxUnavailable: 1, Steps: []fleet.RolloutStep{{Percent: 10}}},
	} {
		var diags diag.Diagnostics
		obj := rolloutValue(ctx, ro, types.ObjectNull(rolloutTypes))
		got, known := rolloutPolicy(ctx, obj, &diags)
		if diags.HasError() || !known {
			t.Fatalf("%+v: %v", ro, diags)
		}
		want := ro
		if want.Progressive() && want.OnFailure == "" {
			// null on_failure (the default, rollback) stays null
			if v := obj.Attributes()["on_failure"]; !v.IsNull() {
				t.Errorf("default on_failure not null: %v", v)
			}
		}
		got.SetDefaults()
		want.SetDefaults()
		if !reflect.DeepEqual(got, want) {
			t.Errorf("round trip:\n got %+v\nwant %+v", got, want)
		}
		if err := got.Validate(); err != nil {
			t.Errorf("%+v: %v", got, err)
		}
		// Read back with the object itself as the prior: no diff.
		if again := rolloutValue(ctx, want, obj); !again.Equal(obj) {
			t.Errorf("second read differs:\n%v\n%v", again, obj)
		}
	}
}

// While it waits, apply logs where the rollout stands, once per change
// (and every rolloutLogEvery): version, step n of m, devices updated and
// failed.
func TestRolloutWaitLogsProgress(t *testing.T) {
	st := func(step int, updated int, phase string) apiv1.ApplicationStatus {
		return apiv1.ApplicationStatus{Application: "app", Version: "2.0.0", Generation: 1, Selected: 6, Updated: updated, Converged: updated == 6,
			Rollout: &fleet.RolloutProgress{Version: "2.0.0", Phase: phase, Step: step, Steps: 3, Target: 2 * step, Selected: 6, Updated: updated}}
	}
	seq := []apiv1.ApplicationStatus{st(1, 0, fleet.RolloutRollingOut), st(1, 0, fleet.RolloutRollingOut), st(1, 2, fleet.RolloutRollingOut),
		st(2, 2, fleet.RolloutRollingOut), st(3, 6, fleet.RolloutCompleted)}
	var buf bytes.Buffer
	ctx := tflogtest.RootLogger(context.Background(), &buf)
	r := &applicationResource{backend: &seqBackend{seq: seq}}
	if w := r.waitRollout(ctx, "app", 1, true, time.Minute); w.end != rolloutDone {
		t.Fatalf("wait: %+v", w)
	}
	entries, err := tflogtest.MultilineJSONDecode(&buf)
	if err != nil {
		t.Fatal(err)
	}
	var msgs []string
	for _, e := range entries {
		msgs = append(msgs, fmt.Sprint(e["@message"]))
	}
	want := []string{
		"rollout of app: version 2.0.0, step 1 of 3 (up to 2 devices): 0 of 6 devices updated, 0 failed",
		"rollout of app: version 2.0.0, step 1 of 3 (up to 2 devices): 2 of 6 devices updated, 0 failed",
		"rollout of app: version 2.0.0, step 2 of 3 (up to 4 devices): 2 of 6 devices updated, 0 failed",
		"rollout completed",
	}
	if !reflect.DeepEqual(msgs, want) {
		t.Fatalf("logged:\n%s\nwant:\n%s", strings.Join(msgs, "\n"), strings.Join(want, "\n"))
	}
	if entries[2]["step"] != float64(2) || entries[2]["steps"] != float64(3) || entries[2]["updated"] != float64(2) {
		t.Errorf("fields: %v", entries[2])
	}
}
