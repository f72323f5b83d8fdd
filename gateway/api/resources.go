package api

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/wasmbed/wasmbed/gateway"
	"github.com/wasmbed/wasmbed/gateway/apiv1"

	"github.com/wasmbed/wasmbed/fleet"
	"github.com/wasmbed/wasmbed/fleet/admit"
	"github.com/wasmbed/wasmbed/module"
	"github.com/wasmbed/wasmbed/protocol"
)

func (s *Server) getCA(w http.ResponseWriter, r *http.Request, _ *hashedToken) error {
	root := s.gw.CARoot()
	return writeJSON(w, http.StatusOK, apiv1.CAResponse{RootPEM: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: root.Raw}))})
}

// ---- gateways

func (s *Server) listGateways(w http.ResponseWriter, r *http.Request, _ *hashedToken) error {
	gws, err := s.store.Gateways().List(r.Context())
	if err != nil {
		return err
	}
	gws, next, err := pageOf(r, gws, func(g *fleet.Gateway) string { return g.Name })
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, apiv1.GatewayList{Gateways: nonNil(gws), Continue: next})
}

func (s *Server) getGateway(w http.ResponseWriter, r *http.Request, _ *hashedToken) error {
	gw, err := s.store.Gateways().Get(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	w.Header().Set("ETag", etagOf(gw))
	return writeJSON(w, http.StatusOK, gw)
}

func (s *Server) putGateway(w http.ResponseWriter, r *http.Request, who *hashedToken) error {
	name := r.PathValue("name")
	var spec apiv1.GatewaySpec
	if err := errors.Join(validName("gateway name", name), readJSON(r, &spec)); err != nil {
		return err
	}
	if spec.Capacity < 0 {
		return badRequest("capacity: must not be negative")
	}
	if err := fleet.ValidateAddresses(spec.Addresses); err != nil {
		return badRequest("%v", err)
	}
	if err := admit.Labels(spec.Labels); err != nil {
		return err
	}
	now := time.Now().UTC()
	gw := fleet.Gateway{Name: name, Addresses: spec.Addresses, Labels: spec.Labels, Capacity: spec.Capacity, CreatedAt: now, UpdatedAt: now}
	return upsert(s, w, r, who, fleet.KindGateway, name, s.store.Gateways(), gw, func(old, v *fleet.Gateway) {
		v.CreatedAt = old.CreatedAt
	})
}

func (s *Server) deleteGateway(w http.ResponseWriter, r *http.Request, who *hashedToken) error {
	name := r.PathValue("name")
	if err := s.store.Gateways().Delete(s.audit(r, who, "delete", "", fleet.KindGateway, name), name); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// upsert creates key (201) or replaces it (200), keeping what keep copies
// from the stored object.
func upsert[T any](s *Server, w http.ResponseWriter, r *http.Request, who *hashedToken, kind, key string,
	c fleet.Collection[T], v T, keep func(old, v *T)) error {
	ifMatch := r.Header.Get("If-Match")
	// An update is one atomic read-modify-write (keep sees what it replaces);
	// a create that loses a race with another becomes an update of it.
	for range 3 {
		updated, err := c.Update(s.audit(r, who, "update", "", kind, key), key, func(cur *T) error {
			if ifMatch != "" && !etagMatches(ifMatch, etagOf(*cur)) {
				return &httpError{status: http.StatusPreconditionFailed,
					msg: fmt.Sprintf("%s %s: If-Match %s, but it is %s now", kind, key, ifMatch, etagOf(*cur))}
			}
			old, nv := *cur, v
			keep(&old, &nv)
			*cur = nv
			return nil
		})
		switch {
		case err == nil:
			w.Header().Set("ETag", etagOf(updated))
			return writeJSON(w, http.StatusOK, updated)
		case !errors.Is(err, fleet.ErrNotFound):
			return err
		case ifMatch != "" && ifMatch != "*":
			return &httpError{status: http.StatusPreconditionFailed, msg: fmt.Sprintf("%s %s: If-Match %s, but it does not exist", kind, key, ifMatch)}
		}
		err = c.Create(s.audit(r, who, "create", "", kind, key), key, v)
		if errors.Is(err, fleet.ErrExists) {
			continue
		}
		if err != nil {
			return err
		}
		w.Header().Set("ETag", etagOf(v))
		return writeJSON(w, http.StatusCreated, v)
	}
	return &httpError{status: http.StatusConflict, msg: fmt.Sprintf("%s %s: created and deleted concurrently; try again", kind, key)}
}

// etagMatches reports whether an If-Match header (RFC 9110: * or a list of
// entity tags) matches the ETag of an existing object: strong comparison,
// so a weak tag (W/"...") never does.
func etagMatches(ifMatch, etag string) bool {
	for _, t := range strings.Split(ifMatch, ",") {
		if t = strings.TrimSpace(t); t == "*" || t == etag {
			return true
		}
	}
	return false
}

// etagOf is an object's entity tag: a strong validator of its stored form
// (spec and status), for If-Match.
func etagOf(v any) string {
	b, _ := json.Marshal(v)
	sum := sha256.Sum256(b)
	return `"` + hex.EncodeToString(sum[:12]) + `"`
}

// ---- devices

// serves reports whether this gateway holds d's sessions (every device,
// unless Config.Serves says otherwise): its in-memory liveness says
// something of those only.
func (s *Server) serves(d *fleet.Device) bool {
	f := s.gw.Config().Serves
	return f == nil || f(d) == nil
}

// live overlays the gateway's in-memory liveness on a stored device.
func (s *Server) live(d *fleet.Device) {
	if s.gw == nil || !s.serves(d) { // no gateway (tests of the store routes), or another gateway's device: as stored
		return
	}
	if online, last := s.gw.Online(d.Name); online {
		d.Status.Phase = fleet.PhaseOnline
		d.Status.LastSeen = last.UTC()
	} else if d.Status.Phase == fleet.PhaseOnline {
		d.Status.Phase = fleet.PhaseOffline
	}
}

func (s *Server) listDevices(w http.ResponseWriter, r *http.Request, _ *hashedToken) error {
	after, limit, err := pageParams(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	board, err := queryEnum(r, "board", s.boards()...)
	if err != nil {
		return err
	}
	phase, err := queryEnum(r, "phase", fleet.PhaseRegistered, fleet.PhaseOnline, fleet.PhaseOffline, fleet.PhaseRevoked)
	if err != nil {
		return err
	}
	want := map[string]string{}
	for _, l := range q["label"] {
		k, v, ok := strings.Cut(l, "=")
		if !ok {
			return badRequest("label filter %q: want key=value", l)
		}
		want[k] = v
	}
	sel := fleet.Selector{Labels: want}
	// The store walks the devices in name order and decodes only those whose
	// stored form has the wanted labels and board, until the page is full.
	query := fleet.Query[fleet.Device]{After: after, Limit: limit}
	for k, v := range want {
		query.Contains = append(query.Contains, fleet.JSONField(k, v))
	}
	if board != "" {
		sel.Boards = []string{board}
		query.Contains = append(query.Contains, fleet.JSONField("board", board))
	}
	prefix := q.Get("prefix")
	if q.Has("prefix") {
		if strings.Trim(prefix, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != "" || len(prefix) > protocol.MaxNameLen {
			return badRequest("query prefix %q: letters, digits, '.', '_' and '-', at most %d", prefix, protocol.MaxNameLen)
		}
		if prefix != "" { // the start of the stored "name":"..." (names need no escaping)
			query.Contains = append(query.Contains, []byte(`"name":"`+prefix))
		}
	}
	gw := q.Get("gateway")
	if q.Has("gateway") {
		if err := validName("query gateway", gw); err != nil {
			return err
		}
		query.Contains = append(query.Contains, fleet.JSONField("gateway", gw))
	}
	query.Match = func(d *fleet.Device) bool {
		s.live(d)
		return strings.HasPrefix(d.Name, prefix) && sel.Matches(d) && (phase == "" || d.Status.Phase == phase) && (gw == "" || d.Gateway == gw)
	}
	out, more, err := fleet.Page(r.Context(), s.store.Devices(), func(d *fleet.Device) string { return d.Name }, query)
	if err != nil {
		return err
	}
	next := ""
	if more {
		next = continueToken(out[len(out)-1].Name)
	}
	return writeJSON(w, http.StatusOK, apiv1.DeviceList{Devices: nonNil(out), Continue: next})
}

func (s *Server) getDevice(w http.ResponseWriter, r *http.Request, _ *hashedToken) error {
	d, err := s.store.Devices().Get(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	w.Header().Set("ETag", etagOf(d)) // of the stored device, before the live overlay
	s.live(&d)
	return writeJSON(w, http.StatusOK, d)
}

func (s *Server) putDevice(w http.ResponseWriter, r *http.Request, who *hashedToken) error {
	name := r.PathValue("name")
	var spec apiv1.DeviceSpec
	if err := errors.Join(validName("device name", name), readJSON(r, &spec)); err != nil {
		return err
	}
	now := time.Now().UTC()
	d := fleet.Device{Name: name, Board: spec.Board, Labels: spec.Labels, Gateway: spec.Gateway, CreatedAt: now, UpdatedAt: now,
		Status: fleet.DeviceStatus{Phase: fleet.PhaseRegistered}}
	if err := admit.Device(&d, s.boards()); err != nil {
		return err
	}
	// The applications the device would take must run on its board: the
	// check an application put runs for the devices it selects, run for a
	// device that comes (or changes board or labels) after them.
	apps, err := s.store.Applications().List(r.Context())
	if err != nil {
		return err
	}
	if err := admit.Landing(r.Context(), &d, apps, s.checkCached); err != nil {
		return err
	}
	return upsert(s, w, r, who, fleet.KindDevice, name, s.store.Devices(), d, func(old, v *fleet.Device) {
		v.CreatedAt, v.Status = old.CreatedAt, old.Status
	})
}

func (s *Server) deleteDevice(w http.ResponseWriter, r *http.Request, who *hashedToken) error {
	ctx := r.Context()
	name := r.PathValue("name")
	if _, err := s.store.Devices().Get(ctx, name); err != nil {
		return err
	}
	// A deleted device must not keep a valid certificate or session.
	if err := s.gw.Revoke(ctx, name, "device deleted"); err != nil && !errors.Is(err, gateway.ErrNoCertificate) {
		return err
	}
	deps, err := s.store.Deployments().List(ctx)
	if err != nil {
		return err
	}
	for _, dep := range deps {
		if dep.Device == name {
			s.store.Deployments().Delete(ctx, fleet.DeploymentKey(dep.App, name))
		}
	}
	// Nor an enrollment token: a device registered again under the name
	// would otherwise enroll with it.
	if _, err := s.deleteDeviceTokens(ctx, name, nil); err != nil {
		return err
	}
	if err := s.store.Devices().Delete(s.audit(r, who, "delete", "", fleet.KindDevice, name), name); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) createToken(w http.ResponseWriter, r *http.Request, who *hashedToken) error {
	name := r.PathValue("name")
	var req apiv1.TokenRequest
	if r.ContentLength != 0 {
		if err := readJSON(r, &req); err != nil {
			return err
		}
	}
	if req.TTLSeconds < 0 || req.TTLSeconds > apiv1.MaxTokenTTLSeconds {
		return badRequest("ttl_seconds: %d: want 0 (the default, 24 h) to %d (30 days)", req.TTLSeconds, apiv1.MaxTokenTTLSeconds)
	}
	// Audited with the token's creation (its ID is made there); the secret
	// is never in the entry, nor the hash.
	ctx := s.audit(r, who, "create", "for device "+name, fleet.KindToken, "")
	secret, rec, err := s.gw.CreateToken(ctx, name, time.Duration(req.TTLSeconds)*time.Second)
	if errors.Is(err, gateway.ErrTooManyTokens) {
		return &httpError{status: http.StatusConflict, code: apiv1.CodeConflict, msg: err.Error()}
	}
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, apiv1.TokenResponse{ID: rec.ID, Device: name, Token: secret, ExpiresAt: rec.ExpiresAt})
}

// deleteDeviceTokens deletes every enrollment token issued for device, used
// or not, and returns how many there were. With audit, each deletion is
// written under the context it gives for the token's ID (its audit entry).
func (s *Server) deleteDeviceTokens(ctx context.Context, device string, audit func(id string) context.Context) (int, error) {
	s.idempotency.forget("/v1/devices/" + device + "/tokens") // a retry mints a token that can enroll
	toks, err := fleet.DeviceTokens(ctx, s.store.Tokens(), device)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, t := range toks {
		dctx := ctx
		if audit != nil {
			dctx = audit(t.ID)
		}
		if err := s.store.Tokens().Delete(dctx, t.ID); err != nil && !errors.Is(err, fleet.ErrNotFound) {
			return n, err
		}
		n++
	}
	return n, nil
}

func (s *Server) deleteTokens(w http.ResponseWriter, r *http.Request, who *hashedToken) error {
	name := r.PathValue("name")
	// One entry per token, each with its deletion.
	if _, err := s.deleteDeviceTokens(r.Context(), name, func(id string) context.Context {
		return s.audit(r, who, "delete", "enrollment token of device "+name, fleet.KindToken, id)
	}); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) listTokens(w http.ResponseWriter, r *http.Request, _ *hashedToken) error {
	var toks []fleet.EnrollmentToken
	var err error
	if dev := r.URL.Query().Get("device"); dev != "" {
		toks, err = fleet.DeviceTokens(r.Context(), s.store.Tokens(), dev)
	} else {
		toks, err = s.store.Tokens().List(r.Context())
	}
	if err != nil {
		return err
	}
	for i := range toks {
		toks[i].Hash = "" // never leaves the gateway
	}
	toks, next, err := pageOf(r, toks, func(t *fleet.EnrollmentToken) string { return t.ID })
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, apiv1.TokenList{Tokens: nonNil(toks), Continue: next})
}

// readRevokeRequest reads a revocation's optional body; the reason says
// it came through the API when none is given.
func readRevokeRequest(r *http.Request) (apiv1.RevokeRequest, error) {
	var req apiv1.RevokeRequest
	if r.ContentLength != 0 {
		if err := readJSON(r, &req); err != nil {
			return req, err
		}
	}
	if req.Reason == "" {
		req.Reason = "revoked through the API"
	}
	return req, nil
}

func (s *Server) revokeDevice(w http.ResponseWriter, r *http.Request, who *hashedToken) error {
	name := r.PathValue("name")
	req, err := readRevokeRequest(r)
	if err != nil {
		return err
	}
	// Audited with the device's status write (phase revoked).
	if err := s.gw.Revoke(s.audit(r, who, "revoke", req.Reason, fleet.KindDevice, name), name, req.Reason); err != nil {
		if errors.Is(err, gateway.ErrNoCertificate) {
			return &httpError{status: http.StatusConflict, msg: err.Error()}
		}
		return err
	}
	d, _ := s.store.Devices().Get(r.Context(), name)
	return writeJSON(w, http.StatusOK, d)
}

// ---- certificates

func (s *Server) signCertificate(w http.ResponseWriter, r *http.Request, who *hashedToken) error {
	var req apiv1.CertificateRequest
	if err := readJSON(r, &req); err != nil {
		return err
	}
	if req.TTLSeconds < 0 || req.TTLSeconds > apiv1.MaxCertTTLSeconds {
		return badRequest("ttl_seconds: %d: want 0 (the gateway's default) to %d (10 years; the CA may allow less)", req.TTLSeconds, apiv1.MaxCertTTLSeconds)
	}
	block, _ := pem.Decode([]byte(req.CSRPEM))
	if block == nil || block.Type != "CERTIFICATE REQUEST" {
		return unprocessableError("csr_pem: no PEM CERTIFICATE REQUEST block")
	}
	if _, err := s.store.Devices().Get(r.Context(), req.Device); err != nil {
		return err
	}
	// Audited with the certificate's entry in the ledger (its serial is
	// made there).
	ctx := s.audit(r, who, "sign", "for device "+req.Device, fleet.KindCertificate, "")
	chain, err := s.gw.SignDeviceCSR(ctx, req.Device, block.Bytes, time.Duration(req.TTLSeconds)*time.Second)
	if err != nil {
		return unprocessableError("%v", err)
	}
	var pemChain strings.Builder
	for _, c := range chain {
		pem.Encode(&pemChain, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	return writeJSON(w, http.StatusCreated, apiv1.CertificateResponse{Serial: chain[0].SerialNumber.Text(16),
		NotBefore: chain[0].NotBefore, NotAfter: chain[0].NotAfter, ChainPEM: pemChain.String()})
}

func (s *Server) listCertificates(w http.ResponseWriter, r *http.Request, _ *hashedToken) error {
	q := r.URL.Query()
	st, err := queryEnum(r, "state", fleet.CertCurrent, fleet.CertPending, fleet.CertSuperseded, fleet.CertRevoked)
	if err != nil {
		return err
	}
	certs, err := s.gw.Certificates(r.Context(), q.Get("device"))
	if err != nil {
		return err
	}
	out := []fleet.Certificate{}
	for _, c := range certs {
		if st == "" || c.State == st {
			out = append(out, c)
		}
	}
	// By device, then oldest first: the key sorts as (device, issued_at, serial) do.
	out, next, err := pageOf(r, out, func(c *fleet.Certificate) string {
		return c.Device + "\x00" + c.IssuedAt.UTC().Format("2006-01-02T15:04:05.000000000Z") + "\x00" + c.Serial
	})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, apiv1.CertificateList{Certificates: nonNil(out), Continue: next})
}

func (s *Server) getCertificate(w http.ResponseWriter, r *http.Request, _ *hashedToken) error {
	c, err := s.store.Certificates().Get(r.Context(), r.PathValue("serial"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, c)
}

func (s *Server) revokeCertificate(w http.ResponseWriter, r *http.Request, who *hashedToken) error {
	serial := r.PathValue("serial")
	req, err := readRevokeRequest(r)
	if err != nil {
		return err
	}
	c, err := s.gw.RevokeCertificate(s.audit(r, who, "revoke", req.Reason, fleet.KindCertificate, serial), serial, req.Reason)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, c)
}

// derCRL is a DER certificate revocation list (for the OpenAPI document).
type derCRL []byte

func (s *Server) getCRL(w http.ResponseWriter, r *http.Request, _ *hashedToken) error {
	crl, err := s.gw.CRL(r.Context())
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/pkix-crl")
	w.Header().Set("Content-Disposition", `attachment; filename="wasmbed.crl"`)
	_, err = w.Write(crl)
	return err
}

// ---- modules and applications

func (s *Server) uploadModule(w http.ResponseWriter, r *http.Request, who *hashedToken) error {
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxModuleSize+1))
	if err != nil {
		return badRequest("module body: %v", err)
	}
	if len(body) > MaxModuleSize {
		return &httpError{status: http.StatusRequestEntityTooLarge, msg: fmt.Sprintf("module larger than %d bytes", MaxModuleSize)}
	}
	if len(body) < 8 || string(body[:4]) != "\x00asm" {
		return &httpError{status: http.StatusUnprocessableEntity, code: apiv1.CodeModuleRejected, msg: "not a WebAssembly binary module (no \\0asm header)"}
	}
	// Decoded and validated before it is stored: an application can then only
	// name modules that are WebAssembly (trailing data, bad sections refused).
	if err := module.Validate(r.Context(), body); err != nil {
		var ce *module.CheckError
		if !errors.As(err, &ce) {
			return err
		}
		return &httpError{status: http.StatusUnprocessableEntity, code: apiv1.CodeModuleRejected, msg: ce.Message}
	}
	sum := sha256.Sum256(body)
	sha := hex.EncodeToString(sum[:])
	if err := s.store.PutModule(s.audit(r, who, "upload", "", fleet.KindModule, sha), sha, body); err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, apiv1.ModuleResponse{SHA256: sha, Size: len(body)})
}

// moduleStore is the store's module listing and deletion, which the
// embedded store has; in Kubernetes mode modules are ConfigMaps.
func (s *Server) moduleStore() (fleet.ModuleStore, error) {
	ms, ok := s.store.(fleet.ModuleStore)
	if !ok {
		return nil, &httpError{status: http.StatusMethodNotAllowed,
			msg: "modules are ConfigMaps module-<sha256> in Kubernetes mode: list and delete them with kubectl"}
	}
	return ms, nil
}

func (s *Server) listModules(w http.ResponseWriter, r *http.Request, _ *hashedToken) error {
	ms, err := s.moduleStore()
	if err != nil {
		return err
	}
	mods, err := ms.Modules(r.Context())
	if err != nil {
		return err
	}
	users, err := fleet.ModuleUsersIn(r.Context(), s.store)
	if err != nil {
		return err
	}
	out := make([]apiv1.ModuleEntry, 0, len(mods))
	for _, m := range mods {
		out = append(out, apiv1.ModuleEntry{SHA256: m.SHA256, Size: m.Size, UsedBy: nonNil(users(m.SHA256))})
	}
	out, next, err := pageOf(r, out, func(m *apiv1.ModuleEntry) string { return m.SHA256 })
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, apiv1.ModuleList{Modules: out, Continue: next})
}

// deleteModule removes a module nothing needs any more: no application's
// spec or stable release, no deployment (whose device may need it sent
// again after a reset).
func (s *Server) deleteModule(w http.ResponseWriter, r *http.Request, who *hashedToken) error {
	ms, err := s.moduleStore()
	if err != nil {
		return err
	}
	sha := r.PathValue("sha256")
	users, err := fleet.ModuleUsersIn(r.Context(), s.store)
	if err != nil {
		return err
	}
	if u := users(sha); len(u) > 0 {
		return &httpError{status: http.StatusConflict, msg: "module " + sha + " is still needed by " + strings.Join(u, ", ")}
	}
	if err := ms.DeleteModule(s.audit(r, who, "delete", "", fleet.KindModule, sha), sha); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// checkModule tells whether a module can run where an application would
// land, without changing anything (the provider calls it at plan time).
func (s *Server) checkModule(w http.ResponseWriter, r *http.Request, _ *hashedToken) error {
	var req apiv1.CheckRequest
	if err := readJSON(r, &req); err != nil {
		return err
	}
	wasm := req.Module
	switch {
	case len(wasm) > 0 && req.SHA256 != "":
		return unprocessableError("give sha256 or module, not both")
	case req.SHA256 != "":
		var err error
		if wasm, err = s.store.GetModule(r.Context(), req.SHA256); err != nil {
			return err
		}
	case len(wasm) == 0:
		return unprocessableError("no module: give sha256 or module")
	default:
		// Inline: valid WebAssembly first, as an upload must be.
		if len(wasm) < 8 || string(wasm[:4]) != "\x00asm" {
			return &httpError{status: http.StatusUnprocessableEntity, code: apiv1.CodeModuleRejected, msg: "module: not a WebAssembly binary module (no \\0asm header)"}
		}
		if err := module.Validate(r.Context(), wasm); err != nil {
			var ce *module.CheckError
			if !errors.As(err, &ce) {
				return err
			}
			return &httpError{status: http.StatusUnprocessableEntity, code: apiv1.CodeModuleRejected, msg: "module: " + ce.Message}
		}
	}
	if err := admit.Labels(req.Selector.Labels); err != nil {
		return err
	}
	req.Limits.SetDefaults()
	devs, err := s.store.Devices().List(r.Context())
	if err != nil {
		return err
	}
	boards := admit.LandingBoards(req.Selector, devs)
	if err := admit.Module(r.Context(), wasm, boards, s.boards(), req.Limits, s.checker()); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, apiv1.CheckResponse{OK: true, Boards: nonNil(boards)})
}

// checker is the module check as fleet/admit runs it: the API's checker,
// whose failures to check (a canceled request aside) count as the verdict
// that the module cannot run.
func (s *Server) checker() admit.Checker {
	return func(ctx context.Context, wasm []byte, board string, lim fleet.Limits) error {
		err := s.check(ctx, wasm, board, lim)
		if err == nil || ctx.Err() != nil {
			return err
		}
		return admit.Verdict(err)
	}
}

// checkCached runs the module check of a stored module for a board and
// limits, remembering verdicts: they depend only on those (a fleet that
// registers 1,000 devices an application selects checks its module once
// per board, not 1,000 times).
func (s *Server) checkCached(ctx context.Context, sha, board string, lim fleet.Limits) error {
	key := fmt.Sprint(sha, "/", board, "/", lim.Fuel, "/", lim.Memory)
	s.verdictsMu.Lock()
	v, ok := s.verdicts[key]
	s.verdictsMu.Unlock()
	if ok {
		return v
	}
	wasm, err := s.store.GetModule(ctx, sha)
	if err != nil {
		return err
	}
	verdict := s.checker()(ctx, wasm, board, lim)
	if ctx.Err() != nil {
		return verdict // a canceled request's: not a verdict to keep
	}
	s.verdictsMu.Lock()
	if s.verdicts == nil || len(s.verdicts) >= 1024 {
		s.verdicts = map[string]error{}
	}
	s.verdicts[key] = verdict
	s.verdictsMu.Unlock()
	return verdict
}

func (s *Server) listApplications(w http.ResponseWriter, r *http.Request, _ *hashedToken) error {
	apps, err := s.store.Applications().List(r.Context())
	if err != nil {
		return err
	}
	apps, next, err := pageOf(r, apps, func(a *fleet.Application) string { return a.Name })
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, apiv1.ApplicationList{Applications: nonNil(apps), Continue: next})
}

func (s *Server) getApplication(w http.ResponseWriter, r *http.Request, _ *hashedToken) error {
	a, err := s.store.Applications().Get(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	w.Header().Set("ETag", etagOf(a))
	return writeJSON(w, http.StatusOK, a)
}

func (s *Server) putApplication(w http.ResponseWriter, r *http.Request, who *hashedToken) error {
	ctx := r.Context()
	name := r.PathValue("name")
	var spec apiv1.ApplicationSpec
	if err := errors.Join(validName("application name", name), readJSON(r, &spec)); err != nil {
		return err
	}
	// The rules of fleet/admit, which the Kubernetes webhook and the
	// provider's Kubernetes backend run too.
	cand := fleet.Application{Name: name, Version: spec.Version, SHA256: spec.SHA256, Config: spec.Config,
		Limits: spec.Limits, Selector: spec.Selector, Rollout: spec.Rollout}
	if err := admit.Application(&cand); err != nil {
		return err
	}
	spec.Limits, spec.Rollout = cand.Limits, cand.Rollout
	wasm, err := s.store.GetModule(ctx, spec.SHA256)
	if errors.Is(err, fleet.ErrNotFound) {
		return admit.NoModule(spec.SHA256, "with POST /v1/modules")
	} else if err != nil {
		return err
	}
	// Every board the application can land on must be able to run it.
	devs, err := s.store.Devices().List(ctx)
	if err != nil {
		return err
	}
	if err := admit.Module(ctx, wasm, admit.LandingBoards(spec.Selector, devs), s.boards(), spec.Limits, s.checker()); err != nil {
		return err
	}
	running := spec.Running == nil || *spec.Running
	now := time.Now().UTC()
	app := fleet.Application{Name: name, Version: spec.Version, SHA256: spec.SHA256, Size: len(wasm), Config: spec.Config,
		Limits: spec.Limits, Selector: spec.Selector, Rollout: spec.Rollout, Running: running, Generation: 1,
		CreatedAt: now, UpdatedAt: now}
	app.History = fleet.NextHistory(nil, &app, now)
	// A create is generation 1 (an update's is noted below).
	if _, err := s.store.Applications().Get(r.Context(), name); errors.Is(err, fleet.ErrNotFound) {
		s.gw.NoteApplicationWrite(r.Context(), name, app.Generation)
	}
	return upsert(s, w, r, who, fleet.KindApplication, name, s.store.Applications(), app, func(old, v *fleet.Application) {
		v.CreatedAt, v.Generation = old.CreatedAt, old.Generation
		// The rollout's status stays; a new spec remembers the last
		// one that passed, for a rollback.
		v.Stable, v.Progress = old.Stable, old.Progress
		if fleet.SpecHash(old) != fleet.SpecHash(v) {
			v.Stable = fleet.NextStable(old)
		}
		if !sameSpec(old, v) {
			v.Generation++
			// Before the write commits: the reconcile pass may act on
			// it at once, and its deploys continue this trace.
			s.gw.NoteApplicationWrite(r.Context(), name, v.Generation)
		} else {
			v.UpdatedAt = old.UpdatedAt
		}
		v.History = fleet.NextHistory(old, v, now)
	})
}

func sameSpec(a, b *fleet.Application) bool {
	return a.Version == b.Version && a.SHA256 == b.SHA256 && maps.Equal(a.Config, b.Config) && a.Limits == b.Limits &&
		reflect.DeepEqual(a.Selector, b.Selector) && a.Rollout.Equal(&b.Rollout) && a.Running == b.Running
}

func (s *Server) deleteApplication(w http.ResponseWriter, r *http.Request, who *hashedToken) error {
	name := r.PathValue("name")
	s.gw.NoteApplicationWrite(r.Context(), name, -1) // the devices' removals continue this trace
	if err := s.store.Applications().Delete(s.audit(r, who, "delete", "", fleet.KindApplication, name), name); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) applicationStatus(w http.ResponseWriter, r *http.Request, _ *hashedToken) error {
	ctx := r.Context()
	a, err := s.store.Applications().Get(ctx, r.PathValue("name"))
	if err != nil {
		return err
	}
	deps, err := s.store.Deployments().List(ctx)
	if err != nil {
		return err
	}
	devs, err := s.store.Devices().List(ctx)
	if err != nil {
		return err
	}
	online := func(d *fleet.Device) bool {
		if !s.serves(d) {
			return d.Status.Phase == fleet.PhaseOnline
		}
		on, _ := s.gw.Online(d.Name)
		return on
	}
	return writeJSON(w, http.StatusOK, apiv1.BuildApplicationStatus(&a, devs, deps, online, time.Now()))
}

func (s *Server) rolloutAction(w http.ResponseWriter, r *http.Request, who *hashedToken) error {
	name, action := r.PathValue("name"), r.PathValue("action")
	switch action {
	case fleet.ActionPause, fleet.ActionResume, fleet.ActionAbort, fleet.ActionPromote:
	default:
		return &httpError{status: http.StatusNotFound, msg: fmt.Sprintf("rollout action %q: want %s, %s, %s or %s", action,
			fleet.ActionPause, fleet.ActionResume, fleet.ActionAbort, fleet.ActionPromote)}
	}
	ctx := s.audit(r, who, "rollout."+action, "", fleet.KindApplication, name)
	a, err := s.gw.RolloutAction(ctx, name, action, who.name)
	if errors.Is(err, fleet.ErrRolloutState) {
		return &httpError{status: http.StatusConflict, msg: err.Error()}
	} else if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, a)
}

func (s *Server) applicationOutput(w http.ResponseWriter, r *http.Request, _ *hashedToken) error {
	limit, err := queryLimit(r, 100)
	if err != nil {
		return err
	}
	name := r.PathValue("name")
	if _, err := s.store.Applications().Get(r.Context(), name); err != nil {
		return err
	}
	recs, err := s.store.Output(r.Context(), name, r.URL.Query().Get("device"), limit)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, apiv1.OutputList{Output: nonNil(recs)})
}

func (s *Server) listDeployments(w http.ResponseWriter, r *http.Request, _ *hashedToken) error {
	deps, err := s.store.Deployments().List(r.Context())
	if err != nil {
		return err
	}
	q := r.URL.Query()
	deps, next, err := pageOf(r, apiv1.FilterDeployments(deps, q.Get("app"), q.Get("device")),
		func(d *fleet.Deployment) string { return fleet.DeploymentKey(d.App, d.Device) })
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, apiv1.DeploymentList{Deployments: nonNil(deps), Continue: next})
}

// ---- events and audit

func (s *Server) listEvents(w http.ResponseWriter, r *http.Request, _ *hashedToken) error {
	after, err := queryInt(r, "after", 0)
	if err != nil {
		return err
	}
	limit, err := queryLimit(r, 100)
	if err != nil {
		return err
	}
	var evs []fleet.Event
	if r.URL.Query().Has("latest") {
		n, err := queryInt(r, "latest", 0)
		if err != nil {
			return err
		}
		evs, err = s.store.LastEvents(r.Context(), min(max(n, 1), maxPage))
		if err != nil {
			return err
		}
	} else if evs, err = s.store.Events(r.Context(), uint64(after), limit); err != nil {
		return err
	}
	if obj := r.URL.Query().Get("object"); obj != "" {
		if utf8.RuneCountInString(obj) > maxEventObject {
			return badRequest("query object: at most %d characters", maxEventObject)
		}
		evs = slices.DeleteFunc(evs, func(e fleet.Event) bool { return e.Object != obj })
	}
	return writeJSON(w, http.StatusOK, apiv1.EventList{Events: nonNil(evs)})
}

// listAudit answers the entries after ?after=SEQ, oldest first, at most
// ?limit=; without ?after= the latest ones. An exporter follows the log by
// passing the last seq it got as ?after=; first_seq tells it whether
// entries were pruned before it got them.
func (s *Server) listAudit(w http.ResponseWriter, r *http.Request, _ *hashedToken) error {
	after, err := queryInt(r, "after", 0)
	if err != nil {
		return err
	}
	limit, err := queryLimit(r, 100)
	if err != nil {
		return err
	}
	if !r.URL.Query().Has("after") {
		// The latest: sequence numbers have no gaps.
		p, err := s.store.Audit(r.Context(), math.MaxUint64, 0)
		if err != nil {
			return err
		}
		after = int(p.LastSeq - min(p.LastSeq, uint64(limit)))
	}
	p, err := s.store.Audit(r.Context(), uint64(after), limit)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, apiv1.AuditList{Audit: nonNil(p.Records), FirstSeq: p.FirstSeq, LastSeq: p.LastSeq, Pruned: p.Pruned})
}

// maxPage is the most items a list answers in one page (a larger ?limit= is cut).
const maxPage = 1000

// pageOf orders items by key and cuts the page after ?continue= (a token
// from the previous page) of at most ?limit= items; without ?limit=, all
// of them from there (at most maxPage with a token). It returns the token
// of the next page, "" after the last.
func pageOf[T any](r *http.Request, items []T, key func(*T) string) ([]T, string, error) {
	after, limit, err := pageParams(r)
	if err != nil {
		return nil, "", err
	}
	slices.SortStableFunc(items, func(a, b T) int { return strings.Compare(key(&a), key(&b)) })
	if after != "" {
		i, _ := slices.BinarySearchFunc(items, after, func(v T, k string) int { return strings.Compare(key(&v), k) })
		for i < len(items) && key(&items[i]) <= after {
			i++
		}
		items = items[i:]
	}
	if len(items) <= limit {
		return items, "", nil
	}
	items = items[:limit]
	return items, continueToken(key(&items[len(items)-1])), nil
}

// pageParams reads a list's ?limit= (at most maxPage, which is also the
// default: a response is bounded) and ?continue= (the key after which the
// page starts).
func pageParams(r *http.Request) (after string, limit int, err error) {
	limit, err = queryInt(r, "limit", 0)
	if err != nil {
		return "", 0, err
	}
	if limit <= 0 || limit > maxPage {
		limit = maxPage
	}
	if c := r.URL.Query().Get("continue"); c != "" {
		a, err := base64.RawURLEncoding.DecodeString(c)
		if err != nil {
			return "", 0, badRequest("continue: %q is not a token this API gave", c)
		}
		after = string(a)
	}
	return after, limit, nil
}

// continueToken is the ?continue= of the page after key.
func continueToken(key string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(key))
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
