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
)

// The generated document is valid OpenAPI 3, lists every route, and
// docs/openapi.json is the same document (make generate writes it).
func TestOpenAPIDocument(t *testing.T) {
	s := New(nil, nil, nil, func() []string { return nil }, nil, slog.Default())
	raw := s.OpenAPI()
	doc, err := openapi3.NewLoader().LoadFromData(raw)
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("invalid OpenAPI: %v", err)
	}
	for _, r := range s.docs {
		method, path, _ := strings.Cut(r.pattern, " ")
		if item := doc.Paths.Find(path); item == nil || item.GetOperation(method) == nil {
			t.Errorf("route %s missing from the document", r.pattern)
		}
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
