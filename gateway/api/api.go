// Package api is the gateway's management API: HTTPS, JSON, versioned under
// /v1, bearer tokens with three roles (reader, operator, admin: the
// gateway's own admin and reader tokens, and named tokens minted through
// /v1/api-tokens), an audit log of every
// change, a server-sent-events watch, /healthz and Prometheus /metrics.
// docs/gateway.md and the OpenAPI document (docs/openapi.json, served at
// /v1/openapi.json) describe it.
package api

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/wasmbed/wasmbed/gateway/apiv1"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/trace"

	"github.com/wasmbed/wasmbed/fleet"
	"github.com/wasmbed/wasmbed/gateway"
	"github.com/wasmbed/wasmbed/protocol"
	"github.com/wasmbed/wasmbed/tracing"
)

// Roles a token can have (fleet.Roles says what each may do).
const (
	RoleAdmin    = fleet.RoleAdmin
	RoleOperator = fleet.RoleOperator
	RoleReader   = fleet.RoleReader
)

// Token is one of the gateway's own bearer tokens (named tokens are in the
// store).
type Token struct {
	Name   string // shown in the audit log
	Role   string
	Secret string
}

// ModuleChecker validates a module for a board before any rollout; the
// error says why it cannot run there.
type ModuleChecker func(ctx context.Context, wasm []byte, board string, lim fleet.Limits) error

// Limits on request bodies.
const (
	maxJSONBody   = 1 << 20
	MaxModuleSize = 4 << 20
)

// Server serves the management API.
type Server struct {
	store   fleet.Store
	gw      *gateway.Gateway
	check   ModuleChecker
	boards  func() []string
	log     *slog.Logger
	tokens  []hashedToken
	mux     *http.ServeMux
	docs    []routeDoc
	started time.Time
	authLog *gateway.LogLimiter // failed authentications, rate-limited
	http    *httpMetrics        // nil without a gateway (the OpenAPI generator)
	// inflight bounds the requests worked on at once (inflight.go).
	inflight *inflight
	// verdicts remembers module checks by module, board and limits
	// (checkCached).
	verdictsMu sync.Mutex
	verdicts   map[string]error
	// openapiJSON is the OpenAPI document (openapi.go); inputs the schemas
	// in it of the routes' path parameters and JSON bodies, by route
	// pattern: a request is checked against them before its handler runs.
	openapiJSON []byte
	inputs      map[string]routeInput
	idempotency idempotency // answers to minting requests, by Idempotency-Key
	// literal are the paths of the routes without wildcards
	// (/v1/modules/check): no wildcard route serves them.
	literal map[string]bool
	// auditKick tells the audit export that entries were recorded
	// (ExportAudit); nil without one.
	auditKick func()
	// backup writes a backup (ServeBackup); nil in Kubernetes mode.
	backup func(w io.Writer) error
	// tracer makes the requests' server spans: the gateway's tracer
	// provider (the global one without a gateway).
	tracer trace.Tracer
}

// mints are the routes that mint a secret or a certificate: they honour an
// Idempotency-Key (idempotency.go).
var mints = map[string]bool{
	"POST /v1/devices/{name}/tokens":    true,
	"POST /v1/certificates":             true,
	"POST /v1/api-tokens":               true,
	"POST /v1/api-tokens/{name}/rotate": true,
}

type hashedToken struct {
	name, role string
	sum        [32]byte
}

// New builds the API over store and gateway. boards lists the board names
// the checker knows.
func New(store fleet.Store, gw *gateway.Gateway, check ModuleChecker, boards func() []string, tokens []Token, log *slog.Logger) *Server {
	if boards == nil {
		boards = func() []string { return nil }
	}
	s := &Server{store: store, gw: gw, check: check, boards: boards, log: log.With("component", "api"),
		mux: http.NewServeMux(), started: time.Now(), inflight: newInflight(0, DefaultInFlightWait)}
	s.authLog = gateway.NewLogLimiter(s.log, authLogEvery)
	var tp trace.TracerProvider
	if gw != nil {
		s.http = newHTTPMetrics(gw.Metrics.Registry)
		tp = gw.TracerProvider()
	}
	s.tracer = tracing.Provider(tp).Tracer("github.com/wasmbed/wasmbed/gateway/api")
	for _, t := range tokens {
		s.tokens = append(s.tokens, hashedToken{t.Name, t.Role, sha256.Sum256([]byte(t.Secret))})
	}
	s.routes()
	s.openapiJSON, s.inputs = s.buildOpenAPI()
	s.literal = map[string]bool{}
	for _, d := range s.docs {
		if _, path, _ := strings.Cut(d.pattern, " "); !strings.Contains(path, "{") {
			s.literal[path] = true
		}
	}
	return s
}

// ServeHTTP serves the routes; a path or method no route has gets a problem
// (404 or 405 with Allow) like every other error.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// A path some route has literally is that route's only: DELETE
	// /v1/modules/check is not a module's deletion but a method the check
	// does not have (405).
	if _, pattern := s.mux.Handler(r); pattern != "" && (!strings.Contains(pattern, "{") || !s.literal[r.URL.Path]) {
		s.serveLogged(w, r, pattern, s.mux.ServeHTTP)
		return
	}
	s.serveLogged(w, r, "unrouted", s.unrouted)
}

type handler func(w http.ResponseWriter, r *http.Request, who *hashedToken) error

// route registers pattern for role (and the roles above it), with
// what the OpenAPI document says of it: a summary, the request body (a Go
// value whose type is the JSON schema, []byte for a binary body, nil for
// none) and the success response (likewise).
func (s *Server) route(pattern, role, summary string, req, resp any, h handler) {
	s.docs = append(s.docs, routeDoc{pattern: pattern, role: role, summary: summary, req: req, resp: resp, op: operationID(h)})
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		who := s.authenticate(r)
		if who != nil {
			noteToken(r, who.name)
		}
		if who == nil {
			reason := "invalid"
			if r.Header.Get("Authorization") == "" {
				reason = "missing"
			}
			s.authFailed(r, reason)
			w.Header().Set("WWW-Authenticate", `Bearer realm="wasmbed"`)
			writeError(w, http.StatusUnauthorized, "missing or invalid bearer token")
			return
		}
		if !fleet.RoleAllows(who.role, role) {
			s.authFailed(r, "forbidden")
			writeError(w, http.StatusForbidden, fmt.Sprintf("token %s has role %s; this needs %s", who.name, who.role, role))
			return
		}
		if err := bodyType(r, req); err != nil {
			s.fail(w, r, err)
			return
		}
		if err := s.checkInput(r, pattern); err != nil {
			s.fail(w, r, err)
			return
		}
		if !streams[pattern] {
			if !s.inflight.acquire(r.Context()) {
				s.tooBusy(w)
				return
			}
			defer s.inflight.release()
		}
		var err error
		if mints[pattern] {
			err = s.idempotency.serve(w, r, who, func(w http.ResponseWriter) error { return h(w, r, who) })
		} else {
			err = h(w, r, who)
		}
		if err != nil {
			s.fail(w, r, err)
		} else if info, ok := r.Context().Value(requestInfoKey{}).(*requestInfo); ok {
			if err := s.audited(r.Context(), info); err != nil {
				// The change is made and answered: the entry it lacks
				// is the log's loudest line.
				s.log.Error("audit entry not recorded", "id", info.id, "err", err)
			}
		}
	})
}

// authenticate finds the request's token: one of the gateway's own, or a
// named one (wba_NAME.SECRET) the store holds, current and not expired.
func (s *Server) authenticate(r *http.Request) *hashedToken {
	secret, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || secret == "" {
		return nil
	}
	sum := sha256.Sum256([]byte(secret))
	for i := range s.tokens {
		if subtle.ConstantTimeCompare(sum[:], s.tokens[i].sum[:]) == 1 {
			return &s.tokens[i]
		}
	}
	name := fleet.APITokenName(secret)
	ts, ok := s.store.(fleet.APITokenStore)
	if name == "" || !ok {
		return nil
	}
	t, err := ts.APITokens().Get(r.Context(), name)
	if err != nil {
		if !errors.Is(err, fleet.ErrNotFound) {
			s.log.Error("API token lookup", "token", name, "err", err)
		}
		return nil
	}
	if !t.Accepts(secret, time.Now()) {
		return nil
	}
	return &hashedToken{name: t.Name, role: t.Role}
}

// audit returns the request's context carrying the audit entry of its
// change, by who, for the write of kind/key (key "": the first object of
// kind written, one whose key the handler cannot know): the store records
// the entry with that write, in the same transaction, naming the fields it
// changed. Give it only to the write that is the action; a handler that
// makes several writes gives the others r.Context().
func (s *Server) audit(r *http.Request, who *hashedToken, action, detail, kind, key string) context.Context {
	info, _ := r.Context().Value(requestInfoKey{}).(*requestInfo)
	rec := fleet.AuditRecord{Actor: who.name, Source: sourceHost(r.RemoteAddr), Action: action, Detail: detail}
	if info != nil {
		rec.RequestID = info.id
	}
	ctx, p := fleet.WithAudit(r.Context(), rec, kind, key)
	if info != nil {
		info.audits = append(info.audits, auditAttempt{p, rec, kind, key})
	}
	return ctx
}

// auditAttempt is an audit entry a handler made ready for a write.
type auditAttempt struct {
	p         *fleet.PendingAudit
	rec       fleet.AuditRecord
	kind, key string
}

// audited runs once a handler succeeded: the store recorded its audit
// entries with their writes, and the export follows. An action that made
// no write (revoking what was revoked already: nothing to be atomic with)
// has its last entry recorded on its own, so that no change through the
// API goes unaudited.
func (s *Server) audited(ctx context.Context, info *requestInfo) error {
	if len(info.audits) == 0 {
		return nil
	}
	recorded := false
	for _, a := range info.audits {
		_, ok := a.p.Record()
		recorded = recorded || ok
	}
	if !recorded {
		a := info.audits[len(info.audits)-1]
		a.rec.Object = a.kind + "/" + a.key
		if _, err := s.store.AppendAudit(context.WithoutCancel(ctx), a.rec); err != nil {
			return fmt.Errorf("audit %s of %s: %w", a.rec.Action, a.rec.Object, err)
		}
	}
	if s.auditKick != nil {
		s.auditKick()
	}
	return nil
}

// sourceHost is the host of a client's address (the port says nothing of
// who it was).
func sourceHost(addr string) string {
	if host, _, err := net.SplitHostPort(addr); err == nil {
		return host
	}
	return addr
}

func (s *Server) routes() {
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"status": "ok", "sessions": s.gw.Sessions(),
			"uptime_s": int(time.Since(s.started).Seconds())})
	})
	s.mux.HandleFunc("GET /v1/openapi.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(s.OpenAPI())
	})
	s.route("GET /metrics", RoleReader, "Prometheus metrics (text exposition format)", nil, []byte(nil), func(w http.ResponseWriter, r *http.Request, _ *hashedToken) error {
		promhttp.HandlerFor(s.gw.Metrics.Registry, promhttp.HandlerOpts{}).ServeHTTP(w, r)
		return nil
	})
	s.route("GET /v1/whoami", RoleReader, "The request's token: its name and role", nil, apiv1.WhoAmI{}, s.whoami)
	s.route("GET /v1/summary", RoleReader, "The fleet at a glance: devices by phase, board and gateway, and the certificates expiring within ?within_hours= (default 168)", nil, apiv1.Summary{}, s.summary)
	s.route("GET /v1/ca", RoleReader, "The CA root certificate devices and clients trust", nil, apiv1.CAResponse{}, s.getCA)

	s.route("GET /v1/gateways", RoleReader, "List gateways by name; page with ?limit= (at most 1000, the default) and ?continue=", nil, apiv1.GatewayList{}, s.listGateways)
	s.route("GET /v1/gateways/{name}", RoleReader, "Get a gateway", nil, fleet.Gateway{}, s.getGateway)
	s.route("PUT /v1/gateways/{name}", RoleAdmin, "Create (201) or replace (200) a gateway registration", apiv1.GatewaySpec{}, fleet.Gateway{}, s.putGateway)
	s.route("DELETE /v1/gateways/{name}", RoleAdmin, "Delete a gateway registration", nil, nil, s.deleteGateway)

	s.route("GET /v1/devices", RoleReader, "List devices by name; filter with ?prefix= (of the name), ?board=, ?phase=, ?gateway=, ?label=key=value (repeatable); page with ?limit= (at most 1000, the default) and ?continue= (the previous page's continue)", nil, apiv1.DeviceList{}, s.listDevices)
	s.route("GET /v1/devices/{name}", RoleReader, "Get a device and its observed status", nil, fleet.Device{}, s.getDevice)
	s.route("GET /v1/devices/{name}/metrics", RoleReader, "What the device measured of each of its apps (calls, fuel, time, traps, memory, starts, values published) in its latest heartbeat to this gateway; kept in memory only; 404 when another gateway holds the device", nil, apiv1.DeviceMetrics{}, s.deviceMetrics)
	s.route("PUT /v1/devices/{name}", RoleOperator, "Register (201) or update (200) a device", apiv1.DeviceSpec{}, fleet.Device{}, s.putDevice)
	s.route("DELETE /v1/devices/{name}", RoleOperator, "Delete a device, revoking all its certificates and closing its session; a device registered again under the name starts with none", nil, nil, s.deleteDevice)
	s.route("POST /v1/devices/{name}/tokens", RoleOperator, "Issue a one-time enrollment token for the device (the secret is returned once); the body is optional", optional{apiv1.TokenRequest{}}, apiv1.TokenResponse{}, s.createToken)
	s.route("POST /v1/devices/{name}/revoke", RoleOperator, "Revoke every certificate of the device, whichever path issued it: its session closes at once and reconnection is refused until it enrolls again; the body is optional", optional{apiv1.RevokeRequest{}}, fleet.Device{}, s.revokeDevice)
	s.route("DELETE /v1/devices/{name}/tokens", RoleOperator, "Delete every enrollment token issued for the device, used or not (deleting the device deletes them too)", nil, nil, s.deleteTokens)
	s.route("GET /v1/tokens", RoleReader, "List enrollment tokens (never their secrets); filter with ?device=; page with ?limit= (at most 1000, the default) and ?continue=", nil, apiv1.TokenList{}, s.listTokens)

	s.route("POST /v1/certificates", RoleOperator, "Sign a device CSR (PEM) with the CA; the private key never reaches the gateway. The certificate becomes the device's current one: the one before is superseded (refused, its session closed)", apiv1.CertificateRequest{}, apiv1.CertificateResponse{}, s.signCertificate)
	s.route("GET /v1/certificates", RoleReader, "The certificate ledger: every device certificate the CA signed (enrollment, renewal, this API) with its validity and state (current, pending, superseded, revoked); filter with ?device=, ?state=; page with ?limit= (at most 1000, the default) and ?continue=", nil, apiv1.CertificateList{}, s.listCertificates)
	s.route("GET /v1/certificates/{serial}", RoleReader, "One certificate of the ledger, by serial (lowercase hex)", nil, fleet.Certificate{}, s.getCertificate)
	s.route("POST /v1/certificates/{serial}/revoke", RoleOperator, "Revoke one certificate: refused from now on, a session holding it closes at once, and it is on the CA's CRL; the body is optional", optional{apiv1.RevokeRequest{}}, fleet.Certificate{}, s.revokeCertificate)
	s.route("GET /v1/backup", RoleAdmin, "A consistent backup of the gateway, taken while it serves: its store, its embedded CA (keys, certificates, database) and its admin and reader tokens, as a gzipped tar for `wasmbed-gateway restore`; it holds the CA's keys and their password: keep it as the data directory is kept. 405 in Kubernetes mode", nil, backupArchive(nil), s.getBackup)
	s.route("GET /v1/crl", RoleReader, "The CA's certificate revocation list (DER, application/pkix-crl), signed by the CA: every revoked or superseded device certificate not yet expired", nil, derCRL(nil), s.getCRL)

	s.route("POST /v1/modules", RoleOperator, "Upload a WebAssembly module (an application/wasm or application/octet-stream body, at most 4 MiB); it is decoded and validated, then stored under its sha256", []byte(nil), apiv1.ModuleResponse{}, s.uploadModule)
	s.route("GET /v1/modules", RoleReader, "List stored modules by sha256 with what still needs each (used_by: applications, current or stable release, and deployments); page with ?limit= (at most 1000, the default) and ?continue=", nil, apiv1.ModuleList{}, s.listModules)
	s.route("DELETE /v1/modules/{sha256}", RoleOperator, "Delete a stored module that nothing needs (409 names what does); embedded store only", nil, nil, s.deleteModule)
	s.route("POST /v1/modules/check", RoleReader, "Check, without storing anything, that a module can run on every board an application with this selector and limits would land on (422 names the board and the reason if not)", apiv1.CheckRequest{}, apiv1.CheckResponse{}, s.checkModule)

	s.route("GET /v1/applications", RoleReader, "List applications by name; page with ?limit= (at most 1000, the default) and ?continue=", nil, apiv1.ApplicationList{}, s.listApplications)
	s.route("GET /v1/applications/{name}", RoleReader, "Get an application", nil, fleet.Application{}, s.getApplication)
	s.route("PUT /v1/applications/{name}", RoleOperator, "Create (201) or update (200) an application; the module is checked against every board it can land on first (422 if it cannot run)", apiv1.ApplicationSpec{}, fleet.Application{}, s.putApplication)
	s.route("DELETE /v1/applications/{name}", RoleOperator, "Delete an application; devices remove it", nil, nil, s.deleteApplication)
	s.route("GET /v1/applications/{name}/status", RoleReader, "Rollout status: counts and per-device state", nil, apiv1.ApplicationStatus{}, s.applicationStatus)
	s.route("POST /v1/applications/{name}/rollout/{action}", RoleOperator, "Act on the application's progressive rollout: pause (admit no more devices), resume (a paused rollout goes on, its failures accepted; a rolled-back one starts again at its first step), abort (roll back the devices that took the version), promote (skip the current step's bake and pause, accepting its failures); 409 if the rollout's phase does not allow it", nil, fleet.Application{}, s.rolloutAction)
	s.route(outputStreamRoute, RoleReader, "Server-sent events: output, the application's log lines and published values as they arrive (?device= for one device's), the SSE id its place in the gateway's feed of the last 10,000 records; ?after=SEQ or the Last-Event-ID header resumes after SEQ (an event gap first if records were dropped since)", nil, []byte(nil), s.outputStream)
	s.route("GET /v1/applications/{name}/output", RoleReader, "Latest log lines and published values (?device=, ?limit=)", nil, apiv1.OutputList{}, s.applicationOutput)

	s.route("GET /v1/deployments", RoleReader, "Deployments (an application on a device, as last commanded and reported), filtered by ?app= and ?device=; removed applications stay listed until their devices confirm; page with ?limit= (at most 1000, the default) and ?continue=", nil, apiv1.DeploymentList{}, s.listDeployments)
	s.route("GET /v1/events", RoleReader, "Recorded events after ?after=SEQ, oldest first (?limit=), or the ?latest= N (at most 1000); ?object= keeps those of one object", nil, apiv1.EventList{}, s.listEvents)
	s.route("POST /v1/api-tokens", RoleAdmin, "Mint a named API token (the secret is returned once; the gateway keeps its sha256); embedded store only", apiv1.APITokenRequest{}, apiv1.APITokenSecret{}, s.createAPIToken)
	s.route("GET /v1/api-tokens", RoleAdmin, "List named API tokens (never their secrets); page with ?limit= (at most 1000, the default) and ?continue=", nil, apiv1.APITokenList{}, s.listAPITokens)
	s.route("GET /v1/api-tokens/{name}", RoleAdmin, "Get a named API token", nil, apiv1.APIToken{}, s.getAPIToken)
	s.route("PATCH /v1/api-tokens/{name}", RoleAdmin, "Change a named API token's role or description (absent fields stay); it takes effect at the token's next request", apiv1.APITokenUpdate{}, apiv1.APIToken{}, s.updateAPIToken)
	s.route("POST /v1/api-tokens/{name}/rotate", RoleAdmin, "Give a named API token a new secret (returned once); the old one is refused at once, or after grace_seconds; the body is optional", optional{apiv1.APITokenRotation{}}, apiv1.APITokenSecret{}, s.rotateAPIToken)
	s.route("DELETE /v1/api-tokens/{name}", RoleAdmin, "Revoke a named API token: refused from its next request on, and its open watch streams end", nil, nil, s.deleteAPIToken)
	s.route("GET /v1/audit", RoleAdmin, "The audit log: the changes made through the API, each with its token, source, request id and changed fields, oldest first: those after ?after=SEQ (to follow it), or without it the latest; ?limit= (at most 1000, 100 by default). first_seq and pruned say what the bounded log no longer holds (exported to the gateway's audit file first)", nil, apiv1.AuditList{}, s.listAudit)
	s.route(watchRoute, RoleReader, "Server-sent events: change (an object was written), event (the gateway recorded one; its sequence number is the SSE id) and, for admins, audit (an entry of the audit log, from when the stream opened). ?after=SEQ or the Last-Event-ID header replays the events after SEQ first; changes and audit entries are not replayed", nil, []byte(nil), s.watch)
}

func validName(what, name string) error {
	if err := protocol.ValidName(name); err != nil {
		return badRequest("%s: %v", what, err)
	}
	return nil
}

// queryInt reads a non-negative integer query parameter, def when it is
// absent. Given, it must be decimal digits (400 otherwise, an empty value
// too); a value past what an int holds is cut to math.MaxInt: the
// parameters are counts and sequence numbers the document leaves unbounded.
func queryInt(r *http.Request, key string, def int) (int, error) {
	vs, ok := r.URL.Query()[key]
	if !ok {
		return def, nil
	}
	return parseCount("query "+key, vs[0])
}

func parseCount(what, v string) (int, error) {
	if v == "" || strings.Trim(v, "0123456789") != "" {
		return 0, badRequest("%s %q: not a non-negative integer", what, v)
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return math.MaxInt, nil // digits only: too large
	}
	return n, nil
}

// queryLimit is the ?limit= of a list that is not paged: at most maxPage,
// def when absent or 0.
func queryLimit(r *http.Request, def int) (int, error) {
	n, err := queryInt(r, "limit", 0)
	if n == 0 {
		n = def
	}
	return min(n, maxPage), err
}

// queryEnum reads a query parameter that must be one of allowed when given
// ("" when absent).
func queryEnum(r *http.Request, key string, allowed ...string) (string, error) {
	vs, ok := r.URL.Query()[key]
	if !ok {
		return "", nil
	}
	if !slices.Contains(allowed, vs[0]) {
		return "", badRequest("query %s %q: want one of %s", key, vs[0], strings.Join(allowed, ", "))
	}
	return vs[0], nil
}
