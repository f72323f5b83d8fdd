package abi_test

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wasmbed/wasmbed/abi"
	"github.com/wasmbed/wasmbed/protocol"
)

func readDoc(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../docs/abi.md")
	if err != nil {
		t.Fatalf("docs/abi.md: %v", err)
	}
	return string(b)
}

// The function table in docs/abi.md is what the firmware implements: every
// row must match the Go table exactly (name, type, feature), and the doc must
// have no function the Go table lacks.
func TestDocListsEveryFunction(t *testing.T) {
	doc := readDoc(t)
	for _, f := range abi.Functions() {
		row := "| `" + f.Name + "` | `" + f.Signature() + "` | `" + string(f.Feature) + "` |"
		if !strings.Contains(doc, row) {
			t.Errorf("docs/abi.md lacks the row %s", row)
		}
	}
	rows := 0
	for _, line := range strings.Split(doc, "\n") {
		if strings.HasPrefix(line, "| `") && strings.Count(line, "` | `") >= 2 && strings.Contains(line, " -> ") {
			rows++
		}
	}
	if rows != len(abi.Functions()) {
		t.Errorf("docs/abi.md has %d function rows, the table %d", rows, len(abi.Functions()))
	}
}

func TestDocListsEveryErrno(t *testing.T) {
	doc := readDoc(t)
	for _, e := range abi.Errnos() {
		row := "| `" + strconv.Itoa(int(e)) + "` | `" + e.String() + "` |"
		if !strings.Contains(doc, row) {
			t.Errorf("docs/abi.md lacks the row %s", row)
		}
	}
}

func TestTable(t *testing.T) {
	seen := map[string]bool{}
	features := map[abi.Feature]bool{}
	for _, f := range abi.Functions() {
		if seen[f.Name] {
			t.Errorf("%s listed twice", f.Name)
		}
		seen[f.Name] = true
		features[f.Feature] = true
		if len(f.Results) > 1 {
			t.Errorf("%s: more than one result", f.Name)
		}
		if got, ok := abi.Lookup(f.Name); !ok || got.Signature() != f.Signature() {
			t.Errorf("Lookup(%q) = %v, %v", f.Name, got, ok)
		}
		if !f.Matches(f.ParamTypes(), f.Results) {
			t.Errorf("%s does not match its own type", f.Name)
		}
		if err := protocol.ValidName(string(f.Feature)); err != nil {
			t.Errorf("%s: feature %q is not a protocol name: %v", f.Name, f.Feature, err)
		}
	}
	for _, f := range abi.Features() {
		if !features[f] {
			t.Errorf("feature %s has no function", f)
		}
	}
	if len(features) != len(abi.Features()) {
		t.Errorf("functions use %d features, Features lists %d", len(features), len(abi.Features()))
	}
	if _, ok := abi.Lookup("nope"); ok {
		t.Error("Lookup found an unknown function")
	}
	gw, _ := abi.Lookup("gpio_write")
	if gw.QualifiedName() != "wasmbed.gpio_write" || gw.Signature() != "(pin i32, value i32) -> i32" {
		t.Errorf("gpio_write: %s %s", gw.QualifiedName(), gw.Signature())
	}
	if gw.Matches([]abi.ValueType{abi.I32}, []abi.ValueType{abi.I32}) {
		t.Error("gpio_write matched a wrong type")
	}
}

// The table is data: callers must not be able to change it.
func TestFunctionsIsACopy(t *testing.T) {
	fs := abi.Functions()
	fs[0].Params[0].Type = abi.F64
	fs[0].Name = "changed"
	if f := abi.Functions()[0]; f.Name == "changed" || f.Params[0].Type == abi.F64 {
		t.Fatal("Functions returned the table itself")
	}
}

func TestVersionAndLevels(t *testing.T) {
	if abi.Version != protocol.ABIVersion {
		t.Fatalf("abi.Version %d, protocol.ABIVersion %d", abi.Version, protocol.ABIVersion)
	}
	if abi.LevelError != 1 || abi.LevelDebug != 4 {
		t.Fatal("log levels differ from the protocol's")
	}
}

func TestFuelBudget(t *testing.T) {
	for _, c := range []struct {
		fuel uint64
		want time.Duration
	}{
		{0, abi.MinFuelBudget},
		{1, abi.MinFuelBudget},
		{500_000_000, 500 * time.Millisecond},
		{1 << 62, abi.MaxFuelBudget},
		{^uint64(0), abi.MaxFuelBudget},
	} {
		if got := abi.FuelBudget(c.fuel); got != c.want {
			t.Errorf("FuelBudget(%d) = %v, want %v", c.fuel, got, c.want)
		}
	}
}
