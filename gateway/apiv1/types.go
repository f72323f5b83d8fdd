// Package apiv1 holds the request and response bodies of the gateway's
// management API (/v1) and a Go client for it. The server (gateway/api)
// writes these types and generates its OpenAPI document from them; the
// Terraform provider reads them through Client. It depends only on fleet,
// so clients do not pull in the gateway.
package apiv1

import (
	"time"

	"github.com/wasmbed/wasmbed/fleet"
)

type CAResponse struct {
	RootPEM string `json:"root_pem"`
}

// WhoAmI is the token a request came with: its name and role.
type WhoAmI struct {
	Name string `json:"name"`
	Role string `json:"role" enum:"reader,operator,admin"`
}

// Summary is the fleet at a glance (GET /v1/summary): devices counted by
// phase, board and gateway, and the certificates that expire soon.
type Summary struct {
	Devices      int            `json:"devices"`
	Applications int            `json:"applications"`
	ByPhase      map[string]int `json:"by_phase"`
	ByBoard      map[string]int `json:"by_board"`
	ByGateway    map[string]int `json:"by_gateway"` // "" for devices not assigned to one
	// Expiring are the devices whose certificate expires within the
	// summary's window (?within_hours=, default 168: a week), soonest first,
	// at most 100.
	Expiring []ExpiringCertificate `json:"expiring"`
}

// DeviceMetrics is what a device measured of its apps in its latest
// heartbeat to this gateway (GET /v1/devices/{name}/metrics): kept in the
// gateway's memory, never stored.
type DeviceMetrics struct {
	Device  string `json:"device"`
	Gateway string `json:"gateway"` // the gateway that received the heartbeat
	// ReportedAt is when; null when the device sent none since the gateway
	// started (or it sends no measurements).
	ReportedAt *time.Time `json:"reported_at"`
	UptimeMS   uint64     `json:"uptime_ms"`
	RAMFree    uint32     `json:"ram_free"`
	// Apps: one per installed app, by name.
	Apps []AppMetrics `json:"apps"`
}

// AppMetrics is what a device's runtime measured of one app, counted from
// the install of its generation on the device's current boot (the protocol's
// app metrics, docs/protocol.md).
type AppMetrics struct {
	App        string `json:"app"`
	Generation uint64 `json:"generation"` // of the deploy that installed it
	Calls      uint64 `json:"calls"`      // init and tick calls
	// Fuel those calls used; 0 from devices that do not meter fuel (the Go agent).
	Fuel   uint64 `json:"fuel"`
	CallUS uint64 `json:"call_us"` // microseconds spent in them
	// Traps counts the times the runtime stopped the app: a trap, its fuel
	// used up, its memory limit reached.
	Traps         uint64 `json:"traps"`
	Memory        uint32 `json:"memory"`      // bytes of linear memory now (0 when not running)
	MemoryPeak    uint32 `json:"memory_peak"` // the most it had
	Starts        uint64 `json:"starts"`      // instantiations
	InstantiateUS uint32 `json:"instantiate_us"`
	Published     uint64 `json:"published"` // values accepted by publish
}

type ExpiringCertificate struct {
	Device   string    `json:"device"`
	Serial   string    `json:"serial"`
	NotAfter time.Time `json:"not_after"`
}

type GatewaySpec struct {
	Addresses []string          `json:"addresses" openapi:"address"`
	Labels    map[string]string `json:"labels,omitempty" openapi:"labels"`
	Capacity  int               `json:"capacity" openapi:"min=0"`
}

type GatewayList struct {
	Gateways []fleet.Gateway `json:"gateways"`
	Continue string          `json:"continue,omitempty"` // the next page's ?continue=, when there is one
}

type DeviceSpec struct {
	Board   string            `json:"board" openapi:"required,board"`
	Labels  map[string]string `json:"labels,omitempty" openapi:"labels"`
	Gateway string            `json:"gateway,omitempty" openapi:"name?"` // empty: any gateway
}

type DeviceList struct {
	Devices  []fleet.Device `json:"devices"`
	Continue string         `json:"continue,omitempty"` // the next page's ?continue=, when there is one
}

type TokenRequest struct {
	TTLSeconds int `json:"ttl_seconds,omitempty" openapi:"min=0,max=2592000" doc:"Seconds the token is valid: 0 (the default, 24 h) to 2592000 (30 days)"` // at most MaxTokenTTLSeconds
}

type TokenResponse struct {
	ID        string    `json:"id"`
	Device    string    `json:"device"`
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expires_at"`
}

type TokenList struct {
	Tokens   []fleet.EnrollmentToken `json:"tokens"`
	Continue string                  `json:"continue,omitempty"` // the next page's ?continue=, when there is one
}

// APITokenRequest mints a named API token (POST /v1/api-tokens).
type APITokenRequest struct {
	Name        string `json:"name" openapi:"required,name" doc:"The token's name: who the audit log and the access log say acted"`
	Role        string `json:"role" openapi:"required,enum=reader|operator|admin" doc:"reader: read all but the audit log and API tokens; operator: also change devices, enrollment tokens, certificates, modules and applications; admin: also gateways, API tokens and the audit log"`
	Description string `json:"description,omitempty" openapi:"maxlen=256"`
	TTLSeconds  int    `json:"ttl_seconds,omitempty" openapi:"min=0,max=63072000" doc:"Seconds the token is valid: 0 (the default: no expiry) to 63072000 (2 years)"` // at most MaxAPITokenTTLSeconds
}

// APITokenUpdate changes a named token's role or description (PATCH
// /v1/api-tokens/{name}); an absent field is left as it is.
type APITokenUpdate struct {
	Role        *string `json:"role,omitempty" openapi:"enum=reader|operator|admin"`
	Description *string `json:"description,omitempty" openapi:"maxlen=256"`
}

// APITokenRotation gives a named token a new secret (POST
// /v1/api-tokens/{name}/rotate); the body is optional.
type APITokenRotation struct {
	GraceSeconds int `json:"grace_seconds,omitempty" openapi:"min=0,max=86400" doc:"Seconds the old secret is still accepted: 0 (the default: refused at once) to 86400 (a day)"` // at most MaxAPITokenGraceSeconds
	TTLSeconds   int `json:"ttl_seconds,omitempty" openapi:"min=0,max=63072000" doc:"A new validity from now, in seconds (0: the expiry stays)"`
}

// APIToken is a named API token as the API shows it: never its secret or
// the secret's hash.
type APIToken struct {
	Name        string    `json:"name"`
	Role        string    `json:"role" enum:"reader,operator,admin"`
	Description string    `json:"description,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
	ExpiresAt   time.Time `json:"expires_at,omitzero"` // absent: no expiry
	RotatedAt   time.Time `json:"rotated_at,omitzero"`
	// PreviousValidUntil: after a rotation with a grace period, the old
	// secret is accepted until then.
	PreviousValidUntil time.Time `json:"previous_valid_until,omitzero"`
}

// APITokenView is t without its hashes.
func APITokenView(t fleet.APIToken) APIToken {
	return APIToken{Name: t.Name, Role: t.Role, Description: t.Description, CreatedAt: t.CreatedAt, ExpiresAt: t.ExpiresAt,
		RotatedAt: t.RotatedAt, PreviousValidUntil: t.PreviousUntil}
}

// APITokenSecret answers a mint or a rotation: the secret, shown once.
type APITokenSecret struct {
	Token    string   `json:"token" doc:"The bearer token (wba_NAME.SECRET); the gateway keeps only its sha256"`
	APIToken APIToken `json:"api_token"`
}

type APITokenList struct {
	APITokens []APIToken `json:"api_tokens"`
	Continue  string     `json:"continue,omitempty"` // the next page's ?continue=, when there is one
}

type RevokeRequest struct {
	Reason string `json:"reason,omitempty" openapi:"maxlen=256"`
}

type CertificateRequest struct {
	CSRPEM     string `json:"csr_pem" openapi:"required" doc:"A PEM CERTIFICATE REQUEST: a P-256 key, the device's name as its common name"`
	Device     string `json:"device" openapi:"required,name"`
	TTLSeconds int    `json:"ttl_seconds,omitempty" openapi:"min=0,max=315360000" doc:"Seconds the certificate is valid: 0 (the gateway's --cert-ttl) to 315360000 (10 years; the CA may allow less)"` // at most MaxCertTTLSeconds
}

type CertificateResponse struct {
	Serial    string    `json:"serial"`
	NotBefore time.Time `json:"not_before"`
	NotAfter  time.Time `json:"not_after"`
	ChainPEM  string    `json:"chain_pem"` // leaf first
}

// CertificateList is the certificate ledger: every device certificate the
// CA signed (enrollment, renewal, POST /v1/certificates) with its state.
type CertificateList struct {
	Certificates []fleet.Certificate `json:"certificates"`
	Continue     string              `json:"continue,omitempty"` // the next page's ?continue=, when there is one
}

type ModuleResponse struct {
	SHA256 string `json:"sha256"`
	Size   int    `json:"size"`
}

// ModuleEntry is a stored module and what still needs it.
type ModuleEntry struct {
	SHA256 string   `json:"sha256"`
	Size   int      `json:"size"`
	UsedBy []string `json:"used_by"` // applications (current or stable release), deployments; empty: deletable
}

type ModuleList struct {
	Modules  []ModuleEntry `json:"modules"`
	Continue string        `json:"continue,omitempty"` // the next page's ?continue=, when there is one
}

// CheckRequest asks whether a module can run everywhere an application with
// this selector and these limits would land: the selector's boards and the
// boards of the devices it selects now. The module is given by its sha256
// (uploaded before) or inline; nothing is stored.
type CheckRequest struct {
	SHA256   string         `json:"sha256,omitempty" openapi:"sha256?"`
	Module   []byte         `json:"module,omitempty"` // base64 in JSON
	Selector fleet.Selector `json:"selector"`
	Limits   fleet.Limits   `json:"limits"`
}

type CheckResponse struct {
	OK     bool     `json:"ok"`
	Boards []string `json:"boards"`
}

type ApplicationSpec struct {
	Version  string            `json:"version" openapi:"required,version"`
	SHA256   string            `json:"sha256" openapi:"required,sha256"`
	Config   map[string]string `json:"config,omitempty" openapi:"config"`
	Limits   fleet.Limits      `json:"limits"`
	Selector fleet.Selector    `json:"selector"`
	Rollout  fleet.Rollout     `json:"rollout"`
	Running  *bool             `json:"running,omitempty"` // default true
}

type ApplicationList struct {
	Applications []fleet.Application `json:"applications"`
	Continue     string              `json:"continue,omitempty"` // the next page's ?continue=, when there is one
}

// DeviceRollout is one device's state for an application.
type DeviceRollout struct {
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

type ApplicationStatus struct {
	Application string          `json:"application"`
	Version     string          `json:"version"`
	Generation  int64           `json:"generation"`
	Selected    int             `json:"selected"`
	Updated     int             `json:"updated"`
	InProgress  int             `json:"in_progress"`
	Failed      int             `json:"failed"`
	Converged   bool            `json:"converged"`
	Devices     []DeviceRollout `json:"devices"`
	// Rollout is the progressive rollout of the current version (phase
	// rolling_out, paused, rolled_back or completed, step, failures and
	// why); absent without rollout steps, or before the gateway starts it.
	Rollout *fleet.RolloutProgress `json:"rollout,omitempty"`
	// StableVersion is the last version whose rollout passed: where a
	// rollback takes the devices.
	StableVersion string `json:"stable_version,omitempty"`
}

type DeploymentList struct {
	Deployments []fleet.Deployment `json:"deployments"`
	Continue    string             `json:"continue,omitempty"` // the next page's ?continue=, when there is one
}

type OutputList struct {
	Output []fleet.OutputRecord `json:"output"`
}

type EventList struct {
	Events []fleet.Event `json:"events"`
}

// AuditList is a page of the audit log, oldest first, and where the log
// starts: the store keeps a bounded history, so entries before FirstSeq
// were pruned (after being exported to the gateway's audit file and log).
// A client that follows the log with ?after= sees a gap when FirstSeq is
// past the entry after its last.
type AuditList struct {
	Audit    []fleet.AuditRecord `json:"audit"`
	FirstSeq uint64              `json:"first_seq"` // the oldest entry kept; 0 when none is
	LastSeq  uint64              `json:"last_seq"`  // the newest entry recorded; 0 before the first
	Pruned   uint64              `json:"pruned"`    // entries recorded and no longer kept
}

// ErrorResponse is every error the API answers: RFC 9457 problem details
// (application/problem+json) with a stable machine-readable Code.
type ErrorResponse struct {
	Type   string `json:"type"`   // ProblemType + Code
	Title  string `json:"title"`  // the status's text
	Status int    `json:"status"` // the HTTP status
	Code   string `json:"code" enum:"invalid,unauthenticated,forbidden,not_found,method_not_allowed,conflict,precondition_failed,too_large,unsupported_media_type,unprocessable,module_rejected,too_many_requests,internal,error"`
	Detail string `json:"detail"`          // what went wrong, in words
	Error  string `json:"error"`           // Detail again, for clients of the first API
	Board  string `json:"board,omitempty"` // module checks: the board that cannot run the module
}

// Bounds on TTLs a request may ask for.
const (
	MaxTokenTTLSeconds = 30 * 24 * 3600       // enrollment tokens: 30 days
	MaxCertTTLSeconds  = 10 * 365 * 24 * 3600 // certificates: 10 years (the CA may allow less)
	// Named API tokens: at most 2 years, and a rotation's grace period a day.
	MaxAPITokenTTLSeconds   = 2 * 365 * 24 * 3600
	MaxAPITokenGraceSeconds = 24 * 3600
)

// ProblemType prefixes an error's Code in its `type`.
const ProblemType = "https://wasmbed.dev/problems/"

// Error codes (ErrorResponse.Code): one per kind of failure, stable across
// releases; CodeFor gives a status's.
const (
	CodeInvalid          = "invalid"                // 400: the request is malformed or a value is out of bounds
	CodeUnauthenticated  = "unauthenticated"        // 401: no or an unknown bearer token
	CodeForbidden        = "forbidden"              // 403: the token's role does not allow it
	CodeNotFound         = "not_found"              // 404
	CodeMethodNotAllowed = "method_not_allowed"     // 405 (Allow lists the methods)
	CodeConflict         = "conflict"               // 409: exists already, or the state does not allow it
	CodePrecondition     = "precondition_failed"    // 412: If-Match does not match the object's ETag
	CodeTooLarge         = "too_large"              // 413: the body is over its limit
	CodeUnsupportedMedia = "unsupported_media_type" // 415: wrong Content-Type for the body
	// CodeUnprocessable: 422, the request matches the OpenAPI document's
	// schema but breaks a rule the schema cannot state (label and config
	// keys, a CSR's contents, a rollout's combinations, a module that is not
	// stored); a request that does not match the schema is 400 invalid.
	CodeUnprocessable   = "unprocessable"
	CodeModuleRejected  = "module_rejected"   // 422: the module is not valid WebAssembly, or cannot run where it would land
	CodeTooManyRequests = "too_many_requests" // 429: the API is at its limit of requests in flight (Retry-After)
	CodeInternal        = "internal"          // 500: the gateway's log has the details
)

// CodeFor is the code of an error answered with status.
func CodeFor(status int) string {
	switch status {
	case 400:
		return CodeInvalid
	case 401:
		return CodeUnauthenticated
	case 403:
		return CodeForbidden
	case 404:
		return CodeNotFound
	case 405:
		return CodeMethodNotAllowed
	case 409:
		return CodeConflict
	case 412:
		return CodePrecondition
	case 413:
		return CodeTooLarge
	case 415:
		return CodeUnsupportedMedia
	case 422:
		return CodeModuleRejected
	case 429:
		return CodeTooManyRequests
	case 500:
		return CodeInternal
	}
	return "error"
}
