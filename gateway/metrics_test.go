package gateway

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The Grafana dashboard in config/grafana names only metrics the gateway
// defines (here and in gateway/api): a renamed metric fails this test, not
// a panel in production.
func TestGrafanaDashboardMetricsExist(t *testing.T) {
	defined := map[string]bool{}
	nameRE := regexp.MustCompile(`(?:Name:\s*|NewDesc\()"(wasmbed_[a-z0-9_]+)"`)
	for _, dir := range []string{".", "api"} {
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range nameRE.FindAllStringSubmatch(string(b), -1) {
				defined[m[1]] = true
			}
		}
	}
	if len(defined) < 10 {
		t.Fatalf("found %d metric definitions: the search is broken", len(defined))
	}
	dashboards, err := filepath.Glob("../config/grafana/*.json")
	if err != nil || len(dashboards) == 0 {
		t.Fatalf("no dashboard in config/grafana: %v", err)
	}
	useRE := regexp.MustCompile(`wasmbed_[a-z0-9_]+`)
	for _, path := range dashboards {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var d struct {
			Panels []struct {
				Title   string `json:"title"`
				Targets []struct {
					Expr string `json:"expr"`
				} `json:"targets"`
			} `json:"panels"`
		}
		if err := json.Unmarshal(b, &d); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		used := 0
		for _, p := range d.Panels {
			for _, tg := range p.Targets {
				for _, m := range useRE.FindAllString(tg.Expr, -1) {
					used++
					base := m
					for _, suffix := range []string{"_bucket", "_sum", "_count"} {
						if trimmed, ok := strings.CutSuffix(m, suffix); ok && defined[trimmed] {
							base = trimmed
						}
					}
					if !defined[base] {
						t.Errorf("%s: panel %q uses %s, which the gateway does not define", path, p.Title, m)
					}
				}
			}
		}
		if used == 0 {
			t.Errorf("%s: no panel uses a gateway metric", path)
		}
	}
}
