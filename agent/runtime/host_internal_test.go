package runtime

import (
	"testing"

	"github.com/wasmbed/wasmbed/abi"
)

// Every ABI function has an implementation, and nothing else does.
func TestHostFuncsCoverTheTable(t *testing.T) {
	if len(hostFuncs) != len(abi.Functions()) {
		t.Errorf("%d implementations for %d functions", len(hostFuncs), len(abi.Functions()))
	}
	for _, f := range abi.Functions() {
		if hostFuncs[f.Name] == nil {
			t.Errorf("no implementation of %s", f.QualifiedName())
		}
	}
}

func TestClip(t *testing.T) {
	for _, c := range []struct {
		s    string
		n    int
		want string
	}{{"abc", 5, "abc"}, {"abc", 2, "ab"}, {"aé", 2, "a"}, {"éé", 3, "é"}, {"", 0, ""}} {
		if got := clip(c.s, c.n); got != c.want {
			t.Errorf("clip(%q, %d) = %q", c.s, c.n, got)
		}
	}
}
