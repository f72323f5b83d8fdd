package api

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/wasmbed/wasmbed/board"
)

// The generated document is valid OpenAPI 3, lists every route, and
// docs/openapi.json is the same document (make generate writes it).
func TestOpenAPIDocument(t *testing.T) {
	s := New(nil, nil, nil, board.Names, nil, slog.Default())
	raw := s.OpenAPI()
	doc, err := openapi3.NewLoader().LoadFromData(raw)
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("invalid OpenAPI: %v", err)
	}
	ids := map[string]string{}
	for _, r := range s.docs {
		method, path, _ := strings.Cut(r.pattern, " ")
		item := doc.Paths.Find(path)
		if item == nil || item.GetOperation(method) == nil {
			t.Errorf("route %s missing from the document", r.pattern)
			continue
		}
		op := item.GetOperation(method)
		if op.OperationID == "" || ids[op.OperationID] != "" {
			t.Errorf("route %s: operationId %q (also %s)", r.pattern, op.OperationID, ids[op.OperationID])
		}
		ids[op.OperationID] = r.pattern
		// Every query parameter the summary names is declared.
		for _, m := range queryParam.FindAllStringSubmatch(r.summary, -1) {
			if op.Parameters.GetByInAndName("query", m[1]) == nil {
				t.Errorf("route %s: query parameter %s not declared", r.pattern, m[1])
			}
		}
		// Every error is the problem schema.
		for code, resp := range op.Responses.Map() {
			if code >= "400" && resp.Value.Content.Get("application/problem+json") == nil {
				t.Errorf("route %s: %s is not a problem", r.pattern, code)
			}
		}
	}
	for _, tag := range doc.Tags {
		if tag.Description == "" {
			t.Errorf("tag %s has no description (tagDescriptions)", tag.Name)
		}
	}
	if ids["listDevices"] != "GET /v1/devices" {
		t.Errorf("operationId listDevices is %q", ids["listDevices"])
	}
	path := filepath.Join("..", "..", "docs", "openapi.json")
	if os.Getenv("WASMBED_UPDATE_OPENAPI") != "" {
		if err := os.WriteFile(path, raw, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	committed, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(committed, raw) {
		t.Fatal("docs/openapi.json is out of date: run make generate")
	}
}

// The document is OpenAPI 3.1 through and through: no schema keeps a form
// of 3.0 (nullable, example, a boolean exclusive bound, format binary).
func TestOpenAPI31Forms(t *testing.T) {
	s := New(nil, nil, nil, board.Names, nil, slog.Default())
	doc, err := openapi3.NewLoader().LoadFromData(s.OpenAPI())
	if err != nil {
		t.Fatal(err)
	}
	if !doc.IsOpenAPI31OrLater() || doc.IsOpenAPI32OrLater() || doc.JSONSchemaDialect == "" {
		t.Errorf("openapi %q, jsonSchemaDialect %q: want 3.1.x and a dialect", doc.OpenAPI, doc.JSONSchemaDialect)
	}
	nulls := 0
	doc.WalkSchemas(func(at string, ref *openapi3.SchemaRef) error {
		sc := ref.Value
		if sc.Nullable || sc.Example != nil || sc.ExclusiveMin.Bool != nil || sc.ExclusiveMax.Bool != nil || sc.Format == "binary" {
			t.Errorf("%s: an OpenAPI 3.0 form", at)
		}
		if sc.Format == "byte" && sc.ContentEncoding != "base64" {
			t.Errorf("%s: format byte without contentEncoding base64", at)
		}
		if sc.Type.IncludesNull() {
			nulls++
			if len(sc.Enum) > 0 && !slices.Contains(sc.Enum, nil) {
				t.Errorf("%s: may be null, but its enum refuses null", at)
			}
		}
		return nil
	})
	if nulls == 0 {
		t.Error(`no schema has "null" in its type: the conversion from nullable did not run`)
	}
	// The example CSR that make contract-test seeds with.
	cert := doc.Paths.Find("/v1/certificates").Post.RequestBody.Value.Content.Get("application/json").Schema.Value
	if len(cert.Examples) != 1 || cert.Examples[0].(map[string]any)["csr_pem"] != exampleCSR {
		t.Errorf("POST /v1/certificates examples: %v", cert.Examples)
	}
}

// inputKeywords are the keywords the schemas requests are checked against
// may use: those kin-openapi's own validator checks (checkInput uses it, not
// the JSON Schema 2020-12 one), and annotations.
var inputKeywords = map[string]bool{
	"type": true, "enum": true, "format": true, "pattern": true, "minLength": true, "maxLength": true,
	"minimum": true, "maximum": true, "items": true, "maxItems": true, "minItems": true, "uniqueItems": true,
	"properties": true, "required": true, "additionalProperties": true, "maxProperties": true,
	"description": true, "examples": true, "contentEncoding": true,
}

// The schemas requests are checked against mean the same to kin-openapi's
// own validator (checkInput's) as to the JSON Schema 2020-12 validator it
// runs for OpenAPI 3.1 (openapi3.EnableJSONSchema2020): they use no keyword
// the first does not check, and both accept and refuse the same values:
// each body's examples and a value made from its schema, and every variant
// of those with one value replaced, removed or added.
func TestInputSchemasAs2020(t *testing.T) {
	s := New(nil, nil, nil, board.Names, nil, slog.Default())
	checked := 0
	agree := func(what string, sc *openapi3.Schema, v any) {
		t.Helper()
		checked++
		err30, err2020 := sc.VisitJSON(v), sc.VisitJSON(v, openapi3.EnableJSONSchema2020())
		if (err30 == nil) != (err2020 == nil) {
			b, _ := json.Marshal(v)
			t.Errorf("%s: %s: kin-openapi's validator says %v, JSON Schema 2020-12's %v", what, b, err30, err2020)
		}
	}
	for _, r := range s.docs {
		in := s.inputs[r.pattern]
		for name, sc := range in.path {
			keywords(t, r.pattern+" path "+name, sc)
			for _, v := range []any{"dev-1", "check", "", "bad name", strings.Repeat("a", 64), strings.Repeat("a", 65),
				strings.Repeat("0", 64), "0", "A", nil, 1.0} {
				agree(r.pattern+" path "+name, sc, v)
			}
		}
		if in.body == nil {
			continue
		}
		keywords(t, r.pattern+" body", in.body)
		seeds := append([]any{sample(in.body), map[string]any{}}, in.body.Examples...)
		for _, seed := range seeds {
			// Through JSON: the values a request's body decodes to.
			raw, _ := json.Marshal(seed)
			var v any
			json.Unmarshal(raw, &v)
			for _, x := range variants(v) {
				agree(r.pattern+" body", in.body, x)
			}
		}
	}
	t.Logf("%d values checked", checked)
}

// keywords fails the test for a keyword of sc or its subschemas that is not
// in inputKeywords.
func keywords(t *testing.T, what string, sc *openapi3.Schema) {
	t.Helper()
	openapi3.NewSchemaRef("", sc).WalkSubtree(func(at string, ref *openapi3.SchemaRef) error {
		raw, _ := json.Marshal(ref.Value)
		var m map[string]any
		json.Unmarshal(raw, &m)
		for k := range m {
			if !inputKeywords[k] {
				t.Errorf("%s%s: keyword %s", what, at, k)
			}
		}
		return nil
	})
}

// sample is a value of sc that fills every property: the first enum value,
// the first of a few strings the schema accepts.
func sample(sc *openapi3.Schema) any {
	switch {
	case len(sc.Enum) > 0:
		return sc.Enum[0]
	case sc.Type.Includes("object"):
		m := map[string]any{}
		for name, p := range sc.Properties {
			m[name] = sample(p.Value)
		}
		if ap := sc.AdditionalProperties.Schema; ap != nil {
			m["k"] = sample(ap.Value)
		}
		return m
	case sc.Type.Includes("array"):
		return []any{sample(sc.Items.Value)}
	case sc.Type.Includes("integer"), sc.Type.Includes("number"):
		return 1.0
	case sc.Type.Includes("boolean"):
		return true
	}
	for _, v := range []string{"a", "1", "h:1", "k=v", "AAECAw==", strings.Repeat("0", 64), ""} {
		if sc.VisitJSON(v) == nil {
			return v
		}
	}
	return "a"
}

// variants are v and the values v becomes with one of its values (at any
// depth) replaced by an odd one, removed, or with one more.
func variants(v any) []any {
	odd := []any{nil, "", "bad key", -1.0, 0.0, 1.5, 1e16, true, []any{}, map[string]any{}, strings.Repeat("a", 300)}
	out := append([]any{v}, odd...)
	switch v := v.(type) {
	case map[string]any:
		for _, k := range slices.Sorted(maps.Keys(v)) {
			for _, x := range variants(v[k]) {
				m := maps.Clone(v)
				m[k] = x
				out = append(out, m)
			}
			m := maps.Clone(v)
			delete(m, k)
			out = append(out, m)
		}
		for _, k := range []string{"bad key", "unknown"} {
			m := maps.Clone(v)
			m[k] = "x"
			out = append(out, m)
		}
	case []any:
		for i := range v {
			for _, x := range variants(v[i]) {
				l := slices.Clone(v)
				l[i] = x
				out = append(out, l)
			}
		}
		out = append(out, append(slices.Clone(v), v...), []any{nil})
	}
	return out
}
