// Package ui is the dashboard the gateway serves at /ui/ on its API port:
// pages rendered on the server (html/template) from the management API's
// own answers, kept live by a server-sent-events stream.
//
// Why this shape: every read and every action is an in-process request to
// the management API with the logged-in token, so the dashboard has the
// API's roles, validation, audit and access log, and no rule of its own to
// drift. Rendering on the server with html/template escapes every string a
// device controls (names, labels, app output) by its context; htmx
// (server-driven fragments, no client-side templating) swaps the live parts
// when the stream says the fleet changed; uPlot draws published values.
// Both are vendored from tools/ui/package-lock.json (scripts/ui-assets.sh) and
// embedded: no CDN, and a Content-Security-Policy without inline script.
//
// Login exchanges an API token for a session: a random id in an HttpOnly,
// Secure, SameSite=Strict cookie; the token stays in the gateway's memory.
// Every POST carries the session's CSRF token (htmx sends it as a header
// from the body's hx-headers, forms as a field).
package ui

import (
	"bytes"
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/wasmbed/wasmbed/fleet"
	"github.com/wasmbed/wasmbed/gateway"
	"github.com/wasmbed/wasmbed/gateway/apiv1"
)

//go:embed assets templates
var files embed.FS

const (
	cookieName  = "wasmbed_session"
	sessionTTL  = 12 * time.Hour
	maxSessions = 10000
	// csp allows the dashboard's own files only: no inline script or
	// style, no other origin, no framing.
	csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
		"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)

// UI serves the dashboard.
type UI struct {
	api   http.Handler
	store fleet.Store
	log   *slog.Logger
	pages map[string]*template.Template
	// output follows the apps' output as it arrives (FollowOutput); nil:
	// device pages poll for it.
	output OutputFeed

	mu       sync.Mutex
	sessions map[string]*session
}

// OutputFeed is the gateway's feed of app output (gateway.Gateway's
// OutputSince): the records after seq that keep says to, the feed's last
// sequence number, and a channel closed when more arrive.
type OutputFeed func(seq uint64, limit int, keep func(*fleet.OutputRecord) bool) (recs []gateway.FedRecord, last uint64, gap bool, more <-chan struct{})

// FollowOutput makes a device page's live part refresh when the device's
// apps send output (through the page's stream), instead of every 2 s.
func (u *UI) FollowOutput(f OutputFeed) { u.output = f }

type session struct {
	id, csrf   string
	name, role string
	secret     string // the API token, for the in-process requests
	expires    time.Time
}

// New serves the dashboard over api (the management API's handler); store
// feeds the live stream.
func New(api http.Handler, store fleet.Store, log *slog.Logger) *UI {
	u := &UI{api: api, store: store, log: log.With("component", "ui"), pages: map[string]*template.Template{},
		sessions: map[string]*session{}}
	funcs := template.FuncMap{
		"ago":   ago,
		"until": until,
		// devicesURL is the devices page with a query: url.Values encodes
		// every value, so the URL is safe as is (html/template would
		// escape its '=' and '&' again).
		"devicesURL": func(v url.Values) template.URL { return template.URL("/ui/devices?" + v.Encode()) },
		"json":       func(v any) (string, error) { b, err := json.Marshal(v); return string(b), err },
		"list":       func(v ...string) []string { return v },
	}
	names, err := fs.Glob(files, "templates/*.html")
	if err != nil {
		panic(err)
	}
	for _, n := range names {
		if n == "templates/layout.html" {
			continue
		}
		name := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		u.pages[name] = template.Must(template.New(name).Funcs(funcs).ParseFS(files, "templates/layout.html", n))
	}
	return u
}

// ServeHTTP serves /ui/.
func (u *UI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", csp)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	if strings.HasPrefix(r.URL.Path, "/ui/assets/") {
		h.Set("Cache-Control", "no-cache")
		sub, _ := fs.Sub(files, "assets")
		http.StripPrefix("/ui/assets/", http.FileServerFS(sub)).ServeHTTP(w, r)
		return
	}
	h.Set("Cache-Control", "no-store")
	switch {
	case r.URL.Path == "/ui/login":
		u.login(w, r)
		return
	case r.URL.Path == "/ui" || r.URL.Path == "/ui/" && r.Method == http.MethodGet && u.sessionOf(r) == nil:
		http.Redirect(w, r, "/ui/login", http.StatusSeeOther)
		return
	}
	s := u.sessionOf(r)
	if s == nil {
		if r.Header.Get("HX-Request") != "" {
			w.Header().Set("HX-Redirect", "/ui/login")
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		http.Redirect(w, r, "/ui/login", http.StatusSeeOther)
		return
	}
	if r.Method == http.MethodPost && !u.csrfOK(r, s) {
		http.Error(w, "missing or wrong CSRF token: reload the page", http.StatusForbidden)
		return
	}
	u.route(w, r, s)
}

func (u *UI) route(w http.ResponseWriter, r *http.Request, s *session) {
	p := strings.Split(strings.Trim(strings.TrimPrefix(r.URL.Path, "/ui/"), "/"), "/")
	get, post := r.Method == http.MethodGet, r.Method == http.MethodPost
	switch {
	case get && p[0] == "":
		u.overview(w, r, s)
	case get && p[0] == "stream" && len(p) == 1:
		u.stream(w, r, s)
	case post && p[0] == "logout" && len(p) == 1:
		u.logout(w, r, s)
	case get && p[0] == "devices" && len(p) == 1:
		u.devices(w, r, s)
	case get && p[0] == "devices" && len(p) == 2:
		u.device(w, r, s, p[1])
	case post && p[0] == "devices" && len(p) == 3 && (p[2] == "revoke" || p[2] == "token"):
		u.deviceAction(w, r, s, p[1], p[2])
	case get && p[0] == "applications" && len(p) == 1:
		u.applications(w, r, s)
	case get && p[0] == "applications" && len(p) == 2:
		u.application(w, r, s, p[1])
	case post && p[0] == "applications" && len(p) == 3 && (p[2] == "start" || p[2] == "stop"):
		u.startStop(w, r, s, p[1], p[2] == "start")
	case post && p[0] == "applications" && len(p) == 4 && p[2] == "rollout":
		u.rolloutAction(w, r, s, p[1], p[3])
	case get && p[0] == "events" && len(p) == 1:
		u.events(w, r, s)
	default:
		http.NotFound(w, r)
	}
}

// ---- sessions

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func (u *UI) sessionOf(r *http.Request) *session {
	c, err := r.Cookie(cookieName)
	if err != nil {
		return nil
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	s := u.sessions[c.Value]
	if s == nil || time.Now().After(s.expires) {
		delete(u.sessions, c.Value)
		return nil
	}
	return s
}

func (u *UI) csrfOK(r *http.Request, s *session) bool {
	t := r.Header.Get("X-CSRF-Token")
	if t == "" {
		t = r.PostFormValue("csrf")
	}
	return t != "" && subtle.ConstantTimeCompare([]byte(t), []byte(s.csrf)) == 1
}

func (u *UI) login(w http.ResponseWriter, r *http.Request) {
	data := map[string]any{}
	if r.Method == http.MethodPost {
		token := strings.TrimSpace(r.PostFormValue("token"))
		var who apiv1.WhoAmI
		err := u.call(r, &session{secret: token}, http.MethodGet, "/v1/whoami", nil, &who)
		if err == nil {
			s := &session{id: randomHex(32), csrf: randomHex(32), name: who.Name, role: who.Role, secret: token,
				expires: time.Now().Add(sessionTTL)}
			u.mu.Lock()
			u.dropExpired()
			u.sessions[s.id] = s
			u.mu.Unlock()
			http.SetCookie(w, &http.Cookie{Name: cookieName, Value: s.id, Path: "/ui/", HttpOnly: true, Secure: true,
				SameSite: http.SameSiteStrictMode, MaxAge: int(sessionTTL / time.Second)})
			u.log.Info("dashboard login", "token", who.Name, "role", who.Role, "remote", r.RemoteAddr)
			http.Redirect(w, r, "/ui/", http.StatusSeeOther)
			return
		}
		data["Error"] = "That token was refused."
		w.WriteHeader(http.StatusUnauthorized)
	}
	u.page(w, r, "login", data)
}

// dropExpired forgets expired sessions, and the oldest when there are too
// many; u.mu is held.
func (u *UI) dropExpired() {
	now := time.Now()
	var oldest *session
	for id, s := range u.sessions {
		if now.After(s.expires) {
			delete(u.sessions, id)
		} else if oldest == nil || s.expires.Before(oldest.expires) {
			oldest = s
		}
	}
	if len(u.sessions) >= maxSessions && oldest != nil {
		delete(u.sessions, oldest.id)
	}
}

func (u *UI) logout(w http.ResponseWriter, r *http.Request, s *session) {
	u.mu.Lock()
	delete(u.sessions, s.id)
	u.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: "/ui/", HttpOnly: true, Secure: true,
		SameSite: http.SameSiteStrictMode, MaxAge: -1})
	http.Redirect(w, r, "/ui/login", http.StatusSeeOther)
}

// ---- the management API, in process

// call makes an API request with the session's token; a refusal is an
// *apiv1.Error (its message is the API's problem detail).
func (u *UI) call(r *http.Request, s *session, method, path string, in, out any) error {
	_, err := u.callWith(r, s, method, path, nil, in, out)
	return err
}

// callWith is call with request headers, answering the response's.
func (u *UI) callWith(r *http.Request, s *session, method, path string, hdr map[string]string, in, out any) (http.Header, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(r.Context(), method, path, body)
	if err != nil {
		return nil, err
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	req.RemoteAddr = r.RemoteAddr // the access log's source: the browser's
	req.Header.Set("Authorization", "Bearer "+s.secret)
	req.Header.Set("X-Request-ID", "ui-"+randomHex(6))
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	rec := &recorder{header: http.Header{}}
	u.api.ServeHTTP(rec, req)
	if rec.status >= 300 {
		var p apiv1.ErrorResponse
		json.Unmarshal(rec.body.Bytes(), &p)
		if p.Detail == "" {
			p.Detail = http.StatusText(rec.status)
		}
		return rec.header, &apiv1.Error{Status: rec.status, Code: p.Code, Message: p.Detail}
	}
	if out != nil {
		if err := json.Unmarshal(rec.body.Bytes(), out); err != nil {
			return rec.header, fmt.Errorf("%s %s: %w", method, path, err)
		}
	}
	return rec.header, nil
}

// recorder is the answer of an in-process API request.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (w *recorder) Header() http.Header { return w.header }
func (w *recorder) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}
func (w *recorder) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.body.Write(b)
}

// ---- rendering

// page renders a page: whole, or only its live part for htmx's refreshes.
func (u *UI) page(w http.ResponseWriter, r *http.Request, name string, data map[string]any) {
	t := u.pages[name]
	block := "layout"
	if r.Header.Get("HX-Request") != "" && r.Header.Get("HX-Target") == "live" {
		block = "live"
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, block, data); err != nil {
		u.log.Error("render", "page", name, "err", err)
		http.Error(w, "the page failed to render; the gateway's log says why", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Write(buf.Bytes())
}

// base is what every page of a session has.
func base(r *http.Request, s *session, title string) map[string]any {
	return map[string]any{"Title": title, "CSRF": s.csrf, "Who": s.name, "Role": s.role,
		"Operator": fleet.RoleAllows(s.role, fleet.RoleOperator), "Self": r.URL.RequestURI()}
}

// failed renders an API refusal where the page's data would be.
func (u *UI) failed(w http.ResponseWriter, r *http.Request, s *session, title string, err error) {
	var ae *apiv1.Error
	if errors.As(err, &ae) && ae.Status == http.StatusUnauthorized {
		u.mu.Lock()
		delete(u.sessions, s.id) // the token was revoked or expired
		u.mu.Unlock()
		http.Redirect(w, r, "/ui/login", http.StatusSeeOther)
		return
	}
	data := base(r, s, title)
	data["Error"] = err.Error()
	if errors.As(err, &ae) {
		w.WriteHeader(ae.Status)
	}
	u.page(w, r, "error", data)
}

func ago(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return time.Since(t).Round(time.Second).String() + " ago"
}

func until(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	d := time.Until(t).Round(time.Minute)
	if d < 0 {
		return "expired " + (-d).String() + " ago"
	}
	return "in " + d.String()
}
