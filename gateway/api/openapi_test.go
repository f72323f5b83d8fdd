package api

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
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
