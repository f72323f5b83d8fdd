package corpus_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/wasmbed/wasmbed/board"
	"github.com/wasmbed/wasmbed/firmware/corpus"
	"github.com/wasmbed/wasmbed/module"
)

// The corpus is the same on every build: a size or a crash found with it is found again.
func TestDeterministic(t *testing.T) {
	a, b := corpus.All(), corpus.All()
	names := map[string]bool{}
	for i := range a {
		if !bytes.Equal(a[i].Wasm, b[i].Wasm) {
			t.Errorf("%s: two builds differ", a[i].Name)
		}
		if names[a[i].Name] {
			t.Errorf("%s twice", a[i].Name)
		}
		names[a[i].Name] = true
	}
	if !bytes.Equal(corpus.Ladder(20000).Wasm, corpus.Ladder(20000).Wasm) {
		t.Error("Ladder(20000): two builds differ")
	}
	// A change of the generator changes this digest: say so in the commit,
	// since sizes and findings recorded with the old corpus no longer apply.
	h := sha256.New()
	for _, e := range a {
		h.Write([]byte(e.Name))
		h.Write(e.Wasm)
	}
	if got := fmt.Sprintf("%x", h.Sum(nil)); got != corpusDigest {
		t.Errorf("corpus digest %s, expected %s (the generator changed: update corpusDigest)", got, corpusDigest)
	}
}

const corpusDigest = "8be068bb13306a390fb2b91c2d24e951b1e274b9333e004fc83469c3faa86912"

// The size ladder covers 1 KiB to 128 KiB of code, each within 5% (and a
// few hundred bytes) of its target; the sizes are what Entry says.
func TestSizes(t *testing.T) {
	for _, n := range corpus.LadderSizes {
		e := corpus.Ladder(n)
		if d := e.CodeBytes - n; d < -n/20-300 || d > n/20+300 {
			t.Errorf("%s: %d bytes of code for a target of %d", e.Name, e.CodeBytes, n)
		}
	}
	stm, _ := board.Lookup("stm32f4-discovery")
	mps, _ := board.Lookup("mps2-an386")
	t.Logf("%-18s %7s %7s %5s %8s  %-22s %-22s", "entry", "code", "module", "pages", "limit", stm.Name, mps.Name)
	for _, e := range corpus.All() {
		t.Logf("%-18s %7d %7d %5d %8d  %-22s %-22s", e.Name, e.CodeBytes, len(e.Wasm), e.Pages, e.Limits.Memory, verdict(e, stm), verdict(e, mps))
	}
}

func verdict(e corpus.Entry, p board.Profile) string {
	if v := e.Verdict(p); v.Reason != "" {
		return "refused: " + v.Reason
	}
	return e.Expect.State
}

// Every entry is accepted or refused by the gateway's module check exactly as
// its verdict for the board says, on every board profile.
func TestModuleCheck(t *testing.T) {
	ctx := context.Background()
	for _, p := range board.All() {
		for _, e := range corpus.All() {
			want := e.Verdict(p)
			_, err := module.Check(ctx, e.Wasm, p, module.Limits{Memory: e.Limits.Memory, Fuel: e.Limits.Fuel})
			var ce *module.CheckError
			switch {
			case want.Reason == "" && err != nil:
				t.Errorf("%s on %s: refused (%v), expected accepted", e.Name, p.Name, err)
			case want.Reason != "" && !errors.As(err, &ce):
				t.Errorf("%s on %s: %v, expected refused (%s)", e.Name, p.Name, err, want.Reason)
			case want.Reason != "" && string(ce.Reason) != want.Reason:
				t.Errorf("%s on %s: refused for %s (%v), expected %s", e.Name, p.Name, ce.Reason, err, want.Reason)
			}
		}
	}
}

// wabt's validator agrees with wazero: every module but the invalid ones
// validates (a second opinion on the encoder).
func TestWabtValidates(t *testing.T) {
	tool, err := exec.LookPath("wasm-validate")
	if err != nil {
		t.Fatal("wasm-validate not found (Debian's wabt: make setup)")
	}
	dir := t.TempDir()
	for _, e := range corpus.All() {
		f := filepath.Join(dir, e.Name+".wasm")
		if err := os.WriteFile(f, e.Wasm, 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(tool, f).CombinedOutput()
		if valid := e.Expect.Refused != corpus.ReasonInvalidWasm; valid != (err == nil) {
			t.Errorf("%s: wasm-validate: %v %s", e.Name, err, out)
		}
	}
}

// Every entry a board accepts does what its expectation says on the Go
// agent's runtime (wazero): behaving apps tick and publish Base+1, Base+2, ...;
// the others stop with the expected state and a reason.
func TestAgentRuns(t *testing.T) {
	t.Parallel()
	const ticks = 5
	for _, name := range []string{"stm32f4-discovery", "mps2-an386"} {
		p, _ := board.Lookup(name)
		for _, e := range corpus.All() {
			if e.Verdict(p).Reason != "" {
				continue
			}
			t.Run(name+"/"+e.Name, func(t *testing.T) {
				t.Parallel()
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer cancel()
				r, err := corpus.RunOnAgent(ctx, e, p, ticks, 2)
				if err != nil {
					t.Fatal(err)
				}
				if err := e.Check(r); err != nil {
					t.Fatal(err)
				}
				if e.Expect.Publish && (r.State == corpus.StateRunning && len(r.Sums) < ticks || r.State != corpus.StateRunning && len(r.Sums) != len(r.Ticks)) {
					t.Fatalf("%s: %d sums for %d ticks", r.State, len(r.Sums), len(r.Ticks))
				}
				if !e.Expect.Publish && e.Expect.State == corpus.StateRunning && r.Toggles < ticks {
					t.Fatalf("pin 0 changed %d times", r.Toggles)
				}
				if e.Expect.Publish && !slices.ContainsFunc(r.Logs, func(l string) bool { return l == "corpus "+e.Params.Name+" init" }) {
					t.Errorf("no init log line in %q", r.Logs)
				}
			})
		}
	}
}
