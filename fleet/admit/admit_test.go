package admit_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/wasmbed/wasmbed/board"
	"github.com/wasmbed/wasmbed/fleet"
	"github.com/wasmbed/wasmbed/fleet/admit"
	"github.com/wasmbed/wasmbed/module/wasmtest"
)

// The rules once: an application's fields, the boards it lands on and its
// module there, a device's fields and the applications it would take. A
// verdict is a refusal naming the board; a failure to check is an error of
// its own (a 500, not a 422).
func TestAdmission(t *testing.T) {
	ctx := context.Background()
	a := fleet.Application{Name: "app", Version: "1.0.0", SHA256: "x", Selector: fleet.Selector{Labels: map[string]string{"role": "s"}}}
	if err := admit.Application(&a); err != nil || a.Limits.Fuel != fleet.DefaultFuel {
		t.Fatalf("a valid application: %v, limits %+v (defaults set)", err, a.Limits)
	}
	for _, bad := range []func(*fleet.Application){
		func(a *fleet.Application) { a.Version = "not a version!" },
		func(a *fleet.Application) { a.Config = map[string]string{"bad key": "v"} },
		func(a *fleet.Application) { a.Selector.Labels = map[string]string{"": "v"} },
		func(a *fleet.Application) { a.Rollout.Steps = []fleet.RolloutStep{{Percent: 50}, {Percent: 10}} },
	} {
		b := a
		bad(&b)
		var e *admit.Error
		if err := admit.Application(&b); !errors.As(err, &e) {
			t.Errorf("%+v: %v, want a refusal", b, err)
		}
	}

	devs := []fleet.Device{{Name: "d1", Board: "nano33ble", Labels: map[string]string{"role": "s"}},
		{Name: "d2", Board: "linux", Labels: map[string]string{"role": "t"}}}
	if b := admit.LandingBoards(fleet.Selector{Labels: map[string]string{"role": "s"}, Boards: []string{"mps2-an386"}}, devs); strings.Join(b, ",") != "mps2-an386" {
		t.Fatalf("landing boards of a selector naming its boards: %v", b)
	}
	boards := admit.LandingBoards(fleet.Selector{Labels: map[string]string{"role": "s"}}, devs)
	if strings.Join(boards, ",") != "nano33ble" {
		t.Fatalf("landing boards of the devices selected: %v", boards)
	}
	big := wasmtest.WAT(t, `(module (memory (export "memory") 2) (func (export "tick")))`)
	lim := fleet.Limits{Memory: 2 * 65536}
	lim.SetDefaults()
	var e *admit.Error
	if err := admit.Module(ctx, big, boards, board.Names(), lim, admit.Check); !errors.As(err, &e) || e.Kind != admit.ModuleRejected || e.Board != "nano33ble" {
		t.Fatalf("a module too big for a nano33ble: %v", err)
	}
	if err := admit.Module(ctx, big, []string{"vax"}, board.Names(), lim, admit.Check); !errors.As(err, &e) || e.Kind != admit.Invalid {
		t.Fatalf("an unknown board: %v", err)
	}
	broken := func(context.Context, []byte, string, fleet.Limits) error { return errors.New("checker down") }
	if err := admit.Module(ctx, big, boards, board.Names(), lim, broken); err == nil || errors.As(err, &e) {
		t.Fatalf("a failure to check: %v, want an error that is no refusal", err)
	}
	if err := admit.Module(ctx, big, boards, board.Names(), lim, func(context.Context, []byte, string, fleet.Limits) error {
		return admit.Verdict(errors.New("no"))
	}); !errors.As(err, &e) || e.Kind != admit.ModuleRejected {
		t.Fatalf("a checker's verdict: %v", err)
	}

	// A device: its fields, then what it would take.
	d := fleet.Device{Name: "d3", Board: "nano33ble", Labels: map[string]string{"role": "s"}}
	if err := admit.Device(&d, board.Names()); err != nil {
		t.Fatal(err)
	}
	if err := admit.Device(&fleet.Device{Name: "d4", Board: "vax"}, board.Names()); !errors.As(err, &e) || e.Kind != admit.Invalid {
		t.Fatalf("a device of an unknown board: %v", err)
	}
	a.SHA256, a.Limits = "big", lim
	gone := a
	gone.Name, gone.SHA256 = "gone", "nothing"
	modules := map[string][]byte{"big": big}
	read := func(_ context.Context, sha string) ([]byte, error) {
		if b, ok := modules[sha]; ok {
			return b, nil
		}
		return nil, fleet.ErrNotFound
	}
	err := admit.Landing(ctx, &d, []fleet.Application{gone, a}, admit.Stored(read, admit.Check))
	if !errors.As(err, &e) || e.Kind != admit.ModuleRejected || !strings.Contains(e.Message, "device d3 would run application app, which cannot run on board nano33ble") {
		t.Fatalf("a device that cannot run the application selecting it: %v", err)
	}
	d.Board = "mps2-an386"
	if err := admit.Landing(ctx, &d, []fleet.Application{gone, a}, admit.Stored(read, admit.Check)); err != nil {
		t.Fatalf("a device that can (the application without module skipped): %v", err)
	}
}
