package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wasmbed/wasmbed/agent/agenttest"
)

// The command enrolls from a bundle file and connects to a gateway (here
// agenttest.Gateway, a scripted test double), then stops on cancel; a second
// start resumes from its directory without the bundle.
func TestRunEnrollsAndResumes(t *testing.T) {
	g := agenttest.NewGateway(t)
	dir := t.TempDir()
	b := g.Bundle("cmd-dev", "tok")
	b.CARoot, b.CARootFile = "", "ca.pem"
	if err := os.WriteFile(filepath.Join(dir, "ca.pem"), []byte(g.CAPEM()), 0o644); err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(b)
	bundle := filepath.Join(dir, "bundle.json")
	if err := os.WriteFile(bundle, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(dir, "state")
	for i, args := range [][]string{{"-dir", state, "-bundle", bundle}, {"-dir", state}} {
		ctx, cancel := context.WithCancel(context.Background())
		logs := &syncBuffer{}
		done := make(chan error, 1)
		go func() { done <- run(ctx, append(args, "-log-level", "debug"), logs) }()
		s := g.NextSession(t)
		if s.Device != "cmd-dev" {
			t.Fatalf("run %d: session for %q", i, s.Device)
		}
		for deadline := time.Now().Add(10 * time.Second); !strings.Contains(logs.String(), "session up"); {
			if time.Now().After(deadline) {
				t.Fatalf("run %d logs:\n%s", i, logs.String())
			}
			time.Sleep(5 * time.Millisecond)
		}
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("run %d: %v", i, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("run %d did not stop", i)
		}
	}
	if g.Enrollments.Load() != 1 {
		t.Errorf("%d enrollments", g.Enrollments.Load())
	}
}

// syncBuffer is a bytes.Buffer safe for the agent's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (w *syncBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *syncBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

func TestRunNeedsDir(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), nil, &out); err == nil {
		t.Fatal("ran without -dir")
	}
	if err := run(context.Background(), []string{"-dir", t.TempDir()}, &out); err == nil || !strings.Contains(err.Error(), "no provisioning bundle") {
		t.Fatalf("first start without a bundle: %v", err)
	}
}
