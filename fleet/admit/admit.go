// Package admit holds the admission rules of the fleet's objects, once:
// what an application's spec may say, which boards it can land on and
// whether its module runs there, what a device's registration may say and
// whether the applications it would take run on its board. The gateway's
// management API, the provider's Kubernetes backend and the controller's
// validating admission webhook (kubectl) all call it, so a refusal reads
// the same whichever way the object came.
package admit

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/wasmbed/wasmbed/board"
	"github.com/wasmbed/wasmbed/fleet"
	"github.com/wasmbed/wasmbed/gateway/apiv1"
	"github.com/wasmbed/wasmbed/module"
	"github.com/wasmbed/wasmbed/protocol"
)

// Kind says what kind of refusal an Error is (the API's status and code).
type Kind int

const (
	// Invalid: a field out of its bounds or syntax (400).
	Invalid Kind = iota
	// Unprocessable: fields that do not go together, a module not uploaded (422).
	Unprocessable
	// ModuleRejected: the module cannot run on a board it would land on
	// (422, code module_rejected, with the board).
	ModuleRejected
)

// Error is a refusal.
type Error struct {
	Kind    Kind
	Message string
	// Board is the board a ModuleRejected names.
	Board string
}

func (e *Error) Error() string { return e.Message }

// Problem is the refusal as the management API answers it (status, code,
// board), the same from the gateway and from the provider's Kubernetes
// backend.
func (e *Error) Problem() apiv1.ErrorResponse {
	switch e.Kind {
	case Invalid:
		return apiv1.ErrorResponse{Status: http.StatusBadRequest, Detail: e.Message}
	case ModuleRejected:
		return apiv1.ErrorResponse{Status: http.StatusUnprocessableEntity, Code: apiv1.CodeModuleRejected, Detail: e.Message, Board: e.Board}
	default:
		return apiv1.ErrorResponse{Status: http.StatusUnprocessableEntity, Code: apiv1.CodeUnprocessable, Detail: e.Message}
	}
}

func refuse(k Kind, format string, args ...any) error {
	return &Error{Kind: k, Message: fmt.Sprintf(format, args...)}
}

// Checker runs the module check of wasm for a board with limits; nil when
// it can run there. A failure to check (as opposed to a verdict) is an
// error of another type than *module.CheckError.
type Checker func(ctx context.Context, wasm []byte, board string, lim fleet.Limits) error

// Check is the module check of package module, against the board's profile.
func Check(ctx context.Context, wasm []byte, boardName string, lim fleet.Limits) error {
	prof, ok := board.Lookup(boardName)
	if !ok {
		return refuse(Invalid, "board %q: unknown; known boards: %s", boardName, strings.Join(board.Names(), ", "))
	}
	_, err := module.Check(ctx, wasm, prof, module.Limits{Memory: lim.Memory, Fuel: lim.Fuel})
	return err
}

// Name checks the name of an object (what) in the fleet.
func Name(what, s string) error {
	if err := protocol.ValidName(s); err != nil {
		return refuse(Invalid, "%s: %v", what, err)
	}
	return nil
}

// Labels checks a device's labels or a selector's.
func Labels(labels map[string]string) error {
	if err := fleet.ValidateLabels(labels); err != nil {
		return refuse(Unprocessable, "%v", err)
	}
	return nil
}

// Application checks an application's spec on its own (name, version,
// config, selector labels, rollout policy) and sets the defaults of its
// limits and rollout.
func Application(a *fleet.Application) error {
	if err := Name("application name", a.Name); err != nil {
		return err
	}
	if err := protocol.ValidVersion(a.Version); err != nil {
		return refuse(Invalid, "version: %v", err)
	}
	if len(a.Config) > protocol.MaxConfigPairs {
		return refuse(Invalid, "config: %d entries, limit %d", len(a.Config), protocol.MaxConfigPairs)
	}
	for _, k := range slices.Sorted(maps.Keys(a.Config)) {
		if err := protocol.ValidName(k); err != nil {
			return refuse(Unprocessable, "config key: %v", err)
		}
		if len(a.Config[k]) > protocol.MaxTextLen {
			return refuse(Unprocessable, "config %q: value longer than %d bytes", k, protocol.MaxTextLen)
		}
	}
	if err := Labels(a.Selector.Labels); err != nil {
		return err
	}
	a.Rollout.SetDefaults()
	if err := a.Rollout.Validate(); err != nil {
		// The schemas have the bounds of each field: what is left are
		// rules across fields.
		return refuse(Unprocessable, "%v", err)
	}
	a.Limits.SetDefaults()
	return nil
}

// NoModule is the refusal of an application whose module is not stored.
func NoModule(sha, upload string) error {
	return refuse(Unprocessable, "sha256 %q: no such module; upload it %s first", sha, upload)
}

// LandingBoards are the boards an application selecting with sel can land
// on: the selector's boards and those of the devices it selects now.
func LandingBoards(sel fleet.Selector, devices []fleet.Device) []string {
	boards := slices.Clone(sel.Boards)
	for i := range devices {
		if sel.Matches(&devices[i]) && !slices.Contains(boards, devices[i].Board) {
			boards = append(boards, devices[i].Board)
		}
	}
	slices.Sort(boards)
	return boards
}

// Module checks that wasm runs on every board with lim; the first board
// where it does not is a ModuleRejected naming it. known lists the boards
// the checker knows.
func Module(ctx context.Context, wasm []byte, boards, known []string, lim fleet.Limits, check Checker) error {
	for _, b := range boards {
		if !slices.Contains(known, b) {
			return refuse(Invalid, "board %q: unknown; known boards: %s", b, strings.Join(known, ", "))
		}
		if err := check(ctx, wasm, b, lim); err != nil {
			if isFailure(err) {
				return fmt.Errorf("check the module for board %s: %w", b, err)
			}
			return &Error{Kind: ModuleRejected, Message: err.Error(), Board: b}
		}
	}
	return nil
}

// Device checks a device's registration on its own: name, board, labels,
// gateway. known lists the boards there are.
func Device(d *fleet.Device, known []string) error {
	if err := Name("device name", d.Name); err != nil {
		return err
	}
	if !slices.Contains(known, d.Board) {
		return refuse(Invalid, "board %q: unknown; known boards: %s", d.Board, strings.Join(known, ", "))
	}
	if err := Labels(d.Labels); err != nil {
		return err
	}
	if d.Gateway != "" {
		return Name("gateway", d.Gateway)
	}
	return nil
}

// StoredChecker checks the stored module sha for a board with limits, as a
// Checker does (fleet.ErrNotFound when the module is not stored).
type StoredChecker func(ctx context.Context, sha, board string, lim fleet.Limits) error

// Stored is the StoredChecker that reads the module with get and checks it
// with check.
func Stored(get func(ctx context.Context, sha string) ([]byte, error), check Checker) StoredChecker {
	return func(ctx context.Context, sha, board string, lim fleet.Limits) error {
		wasm, err := get(ctx, sha)
		if err != nil {
			return err
		}
		return check(ctx, wasm, board, lim)
	}
}

// Landing checks that every application of apps that selects d can run on
// d's board; the first that cannot is a ModuleRejected naming the
// application and the board. An application whose module is gone is
// skipped: nothing of it would be sent (the gateways say so).
func Landing(ctx context.Context, d *fleet.Device, apps []fleet.Application, check StoredChecker) error {
	for i := range apps {
		a := &apps[i]
		if !a.Selector.Matches(d) {
			continue
		}
		lim := a.Limits
		lim.SetDefaults()
		err := check(ctx, a.SHA256, d.Board, lim)
		switch {
		case err == nil, errors.Is(err, fleet.ErrNotFound):
			continue
		case isFailure(err):
			return fmt.Errorf("application %s: %w", a.Name, err)
		}
		return &Error{Kind: ModuleRejected, Board: d.Board,
			Message: fmt.Sprintf("device %s would run application %s, which cannot run on board %s: %v (change the device's labels or board, or the application's selector)",
				d.Name, a.Name, d.Board, err)}
	}
	return nil
}

// isFailure reports whether err is a failure to check rather than a
// verdict: a verdict is a *module.CheckError, a refusal of this package
// (an unknown board), or what a Checker marks with Verdict.
func isFailure(err error) bool {
	var ce *module.CheckError
	var ae *Error
	var v verdict
	return !errors.As(err, &ce) && !errors.As(err, &ae) && !errors.As(err, &v)
}

// verdict marks a Checker's error as a verdict (the module cannot run).
type verdict struct{ error }

func (v verdict) Unwrap() error { return v.error }

// Verdict marks err, a Checker's answer, as the verdict that the module
// cannot run (a Checker of its own, not package module's, says so).
func Verdict(err error) error {
	if err == nil {
		return nil
	}
	return verdict{err}
}
