package api

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/wasmbed/wasmbed/fleet"
	"github.com/wasmbed/wasmbed/fleet/admit"
	"github.com/wasmbed/wasmbed/gateway/apischema"
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

// unprocessableError is a 422: the request matches the OpenAPI document's
// schema, but a rule the schema cannot state refuses it (a label key, a
// CSR's contents, fields that do not go together).
func unprocessableError(format string, args ...any) error {
	return &httpError{status: http.StatusUnprocessableEntity, code: apiv1.CodeUnprocessable, msg: fmt.Sprintf(format, args...)}
}

func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	var he *httpError
	var ae *admit.Error
	switch {
	case errors.As(err, &he):
		writeProblem(w, apiv1.ErrorResponse{Status: he.status, Code: he.code, Detail: he.msg})
	case errors.As(err, &ae):
		writeProblem(w, ae.Problem())
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
	strict := json.NewDecoder(bytes.NewReader(integralNumbers(raw)))
	strict.DisallowUnknownFields()
	if err := strict.Decode(v); err != nil {
		return badRequest("request body: %v", err)
	}
	return nil
}

// integralNumbers is raw with every number that has a fraction or an
// exponent but an integer value within +-apischema.MaxJSONInteger (813.0, 8.13e2)
// written as an integer (813); raw itself when it has none. JSON Schema
// 2020-12, hence OpenAPI 3.1, counts such numbers as integers (3.0's schema
// draft did not), and Go's decoder refuses them for an int field: a
// request the document admits would be refused. Other numbers mean the
// same either way.
func integralNumbers(raw []byte) []byte {
	if !bytes.ContainsAny(raw, ".eE") {
		return raw
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if dec.Decode(&v) != nil {
		return raw // the strict decoder says what is wrong
	}
	changed := false
	var walk func(v any) any
	walk = func(v any) any {
		switch x := v.(type) {
		case json.Number:
			if !strings.ContainsAny(string(x), ".eE") {
				return x
			}
			f, err := strconv.ParseFloat(string(x), 64)
			if err != nil || f != math.Trunc(f) || math.Abs(f) > apischema.MaxJSONInteger {
				return x
			}
			changed = true
			return json.Number(strconv.FormatInt(int64(f), 10))
		case map[string]any:
			for k, e := range x {
				x[k] = walk(e)
			}
		case []any:
			for i, e := range x {
				x[i] = walk(e)
			}
		}
		return v
	}
	v = walk(v)
	if !changed {
		return raw
	}
	out, err := json.Marshal(v)
	if err != nil {
		return raw
	}
	return out
}

// checkInput checks the path parameters and the JSON body of a request to
// pattern against their schemas in the OpenAPI document (openapi.go), before
// the handler runs: the server refuses (400) what the document refuses, so
// a client that follows the document is never surprised and one that does
// not is told where. A body over maxJSONBody is 413.
//
// The schemas are the 3.1 document's (JSON Schema 2020-12: "null" in type
// arrays), checked by kin-openapi's own validator, which reads type arrays,
// rather than with openapi3.EnableJSONSchema2020() (the JSON Schema library
// kin-openapi hands 3.1 schemas to): that one marshals and compiles the
// schema again on every call (about 1 ms and 800 kB for an application's
// spec, against 3 µs), and its errors carry the schema and value as text,
// not the keyword and place schemaError words them by. The two agree on what
// they accept for every schema here (TestInputSchemasAs2020), and the
// schemas use no keyword the first one does not check (inputKeywords).
func (s *Server) checkInput(r *http.Request, pattern string) error {
	in := s.inputs[pattern]
	for _, name := range slices.Sorted(maps.Keys(in.path)) {
		if err := in.path[name].VisitJSON(r.PathValue(name)); err != nil {
			return badRequest("path %s %q: %s", name, r.PathValue(name), apischema.Explain(err))
		}
	}
	if in.body == nil || in.optionalBody && r.ContentLength == 0 {
		return nil
	}
	raw, err := io.ReadAll(io.LimitReader(r.Body, maxJSONBody+1))
	if err != nil {
		return badRequest("request body: %v", err)
	}
	if len(raw) > maxJSONBody {
		return &httpError{status: http.StatusRequestEntityTooLarge, msg: fmt.Sprintf("request body over %d bytes", maxJSONBody)}
	}
	r.Body = io.NopCloser(bytes.NewReader(raw))
	if in.optionalBody && len(bytes.TrimSpace(raw)) == 0 {
		r.ContentLength = 0 // none: the handler reads no body
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	var v any
	if err := dec.Decode(&v); err != nil {
		return badRequest("request body: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return badRequest("request body: data after the JSON object")
	}
	if err := in.body.VisitJSON(v); err != nil {
		return badRequest("request body: %s", apischema.Explain(err))
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
	if o, ok := req.(optional); ok {
		req = o.body
	}
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
	// The methods of the path's own routes: a path that a literal route has
	// (/v1/modules/check) also matches the wildcard ones beside it
	// (/v1/modules/{sha256}), whose methods are another resource's.
	var allow []string
	fewest := -1
	for _, m := range []string{http.MethodGet, http.MethodPut, http.MethodPatch, http.MethodPost, http.MethodDelete} {
		_, p := s.mux.Handler(&http.Request{Method: m, URL: r.URL, Host: r.Host})
		if p == "" {
			continue
		}
		switch n := strings.Count(p, "{"); {
		case fewest < 0 || n < fewest:
			fewest, allow = n, []string{m}
		case n == fewest:
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
