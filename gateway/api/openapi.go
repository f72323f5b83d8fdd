package api

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"reflect"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"

	"github.com/wasmbed/wasmbed/fleet"
	"github.com/wasmbed/wasmbed/gateway"
	"github.com/wasmbed/wasmbed/gateway/apischema"
	"github.com/wasmbed/wasmbed/gateway/apiv1"
	"github.com/wasmbed/wasmbed/protocol"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3conv"
)

// OpenAPI 3.1: the document's version, and the dialect of its schemas (JSON
// Schema 2020-12 with the OpenAPI vocabulary, the default, said out loud).
const (
	openAPIVersion    = "3.1.1"
	jsonSchemaDialect = "https://spec.openapis.org/oas/3.1/dialect/base"
)

// routeDoc is what the OpenAPI document says of one route.
type routeDoc struct {
	pattern, role, summary string
	req, resp              any
	op                     string // operationId: the handler's name
}

// optional is a request body a route reads only when there is one (a
// token's TTL, a revocation's reason).
type optional struct{ body any }

// operationID is the name of the Server method h is (listDevices), or
// "metrics" for the one route served by a function literal.
func operationID(h handler) string {
	name := runtime.FuncForPC(reflect.ValueOf(h).Pointer()).Name() // ...api.(*Server).listDevices-fm
	name = strings.TrimSuffix(name[strings.LastIndex(name, ".")+1:], "-fm")
	if strings.HasPrefix(name, "func") {
		return "metrics"
	}
	return name
}

// queryParam finds the query parameters a summary names (`?board=`).
var queryParam = regexp.MustCompile(`\?([a-z_]+)=`)

// OpenAPI is the API's OpenAPI 3.1 document, generated from the route table
// and the Go types of the bodies (kin-openapi): docs/openapi.json is a copy
// that `make generate` writes and a test keeps equal.
func (s *Server) OpenAPI() []byte { return s.openapiJSON }

var pathParam = regexp.MustCompile(`\{([a-z0-9_]+)\}`)

// Patterns of the document besides apischema's.
const (
	// continuePattern is base64url without padding, of a length that
	// decodes (not 1 modulo 4).
	continuePattern = `^([A-Za-z0-9_-]{4})*([A-Za-z0-9_-]{2,3})?$`
	// labelFilterPattern is a ?label= filter: key=value.
	labelFilterPattern = `^[^=]*=`
	// maxEventObject bounds ?object= of GET /v1/events.
	maxEventObject = 256
)

// pathExamples are the path parameters' examples, by collection: the
// objects `make contract-test` creates before it replays the document. A
// DELETE's example is another object (deleteExamples), so that replaying
// the examples leaves the first ones for the operations after it.
var pathExamples = map[string]string{
	"gateways":     "gateway",
	"devices":      "dev-1",
	"applications": "blinker",
	"modules":      "6e4c5904cd9779c90409ba850e9f43ba313056e06875139763ba76fd3b87845b",
}

var deleteExamples = map[string]string{
	"gateways":     "gateway-2",
	"devices":      "dev-2",
	"applications": "blinker-2",
}

// unprocessable says, by operation, what a 422 answer means: a request the
// schema admits but a rule it cannot state refuses (code unprocessable), or
// a module that cannot run (code module_rejected).
var unprocessable = map[string]string{
	"putGateway": "A label key is not a name (" + apischema.NameRules + "; the schema cannot state rules on keys) (code unprocessable)",
	"putDevice": "A label key is not a name (" + apischema.NameRules + ") (code unprocessable), or an application the device would take " +
		"cannot run on its board (code module_rejected; board names it)",
	"putApplication": "sha256 names no stored module, a config or label key is not a name (" + apischema.NameRules + "), a config value is over " +
		"256 bytes, or the rollout's fields do not go together: batched needs max_unavailable >= 1; a step gives devices or percent, " +
		"one of them, and steps do not shrink; canary, bake_seconds, step_failures, total_failures, health and on_failure need steps; " +
		"health needs min or max, min <= max (code unprocessable); or the module cannot run on a board the application would land " +
		"on (code module_rejected; board names it)",
	"checkModule": "Neither or both of sha256 and module are given, or a selector label key is not a name (code unprocessable); " +
		"or the module is not valid WebAssembly or cannot run on a board (code module_rejected; board names it)",
	"signCertificate": "csr_pem is not a PEM CERTIFICATE REQUEST the CA signs: a P-256 key, a valid signature, the device's name " +
		"as its common name (code unprocessable)",
	"uploadModule": "Not a valid WebAssembly module (code module_rejected)",
}

// routeInput is what the server checks a request to a route against
// before its handler sees it: the schemas the document gives its path
// parameters and its JSON body.
type routeInput struct {
	path         map[string]*openapi3.Schema
	body         *openapi3.Schema
	optionalBody bool // the route reads the body only when there is one
}

// buildOpenAPI generates the document, and what requests are checked
// against by route pattern.
func (s *Server) buildOpenAPI() ([]byte, map[string]routeInput) {
	boards := s.boards()
	doc := &openapi3.T{
		OpenAPI:           openAPIVersion,
		JSONSchemaDialect: jsonSchemaDialect,
		Info: &openapi3.Info{Title: "Wasmbed gateway management API", Version: "v1",
			Description: "Every path but /healthz and /v1/openapi.json needs `Authorization: Bearer TOKEN`. " +
				"The gateway writes an admin token to <data-dir>/admin.token and a read-only one to <data-dir>/reader.token. " +
				"Readers may only GET; /v1/audit is for admins. " +
				"A request that does not match this document (a parameter, a header or a JSON body against its schema) is answered " +
				"400 with code invalid; one that matches it but breaks a rule the schema cannot state (the description of the " +
				"422 answer names them) is answered 422 with code unprocessable or module_rejected.",
			Contact: &openapi3.Contact{Name: "Wasmbed", URL: "https://github.com/wasmbed/wasmbed"},
			License: &openapi3.License{Name: "Apache-2.0", URL: "https://www.apache.org/licenses/LICENSE-2.0"}},
		Paths: openapi3.NewPaths(),
		Servers: openapi3.Servers{{URL: "https://{address}", Description: "the gateway's --api-addr",
			Variables: map[string]*openapi3.ServerVariable{"address": {Default: "127.0.0.1:8080"}}}},
		Components: &openapi3.Components{SecuritySchemes: openapi3.SecuritySchemes{
			"bearer": &openapi3.SecuritySchemeRef{Value: openapi3.NewJWTSecurityScheme().WithBearerFormat("opaque")},
		}},
	}
	schemas := openapi3.Schemas{}
	gen := apischema.Generator()
	schemaOf := func(v any) *openapi3.SchemaRef {
		ref, err := gen.NewSchemaRefForValue(v, schemas)
		if err != nil {
			panic("openapi: " + err.Error())
		}
		return ref
	}
	// Every error is the one problem schema, referenced.
	doc.Components.Schemas = openapi3.Schemas{"Problem": schemaOf(apiv1.ErrorResponse{})}
	errSchema := openapi3.NewSchemaRef("#/components/schemas/Problem", nil)
	jsonContent := func(ref *openapi3.SchemaRef) openapi3.Content { return openapi3.NewContentWithJSONSchemaRef(ref) }

	// Responses with one 200 of JSON (no `default`: every status is listed).
	okJSON := func(what string) *openapi3.Responses {
		r := openapi3.NewResponsesWithCapacity(1)
		r.Set("200", &openapi3.ResponseRef{Value: openapi3.NewResponse().WithDescription(what).
			WithContent(openapi3.Content{"application/json": &openapi3.MediaType{Schema: openapi3.NewObjectSchema().NewRef()}})})
		return r
	}
	add := func(method, path string, op *openapi3.Operation) {
		item := doc.Paths.Value(path)
		if item == nil {
			item = &openapi3.PathItem{}
			doc.Paths.Set(path, item)
		}
		item.SetOperation(method, op)
	}
	add(http.MethodGet, "/healthz", &openapi3.Operation{OperationID: "healthz", Summary: "Liveness; no token needed",
		Description: "Answers 200 while the gateway serves; no token needed.", Tags: []string{"meta"},
		Security: &openapi3.SecurityRequirements{}, Responses: okJSON("ok, with the number of sessions and the uptime")})
	add(http.MethodGet, "/v1/openapi.json", &openapi3.Operation{OperationID: "openapi", Summary: "This document; no token needed",
		Description: "This OpenAPI document, generated from the gateway's route table; no token needed.", Tags: []string{"meta"},
		Security: &openapi3.SecurityRequirements{}, Responses: okJSON("this document")})

	inputs := map[string]routeInput{}
	tags := map[string]bool{"meta": true}
	for _, r := range s.docs {
		method, path, _ := strings.Cut(r.pattern, " ")
		op := &openapi3.Operation{Summary: r.summary, Responses: openapi3.NewResponsesWithCapacity(8),
			Security: &openapi3.SecurityRequirements{{"bearer": {}}}}
		switch r.role {
		case RoleReader:
			op.Description = "Any token (role reader, operator or admin)."
		case RoleOperator:
			op.Description = "An operator or admin token."
		default:
			op.Description = "Admin token required."
		}
		// Tagged by the collection the path is under (/v1/devices/... -> devices).
		tag := "meta"
		if rest, ok := strings.CutPrefix(path, "/v1/"); ok {
			tag, _, _ = strings.Cut(rest, "/")
		}
		op.Tags = []string{tag}
		tags[tag] = true
		op.OperationID = r.op
		in := routeInput{path: map[string]*openapi3.Schema{}}
		for _, m := range pathParam.FindAllStringSubmatch(path, -1) {
			p := pathParameter(m[1], tag, method)
			op.AddParameter(p)
			// An action that does not exist is a sub-resource that does not:
			// its handler answers 404, naming the actions.
			if m[1] != "action" {
				in.path[m[1]] = p.Schema.Value
			}
		}
		paged := strings.Contains(r.summary, "?continue=")
		seen := map[string]bool{}
		for _, m := range queryParam.FindAllStringSubmatch(r.summary, -1) {
			if seen[m[1]] {
				continue
			}
			seen[m[1]] = true
			op.AddParameter(queryParameter(m[1], paged, boards))
		}
		req, optionalBody := r.req, false
		if o, ok := req.(optional); ok {
			req, optionalBody = o.body, true
		}
		switch req.(type) {
		case nil:
		case []byte:
			op.RequestBody = &openapi3.RequestBodyRef{Value: openapi3.NewRequestBody().WithRequired(true).
				WithContent(openapi3.Content{
					"application/wasm":         &openapi3.MediaType{Schema: rawBinary("application/wasm")},
					"application/octet-stream": &openapi3.MediaType{Schema: rawBinary("application/octet-stream")},
				})}
		default:
			ref := apischema.Request(schemaOf(req), reflect.TypeOf(req), boards)
			if ex, ok := requestExamples[r.op]; ok {
				ref.Value.Example = ex
			}
			op.RequestBody = &openapi3.RequestBodyRef{Value: openapi3.NewRequestBody().WithRequired(!optionalBody).WithJSONSchemaRef(ref)}
			in.body, in.optionalBody = ref.Value, optionalBody
		}
		ok := http.StatusOK
		switch {
		case method == http.MethodDelete:
			ok = http.StatusNoContent
		case method == http.MethodPost && r.resp != nil && reflect.TypeOf(r.resp).Kind() == reflect.Struct && !strings.HasSuffix(path, "/check") && !strings.HasSuffix(path, "/revoke") && !strings.HasSuffix(path, "/rotate") && !strings.Contains(path, "/rollout/"):
			ok = http.StatusCreated
		}
		// GET and PUT of a gateway, device or application answer its ETag.
		etag := (method == http.MethodGet || method == http.MethodPut || method == http.MethodPatch) && strings.HasSuffix(path, "/{name}") && tag != "certificates"
		withETag := func(resp *openapi3.Response) *openapi3.Response {
			if etag {
				resp.Headers = openapi3.Headers{"ETag": &openapi3.HeaderRef{Value: &openapi3.Header{Parameter: openapi3.Parameter{
					Description: "The object's entity tag, for If-Match", Required: true, Schema: openapi3.NewStringSchema().NewRef()}}}}
			}
			return resp
		}
		resp := withETag(openapi3.NewResponse().WithDescription(http.StatusText(ok)))
		switch r.resp.(type) {
		case nil:
		case []byte:
			if r.pattern == watchRoute {
				resp.WithContent(openapi3.Content{"text/event-stream": &openapi3.MediaType{Schema: sseEventSchema().NewRef()}})
				break
			}
			if r.pattern == outputStreamRoute {
				resp.WithContent(openapi3.Content{"text/event-stream": &openapi3.MediaType{Schema: sseOutputSchema().NewRef()}})
				break
			}
			resp.WithContent(openapi3.Content{"text/plain": &openapi3.MediaType{Schema: openapi3.NewStringSchema().NewRef()}})
		case backupArchive:
			resp.WithContent(openapi3.Content{"application/gzip": &openapi3.MediaType{Schema: rawBinary("application/gzip")}})
		case derCRL:
			resp.WithContent(openapi3.Content{"application/pkix-crl": &openapi3.MediaType{Schema: rawBinary("application/pkix-crl")}})
		default:
			resp.WithContent(jsonContent(schemaOf(r.resp)))
		}
		op.AddResponse(ok, resp)
		if method == http.MethodPut {
			op.AddResponse(http.StatusCreated, withETag(openapi3.NewResponse().WithDescription("Created").WithContent(jsonContent(schemaOf(r.resp)))))
		}
		problem := func(code int, why string) {
			op.AddResponse(code, openapi3.NewResponse().WithDescription(why).
				WithContent(openapi3.Content{"application/problem+json": &openapi3.MediaType{Schema: errSchema}}))
		}
		problem(http.StatusBadRequest, "The request does not match this document: a parameter, a header or the body (code invalid)")
		problem(http.StatusUnauthorized, "No or an unknown bearer token (code unauthenticated)")
		problem(http.StatusForbidden, "The token's role does not allow it (code forbidden)")
		if strings.Contains(path, "{action}") {
			problem(http.StatusNotFound, "No such application, or no such action (code not_found)")
		} else {
			problem(http.StatusNotFound, "Not found (code not_found)")
		}
		problem(http.StatusInternalServerError, "The gateway failed; its log has the details under the ref given (code internal)")
		if !streams[r.pattern] {
			problem(http.StatusTooManyRequests, "The API is at its limit of requests in flight; Retry-After says when to try again (code too_many_requests)")
			op.Responses.Value("429").Value.Headers = openapi3.Headers{"Retry-After": &openapi3.HeaderRef{Value: &openapi3.Header{Parameter: openapi3.Parameter{
				Description: "Seconds to wait before retrying", Required: true, Schema: openapi3.NewIntegerSchema().WithMin(0).NewRef()}}}}
		}
		if req != nil {
			problem(http.StatusUnsupportedMediaType, "The body's Content-Type is not the one above (code unsupported_media_type)")
			if _, binary := req.([]byte); binary {
				problem(http.StatusRequestEntityTooLarge, "The module is over the size limit, 4 MiB (code too_large)")
			} else {
				problem(http.StatusRequestEntityTooLarge, "The body is over 1 MiB (code too_large)")
			}
		}
		if method == http.MethodPut {
			op.AddParameter(openapi3.NewHeaderParameter("If-Match").WithSchema(openapi3.NewStringSchema()).
				WithDescription("Replace only if the object's ETag (GET, or the last PUT's answer) is one of these (RFC 9110; * matches any existing object)"))
			problem(http.StatusPreconditionFailed, "If-Match does not match the object's ETag, or the object does not exist (code precondition_failed)")
		}
		if streams[r.pattern] {
			op.AddParameter(openapi3.NewHeaderParameter("Last-Event-ID").WithSchema(openapi3.NewIntegerSchema().WithMin(0)).
				WithDescription("What an EventSource sends when it reconnects: the events after this sequence number are replayed first (?after= wins)"))
		}
		if method == http.MethodPut || method == http.MethodPost && ok == http.StatusCreated {
			problem(http.StatusConflict, "Created concurrently by another request, or exists already (code conflict)")
		}
		if why, ok := unprocessable[r.op]; ok {
			problem(http.StatusUnprocessableEntity, why)
		}
		if r.op == "createToken" {
			problem(http.StatusConflict, fmt.Sprintf("The device holds %d valid enrollment tokens never used, the most it may: delete them or let one enroll (code conflict)", gateway.MaxUnusedTokens))
		}
		if r.op == "revokeDevice" {
			problem(http.StatusConflict, "The device has no certificate to revoke (code conflict)")
		}
		if method == http.MethodDelete && strings.HasPrefix(path, "/v1/modules/") {
			problem(http.StatusConflict, "An application (its spec or stable release) or a deployment still needs the module; detail names them (code conflict)")
			problem(http.StatusMethodNotAllowed, "Kubernetes mode: modules are ConfigMaps, deleted with kubectl (code method_not_allowed)")
		}
		if strings.HasPrefix(path, "/v1/modules") && method == http.MethodGet {
			problem(http.StatusMethodNotAllowed, "Kubernetes mode: modules are ConfigMaps, listed with kubectl (code method_not_allowed)")
		}
		if strings.HasPrefix(path, "/v1/api-tokens") {
			problem(http.StatusMethodNotAllowed, "Kubernetes mode: the gateway's API only reads; access is Kubernetes RBAC's (code method_not_allowed)")
		}
		if r.op == "createAPIToken" {
			problem(http.StatusConflict, "A named token, or one of the gateway's own tokens (admin, reader), has the name (code conflict)")
		}
		if strings.Contains(path, "/rollout/") {
			problem(http.StatusConflict, "The rollout's phase does not allow the action (code conflict)")
		}
		if mints[r.pattern] {
			key := openapi3.NewStringSchema().WithMinLength(1).WithMaxLength(maxIdempotencyKey).WithPattern(`^[!-~]+$`)
			op.AddParameter(openapi3.NewHeaderParameter("Idempotency-Key").WithSchema(key).WithDescription(
				"Sent again with the same request, the same key answers what the first request was answered (Idempotent-Replayed: true) for an hour, " +
					"instead of minting again; kept in the gateway's memory, per token"))
			also := func(code int, why string) {
				if prev := op.Responses.Value(strconv.Itoa(code)); prev != nil {
					why = *prev.Value.Description + "; or " + why
				}
				problem(code, why)
			}
			also(http.StatusConflict, "a request with the same Idempotency-Key is still in progress (code conflict)")
			also(http.StatusUnprocessableEntity, "the Idempotency-Key was used for another request body (code unprocessable)")
		}
		inputs[r.pattern] = in
		add(method, path, op)
	}
	for _, t := range slices.Sorted(maps.Keys(tags)) {
		doc.Tags = append(doc.Tags, &openapi3.Tag{Name: t, Description: tagDescriptions[t]})
	}
	to31(doc)
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		panic("openapi: " + err.Error())
	}
	return append(b, '\n'), inputs
}

// to31 turns the schemas of doc, which openapi3gen and this file write in
// OpenAPI 3.0's forms, into JSON Schema 2020-12's, in place (the schemas
// requests are checked against included): kin-openapi's openapi3conv
// rewrites nullable into a type array with "null", example into examples
// (and boolean exclusive bounds into numbers, none here); it stamps the
// newest 3.x version it knows (3.2), so the version is set back to 3.1. An
// enum of a schema that may be null gets null too: in 2020-12 the enum
// applies to null as well, where 3.0's nullable let null pass it.
func to31(doc *openapi3.T) {
	var nullableEnums []*openapi3.Schema
	doc.WalkSchemas(func(_ string, ref *openapi3.SchemaRef) error {
		if s := ref.Value; s.Nullable && len(s.Enum) > 0 && !slices.Contains(s.Enum, nil) {
			nullableEnums = append(nullableEnums, s)
		}
		return nil
	})
	openapi3conv.Upgrade(doc)
	for _, s := range nullableEnums {
		s.Enum = append(s.Enum, nil)
	}
	// Bytes in JSON ([]byte, which openapi3gen gives format byte) are base64:
	// 2020-12 says so with contentEncoding. format byte stays (the OpenAPI
	// format registry keeps it): kin-openapi checks the base64 by it.
	doc.WalkSchemas(func(_ string, ref *openapi3.SchemaRef) error {
		if s := ref.Value; s.Format == "byte" && s.Type.Includes(openapi3.TypeString) {
			s.ContentEncoding = "base64"
		}
		return nil
	})
	doc.OpenAPI = openAPIVersion
}

// rawBinary is the schema of a body of raw bytes of media type mt: in
// JSON Schema 2020-12 no type (the body is not JSON), its contentMediaType
// (3.0's `type: string, format: binary`).
func rawBinary(mt string) *openapi3.SchemaRef {
	return (&openapi3.Schema{ContentMediaType: mt}).NewRef()
}

// pathParameter is the schema of a path parameter of the collection tag.
func pathParameter(name, tag, method string) *openapi3.Parameter {
	p := openapi3.NewPathParameter(name)
	schema := openapi3.NewStringSchema()
	switch name {
	case "name":
		schema = nameSchema()
		p.Description = "The " + strings.TrimSuffix(tag, "s") + "'s name"
	case "sha256":
		schema.Pattern = apischema.SHA256Pattern
		p.Description = "The module's sha256, lowercase hex"
	case "serial":
		schema.Pattern = `^[0-9a-f]+$`
		p.Description = "The certificate's serial number, lowercase hex"
	case "action":
		schema.Enum = []any{fleet.ActionPause, fleet.ActionResume, fleet.ActionAbort, fleet.ActionPromote}
	}
	if ex, ok := pathExamples[tag]; ok && name != "action" {
		p.Example = ex
		if del, ok := deleteExamples[tag]; ok && method == http.MethodDelete && name == "name" {
			p.Example = del
		}
	}
	return p.WithSchema(schema)
}

// queryParameter is the schema of a query parameter; paged: of a list
// paged with ?limit= and ?continue=.
func queryParameter(name string, paged bool, boards []string) *openapi3.Parameter {
	p := openapi3.NewQueryParameter(name)
	schema := openapi3.NewStringSchema()
	switch name {
	case "limit":
		schema = openapi3.NewIntegerSchema().WithMin(0)
		p.Description = "At most this many items (a larger value is cut to 1000); 0 or none: 100"
		if paged {
			p.Description = "At most this many items per page (a larger value is cut to 1000); 0 or none: 1000"
		}
	case "after":
		schema = openapi3.NewIntegerSchema().WithMin(0)
		p.Description = "Only the entries after this sequence number"
	case "continue":
		schema.Pattern = continuePattern
		p.Description = "The previous page's continue: this page starts after its last item"
	case "label":
		schema = openapi3.NewArraySchema().WithItems(openapi3.NewStringSchema().WithPattern(labelFilterPattern))
		p.Description = "key=value: only the devices with this label (repeat for more, all must match)"
	case "board":
		schema = openapi3.NewStringSchema().WithEnum(apischema.Anys(boards)...)
		p.Description = "Only the devices of this board"
	case "phase":
		schema = openapi3.NewStringSchema().WithEnum(fleet.PhaseRegistered, fleet.PhaseOnline, fleet.PhaseOffline, fleet.PhaseRevoked)
		p.Description = "Only the devices in this phase"
	case "state":
		schema = openapi3.NewStringSchema().WithEnum(fleet.CertCurrent, fleet.CertPending, fleet.CertSuperseded, fleet.CertRevoked)
		p.Description = "Only the certificates in this state"
	case "latest":
		schema = openapi3.NewIntegerSchema().WithMin(0)
		p.Description = "The latest this many events (at most 1000) instead of those ?after="
	case "object":
		schema.MaxLength = openapi3.Uint64Ptr(maxEventObject)
		p.Description = "Only the events of this object (a device's name, an application's...)"
	case "within_hours":
		schema = openapi3.NewIntegerSchema().WithMin(0)
		p.Description = "Certificates expiring within this many hours (default 168: a week)"
	case "prefix":
		schema.Pattern, schema.MaxLength = `^[A-Za-z0-9._-]*$`, openapi3.Uint64Ptr(protocol.MaxNameLen)
		p.Description = "Only the devices whose name starts with this"
	case "gateway":
		schema.Pattern, schema.MaxLength = apischema.NamePattern, openapi3.Uint64Ptr(protocol.MaxNameLen)
		p.Description = "Only the devices assigned to this gateway"
	case "device":
		p.Description = "Only those of this device"
	case "app":
		p.Description = "Only those of this application"
	}
	return p.WithSchema(schema)
}

// sseSchema is one event of a server-sent-events stream (OpenAPI 3.1 has no
// itemSchema, which 3.2 brings: a text/event-stream schema is that of each
// event, as schemathesis reads it); data is JSON.
func sseSchema(events []string, description, idDescription string) *openapi3.Schema {
	s := openapi3.NewObjectSchema().
		WithProperty("event", openapi3.NewStringSchema().WithEnum(apischema.Anys(events)...)).
		WithProperty("id", openapi3.NewStringSchema().WithPattern(`^[0-9]+$`)).
		WithProperty("data", openapi3.NewStringSchema())
	s.Required = []string{"data", "event"}
	s.Description = description
	s.Properties["id"].Value.Description = idDescription
	s.Properties["data"].Value.ContentMediaType = "application/json" // JSON Schema 2020-12: a string that holds JSON
	return s
}

// sseEventSchema is one event of the watch stream.
func sseEventSchema() *openapi3.Schema {
	return sseSchema([]string{"change", "event", "audit"},
		"change: an object was written, data {kind, key, deleted} (JSON); "+
			"event: the gateway recorded an event, data the event (JSON, as GET /v1/events lists it), id its sequence number; "+
			"audit (admin tokens only): an entry of the audit log, data the entry (JSON, as GET /v1/audit lists it), no id",
		"event: its sequence number (what Last-Event-ID gives back)")
}

// sseOutputSchema is one event of the output stream.
func sseOutputSchema() *openapi3.Schema {
	return sseSchema([]string{"output", "gap"},
		"output: a log line or published value, data the record (JSON, as GET /v1/applications/{name}/output lists it), "+
			"id its place in the gateway's output feed (what Last-Event-ID gives back); "+
			"gap: the resume point is older than the feed holds, data {after} (JSON), no id",
		"output: its place in the gateway's output feed (what Last-Event-ID gives back)")
}

func nameSchema() *openapi3.Schema {
	return openapi3.NewStringSchema().WithPattern(apischema.NamePattern).WithMaxLength(protocol.MaxNameLen)
}

// exampleCSR is the example of POST /v1/certificates: a CSR of device dev-1
// (P-256, CN dev-1).
const exampleCSR = `-----BEGIN CERTIFICATE REQUEST-----
MIHLMHICAQAwEDEOMAwGA1UEAwwFZGV2LTEwWTATBgcqhkjOPQIBBggqhkjOPQMB
BwNCAATQ9Re22BKoGjUnhXx8/9isb5ibUfm25+Fdy4LRHHX5cbAzEa2/KcADRZIf
Esy7FUajlx4z6MBEkTEJjPIZcfn3oAAwCgYIKoZIzj0EAwIDSQAwRgIhALT9vfwn
O1YPoFYtLZ4I0YKZmdJosDX4LqIvj+VkjvpNAiEAodgLxEQ9EGssbpu7JKLCanJ9
G9LgshSLW8Z2tiSDuK4=
-----END CERTIFICATE REQUEST-----
`

// requestExamples are request bodies' examples, by operation: those of the
// objects the path examples name.
var requestExamples = map[string]any{
	"putGateway":      map[string]any{"addresses": []string{"127.0.0.1:8081"}, "labels": map[string]string{"site": "lab"}, "capacity": 100},
	"putDevice":       map[string]any{"board": "mps2-an386", "labels": map[string]string{"site": "lab"}},
	"createToken":     map[string]any{"ttl_seconds": 3600},
	"createAPIToken":  map[string]any{"name": "ci-deployer", "role": "operator", "description": "CI pipeline", "ttl_seconds": 7776000},
	"updateAPIToken":  map[string]any{"role": "reader"},
	"rotateAPIToken":  map[string]any{"grace_seconds": 3600},
	"revokeDevice":    map[string]any{"reason": "lost"},
	"signCertificate": map[string]any{"device": "dev-1", "csr_pem": exampleCSR, "ttl_seconds": 86400},
	"putApplication": map[string]any{"version": "1.0.0", "sha256": pathExamples["modules"], "config": map[string]string{"pin": "0"},
		"selector": map[string]any{"labels": map[string]string{"site": "lab"}}},
	"checkModule": map[string]any{"sha256": pathExamples["modules"], "selector": map[string]any{"boards": []string{"mps2-an386"}}},
}

// tagDescriptions describe the OpenAPI tags (the collections the paths are under).
var tagDescriptions = map[string]string{
	"meta":         "The gateway itself: liveness and this document",
	"api-tokens":   "Named API tokens with a role (reader, operator, admin): minted, listed, changed, rotated, revoked",
	"applications": "WebAssembly applications: spec, rollout, status, output",
	"audit":        "Changes made through the API",
	"backup":       "A backup of the gateway (standalone mode)",
	"ca":           "The certificate authority's root",
	"certificates": "The ledger of device certificates the CA signed",
	"crl":          "The certificate revocation list",
	"deployments":  "An application on a device, as last commanded and reported",
	"devices":      "Devices: registration, enrollment tokens, revocation",
	"events":       "What the gateway recorded",
	"gateways":     "Gateways and their registrations",
	"modules":      "Stored WebAssembly modules",
	"summary":      "The fleet at a glance (the dashboard's)",
	"tokens":       "Enrollment tokens",
	"watch":        "Server-sent events of changes and events",
	"whoami":       "The request's token",
}
