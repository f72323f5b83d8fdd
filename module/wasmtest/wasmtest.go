// Package wasmtest turns WebAssembly text into binary modules for tests, with
// wabt's wat2wasm (Debian package wabt, installed by `make setup`). A missing
// wat2wasm fails the test: modules are never skipped.
package wasmtest

import (
	"crypto/sha256"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
)

var (
	mu    sync.Mutex
	cache = map[[32]byte][]byte{}
)

// AppsDir is examples/apps in the source tree, where the example apps' WAT
// sources live.
func AppsDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "examples", "apps")
}

// PinTrapApp is the WebAssembly text of an app that traps (unreachable) in
// its first tick where GPIO pin reads high (a device of a faulty hardware
// revision, in rollout tests) and elsewhere publishes health = 1 each tick.
func PinTrapApp(pin int) string {
	return `(module
  (import "wasmbed" "gpio_read" (func $gpio_read (param i32) (result i32)))
  (import "wasmbed" "publish" (func $publish (param i32 i32 f64) (result i32)))
  (memory (export "memory") 1 1)
  (data (i32.const 0) "health")
  (func (export "init"))
  (func (export "tick")
    (if (i32.eq (call $gpio_read (i32.const ` + strconv.Itoa(pin) + `)) (i32.const 1)) (then unreachable))
    (drop (call $publish (i32.const 0) (i32.const 6) (f64.const 1)))))`
}

// App compiles examples/apps/<name>.wat.
func App(t testing.TB, name string) []byte {
	t.Helper()
	src, err := os.ReadFile(filepath.Join(AppsDir(), name+".wat"))
	if err != nil {
		t.Fatalf("wasmtest: %v", err)
	}
	return WAT(t, string(src))
}

// WAT compiles WebAssembly text to a binary module. Results are cached per
// process by source.
func WAT(t testing.TB, src string) []byte {
	t.Helper()
	b, err := Compile(src)
	if err != nil {
		t.Fatalf("wasmtest: %v", err)
	}
	return b
}

// Compile is WAT for code without a testing.TB (benchmark setup, the simulator's tools).
func Compile(src string) ([]byte, error) {
	key := sha256.Sum256([]byte(src))
	mu.Lock()
	if b, ok := cache[key]; ok {
		mu.Unlock()
		return b, nil
	}
	mu.Unlock()
	tool, err := exec.LookPath("wat2wasm")
	if err != nil {
		return nil, &missingTool{err}
	}
	dir, err := os.MkdirTemp("", "wasmtest")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	in, out := filepath.Join(dir, "m.wat"), filepath.Join(dir, "m.wasm")
	if err := os.WriteFile(in, []byte(src), 0o600); err != nil {
		return nil, err
	}
	if msg, err := exec.Command(tool, "-o", out, in).CombinedOutput(); err != nil {
		return nil, &watError{err: err, out: strings.TrimSpace(string(msg))}
	}
	b, err := os.ReadFile(out)
	if err != nil {
		return nil, err
	}
	mu.Lock()
	cache[key] = b
	mu.Unlock()
	return b, nil
}

type missingTool struct{ err error }

func (e *missingTool) Error() string {
	return "wat2wasm not found (install Debian's wabt, e.g. with `make setup`): " + e.err.Error()
}

type watError struct {
	err error
	out string
}

func (e *watError) Error() string { return "wat2wasm: " + e.err.Error() + ": " + e.out }
