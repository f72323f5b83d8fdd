package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/wasmbed/wasmbed/api/v1alpha1"
	"github.com/wasmbed/wasmbed/fleet/kubestore/kubetest"
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

func TestStoreFlagErrors(t *testing.T) {
	for args, want := range map[string]string{
		"--store bolt":    `--store "bolt": want embedded or kubernetes`,
		"--kubeconfig /x": "--kubeconfig and --namespace need --store kubernetes",
		"--store kubernetes --kubeconfig /nonexistent/kubeconfig": "/nonexistent/kubeconfig",
		"--advertise h:99999":                   "--advertise: addresses: \"h:99999\": want host:port, the port 1 to 65535",
		"--advertise h:8081 --advertise h:8081": "--advertise: addresses: \"h:8081\" is listed twice",
	} {
		cmd := newRoot()
		cmd.SetArgs(append([]string{"serve", "--data-dir", t.TempDir()}, strings.Fields(args)...))
		if err := cmd.Execute(); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("serve %s: %v, want an error with %q", args, err, want)
		}
	}
}

// serve --store kubernetes --kubeconfig PATH --namespace NS against a real
// API server: the gateway registers itself and reports in, until SIGINT.
func TestServeKubernetes(t *testing.T) {
	env := kubetest.Start(t)
	ns := env.Namespace(t)
	kubeconfig := env.Kubeconfig(t, env.Config, "default")
	cmd := newRoot()
	cmd.SetArgs([]string{"serve", "--store", "kubernetes", "--kubeconfig", kubeconfig, "--namespace", ns, "--name", "gw-cli",
		"--data-dir", t.TempDir(), "--api-addr", "127.0.0.1:0", "--device-addr", "127.0.0.1:0", "--log-level", "error"})
	done := make(chan error, 1)
	go func() { done <- cmd.Execute() }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		var gw v1alpha1.Gateway
		if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "gw-cli"}, &gw); err == nil && gw.Status.LastHeartbeatTime != nil {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("serve exited: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("the gateway did not register in namespace " + ns)
		}
		time.Sleep(50 * time.Millisecond)
	}
	syscall.Kill(os.Getpid(), syscall.SIGINT) // caught by serve's signal.NotifyContext
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop on SIGINT")
	}
}
