package api

import (
	"time"

	"github.com/wasmbed/wasmbed/fleet"
)

// Request and response bodies. The OpenAPI document is generated from these
// types, so what the handlers write and what the document says are one.

type caResponse struct {
	RootPEM string `json:"root_pem"`
}

type gatewaySpec struct {
	Addresses []string          `json:"addresses"`
	Labels    map[string]string `json:"labels,omitempty"`
	Capacity  int               `json:"capacity"`
}

type gatewayList struct {
	Gateways []fleet.Gateway `json:"gateways"`
}

type deviceSpec struct {
	Board   string            `json:"board"`
	Labels  map[string]string `json:"labels,omitempty"`
	Gateway string            `json:"gateway,omitempty"`
}

type deviceList struct {
	Devices []fleet.Device `json:"devices"`
}

type tokenRequest struct {
	TTLSeconds int `json:"ttl_seconds,omitempty"` // default 86400
}

type tokenResponse struct {
	ID        string    `json:"id"`
	Device    string    `json:"device"`
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expires_at"`
}

type tokenList struct {
	Tokens []fleet.EnrollmentToken `json:"tokens"`
}

type revokeRequest struct {
	Reason string `json:"reason,omitempty"`
}

type certificateRequest struct {
	CSRPEM     string `json:"csr_pem"`
	Device     string `json:"device"`
	TTLSeconds int    `json:"ttl_seconds,omitempty"` // default: the gateway's --cert-ttl
}

type certificateResponse struct {
	Serial    string    `json:"serial"`
	NotBefore time.Time `json:"not_before"`
	NotAfter  time.Time `json:"not_after"`
	ChainPEM  string    `json:"chain_pem"` // leaf first
}

type moduleResponse struct {
	SHA256 string `json:"sha256"`
	Size   int    `json:"size"`
}

type checkRequest struct {
	Boards []string     `json:"boards"`
	Limits fleet.Limits `json:"limits"`
}

type checkResponse struct {
	OK     bool     `json:"ok"`
	Boards []string `json:"boards"`
}

type applicationSpec struct {
	Version  string            `json:"version"`
	SHA256   string            `json:"sha256"`
	Config   map[string]string `json:"config,omitempty"`
	Limits   fleet.Limits      `json:"limits"`
	Selector fleet.Selector    `json:"selector"`
	Rollout  fleet.Rollout     `json:"rollout"`
	Running  *bool             `json:"running,omitempty"` // default true
}

type applicationList struct {
	Applications []fleet.Application `json:"applications"`
}

// deviceRollout is one device's state for an application.
type deviceRollout struct {
	Device     string    `json:"device"`
	Online     bool      `json:"online"`
	State      string    `json:"state"` // pending: selected, nothing sent yet
	Version    string    `json:"version,omitempty"`
	Observed   string    `json:"observed_version,omitempty"`
	Generation uint64    `json:"generation,omitempty"`
	Current    bool      `json:"current"` // the deployment is for the application's current spec
	Detail     string    `json:"detail,omitempty"`
	UpdatedAt  time.Time `json:"updated_at,omitzero"`
}

type applicationStatus struct {
	Application string          `json:"application"`
	Version     string          `json:"version"`
	Generation  int64           `json:"generation"`
	Selected    int             `json:"selected"`
	Updated     int             `json:"updated"`
	InProgress  int             `json:"in_progress"`
	Failed      int             `json:"failed"`
	Converged   bool            `json:"converged"`
	Devices     []deviceRollout `json:"devices"`
}

type outputList struct {
	Output []fleet.OutputRecord `json:"output"`
}

type eventList struct {
	Events []fleet.Event `json:"events"`
}

type auditList struct {
	Audit []fleet.AuditRecord `json:"audit"`
}

type errorResponse struct {
	Error string `json:"error"`
	Board string `json:"board,omitempty"` // module checks: the board that cannot run the module
}
