package daemon

import (
	"bytes"
	"crypto/x509"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wasmbed/wasmbed/agent/sim"
	"github.com/wasmbed/wasmbed/fleet"
	"github.com/wasmbed/wasmbed/gateway"
	"github.com/wasmbed/wasmbed/gateway/apiv1"
	"github.com/wasmbed/wasmbed/module/wasmtest"
)

// A backup taken from a serving gateway through its API, restored into a
// new data directory, serves the same fleet: the devices reconnect with the
// certificates they hold (no enrollment), their app runs on, a revoked
// device stays refused and in the CRL, the tokens still work. A backup cut
// short, or a directory that is not empty, restores nothing.
func TestBackupAndRestore(t *testing.T) {
	cfg := gateway.Config{HeartbeatInterval: time.Second}
	a := startGatewayWith(t, Options{DataDir: t.TempDir(), Gateway: cfg})
	startFleet(t, a, 3, "linux", map[string]string{"role": "sensor"})
	a.must(http.StatusCreated, "PUT", "/v1/applications/sensor", map[string]any{"version": "1.0.0",
		"sha256": a.upload(wasmtest.App(t, "sensor")), "selector": map[string]any{"labels": map[string]string{"role": "sensor"}},
		"limits": map[string]any{"tick_ms": 100}}, nil)
	a.waitConverged("sensor", 3)
	revoked := sim.DefaultName(2)
	var dev fleet.Device
	a.must(http.StatusOK, "POST", "/v1/devices/"+revoked+"/revoke", nil, &dev)
	serial, ok := new(big.Int).SetString(dev.Status.CertSerial, 16)
	if !ok {
		t.Fatalf("revoked device's serial %q", dev.Status.CertSerial)
	}

	// A reader may not take a backup (it holds the CA's keys).
	if code := a.call(a.reader, "GET", "/v1/backup", nil, nil); code != http.StatusForbidden {
		t.Fatalf("a reader's backup: %d, want 403", code)
	}
	u, roots := a.api, a.roots
	client := apiv1.NewClient(mustURL(t, u), a.admin, roots)
	var archive bytes.Buffer
	if _, err := client.Backup(t.Context(), &archive); err != nil {
		t.Fatal(err)
	}
	deviceAddr, admin := a.device, a.admin
	a.stop()

	// Cut short, or into a directory in use: nothing restored.
	cut := t.TempDir() + "/cut"
	if _, err := Restore(bytes.NewReader(archive.Bytes()[:archive.Len()*2/3]), cut); err == nil {
		t.Fatal("a backup cut short restored")
	}
	if _, err := os.Stat(cut); !os.IsNotExist(err) {
		t.Fatalf("a failed restore left %s: %v", cut, err)
	}
	if _, err := Restore(bytes.NewReader(archive.Bytes()), a.dir); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Fatalf("restore into the old data directory: %v", err)
	}

	dir := filepath.Join(t.TempDir(), "restored")
	m, err := Restore(bytes.NewReader(archive.Bytes()), dir)
	if err != nil {
		t.Fatal(err)
	}
	if m.CA != "embedded" || m.CARecords < 4 || m.StoreBytes == 0 || m.Gateway != "gateway" {
		t.Fatalf("manifest %+v", m)
	}
	// The restored gateway on the old one's device address: the agents
	// reconnect to it as to the old one.
	b := startGatewayWith(t, Options{DataDir: dir, Gateway: cfg, APIAddr: "127.0.0.1:0", DeviceAddr: deviceAddr})
	if b.admin != admin {
		t.Fatal("the restored gateway has another admin token")
	}
	for i := range 2 {
		name := sim.DefaultName(i)
		eventually(t, name+" online on the restored gateway", func() bool { return b.deviceStatus(name).Status.Phase == fleet.PhaseOnline })
	}
	eventually(t, "sensor running on the two devices not revoked", func() bool {
		var st apiv1.ApplicationStatus
		b.must(http.StatusOK, "GET", "/v1/applications/sensor/status", nil, &st)
		n := 0
		for _, d := range st.Devices {
			if d.Device != revoked && d.State == "running" && d.Online {
				n++
			}
		}
		return n == 2
	})
	var out apiv1.OutputList
	restarted := time.Now()
	eventually(t, "values published on the restored gateway", func() bool {
		b.must(http.StatusOK, "GET", "/v1/applications/sensor/output?limit=100", nil, &out)
		for _, r := range out.Output {
			if r.Time.After(restarted) {
				return true
			}
		}
		return false
	})
	metrics := b.metrics()
	if strings.Contains(metrics, `wasmbed_gateway_enrollments_total{result="ok"}`) {
		t.Error("a device enrolled again on the restored gateway")
	}
	if d := b.deviceStatus(revoked); d.Status.Phase != fleet.PhaseRevoked {
		t.Errorf("the revoked device is %s on the restored gateway", d.Status.Phase)
	}
	// The CA's database came along: its CRL lists the revoked certificate.
	der := b.get("/v1/crl")
	crl, err := x509.ParseRevocationList(der)
	if err != nil {
		t.Fatal(err)
	}
	listed := false
	for _, e := range crl.RevokedCertificateEntries {
		listed = listed || e.SerialNumber.Cmp(serial) == 0
	}
	if !listed {
		t.Errorf("the restored CA's CRL does not list %s", serial.Text(16))
	}

	// A stopped gateway's data directory backs up too (the restored one's).
	b.stop()
	var offline bytes.Buffer
	m2, err := BackupDataDir(&offline, dir)
	if err != nil {
		t.Fatal(err)
	}
	if m2.CARecords < m.CARecords || m2.CA != "embedded" {
		t.Fatalf("offline backup: %+v, online %+v", m2, m)
	}
	if _, err := Restore(&offline, filepath.Join(t.TempDir(), "again")); err != nil {
		t.Fatal(err)
	}
}

// get is a GET's body with the reader's token, which must be 200.
func (h *harness) get(path string) []byte {
	h.t.Helper()
	req, _ := http.NewRequest("GET", h.api+path, nil)
	req.Header.Set("Authorization", "Bearer "+h.reader)
	resp, err := h.http.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		h.t.Fatalf("GET %s: %s %s", path, resp.Status, b)
	}
	return b
}

func mustURL(t testing.TB, raw string) *url.URL {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
