package provider

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"

	"github.com/wasmbed/wasmbed/agent/sim"
	"github.com/wasmbed/wasmbed/fleet"
	"github.com/wasmbed/wasmbed/gateway/apiv1"
	"github.com/wasmbed/wasmbed/module/wasmtest"
	"github.com/wasmbed/wasmbed/protocol"
)

// faultPin marks a device of the faulty hardware revision (hw = rev-b):
// wasmtest.PinTrapApp(faultPin) traps in its first tick where the pin reads
// high; elsewhere it runs like goodApp.
const faultPin = 7

// goodApp publishes health = %d every tick (the value makes each version a
// different module).
const goodApp = `(module
  (import "wasmbed" "publish" (func $publish (param i32 i32 f64) (result i32)))
  (memory (export "memory") 1 1)
  (data (i32.const 0) "health")
  (func (export "init"))
  (func (export "tick") (drop (call $publish (i32.const 0) (i32.const 6) (f64.const %d)))))`

// rolloutAgents starts n agents selected by role = app: the first two are
// the canaries (ring = canary), and the devices in revB also have
// hw = rev-b and faultPin high.
func rolloutAgents(t *testing.T, g *testGateway, n int, revB ...string) *sim.Fleet {
	t.Helper()
	f := g.startAgents(t, n, "linux", map[string]string{"role": "app"})
	for i, a := range f.Agents() {
		labels := map[string]string{"role": "app"}
		if i < 2 {
			labels["ring"] = "canary"
		}
		if slices.Contains(revB, a.Name()) {
			labels["hw"] = "rev-b"
			a.Device().SetPin(faultPin, true)
		}
		if _, err := g.client.PutDevice(context.Background(), a.Name(), apiv1.DeviceSpec{Board: "linux", Labels: labels}); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// eventuallyTrue polls cond until it holds, failing after limit (a bound
// for a condition that should hold within a few rollout polls, not a
// guess of how long something takes).
func eventuallyTrue(limit time.Duration, cond func() error) error {
	deadline := time.Now().Add(limit)
	for {
		err := cond()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// expectPriorVersion checks that the plan updates addr in place (not a
// replacement: the resource is not tainted) from version from to version to.
type expectPriorVersion struct{ addr, from, to string }

func (e expectPriorVersion) CheckPlan(_ context.Context, req plancheck.CheckPlanRequest, resp *plancheck.CheckPlanResponse) {
	for _, rc := range req.Plan.ResourceChanges {
		if rc.Address != e.addr {
			continue
		}
		before, _ := rc.Change.Before.(map[string]any)
		after, _ := rc.Change.After.(map[string]any)
		if !rc.Change.Actions.Update() || before["version"] != e.from || after["version"] != e.to {
			resp.Error = fmt.Errorf("%s: planned %v from version %v to %v; want an update from %s to %s", e.addr, rc.Change.Actions,
				before["version"], after["version"], e.from, e.to)
		}
		return
	}
	resp.Error = fmt.Errorf("%s: no change planned", e.addr)
}

// A progressive rollout through terraform (or OpenTofu) against a real
// gateway and agents: a good first version goes through its steps; a
// version that traps on the rev-b devices stops at its first step (the
// canaries, one of them rev-b) and rolls back, apply failing with the
// step, the device and its reason; the resource is not tainted and the
// next plan shows the update pending, from the version the devices run;
// a fixed module then completes. A first version that fails the same way
// is not left tainted either: nothing is created and the next plan
// creates it again.
func TestAccApplicationProgressiveRollout(t *testing.T) {
	g := startTestGateway(t)
	const n = 6
	revB := []string{sim.DefaultName(0), sim.DefaultName(4)} // a canary and a later device
	f := rolloutAgents(t, g, n, revB...)
	v1 := writeModule(t, "good-1", wasmtest.WAT(t, fmt.Sprintf(goodApp, 1)))
	bad := writeModule(t, "bad", wasmtest.WAT(t, wasmtest.PinTrapApp(faultPin)))
	fixed := writeModule(t, "good-3", wasmtest.WAT(t, fmt.Sprintf(goodApp, 3)))
	const policy = `
  rollout = {
    steps        = [{ devices = 2 }, { percent = 50 }, { percent = 100, bake_seconds = 0 }]
    canary       = { ring = "canary" }
    bake_seconds = 1
    on_failure   = "rollback"
  }`
	app := func(name, version, module string) string {
		return fmt.Sprintf(`
resource "wasmbed_application" %[1]q {
  name        = %[1]q
  version     = %[2]q
  module_path = %[3]q
  limits      = { tick_ms = 50 }
  selector    = { labels = { role = "app" } }
  timeouts    = { create = "2m", update = "2m" }
%[4]s
}
`, name, version, module, policy)
	}
	cfg := func(parts ...string) string { return g.providerBlock() + strings.Join(parts, "") }
	// plain is an application without a rollout policy (all at once).
	plain := func(module string) string {
		return fmt.Sprintf(`
resource "wasmbed_application" "plain" {
  name        = "plain"
  version     = "1.0.0"
  module_path = %q
  limits      = { tick_ms = 50 }
  selector    = { labels = { role = "app" } }
  timeouts    = { create = "2m" }
}
`, module)
	}
	ctx := context.Background()
	var first map[string]fleet.Deployment // each device's deployment once 1.0.0 completed
	var applyStart time.Time
	deployments := func() map[string]fleet.Deployment {
		deps, err := g.client.Deployments(ctx, "app", "")
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]fleet.Deployment{}
		for _, d := range deps {
			out[d.Device] = d
		}
		return out
	}
	onAgents := func(version string, devices ...string) error {
		for _, a := range f.Agents() {
			if len(devices) > 0 && !slices.Contains(devices, a.Name()) {
				continue
			}
			info, ok := a.Device().App("app")
			if !ok || info.Version != version || info.State != protocol.AppStateRunning {
				return fmt.Errorf("%s runs %+v (%v), want %s running", a.Name(), info, ok, version)
			}
		}
		return nil
	}
	completed := func(version string) resource.TestCheckFunc {
		return func(*terraform.State) error {
			st, err := g.client.ApplicationStatus(ctx, "app")
			if err != nil {
				return err
			}
			if p := st.Rollout; p == nil || p.Phase != fleet.RolloutCompleted || p.Version != version || p.Steps != 3 || p.Updated != n {
				return fmt.Errorf("rollout of %s: %+v", version, st.Rollout)
			}
			return onAgents(version)
		}
	}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviders,
		Steps: []resource.TestStep{
			// The policy is checked at plan by fleet's own validation.
			{Config: cfg(strings.Replace(app("app", "1.0.0", v1), "{ devices = 2 }", "{ devices = 2, percent = 10 }", 1)), PlanOnly: true,
				ExpectError: regexp.MustCompile(`rollout\.steps\[0\]: give devices \(>= 1\) or percent \(0 to 100\), one of them`)},
			{Config: cfg(strings.Replace(app("app", "1.0.0", v1), `on_failure   = "rollback"`, `step_failures = { percent = 120 }`, 1)), PlanOnly: true,
				ExpectError: regexp.MustCompile(`rollout\.step_failures: count must be >= 0, percent in \[0,\s+100\]`)},
			{Config: cfg(fmt.Sprintf(`
resource "wasmbed_application" "app" {
  name        = "app"
  version     = "1.0.0"
  module_path = %q
  selector    = { labels = { role = "app" } }
  rollout     = { on_failure = "pause", step_failures = { percent = 120 } }
}
`, v1)), PlanOnly: true, ExpectError: regexp.MustCompile(`canary, bake_seconds, step_failures, total_failures, health and\s+on_failure need steps`)},

			// A good first version goes through the 3 steps.
			{Config: cfg(app("app", "1.0.0", v1)), Check: resource.ComposeAggregateTestCheckFunc(
				resource.TestCheckResourceAttr("wasmbed_application.app", "version", "1.0.0"),
				resource.TestCheckResourceAttr("wasmbed_application.app", "rollout.steps.#", "3"),
				resource.TestCheckResourceAttr("wasmbed_application.app", "rollout.steps.1.percent", "50"),
				resource.TestCheckResourceAttr("wasmbed_application.app", "rollout.canary.ring", "canary"),
				resource.TestCheckNoResourceAttr("wasmbed_application.app", "rollout.step_failures"),
				completed("1.0.0"),
				func(*terraform.State) error { first = deployments(); return nil },
			)},
			// The next version traps on rev-b: its canary fails in step 1,
			// the rollout rolls back and apply fails naming it.
			{PreConfig: func() { applyStart = time.Now() }, Config: cfg(app("app", "2.0.0", bad)),
				ExpectError: regexp.MustCompile(`(?s)Rollout of app version 2\.0\.0 rolled back at step 1 of 3.*` +
					sim.DefaultName(0) + ` \(step 1\): trapped.*went back to version 1\.0\.0.*The state records version 1\.0\.0`)},
			// Not tainted: the plan updates in place from what the devices
			// run (1.0.0); the canaries run 1.0.0 again and the devices that
			// never got 2.0.0 were sent nothing.
			{PreConfig: func() {
				// How long apply took, and how long after the gateway rolled
				// back it failed (a status poll and the CLI's exit).
				applied := time.Now()
				if evs, err := g.client.Events(ctx, 0, 1000); err == nil {
					for _, e := range evs {
						if e.Kind == "rollout.rolled_back" {
							t.Logf("measured: apply of the bad version failed %v after it started, %v after the gateway rolled back",
								applied.Sub(applyStart).Round(time.Millisecond), applied.Sub(e.Time).Round(time.Millisecond))
						}
					}
				}
				canaries := []string{sim.DefaultName(0), sim.DefaultName(1)}
				if err := eventuallyTrue(30*time.Second, func() error { return onAgents("1.0.0") }); err != nil {
					t.Fatalf("after the rollback: %v", err)
				}
				for name, d := range deployments() {
					if !slices.Contains(canaries, name) && (d.Generation != first[name].Generation || d.Version != "1.0.0") {
						t.Errorf("%s never got 2.0.0 but was sent something: %+v, before %+v", name, d, first[name])
					}
				}
			}, Config: cfg(app("app", "2.0.0", bad)), PlanOnly: true, ExpectNonEmptyPlan: true,
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PostApplyPreRefresh: []plancheck.PlanCheck{expectPriorVersion{"wasmbed_application.app", "1.0.0", "2.0.0"}},
					PostApplyPostRefresh: []plancheck.PlanCheck{
						plancheck.ExpectResourceAction("wasmbed_application.app", plancheck.ResourceActionUpdate),
						expectPriorVersion{"wasmbed_application.app", "1.0.0", "2.0.0"}}}},
			// Applying that plan retries 2.0.0 from its first step: it
			// rolls back again.
			{Config: cfg(app("app", "2.0.0", bad)), ExpectError: regexp.MustCompile(`(?s)Rollout of app version 2\.0\.0 rolled back at step 1 of 3.*` +
				sim.DefaultName(0) + ` \(step 1\): trapped`)},
			// A fixed module rolls out again, through every step.
			{PreConfig: func() {
				evs, err := g.client.Events(ctx, 0, 1000)
				if err != nil {
					t.Fatal(err)
				}
				backs := 0
				for _, e := range evs {
					if e.Kind == "rollout.rolled_back" {
						backs++
					}
				}
				if backs != 2 {
					t.Errorf("%d rollbacks recorded, want 2 (the failed update and its retry)", backs)
				}
			}, Config: cfg(app("app", "3.0.0", fixed)), ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
				expectPriorVersion{"wasmbed_application.app", "1.0.0", "3.0.0"}}},
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr("wasmbed_application.app", "version", "3.0.0"),
					completed("3.0.0"),
				)},
			// A first version that traps on rev-b: apply fails, nothing is
			// left (no taint to replace), and the next plan creates it.
			{Config: cfg(app("app", "3.0.0", fixed), app("first", "1.0.0", bad)),
				ExpectError: regexp.MustCompile(`(?s)Rollout of first version 1\.0\.0 rolled back at step 1 of 3.*` + sim.DefaultName(0) +
					` \(step 1\): trapped.*Nothing was created`)},
			{PreConfig: func() {
				if _, err := g.client.GetApplication(ctx, "first"); !isNotFound(err) {
					t.Errorf("application first after its failed create: %v", err)
				}
			}, Config: cfg(app("app", "3.0.0", fixed), app("first", "1.0.0", bad)), PlanOnly: true, ExpectNonEmptyPlan: true,
				ConfigPlanChecks: resource.ConfigPlanChecks{PostApplyPostRefresh: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("wasmbed_application.first", plancheck.ResourceActionCreate),
					plancheck.ExpectResourceAction("wasmbed_application.app", plancheck.ResourceActionNoop)}}},
			// Without steps, a first version that traps on rev-b is sent to
			// every device at once: apply fails naming the two devices, the
			// application is deleted (every device removes it) rather than
			// tainted, and the next plan creates it again.
			{Config: cfg(app("app", "3.0.0", fixed), plain(bad)),
				ExpectError: regexp.MustCompile(`(?s)Rollout of plain failed on [12] device\(s\).*trapped.*Nothing was created`)},
			{PreConfig: func() {
				if _, err := g.client.GetApplication(ctx, "plain"); !isNotFound(err) {
					t.Errorf("application plain after its failed create: %v", err)
				}
				if err := eventuallyTrue(30*time.Second, func() error {
					for _, a := range f.Agents() {
						if info, ok := a.Device().App("plain"); ok {
							return fmt.Errorf("%s still holds plain: %+v", a.Name(), info)
						}
					}
					return nil
				}); err != nil {
					t.Error(err)
				}
			}, Config: cfg(app("app", "3.0.0", fixed), plain(bad)), PlanOnly: true, ExpectNonEmptyPlan: true,
				ConfigPlanChecks: resource.ConfigPlanChecks{PostApplyPostRefresh: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("wasmbed_application.plain", plancheck.ResourceActionCreate),
					plancheck.ExpectResourceAction("wasmbed_application.app", plancheck.ResourceActionNoop)}}},
			{Config: cfg(app("app", "3.0.0", fixed), app("first", "1.0.1", fixed), `
data "wasmbed_application" "app" {
  name = "app"
}
`), Check: resource.ComposeAggregateTestCheckFunc(
				resource.TestCheckResourceAttr("wasmbed_application.first", "version", "1.0.1"),
				// The rollout's status, read back.
				resource.TestCheckResourceAttr("data.wasmbed_application.app", "rollout.phase", "completed"),
				resource.TestCheckResourceAttr("data.wasmbed_application.app", "rollout.version", "3.0.0"),
				resource.TestCheckResourceAttr("data.wasmbed_application.app", "rollout.step", "3"),
				resource.TestCheckResourceAttr("data.wasmbed_application.app", "rollout.steps", "3"),
				resource.TestCheckResourceAttr("data.wasmbed_application.app", "rollout.updated", fmt.Sprint(n)),
				resource.TestCheckResourceAttr("data.wasmbed_application.app", "rollout.failures.#", "0"),
				resource.TestCheckResourceAttr("data.wasmbed_application.app", "stable_version", "1.0.0"),
			)},
		},
	})
}

// A first rollout that is still under way when the create timeout passes
// (a selected device that never connects) is not tainted: apply warns,
// the application stays on every device that took it, and with steps the
// next plan shows the update pending (in place) until the rollout
// completes, which the next apply then waits for. Without steps the next
// plan is empty: the gateway delivers the version when the device
// connects.
func TestAccApplicationFirstRolloutTimeoutDoesNotTaint(t *testing.T) {
	g := startTestGateway(t)
	g.startAgents(t, 2, "linux", map[string]string{"role": "app"})
	ctx := context.Background()
	// Selected, but no agent ever connects as it.
	if _, err := g.client.PutDevice(ctx, "ghost", apiv1.DeviceSpec{Board: "linux", Labels: map[string]string{"role": "app"}}); err != nil {
		t.Fatal(err)
	}
	good := writeModule(t, "good", wasmtest.WAT(t, fmt.Sprintf(goodApp, 1)))
	cfg := g.providerBlock() + fmt.Sprintf(`
resource "wasmbed_application" "steps" {
  name        = "steps"
  version     = "1.0.0"
  module_path = %[1]q
  limits      = { tick_ms = 50 }
  selector    = { labels = { role = "app" } }
  rollout     = { steps = [{ devices = 1 }], bake_seconds = 0 }
  timeouts    = { create = "4s", update = "1m" }
}

resource "wasmbed_application" "plain" {
  name        = "plain"
  version     = "1.0.0"
  module_path = %[1]q
  limits      = { tick_ms = 50 }
  selector    = { labels = { role = "app" } }
  timeouts    = { create = "4s" }
}
`, good)
	running := func(app string, want int) resource.TestCheckFunc {
		return func(*terraform.State) error {
			st, err := g.client.ApplicationStatus(ctx, app)
			if err != nil {
				return err
			}
			if st.Updated != want {
				return fmt.Errorf("%s: %d devices updated, want %d: %+v", app, st.Updated, want, st.Devices)
			}
			return nil
		}
	}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviders,
		Steps: []resource.TestStep{
			// Apply succeeds (with warnings) and saves both applications.
			{Config: cfg, ExpectNonEmptyPlan: true, Check: resource.ComposeAggregateTestCheckFunc(
				resource.TestCheckResourceAttr("wasmbed_application.steps", "version", "1.0.0"),
				resource.TestCheckResourceAttr("wasmbed_application.plain", "version", "1.0.0"),
				running("steps", 2), running("plain", 2),
			), ConfigPlanChecks: resource.ConfigPlanChecks{PostApplyPostRefresh: []plancheck.PlanCheck{
				// Not tainted: in place, for the module not deployed everywhere yet.
				plancheck.ExpectResourceAction("wasmbed_application.steps", plancheck.ResourceActionUpdate),
				plancheck.ExpectUnknownValue("wasmbed_application.steps", tfjsonpath.New("generation")),
				plancheck.ExpectResourceAction("wasmbed_application.plain", plancheck.ResourceActionNoop),
			}}},
			// Once the device that never came is gone, applying the pending
			// update waits for the rollout to complete; the plan is empty.
			{PreConfig: func() {
				if err := g.client.DeleteDevice(ctx, "ghost"); err != nil {
					t.Fatal(err)
				}
			}, Config: cfg, Check: func(*terraform.State) error {
				st, err := g.client.ApplicationStatus(ctx, "steps")
				if err != nil {
					return err
				}
				if st.Rollout == nil || st.Rollout.Phase != fleet.RolloutCompleted {
					return fmt.Errorf("rollout: %+v", st.Rollout)
				}
				return nil
			}},
		},
	})
}

// rolloutWatcher runs act on each status of app the gateway answers (every
// 50 ms) until the test ends or act returns true: an operator acting on a
// rollout while Terraform waits for it.
func rolloutWatcher(t *testing.T, g *testGateway, app string, act func(st *apiv1.ApplicationStatus) (done bool)) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			if st, err := g.client.ApplicationStatus(ctx, app); err == nil && act(&st) {
				return
			}
			select {
			case <-ctx.Done():
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
}

// Operator actions on a rollout that Terraform waits for: an operator
// pauses it (apply fails, naming the pause, not tainted; the plan shows
// the update pending from the version that runs), aborts it (the canaries
// go back), and applying again retries it (resume) while the operator
// promotes each step past its hour-long bake, to completion.
func TestAccApplicationRolloutActions(t *testing.T) {
	g := startTestGateway(t)
	f := rolloutAgents(t, g, 4)
	ctx := context.Background()
	v1 := writeModule(t, "good-1", wasmtest.WAT(t, fmt.Sprintf(goodApp, 1)))
	v2 := writeModule(t, "good-2", wasmtest.WAT(t, fmt.Sprintf(goodApp, 2)))
	cfg := func(version, module string, bake int) string {
		return g.providerBlock() + fmt.Sprintf(`
resource "wasmbed_application" "app" {
  name        = "app"
  version     = %q
  module_path = %q
  limits      = { tick_ms = 50 }
  selector    = { labels = { role = "app" } }
  rollout     = { steps = [{ devices = 2 }, { percent = 50 }], canary = { ring = "canary" }, bake_seconds = %d }
  timeouts    = { create = "1m", update = "1m" }
}
`, version, module, bake)
	}
	baking := func(st *apiv1.ApplicationStatus) bool {
		return st.Rollout != nil && st.Rollout.Version == "2.0.0" && st.Rollout.Phase == fleet.RolloutRollingOut && !st.Rollout.BakeUntil.IsZero()
	}
	act := func(action string) {
		if _, err := g.client.RolloutAction(ctx, "app", action); err != nil {
			t.Errorf("%s: %v", action, err)
		}
	}
	events := func(kind string) int {
		evs, err := g.client.Events(ctx, 0, 1000)
		if err != nil {
			t.Fatal(err)
		}
		k := 0
		for _, e := range evs {
			if e.Kind == kind {
				k++
			}
		}
		return k
	}
	canaries := []string{sim.DefaultName(0), sim.DefaultName(1)}
	onAgents := func(version string, devices []string) error {
		for _, a := range f.Agents() {
			if !slices.Contains(devices, a.Name()) {
				continue
			}
			if info, ok := a.Device().App("app"); !ok || info.Version != version || info.State != protocol.AppStateRunning {
				return fmt.Errorf("%s runs %+v (%v), want %s", a.Name(), info, ok, version)
			}
		}
		return nil
	}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviders,
		Steps: []resource.TestStep{
			{Config: cfg("1.0.0", v1, 0)},
			// Paused by an operator while its first step bakes.
			{PreConfig: func() {
				rolloutWatcher(t, g, "app", func(st *apiv1.ApplicationStatus) bool {
					if baking(st) {
						act(fleet.ActionPause)
						return true
					}
					return false
				})
			}, Config: cfg("2.0.0", v2, 3600),
				ExpectError: regexp.MustCompile(`(?s)Rollout of app version 2\.0\.0 paused at step 1 of 3.*paused \(by [^)]+\).*the others keep version 1\.0\.0`)},
			{Config: cfg("2.0.0", v2, 3600), PlanOnly: true, ExpectNonEmptyPlan: true,
				ConfigPlanChecks: resource.ConfigPlanChecks{PostApplyPostRefresh: []plancheck.PlanCheck{
					expectPriorVersion{"wasmbed_application.app", "1.0.0", "2.0.0"}}}},
			// Aborted: the canaries go back to 1.0.0. Applying again retries
			// 2.0.0 from its first step, and an operator promotes each step.
			{PreConfig: func() {
				act(fleet.ActionAbort)
				if err := eventuallyTrue(30*time.Second, func() error { return onAgents("1.0.0", canaries) }); err != nil {
					t.Fatalf("after abort: %v", err)
				}
				rolloutWatcher(t, g, "app", func(st *apiv1.ApplicationStatus) bool {
					if baking(st) {
						act(fleet.ActionPromote)
					}
					return st.Rollout != nil && st.Rollout.Version == "2.0.0" && st.Rollout.Phase == fleet.RolloutCompleted
				})
			}, Config: cfg("2.0.0", v2, 3600), Check: resource.ComposeAggregateTestCheckFunc(
				resource.TestCheckResourceAttr("wasmbed_application.app", "version", "2.0.0"),
				func(*terraform.State) error {
					if err := onAgents("2.0.0", []string{sim.DefaultName(0), sim.DefaultName(1), sim.DefaultName(2), sim.DefaultName(3)}); err != nil {
						return err
					}
					for kind, want := range map[string]int{"rollout.paused": 1, "rollout.rolled_back": 1, "rollout.resumed": 1, "rollout.completed": 2} {
						if got := events(kind); got != want {
							return fmt.Errorf("%d %s events, want %d", got, kind, want)
						}
					}
					return nil
				},
			)},
			// The policy reads back on import as configured.
			{ResourceName: "wasmbed_application.app", ImportState: true, ImportStateId: "app", ImportStateVerify: true,
				ImportStateVerifyIgnore: []string{"module_path", "timeouts"}},
		},
	})
}

// The app-level health gate set from Terraform: a version whose app
// publishes health = 0 stops at its first step and rolls back, apply
// naming the value; the version before (health = 1) passed the same gate.
func TestAccApplicationHealthGate(t *testing.T) {
	g := startTestGateway(t)
	rolloutAgents(t, g, 4)
	v1 := writeModule(t, "healthy", wasmtest.WAT(t, fmt.Sprintf(goodApp, 1)))
	v2 := writeModule(t, "unhealthy", wasmtest.WAT(t, fmt.Sprintf(goodApp, 0)))
	cfg := func(version, module string) string {
		return g.providerBlock() + fmt.Sprintf(`
resource "wasmbed_application" "app" {
  name        = "app"
  version     = %q
  module_path = %q
  limits      = { tick_ms = 50 }
  selector    = { labels = { role = "app" } }
  rollout = {
    steps        = [{ devices = 1 }, { percent = 100 }]
    bake_seconds = 1
    health       = { key = "health", min = 1, max_age_seconds = 5 }
  }
  timeouts = { create = "1m", update = "1m" }
}
`, version, module)
	}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviders,
		Steps: []resource.TestStep{
			{Config: cfg("1.0.0", v1), Check: resource.ComposeAggregateTestCheckFunc(
				resource.TestCheckResourceAttr("wasmbed_application.app", "rollout.health.min", "1"),
				resource.TestCheckNoResourceAttr("wasmbed_application.app", "rollout.health.max"),
			)},
			{Config: cfg("2.0.0", v2), ExpectError: regexp.MustCompile(`(?s)Rollout of app version 2\.0\.0 rolled back at step 1 of 2.*` +
				`sim-\d+ \(step 1\): health = 0, below 1.*went back to version 1\.0\.0`)},
			{Config: cfg("2.0.0", v2), PlanOnly: true, ExpectNonEmptyPlan: true,
				ConfigPlanChecks: resource.ConfigPlanChecks{PostApplyPostRefresh: []plancheck.PlanCheck{
					expectPriorVersion{"wasmbed_application.app", "1.0.0", "2.0.0"}}}},
		},
	})
}
