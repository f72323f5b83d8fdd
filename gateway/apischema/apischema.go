// Package apischema holds the management API's request schemas: the
// patterns its names, versions, digests and addresses follow, the strict
// schema of a request body type (its fields' `openapi` tags applied), and
// schema validation errors in words. The gateway's API (gateway/api)
// builds its OpenAPI document and checks requests with it; the provider's
// kubernetes backend checks what it writes with it, so that both refuse
// the same bodies with the same words, without the provider linking the
// gateway.
package apischema

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3gen"

	"github.com/wasmbed/wasmbed/fleet"
	"github.com/wasmbed/wasmbed/protocol"
)

// Patterns of the document, the same as the Kubernetes resources'
// (api/v1alpha1): the server refuses what they do not match.
const (
	NamePattern       = `^[A-Za-z0-9][A-Za-z0-9._-]*$`
	VersionPattern    = `^[A-Za-z0-9][A-Za-z0-9._+-]*$`
	LabelValuePattern = `^([A-Za-z0-9][A-Za-z0-9._-]*)?$`
	SHA256Pattern     = `^[0-9a-f]{64}$`
	AddressPattern    = fleet.AddressPattern
	// MaxJSONInteger bounds the integers of request bodies: a JSON number
	// every client (JavaScript's included) reads exactly.
	MaxJSONInteger = 1<<53 - 1
)

// NameRules is what the description of a name says.
const NameRules = "letters, digits, '.', '_' or '-', the first a letter or digit, at most 64"

// Generator makes schemas of Go types: every exported field, and a field
// tagged `enum:"a,b"` gets those values in its schema.
func Generator() *openapi3gen.Generator {
	enums := openapi3gen.SchemaCustomizer(func(_ string, _ reflect.Type, tag reflect.StructTag, schema *openapi3.Schema) error {
		if e := tag.Get("enum"); e != "" {
			for _, v := range strings.Split(e, ",") {
				schema.Enum = append(schema.Enum, v)
			}
		}
		return nil
	})
	return openapi3gen.NewGenerator(openapi3gen.UseAllExportedFields(), enums)
}

// Body is the strict schema of request bodies of v's type (Request of its
// generated schema), for Check.
func Body(v any, boards []string) *openapi3.Schema {
	ref, err := Generator().NewSchemaRefForValue(v, openapi3.Schemas{})
	if err != nil {
		panic("openapi: " + err.Error())
	}
	return Request(ref, reflect.TypeOf(v), boards).Value
}

// Check checks body (any value, as JSON) against s: nil, or an error
// "request body: <where>: <why>" in Explain's words.
func Check(s *openapi3.Schema, body any) error {
	raw, err := json.Marshal(body)
	if err != nil {
		return err
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return err
	}
	if err := s.VisitJSON(v); err != nil {
		return errors.New("request body: " + Explain(err))
	}
	return nil
}

// Request is a request body's schema as strict as the server reads it
// (the API's readJSON): a copy (the generator shares schemas between types used in
// requests and answers) where objects with fields have no other properties,
// maps and lists may be null (read as empty), integers are within
// +-MaxJSONInteger, and fields follow their `openapi` tags (strict).
func Request(ref *openapi3.SchemaRef, t reflect.Type, boards []string) *openapi3.SchemaRef {
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

// strict applies the `openapi` tags of t's fields to their schemas in s:
//
//	required   the field is required and not empty
//	board      one of the boards the gateway knows (a list: each item)
//	name       a name (NamePattern, at most 64); name?: a name or empty
//	version    a version (VersionPattern, at most 64)
//	sha256     a lowercase hex sha256; sha256?: one or empty
//	address    each item host:port (AddressPattern)
//	labels     at most 64, values empty or names (keys too: checked by the server, 422)
//	config     at most 64, values of at most 256 characters (keys names and values
//	           at most 256 bytes: checked by the server, 422)
//	min=N, max=N, maxlen=N, maxitems=N, enum=a|b|...
func strict(s *openapi3.Schema, t reflect.Type, boards []string) {
	if s == nil {
		return
	}
	for t != nil && (t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Struct) {
		t = t.Elem()
	}
	if s.Type.Is("integer") {
		if s.Max == nil || *s.Max > MaxJSONInteger {
			s.Max = openapi3.Float64Ptr(MaxJSONInteger)
		}
		if s.Min == nil || *s.Min < -MaxJSONInteger {
			s.Min = openapi3.Float64Ptr(-MaxJSONInteger)
		}
	}
	if s.Items != nil {
		strict(s.Items.Value, t, boards)
	}
	if len(s.Properties) > 0 {
		no := false
		s.AdditionalProperties = openapi3.AdditionalProperties{Has: &no}
	}
	for name, p := range s.Properties {
		if p.Value == nil {
			continue
		}
		v := p.Value
		if v.Type.Is("object") && len(v.Properties) == 0 || v.Type.Is("array") {
			v.Nullable = true
		}
		var ft reflect.Type
		if t != nil && t.Kind() == reflect.Struct {
			for i := range t.NumField() {
				f := t.Field(i)
				if jsonName(f) != name {
					continue
				}
				ft = f.Type
				if d := f.Tag.Get("doc"); d != "" {
					v.Description = d
				}
				for _, o := range strings.Split(f.Tag.Get("openapi"), ",") {
					key, arg, _ := strings.Cut(o, "=")
					n, _ := strconv.ParseFloat(arg, 64)
					item := v
					if v.Items != nil {
						item = v.Items.Value
					}
					switch key {
					case "":
					case "required":
						s.Required = append(s.Required, name)
						v.MinLength = 1
					case "board":
						item.Enum = Anys(boards)
					case "name", "name?":
						item.Pattern, item.MaxLength = NamePattern, openapi3.Uint64Ptr(protocol.MaxNameLen)
						item.Description = "A name: " + NameRules
						if key == "name?" {
							item.Pattern = LabelValuePattern
							item.Description = "Empty, or a name: " + NameRules
						}
					case "version":
						v.Pattern, v.MaxLength = VersionPattern, openapi3.Uint64Ptr(protocol.MaxNameLen)
						v.Description = "A version: " + strings.Replace(NameRules, "'_' or '-'", "'_', '-' or '+'", 1)
					case "sha256":
						v.Pattern = SHA256Pattern
						v.Description = "The sha256 of a module POST /v1/modules stored, lowercase hex"
					case "sha256?":
						v.Pattern = `^([0-9a-f]{64})?$`
					case "address":
						item.Pattern = AddressPattern
						item.Description = "host:port, the port 1 to 65535 (an IPv6 host in brackets)"
						v.Description = "host:port where devices reach the gateway (an IPv6 host in brackets), each once"
						v.UniqueItems = true
						v.MaxItems = openapi3.Uint64Ptr(fleet.MaxAddresses)
					case "labels":
						v.MaxProps = openapi3.Uint64Ptr(fleet.MaxLabels)
						value := openapi3.NewStringSchema().WithPattern(LabelValuePattern).WithMaxLength(protocol.MaxNameLen)
						value.Description = "Empty, or a name: " + NameRules
						v.AdditionalProperties = openapi3.AdditionalProperties{Schema: value.NewRef()}
						v.Description = "At most 64; keys are names (" + NameRules + "), values names or empty"
					case "config":
						v.MaxProps = openapi3.Uint64Ptr(protocol.MaxConfigPairs)
						v.AdditionalProperties = openapi3.AdditionalProperties{Schema: openapi3.NewStringSchema().
							WithMaxLength(protocol.MaxTextLen).NewRef()}
						v.Description = "What the app reads with config_get: at most 64 entries; keys are names (" + NameRules +
							"), values at most 256 bytes"
					case "min":
						v.Min = openapi3.Float64Ptr(n)
					case "max":
						v.Max = openapi3.Float64Ptr(n)
					case "maxlen":
						v.MaxLength = openapi3.Uint64Ptr(uint64(n))
					case "maxitems":
						v.MaxItems = openapi3.Uint64Ptr(uint64(n))
					case "enum":
						v.Enum = Anys(strings.Split(arg, "|"))
						if v.Nullable { // a pointer (absent or null: unchanged): null is one of the values
							v.Enum = append(v.Enum, nil)
						}
					default:
						panic("openapi: field " + t.Name() + "." + f.Name + ": unknown openapi tag " + o)
					}
				}
			}
		}
		strict(v, ft, boards)
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

// Anys is s as a list of any (schema enums).
func Anys(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

// Explain words a schema validation error: where (a.b.0), what,
// and the description of the value when the schema has one.
func Explain(err error) string {
	var se *openapi3.SchemaError
	if !errors.As(err, &se) {
		return err.Error()
	}
	why := se.Reason
	switch se.SchemaField {
	case "properties":
		if _, name, ok := strings.Cut(se.Reason, `property "`); ok && strings.HasSuffix(se.Reason, `" is unsupported`) {
			why = `unknown field "` + strings.TrimSuffix(name, `" is unsupported`) + `"`
		}
	case "enum":
		var want []string
		for _, e := range se.Schema.Enum {
			want = append(want, fmt.Sprintf("%q", e))
		}
		why = fmt.Sprintf("%s: unknown; want one of %s", jsonText(se.Value), strings.Join(want, ", "))
	case "maximum":
		why = fmt.Sprintf("%s: at most %s", jsonText(se.Value), jsonText(*se.Schema.Max))
	case "minimum":
		why = fmt.Sprintf("%s: at least %s", jsonText(se.Value), jsonText(*se.Schema.Min))
	case "nullable":
		why = "null; want " + strings.Join(se.Schema.Type.Slice(), " or ")
	case "maxProperties":
		if m, ok := se.Value.(map[string]any); ok {
			why = fmt.Sprintf("%d entries, at most %d", len(m), *se.Schema.MaxProps)
		}
	}
	if se.Origin != nil {
		why = se.Origin.Error()
	}
	if d := se.Schema.Description; d != "" && se.SchemaField != "properties" && se.SchemaField != "required" {
		why += " (" + d + ")"
	}
	if at := se.JSONPointer(); len(at) > 0 {
		return strings.Join(at, ".") + ": " + why
	}
	return why
}

// jsonText is a JSON value as JSON says it (20000000000, not 2e+10).
func jsonText(v any) string {
	if f, ok := v.(float64); ok {
		return strconv.FormatFloat(f, 'f', -1, 64)
	}
	b, _ := json.Marshal(v)
	return string(b)
}
