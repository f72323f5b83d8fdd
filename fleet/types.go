// Package fleet holds the fleet's data model (gateways, devices, applications,
// enrollment tokens, per-device deployment state, events), the Store interface
// that both the embedded store and Kubernetes implement, and the
// reconciliation core that decides which device must run which module version
// and what to send it next.
package fleet

import (
	"fmt"
	"time"

	"github.com/wasmbed/wasmbed/protocol"
)

// Gateway is a gateway's registration.
type Gateway struct {
	Name      string            `json:"name"`
	Addresses []string          `json:"addresses,omitempty"` // device endpoints, host:port
	Labels    map[string]string `json:"labels,omitempty"`
	Capacity  int               `json:"capacity"` // sessions it is meant to hold; 0: unlimited
	CreatedAt time.Time         `json:"created_at"`
	UpdatedAt time.Time         `json:"updated_at"`
}

// Device is a device the fleet knows, and what was last observed of it.
type Device struct {
	Name      string            `json:"name"`
	Board     string            `json:"board"`
	Labels    map[string]string `json:"labels,omitempty"`
	Gateway   string            `json:"gateway,omitempty"`
	CreatedAt time.Time         `json:"created_at"`
	UpdatedAt time.Time         `json:"updated_at"`
	Status    DeviceStatus      `json:"status"`
}

// Device phases.
const (
	PhaseRegistered = "registered" // known, never enrolled
	PhaseOnline     = "online"     // holds a session and heartbeats
	PhaseOffline    = "offline"    // enrolled, no live session
	PhaseRevoked    = "revoked"    // certificate revoked; refused until enrolled again
)

// DeviceStatus is observed state, written on transitions (not per heartbeat).
type DeviceStatus struct {
	Phase        string    `json:"phase"`
	LastSeen     time.Time `json:"last_seen,omitzero"`
	Firmware     string    `json:"firmware,omitempty"`
	RAMFree      uint32    `json:"ram_free,omitempty"`
	FlashFree    uint32    `json:"flash_free,omitempty"`
	MaxFrame     uint32    `json:"max_frame,omitempty"`
	Features     []string  `json:"features,omitempty"`
	CertSerial   string    `json:"cert_serial,omitempty"`
	CertNotAfter time.Time `json:"cert_not_after,omitzero"`
	// CertPending is the serial (hex) of the certificate a renewal issued
	// and the device has not used yet; its first session makes it current.
	CertPending string `json:"cert_pending,omitempty"`
	Message     string `json:"message,omitempty"`
	// SessionGateway is the gateway that holds (or last held, until it
	// records the session's end) the device's session, where several
	// gateways serve the fleet (Kubernetes mode); empty otherwise.
	SessionGateway string `json:"session_gateway,omitempty"`
	// Reset is what the device said, in its last hello, of its last reset;
	// nil until a device reports one (older firmware does not).
	Reset *ResetStatus `json:"reset,omitempty"`
}

// ResetStatus is a device's last reset, as it reported it (protocol
// ResetReport).
type ResetStatus struct {
	// Cause: unknown, power_on, requested, pin, or the unexpected ones:
	// watchdog, panic, hard_fault, brown_out.
	Cause  string `json:"cause"`
	Detail string `json:"detail,omitempty"`
	// Time is when a gateway first heard of this boot (the session that
	// followed it): a device cannot tell the time of its reset.
	Time time.Time `json:"time"`
	// Boots counts the device's boots since it was last powered on.
	Boots uint32 `json:"boots"`
	// Unexpected counts unexpected resets in a row; 0 when the last reset
	// was expected.
	Unexpected uint32 `json:"unexpected"`
	// SafeMode: after 3 unexpected resets in a row the device runs no app
	// and refuses the generations it had; a newer generation ends it.
	SafeMode bool `json:"safe_mode"`
	// BootID is the number the device picked at random at this boot; 0
	// from devices that do not say (older firmware).
	BootID uint32 `json:"boot_id,omitempty"`
}

// SameBoot reports whether r describes the boot s already records (a
// reconnect, not a new reset): the same boot count, cause and detail, and
// the same boot id when both have one. Without boot ids two power-on boots
// look the same; a different boot id is a new boot.
func (s *ResetStatus) SameBoot(r *ResetStatus) bool {
	if s == nil || r == nil || s.Boots != r.Boots || s.Cause != r.Cause || s.Detail != r.Detail {
		return false
	}
	return s.BootID == 0 || r.BootID == 0 || s.BootID == r.BootID
}

// Limits bound an app on a device.
type Limits struct {
	Fuel   uint64 `json:"fuel"`    // instructions per init or tick call
	Memory uint32 `json:"memory"`  // bytes of linear memory
	TickMS uint32 `json:"tick_ms"` // tick period
}

// Defaults of an application's limits: the API, the provider and the CRD's
// defaults (api/v1alpha1) all use these.
const (
	// DefaultFuel fits every board's per-call cap (board.Profile.MaxFuel):
	// the slowest, mps2-an386 at 25 MHz, takes 300,000.
	DefaultFuel   = 250_000
	DefaultMemory = 65536
	DefaultTickMS = 1000
)

// SetDefaults gives the limits left at zero their defaults.
func (l *Limits) SetDefaults() {
	if l.Fuel == 0 {
		l.Fuel = DefaultFuel
	}
	if l.Memory == 0 {
		l.Memory = DefaultMemory
	}
	if l.TickMS == 0 {
		l.TickMS = DefaultTickMS
	}
}

// MaxLabels is how many labels a device, gateway or selector may have.
const MaxLabels = 64

// ValidateLabels checks that there are at most MaxLabels labels, and that
// label keys, and values when set, are names (protocol.ValidName).
func ValidateLabels(labels map[string]string) error {
	if len(labels) > MaxLabels {
		return fmt.Errorf("labels: %d, at most %d", len(labels), MaxLabels)
	}
	for k, v := range labels {
		if err := protocol.ValidName(k); err != nil {
			return fmt.Errorf("label key: %w", err)
		}
		if v != "" {
			if err := protocol.ValidName(v); err != nil {
				return fmt.Errorf("label %s value: %w", k, err)
			}
		}
	}
	return nil
}

// Selector picks the devices an application runs on: all of Labels must
// match, and the board must be one of Boards when Boards is not empty.
type Selector struct {
	Labels map[string]string `json:"labels,omitempty" openapi:"labels"`
	Boards []string          `json:"boards,omitempty" openapi:"board"`
}

// Matches reports whether d is selected.
func (s Selector) Matches(d *Device) bool {
	for k, v := range s.Labels {
		if d.Labels[k] != v {
			return false
		}
	}
	if len(s.Boards) == 0 {
		return true
	}
	for _, b := range s.Boards {
		if b == d.Board {
			return true
		}
	}
	return false
}

// Rollout strategies.
const (
	RolloutAllAtOnce = "all_at_once"
	RolloutBatched   = "batched"
)

// Rollout says how a new version reaches the selected devices.
type Rollout struct {
	Strategy       string `json:"strategy" openapi:"enum=|all_at_once|batched"` // RolloutAllAtOnce or RolloutBatched (empty: the first)
	MaxUnavailable int    `json:"max_unavailable,omitempty" openapi:"min=0"`    // batched: devices updating at once
	// MinReadySeconds is how long an app must have been running on a device
	// before that device counts as updated (and a batched rollout moves on);
	// 0 means two tick periods, at least one second, without steps, and no
	// hold with steps: there each step's bake is the hold, under the gates.
	MinReadySeconds int `json:"min_ready_seconds,omitempty" openapi:"min=0"`

	// Steps, when not empty, make the rollout progressive (rollout.go):
	// cumulative device counts or percentages of the selected devices,
	// each baked under health gates before the next.
	Steps []RolloutStep `json:"steps,omitempty" openapi:"maxitems=20"`
	// Canary, labels: the first step takes only devices that have them.
	Canary map[string]string `json:"canary,omitempty" openapi:"labels"`
	// BakeSeconds is each step's bake time unless the step sets its own;
	// nil: DefaultBakeSeconds.
	BakeSeconds *int `json:"bake_seconds,omitempty" openapi:"min=0"`
	// StepFailures and TotalFailures are the failures tolerated in a step
	// (of its devices) and in the whole rollout (of the selected devices);
	// StepFailures unset tolerates none, TotalFailures unset adds no limit.
	StepFailures  FailureThreshold `json:"step_failures,omitzero"`
	TotalFailures FailureThreshold `json:"total_failures,omitzero"`
	// Health, when set, is an app-level gate: a value the app publishes.
	Health *HealthValue `json:"health,omitempty"`
	// OnFailure: pause, or rollback (the default).
	OnFailure string `json:"on_failure,omitempty" openapi:"enum=|pause|rollback"`
}

// MinReady is how long a running app must stay up to count as updated.
// A progressive rollout holds nothing by default: its steps bake (for
// DefaultBakeSeconds unless the policy says otherwise) with the health
// gates watching, and a second hold per device before each bake would
// only slow every step (bake_seconds 0 means the operator wants none).
func (a *Application) MinReady() time.Duration {
	switch {
	case a.Rollout.MinReadySeconds > 0:
		return time.Duration(a.Rollout.MinReadySeconds) * time.Second
	case a.Rollout.Progressive():
		return 0
	}
	return max(time.Second, 2*time.Duration(a.Limits.TickMS)*time.Millisecond)
}

// Application is a WASM module version and where and how it runs.
type Application struct {
	Name       string            `json:"name"`
	Version    string            `json:"version"`
	SHA256     string            `json:"sha256"` // hex, of the module
	Size       int               `json:"size"`
	Config     map[string]string `json:"config,omitempty"`
	Limits     Limits            `json:"limits"`
	Selector   Selector          `json:"selector"`
	Rollout    Rollout           `json:"rollout"`
	Running    bool              `json:"running"` // desired: started (true) or installed and stopped
	Generation int64             `json:"generation"`
	CreatedAt  time.Time         `json:"created_at"`
	UpdatedAt  time.Time         `json:"updated_at"`
	// Admission, when not nil, decides which devices a batched rollout
	// lets start updating, instead of each gateway's own count: in
	// Kubernetes mode several gateways serve one application, and only the
	// controller (one writer) can keep them together within MaxUnavailable.
	// The Kubernetes store sets it (possibly empty: nothing admitted yet);
	// the embedded store never does, and is not written with it.
	Admission *Admission `json:"-"`
	// Stable is the last spec whose rollout passed (completed, or had no
	// steps): a progressive rollout that fails brings the devices that took
	// the new spec back to it. Written when the spec changes.
	Stable *Release `json:"stable,omitempty"`
	// Progress is the progressive rollout of the current spec (or of an
	// earlier one, until the gateway starts the next): status, written by
	// the gateway or the controller and by the rollout actions.
	Progress *RolloutProgress `json:"progress,omitempty"`
	// History is the module versions the application had, newest (the
	// current one) first, at most MaxHistory: status, written with the spec
	// in standalone mode, by the controller in Kubernetes mode.
	History []Revision `json:"history,omitempty"`
}

// Admission is the controller's list of devices a batched rollout of one
// spec (SpecHash) may start updating now.
type Admission struct {
	SpecHash string
	Devices  []string
}

// EnrollmentToken is a one-time token bound to a device. Only its hash is stored.
type EnrollmentToken struct {
	ID        string    `json:"id"`
	Device    string    `json:"device"`
	Hash      string    `json:"hash"` // hex sha256 of the secret
	ExpiresAt time.Time `json:"expires_at"`
	UsedAt    time.Time `json:"used_at,omitzero"`
	CreatedAt time.Time `json:"created_at"`
	// UsedKey is the hex sha256 of the public key (SubjectPublicKeyInfo) the
	// token enrolled: the same device retrying with the same key (its first
	// answer lost) is answered again, once more a certificate; UsedSerial is
	// the certificate last issued, revoked when a retry supersedes it.
	UsedKey    string `json:"used_key,omitempty"`
	UsedSerial string `json:"used_serial,omitempty"`
}

// Deployment is one application on one device: what the core last asked of
// the device (Generation, Version) and what the device reported.
type Deployment struct {
	App        string    `json:"app"`
	Device     string    `json:"device"`
	Generation uint64    `json:"generation"` // protocol generation of the last command sent
	Command    string    `json:"command"`    // that command: deploy, start, stop or remove
	Version    string    `json:"version"`    // desired version for that generation
	SHA256     string    `json:"sha256"`
	SpecHash   string    `json:"spec_hash"` // SpecHash of the application spec sent
	Running    bool      `json:"running"`   // desired run state sent
	Removing   bool      `json:"removing,omitempty"`
	State      string    `json:"state"` // protocol AppState name as last reported
	Observed   string    `json:"observed_version,omitempty"`
	Detail     string    `json:"detail,omitempty"`
	Offset     uint32    `json:"offset"` // bytes transferred
	UpdatedAt  time.Time `json:"updated_at"`
}

// Event is a recorded fact about the fleet, kept for operators (bounded).
type Event struct {
	Seq     uint64    `json:"seq"`
	Time    time.Time `json:"time"`
	Kind    string    `json:"kind"` // e.g. device.offline, app.trapped, enrollment.refused
	Object  string    `json:"object"`
	Message string    `json:"message"`
}
