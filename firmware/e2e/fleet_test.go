//go:build qemu

package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/wasmbed/wasmbed/firmware/provision"
	"github.com/wasmbed/wasmbed/fleet"
	"github.com/wasmbed/wasmbed/gateway"
	"github.com/wasmbed/wasmbed/gateway/apiv1"
)

// app returns the example app name as WebAssembly: bin/apps (make apps), or compiled
// from examples/apps with wat2wasm.
func app(t *testing.T, name string) []byte {
	t.Helper()
	if b, err := os.ReadFile(filepath.Join("..", "..", "bin", "apps", name+".wasm")); err == nil {
		return b
	}
	out := filepath.Join(t.TempDir(), name+".wasm")
	if err := exec.Command("wat2wasm", filepath.Join("..", "..", "examples", "apps", name+".wat"), "-o", out).Run(); err != nil {
		t.Fatalf("no %s.wasm (make apps) and wat2wasm failed: %v", name, err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// foreignIdentity makes a device key and a certificate for name from a CA the
// gateway does not know: what a device provisioned for another fleet would hold.
func foreignIdentity(t *testing.T, name string) (key []byte, chain [][]byte) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Another Fleet Root CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ = x509.ParseCertificate(caDER)
	devKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	uri, _ := url.Parse("urn:wasmbed:device:" + name)
	leaf := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: name}, URIs: []*url.URL{uri},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	leafDER, err := x509.CreateCertificate(rand.Reader, leaf, ca, &devKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	scalar, err := devKey.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	return scalar, [][]byte{leafDER, caDER}
}

// Phase 5: the real gateway, two QEMU boards through the bridge. They enroll with their
// one-time tokens, go online over mutual TLS, receive the sensor app and publish
// values visible through the API; a trapping app is reported while the sensor keeps
// publishing; a device holding a certificate from another CA is refused.
func TestFleetEndToEnd(t *testing.T) {
	needQEMU(t)
	t.Parallel()
	ctx := context.Background()
	heartbeat := 2 * time.Second
	g := startGateway(t, gateway.Config{HeartbeatInterval: heartbeat})
	br := startBridge(t)
	t.Cleanup(func() { t.Log("bridge: ", br.Stats.String()) })

	devices := map[string]*qemu{}
	names := map[string]string{"stm32f4-discovery": "qemu-stm32", "mps2-an386": "qemu-mps2"}
	t0 := time.Now()
	for _, b := range boards {
		name := names[b.name]
		token := g.register(name, b.name, map[string]string{"role": "sensor", "board": b.name})
		elf := image(t, b.name, &provision.Bundle{Gateways: []string{g.device}, ServerName: "localhost", CARoot: g.caDER,
			Device: name, Token: token, TokenExpires: time.Now().Add(time.Hour)})
		devices[name] = boot(t, name, b.name, elf, br)
	}
	for name, q := range devices {
		t.Log(q.wait(`^enroll: certificate for `+name, 60*time.Second))
		t.Log(q.wait(`^session: online as `+name, 60*time.Second))
	}
	for name := range devices {
		eventually(t, 20*time.Second, name+" online", func() bool {
			d := g.deviceStatus(name)
			return d.Status.Phase == fleet.PhaseOnline && d.Status.CertSerial != ""
		})
	}
	t.Logf("enrolled and online in %v", time.Since(t0).Round(time.Millisecond))

	// The sensor app on both.
	mod, err := g.api.UploadModule(ctx, app(t, "sensor"))
	if err != nil {
		t.Fatal(err)
	}
	t1 := time.Now()
	if _, err := g.api.PutApplication(ctx, "sensor", apiv1.ApplicationSpec{Version: "1.0.0", SHA256: mod.SHA256,
		Config:   map[string]string{"offset": "100"},
		Limits:   fleet.Limits{Memory: 65536, TickMS: 200},
		Selector: fleet.Selector{Labels: map[string]string{"role": "sensor"}}}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 60*time.Second, "sensor converged on both devices", func() bool {
		st, err := g.api.ApplicationStatus(ctx, "sensor")
		return err == nil && st.Converged && st.Updated == 2
	})
	published := func(device string, after time.Time) bool {
		out, err := g.api.ApplicationOutput(ctx, "sensor", device, 200)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range out {
			if r.Key == "temperature" && r.Value != nil && *r.Value > 100 && r.Time.After(after) {
				return true
			}
		}
		return false
	}
	for name := range devices {
		eventually(t, 30*time.Second, "temperature from "+name, func() bool { return published(name, t1.Add(-time.Minute)) })
	}
	t.Logf("sensor deployed and publishing in %v", time.Since(t1).Round(time.Millisecond))

	// A trapping app next to it (on the board with room for a second page of linear
	// memory): reported trapped, and the sensor goes on publishing there.
	trapMod, err := g.api.UploadModule(ctx, app(t, "trap"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.api.PutApplication(ctx, "crasher", apiv1.ApplicationSpec{Version: "0.1.0", SHA256: trapMod.SHA256,
		Limits:   fleet.Limits{Memory: 65536, TickMS: 200},
		Selector: fleet.Selector{Labels: map[string]string{"role": "sensor", "board": "mps2-an386"}}}); err != nil {
		t.Fatal(err)
	}
	var trappedAt time.Time
	eventually(t, 60*time.Second, "crasher trapped on qemu-mps2", func() bool {
		st, err := g.api.ApplicationStatus(ctx, "crasher")
		if err != nil {
			return false
		}
		for _, d := range st.Devices {
			if d.Device == "qemu-mps2" && d.State == "trapped" {
				trappedAt = time.Now()
				return true
			}
		}
		return false
	})
	t.Log(devices["qemu-mps2"].wait(`^app: crasher trapped`, 5*time.Second))
	eventually(t, 20*time.Second, "sensor values after the trap", func() bool { return published("qemu-mps2", trappedAt) })
	if st, _ := g.api.ApplicationStatus(ctx, "sensor"); st.Updated != 2 {
		t.Fatalf("sensor status after the trap: %+v", st)
	}
	// What the firmware's runtime measured of both apps reaches the API with
	// its heartbeats: the sensor's calls, fuel, values and its page; the
	// trap that stopped the crasher, which holds no memory since.
	var dm apiv1.DeviceMetrics
	eventually(t, 5*heartbeat, "qemu-mps2's measurements of its apps", func() bool {
		if dm, err = g.api.DeviceMetrics(ctx, "qemu-mps2"); err != nil {
			t.Fatal(err)
		}
		by := map[string]apiv1.AppMetrics{}
		for _, a := range dm.Apps {
			by[a.App] = a
		}
		s, c := by["sensor"], by["crasher"]
		return s.Calls > 2 && s.Fuel > s.Calls && s.Published >= s.Calls-1 && s.Memory == 65536 && s.Starts == 1 &&
			s.Traps == 0 && c.Traps == 1 && c.Memory == 0 && c.MemoryPeak == 65536 && c.Starts == 1
	})
	t.Logf("qemu-mps2 measured: %+v", dm.Apps)

	// A device with a certificate from another CA: the gateway refuses the handshake.
	key, chain := foreignIdentity(t, "qemu-rogue")
	g.register("qemu-rogue", "stm32f4-discovery", map[string]string{"role": "sensor"})
	elf := image(t, "stm32f4-discovery", &provision.Bundle{Gateways: []string{g.device}, ServerName: "localhost",
		CARoot: g.caDER, Device: "qemu-rogue", Key: key, Certs: chain})
	rogue := boot(t, "qemu-rogue", "stm32f4-discovery", elf, br)
	t.Log(rogue.wait(`^identity: factory certificate`, 30*time.Second))
	t.Log(rogue.wait(`^agent: session ended: .*(BadCertificate|UnknownCa|Closed|closed)`, 60*time.Second))
	rogue.wait(`^agent: reconnecting in`, 10*time.Second)
	if l, _ := rogue.find(regexpOnline, 0); l != "" {
		t.Fatalf("the rogue device got a session: %s", l)
	}
	if d := g.deviceStatus("qemu-rogue"); d.Status.Phase == fleet.PhaseOnline {
		t.Fatalf("the rogue device is %s", d.Status.Phase)
	}
	// The others were not disturbed.
	for name := range devices {
		if d := g.deviceStatus(name); d.Status.Phase != fleet.PhaseOnline {
			t.Fatalf("%s is %s", name, d.Status.Phase)
		}
	}
}
