package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Command line beats environment beats config file.
func TestFlagSources(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "gw.yaml")
	os.WriteFile(cfg, []byte("name: from-file\napi-addr: 127.0.0.1:1\nhost: [a.example, 10.0.0.1]\nmissed-heartbeats: 7\n"), 0o600)
	t.Setenv("WASMBED_GATEWAY_API_ADDR", "127.0.0.1:2")
	t.Setenv("WASMBED_GATEWAY_DEVICE_ADDR", "127.0.0.1:3")
	cmd := newServe()
	if err := cmd.ParseFlags([]string{"--config", cfg, "--device-addr", "127.0.0.1:4"}); err != nil {
		t.Fatal(err)
	}
	if err := applyEnvAndFile(cmd.Flags(), cfg); err != nil {
		t.Fatal(err)
	}
	get := func(name string) string { return cmd.Flags().Lookup(name).Value.String() }
	for name, want := range map[string]string{
		"name": "from-file", "api-addr": "127.0.0.1:2", "device-addr": "127.0.0.1:4",
		"host": "[a.example,10.0.0.1]", "missed-heartbeats": "7",
	} {
		if got := get(name); got != want {
			t.Errorf("--%s = %q, want %q", name, got, want)
		}
	}
}

func TestConfigFileErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("nmae: typo\n"), 0o600)
	if err := applyEnvAndFile(newServe().Flags(), bad); err == nil || !strings.Contains(err.Error(), `unknown key "nmae"`) {
		t.Fatalf("typo in config: %v", err)
	}
	t.Setenv("WASMBED_GATEWAY_MISSED_HEARTBEATS", "many")
	if err := applyEnvAndFile(newServe().Flags(), ""); err == nil || !strings.Contains(err.Error(), "WASMBED_GATEWAY_MISSED_HEARTBEATS") {
		t.Fatalf("bad env value: %v", err)
	}
}
