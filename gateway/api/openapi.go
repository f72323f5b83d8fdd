package api

import (
	"encoding/json"
	"maps"
	"net/http"
	"reflect"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/wasmbed/wasmbed/gateway/apiv1"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3gen"
)

// routeDoc is what the OpenAPI document says of one route.
type routeDoc struct {
	pattern, role, summary string
	req, resp              any
	op                     string // operationId: the handler's name
}

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

var (
	openAPIOnce sync.Once
	openAPIDoc  []byte
)

// OpenAPI is the API's OpenAPI 3 document, generated from the route table
// and the Go types of the bodies (kin-openapi): docs/openapi.json is a copy
// that `make generate` writes and a test keeps equal.
func (s *Server) OpenAPI() []byte {
	openAPIOnce.Do(func() { openAPIDoc = s.buildOpenAPI() })
	return openAPIDoc
}

var pathParam = regexp.MustCompile(`\{([a-z0-9_]+)\}`)

func (s *Server) buildOpenAPI() []byte {
	doc := &openapi3.T{
		OpenAPI: "3.0.3",
		Info: &openapi3.Info{Title: "Wasmbed gateway management API", Version: "v1",
			Description: "Every path but /healthz and /v1/openapi.json needs `Authorization: Bearer TOKEN`. " +
				"The gateway writes an admin token to <data-dir>/admin.token and a read-only one to <data-dir>/reader.token. " +
				"Readers may only GET; /v1/audit is for admins.",
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
	// A field tagged `enum:"a,b"` gets those values in its schema.
	enums := openapi3gen.SchemaCustomizer(func(_ string, _ reflect.Type, tag reflect.StructTag, schema *openapi3.Schema) error {
		if e := tag.Get("enum"); e != "" {
			for _, v := range strings.Split(e, ",") {
				schema.Enum = append(schema.Enum, v)
			}
		}
		return nil
	})
	gen := openapi3gen.NewGenerator(openapi3gen.UseAllExportedFields(), enums)
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

	tags := map[string]bool{"meta": true}
	for _, r := range s.docs {
		method, path, _ := strings.Cut(r.pattern, " ")
		op := &openapi3.Operation{Summary: r.summary, Responses: openapi3.NewResponsesWithCapacity(8),
			Security: &openapi3.SecurityRequirements{{"bearer": {}}}}
		op.Description = "A reader or admin token."
		if r.role == RoleAdmin {
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
		for _, m := range pathParam.FindAllStringSubmatch(path, -1) {
			op.AddParameter(openapi3.NewPathParameter(m[1]).WithSchema(openapi3.NewStringSchema()))
		}
		seen := map[string]bool{}
		for _, m := range queryParam.FindAllStringSubmatch(r.summary, -1) {
			if seen[m[1]] {
				continue
			}
			seen[m[1]] = true
			schema := openapi3.NewStringSchema()
			switch m[1] {
			case "after", "limit":
				schema = openapi3.NewIntegerSchema().WithMin(0)
			case "continue":
				// Opaque, from a previous page: base64url without padding.
				schema = openapi3.NewStringSchema().WithPattern(`^[A-Za-z0-9_-]*$`)
			}
			op.AddParameter(openapi3.NewQueryParameter(m[1]).WithSchema(schema))
		}
		switch r.req.(type) {
		case nil:
		case []byte:
			op.RequestBody = &openapi3.RequestBodyRef{Value: openapi3.NewRequestBody().WithRequired(true).
				WithContent(openapi3.Content{"application/wasm": &openapi3.MediaType{Schema: openapi3.NewBytesSchema().NewRef()}})}
		default:
			op.RequestBody = &openapi3.RequestBodyRef{Value: openapi3.NewRequestBody().WithRequired(true).
				WithJSONSchemaRef(requestSchema(schemaOf(r.req), reflect.TypeOf(r.req), s.boards()))}
		}
		ok := http.StatusOK
		switch {
		case method == http.MethodDelete:
			ok = http.StatusNoContent
		case method == http.MethodPost && r.resp != nil && reflect.TypeOf(r.resp).Kind() == reflect.Struct && !strings.HasSuffix(path, "/check") && !strings.HasSuffix(path, "/revoke") && !strings.Contains(path, "/rollout/"):
			ok = http.StatusCreated
		}
		resp := openapi3.NewResponse().WithDescription(http.StatusText(ok))
		switch r.resp.(type) {
		case nil:
		case []byte:
			media := "text/plain"
			if path == "/v1/watch" {
				media = "text/event-stream"
			}
			resp.WithContent(openapi3.Content{media: &openapi3.MediaType{Schema: openapi3.NewStringSchema().NewRef()}})
		case derCRL:
			resp.WithContent(openapi3.Content{"application/pkix-crl": &openapi3.MediaType{Schema: openapi3.NewBytesSchema().NewRef()}})
		default:
			resp.WithContent(jsonContent(schemaOf(r.resp)))
		}
		op.AddResponse(ok, resp)
		if method == http.MethodPut {
			op.AddResponse(http.StatusCreated, openapi3.NewResponse().WithDescription("Created").WithContent(jsonContent(schemaOf(r.resp))))
		}
		problem := func(code int, why string) {
			op.AddResponse(code, openapi3.NewResponse().WithDescription(why).
				WithContent(openapi3.Content{"application/problem+json": &openapi3.MediaType{Schema: errSchema}}))
		}
		problem(http.StatusBadRequest, "The request is malformed or a value is out of bounds (code invalid)")
		problem(http.StatusUnauthorized, "No or an unknown bearer token (code unauthenticated)")
		problem(http.StatusForbidden, "The token's role does not allow it (code forbidden)")
		problem(http.StatusNotFound, "Not found (code not_found)")
		problem(http.StatusInternalServerError, "The gateway failed; its log has the details under the ref given (code internal)")
		if r.pattern != watchRoute {
			problem(http.StatusTooManyRequests, "The API is at its limit of requests in flight; Retry-After says when to try again (code too_many_requests)")
			op.Responses.Value("429").Value.Headers = openapi3.Headers{"Retry-After": &openapi3.HeaderRef{Value: &openapi3.Header{Parameter: openapi3.Parameter{
				Description: "Seconds to wait before retrying", Schema: openapi3.NewIntegerSchema().NewRef()}}}}
		}
		if r.req != nil {
			problem(http.StatusUnsupportedMediaType, "The body's Content-Type is not the one above (code unsupported_media_type)")
		}
		if method == http.MethodPut {
			op.AddParameter(openapi3.NewHeaderParameter("If-Match").WithSchema(openapi3.NewStringSchema()).
				WithDescription("Replace only if the object's ETag (GET, or the last PUT's answer) is this one"))
			problem(http.StatusPreconditionFailed, "If-Match does not match the object's ETag, or the object does not exist (code precondition_failed)")
		}
		if method == http.MethodPut || method == http.MethodPost && ok == http.StatusCreated {
			problem(http.StatusConflict, "Created concurrently by another request, or exists already (code conflict)")
		}
		if _, binary := r.req.([]byte); binary {
			problem(http.StatusRequestEntityTooLarge, "The module is over the size limit (code too_large)")
			problem(http.StatusUnprocessableEntity, "Not a valid WebAssembly module (code module_rejected)")
		}
		if strings.Contains(path, "/applications/{name}") && method == http.MethodPut || strings.HasSuffix(path, "/check") {
			problem(http.StatusUnprocessableEntity, "The module cannot run on a board it would land on; board names it (code module_rejected)")
		}
		if method == http.MethodDelete && strings.HasPrefix(path, "/v1/modules/") {
			problem(http.StatusConflict, "An application (its spec or stable release) or a deployment still needs the module; detail names them (code conflict)")
			problem(http.StatusMethodNotAllowed, "Kubernetes mode: modules are ConfigMaps, deleted with kubectl (code method_not_allowed)")
		}
		if strings.HasPrefix(path, "/v1/modules") && method == http.MethodGet {
			problem(http.StatusMethodNotAllowed, "Kubernetes mode: modules are ConfigMaps, listed with kubectl (code method_not_allowed)")
		}
		if strings.Contains(path, "/rollout/") {
			problem(http.StatusConflict, "The rollout's phase does not allow the action (code conflict)")
		}
		add(method, path, op)
	}
	for _, t := range slices.Sorted(maps.Keys(tags)) {
		doc.Tags = append(doc.Tags, &openapi3.Tag{Name: t, Description: tagDescriptions[t]})
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		panic("openapi: " + err.Error())
	}
	return append(b, '\n')
}

// tagDescriptions describe the OpenAPI tags (the collections the paths are under).
var tagDescriptions = map[string]string{
	"meta":         "The gateway itself: liveness and this document",
	"applications": "WebAssembly applications: spec, rollout, status, output",
	"audit":        "Changes made through the API",
	"ca":           "The certificate authority's root",
	"certificates": "The ledger of device certificates the CA signed",
	"crl":          "The certificate revocation list",
	"deployments":  "An application on a device, as last commanded and reported",
	"devices":      "Devices: registration, enrollment tokens, revocation",
	"events":       "What the gateway recorded",
	"gateways":     "Gateways and their registrations",
	"modules":      "Stored WebAssembly modules",
	"tokens":       "Enrollment tokens",
	"watch":        "Server-sent events of changes and events",
}

// requestSchema is a request body's schema as strict as the server reads it
// (readJSON): a copy (the generator shares schemas between types used in
// requests and answers) where objects with fields have no other properties,
// maps and lists may be null (read as empty), and the fields of t tagged
// `openapi:"required"` are required and not empty; a field tagged
// `openapi:"board"` is one of the boards the gateway knows.
func requestSchema(ref *openapi3.SchemaRef, t reflect.Type, boards []string) *openapi3.SchemaRef {
	raw, err := json.Marshal(ref)
	if err != nil {
		panic("openapi: " + err.Error())
	}
	var c openapi3.SchemaRef
	if err := json.Unmarshal(raw, &c); err != nil {
		panic("openapi: " + err.Error())
	}
	strict(c.Value, t, boards)
	return &c
}

func strict(s *openapi3.Schema, t reflect.Type, boards []string) {
	if s == nil {
		return
	}
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if len(s.Properties) > 0 {
		no := false
		s.AdditionalProperties = openapi3.AdditionalProperties{Has: &no}
	}
	for name, p := range s.Properties {
		if p.Value == nil {
			continue
		}
		if p.Value.Type.Is("object") && len(p.Value.Properties) == 0 || p.Value.Type.Is("array") {
			p.Value.Nullable = true
		}
		var ft reflect.Type
		if t != nil && t.Kind() == reflect.Struct {
			for i := range t.NumField() {
				f := t.Field(i)
				if jsonName(f) != name {
					continue
				}
				ft = f.Type
				for _, o := range strings.Split(f.Tag.Get("openapi"), ",") {
					switch o {
					case "required":
						s.Required = append(s.Required, name)
						p.Value.MinLength = 1
					case "board":
						for _, b := range boards {
							p.Value.Enum = append(p.Value.Enum, b)
						}
					}
				}
			}
		}
		strict(p.Value, ft, boards)
	}
	slices.Sort(s.Required)
}

// jsonName is the name a struct field has in JSON.
func jsonName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
	if name == "" {
		return f.Name
	}
	return name
}
