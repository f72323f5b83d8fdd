// Package stepcatest runs a real step-ca server (the binaries `make setup`
// builds into bin/) for tests of the external-CA mode.
package stepcatest

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.step.sm/crypto/pemutil"
)

// Bin finds a binary built by `make setup`: in $WASMBED_BIN, else in the
// repository's bin directory. A missing binary
// fails the test: skipping would hide that the external mode went untested.
func Bin(t testing.TB, name string) string {
	t.Helper()
	dir := os.Getenv("WASMBED_BIN")
	if dir == "" {
		_, file, _, _ := runtime.Caller(0)
		dir = filepath.Join(filepath.Dir(file), "..", "..", "bin")
	}
	path, err := filepath.Abs(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(path); err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
		t.Fatalf("%s not found at %s (WASMBED_BIN=%q): run make setup", name, path, os.Getenv("WASMBED_BIN"))
	}
	return path
}

// lockedBuffer collects a child process's output.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Server is a running step-ca with a JWK provisioner named "admin".
type Server struct {
	URL, Root, PasswordFile, Provisioner string
}

// Start initialises a CA with `step ca init` in a temporary STEPPATH
// and runs step-ca on a free port until the test ends. Each edit changes
// the configuration (ca.json, decoded) before step-ca starts.
func Start(t testing.TB, edits ...func(config map[string]any)) Server {
	t.Helper()
	step := Bin(t, "step")
	dir := t.TempDir()
	steppath := filepath.Join(dir, "step")
	pw := filepath.Join(dir, "pw")
	if err := os.WriteFile(pw, []byte("external-test-password\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := FreeAddr(t)
	initCmd := exec.Command(step, "ca", "init", "--name", "wasmbed-external-test", "--dns", "127.0.0.1",
		"--address", addr, "--provisioner", "admin", "--password-file", pw, "--deployment-type", "standalone")
	initCmd.Env = append(os.Environ(), "STEPPATH="+steppath, "HOME="+dir)
	if out, err := initCmd.CombinedOutput(); err != nil {
		t.Fatalf("step ca init: %v\n%s", err, out)
	}
	root := filepath.Join(steppath, "certs", "root_ca.crt")
	configure(t, filepath.Join(steppath, "config", "ca.json"), edits...)
	Run(t, filepath.Join(steppath, "config", "ca.json"), pw, root, "https://"+addr, steppath)
	return Server{URL: "https://" + addr, Root: root, PasswordFile: pw, Provisioner: "admin"}
}

// configure turns on step-ca's CRL (GET /1.0/crl), regenerated on every
// revocation, in the configuration `step ca init` wrote, and applies edits.
func configure(t testing.TB, config string, edits ...func(map[string]any)) {
	t.Helper()
	raw, err := os.ReadFile(config)
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := json.Unmarshal(raw, &cfg); err != nil {
		t.Fatalf("%s: %v", config, err)
	}
	cfg["crl"] = map[string]any{"enabled": true, "generateOnRevoke": true}
	for _, edit := range edits {
		edit(cfg)
	}
	if raw, err = json.MarshalIndent(cfg, "", "\t"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(config, raw, 0o600); err != nil {
		t.Fatal(err)
	}
}

// FreeAddr is a loopback address with a port free right now.
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// Run runs step-ca on config until the test ends and waits until it
// answers /health at url.
func Run(t testing.TB, config, pw, root, url, steppath string) {
	t.Helper()
	var out lockedBuffer
	srv := exec.Command(Bin(t, "step-ca"), config, "--password-file", pw)
	srv.Env = append(os.Environ(), "STEPPATH="+steppath, "HOME="+filepath.Dir(steppath))
	srv.Stdout, srv.Stderr = &out, &out
	if err := srv.Start(); err != nil {
		t.Fatalf("start step-ca: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- srv.Wait() }()
	t.Cleanup(func() {
		_ = srv.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = srv.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("step-ca output:\n%s", out.String())
		}
	})

	rootCert, err := pemutil.ReadCertificate(root)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(rootCert)
	hc := &http.Client{Timeout: time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	defer hc.CloseIdleConnections()
	deadline := time.Now().Add(15 * time.Second)
	for {
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("step-ca exited: %v\n%s", err, out.String())
		default:
		}
		resp, err := hc.Get(url + "/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("step-ca not healthy at %s after 15s: %v\n%s", url, err, out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}
