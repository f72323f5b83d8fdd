package api

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/wasmbed/wasmbed/fleet"
	"github.com/wasmbed/wasmbed/gateway/apiv1"
)

// Errors are RFC 9457 problem details (application/problem+json,
// apiv1.ErrorResponse): a stable machine-readable code per kind of failure
// (apiv1.Code*), the status, and what went wrong in words; `error` repeats
// the words for clients of the first API.

// httpError is an error with an HTTP status, and a code when the status's
// own (apiv1.CodeFor) is not the right one.
type httpError struct {
	status int
	msg    string
	code   string
}

func (e *httpError) Error() string { return e.msg }

func badRequest(format string, args ...any) error {
	return &httpError{status: http.StatusBadRequest, msg: fmt.Sprintf(format, args...)}
}

func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	var he *httpError
	switch {
	case errors.As(err, &he):
		writeProblem(w, apiv1.ErrorResponse{Status: he.status, Code: he.code, Detail: he.msg})
	case errors.Is(err, fleet.ErrNotFound):
		writeError(w, http.StatusNotFound, err.Error())
	case errors.Is(err, fleet.ErrExists):
		writeError(w, http.StatusConflict, err.Error())
	default:
		// The words stay in the log: they may name files, addresses, internals.
		ref := make([]byte, 6)
		rand.Read(ref)
		id := hex.EncodeToString(ref)
		s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "ref", id, "err", err)
		writeError(w, http.StatusInternalServerError, "internal error; the gateway's log has it under ref "+id)
	}
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeProblem(w, apiv1.ErrorResponse{Status: status, Detail: msg})
}

// writeProblem fills in what p leaves out (code, type, title, error) and writes it.
func writeProblem(w http.ResponseWriter, p apiv1.ErrorResponse) {
	if p.Code == "" {
		p.Code = apiv1.CodeFor(p.Status)
	}
	p.Type, p.Title, p.Error = apiv1.ProblemType+p.Code, http.StatusText(p.Status), p.Detail
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(p.Status)
	json.NewEncoder(w).Encode(p)
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	return json.NewEncoder(w).Encode(v)
}

// readJSON decodes one JSON object from the body into v: unknown fields,
// `null` instead of an object, and anything after the object are refused.
func readJSON(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, maxJSONBody))
	var raw json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		return badRequest("request body: %v", err)
	}
	if bytes.Equal(raw, []byte("null")) {
		return badRequest("request body: null; want an object")
	}
	if _, err := dec.Token(); err != io.EOF {
		return badRequest("request body: data after the JSON object")
	}
	strict := json.NewDecoder(bytes.NewReader(raw))
	strict.DisallowUnknownFields()
	if err := strict.Decode(v); err != nil {
		return badRequest("request body: %v", err)
	}
	return nil
}

// bodyType refuses a request body whose Content-Type is not the route's:
// application/json for a JSON body, application/wasm (or
// application/octet-stream) for a module. Requests without a body pass.
func bodyType(r *http.Request, req any) error {
	if req == nil || r.ContentLength == 0 || r.Method == http.MethodGet {
		return nil
	}
	want := []string{"application/json"}
	if _, binary := req.([]byte); binary {
		want = []string{"application/wasm", "application/octet-stream"}
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	for _, w := range want {
		if err == nil && mt == w {
			return nil
		}
	}
	return &httpError{status: http.StatusUnsupportedMediaType,
		msg: fmt.Sprintf("Content-Type %q: want %s", r.Header.Get("Content-Type"), want[0])}
}

// unrouted answers a request no route has: 405 with Allow when the path has
// routes for other methods, else 404.
func (s *Server) unrouted(w http.ResponseWriter, r *http.Request) {
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodPut, http.MethodPost, http.MethodDelete} {
		if _, p := s.mux.Handler(&http.Request{Method: m, URL: r.URL, Host: r.Host}); p != "" {
			allow = append(allow, m)
		}
	}
	if len(allow) == 0 {
		writeError(w, http.StatusNotFound, "no such path: "+r.URL.Path)
		return
	}
	w.Header().Set("Allow", strings.Join(allow, ", "))
	writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("method %s not allowed on %s (allowed: %s)", r.Method, r.URL.Path, strings.Join(allow, ", ")))
}
