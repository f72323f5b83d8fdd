//go:build qemu

package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/wasmbed/wasmbed/firmware/provision"
	"github.com/wasmbed/wasmbed/fleet"
	"github.com/wasmbed/wasmbed/gateway"
	"github.com/wasmbed/wasmbed/gateway/apiv1"
)

// One board through the life of a device: the gateway goes away and comes back (the
// device reconnects with backoff, its app kept running and not sent again), the
// certificate is renewed over the session at two thirds of its life, and a system
// reset keeps the identity (the renewed certificate opens the next session, without a
// new token) while the app, whose module lived in RAM, is deployed again.
func TestReconnectRenewReset(t *testing.T) {
	needQEMU(t)
	t.Parallel()
	ctx := context.Background()
	cfg := gateway.Config{HeartbeatInterval: 2 * time.Second, CertTTL: time.Minute} // step-ca's minimum
	g := startGateway(t, cfg)
	br := startBridge(t)
	const name = "qemu-life"
	token := g.register(name, "stm32f4-discovery", map[string]string{"role": "sensor"})
	elf := image(t, "stm32f4-discovery", &provision.Bundle{Gateways: []string{g.device}, ServerName: "localhost",
		CARoot: g.caDER, Device: name, Token: token})
	q := bootWith(t, name, "stm32f4-discovery", elf, br, true)
	q.wait(`^session: online as `+name, 60*time.Second)
	enrolled := time.Now()
	serial := g.deviceStatus(name).Status.CertSerial

	mod, err := g.api.UploadModule(ctx, app(t, "sensor"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.api.PutApplication(ctx, "sensor", apiv1.ApplicationSpec{Version: "1.0.0", SHA256: mod.SHA256,
		Config: map[string]string{"offset": "100"}, Limits: fleet.Limits{Memory: 65536, TickMS: 200},
		Selector: fleet.Selector{Labels: map[string]string{"role": "sensor"}}}); err != nil {
		t.Fatal(err)
	}
	publishedAfter := func(after time.Time) func() bool {
		return func() bool {
			out, err := g.api.ApplicationOutput(ctx, "sensor", name, 50)
			if err != nil {
				return false
			}
			for _, r := range out {
				if r.Key == "temperature" && r.Time.After(after) {
					return true
				}
			}
			return false
		}
	}
	eventually(t, 30*time.Second, "sensor values", publishedAfter(time.Now().Add(-time.Minute)))

	// The gateway goes away: the device loses its session and retries with backoff.
	mark := q.mark()
	dir, apiAddr, devAddr := g.dir, g.apiAddr, g.device
	g.stop()
	t.Log(q.waitFrom(mark, `^agent: session ended`, 20*time.Second))
	t.Log(q.waitFrom(mark, `^agent: reconnecting in`, 10*time.Second))
	time.Sleep(2 * time.Second)
	g = startGatewayAt(t, dir, apiAddr, devAddr, cfg)
	back := time.Now()
	t.Log(q.waitFrom(mark, `^session: online as `+name, 60*time.Second))
	eventually(t, 20*time.Second, "online after the restart", func() bool { return g.deviceStatus(name).Status.Phase == fleet.PhaseOnline })
	eventually(t, 20*time.Second, "sensor values after the restart", publishedAfter(back))
	if n := q.count(`^deploy: sensor`); n != 1 {
		t.Fatalf("the sensor was deployed %d times; the app should have been kept", n)
	}
	t.Logf("reconnected %v after the gateway came back", time.Since(back).Round(time.Millisecond))

	// Renewal at two thirds of a one-minute certificate. The gateway keeps the new
	// certificate pending until the device opens a session with it.
	t.Log(q.wait(`^renew: new certificate`, time.Until(enrolled.Add(90*time.Second))))
	if s := g.deviceStatus(name).Status.CertSerial; s != serial {
		t.Fatalf("the device's certificate is %s before it used the renewed one, want %s", s, serial)
	}

	// A reset: the identity (with the renewed certificate) is kept in RAM, the module is
	// not; the app is reported downloading and the gateway deploys it again. The
	// session opens with the renewed certificate, which becomes the device's.
	mark = q.mark()
	q.reset()
	t.Log(q.waitFrom(mark, `^identity: kept across the reset`, 20*time.Second))
	t.Log(q.waitFrom(mark, `^session: online as `+name, 60*time.Second))
	if l, _ := q.find(regexpEnroll, mark); l != "" {
		t.Fatalf("enrolled again after the reset: %s", l)
	}
	eventually(t, 10*time.Second, "the renewed certificate in use", func() bool {
		s := g.deviceStatus(name).Status.CertSerial
		return s != "" && s != serial
	})
	t.Log(q.waitFrom(mark, `^app: sensor generation [0-9]+ running`, 30*time.Second))
	afterReset := time.Now()
	eventually(t, 20*time.Second, "sensor values after the reset", publishedAfter(afterReset))
}
