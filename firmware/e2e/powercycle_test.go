//go:build qemu

package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/wasmbed/wasmbed/firmware/emulator"
	"github.com/wasmbed/wasmbed/firmware/provision"
	"github.com/wasmbed/wasmbed/fleet"
	"github.com/wasmbed/wasmbed/gateway"
	"github.com/wasmbed/wasmbed/gateway/apiv1"
)

// A board's identity survives power loss: the emulator process is killed and a new
// one started on the same state directory (the board's flash, a semihosting file),
// and the device opens its session with the certificate it had, without enrolling
// again (its token is spent). On stm32f4-discovery the power is also cut in the middle
// of writing a renewed certificate to flash: the board comes back with the previous
// certificate, renews again, and keeps the new one across the next power cycle.
// Last, an app comes back after a power cut: the boot after it reports power_on,
// boot 1, like the boot before, and only its boot id tells the gateway that this is a
// new boot, whose apps are gone and must be deployed again.
func TestIdentitySurvivesPowerCycle(t *testing.T) {
	needQEMU(t)
	for _, b := range boards {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			powerCycle(t, b.name, b.name == "stm32f4-discovery")
		})
	}
}

func powerCycle(t *testing.T, board string, renewal bool) {
	// A one-minute certificate (step-ca's minimum) renews 40 s after it was issued.
	cfg := gateway.Config{HeartbeatInterval: 2 * time.Second, CertTTL: time.Minute}
	g := startGateway(t, cfg)
	br := startBridge(t)
	name := "cycle-" + board
	token := g.register(name, board, map[string]string{"cycle": name})
	bundle := func(diag string) *provision.Bundle {
		return &provision.Bundle{Gateways: []string{g.device}, ServerName: "localhost", CARoot: g.caDER,
			Device: name, Token: token, Diag: diag}
	}
	plain := image(t, board, bundle(""))
	state := t.TempDir()
	boots := 0
	power := func(elf string) *qemu {
		boots++
		return bootOpts(t, emulator.Options{Board: board, Image: elf, Bridge: br, Name: fmt.Sprintf("%s-%d", name, boots),
			Reboot: true, StateDir: state})
	}
	cut := func(q *qemu) {
		t.Helper()
		if err := q.dev.Stop(); err != nil {
			t.Fatal(err)
		}
	}
	// online: the board came back with its identity from flash, without enrolling.
	online := func(q *qemu) {
		t.Helper()
		t.Log(q.wait(`^identity: kept in flash`, 60*time.Second))
		t.Log(q.wait(`^session: online as `+name, 60*time.Second))
		if l, _ := q.find(regexpEnroll, 0); l != "" {
			t.Fatalf("enrolled again after a power cycle: %s", l)
		}
	}
	// The app, last: deployed, the power cut, the app back.
	appComesBack := func(q *qemu) {
		t.Helper()
		appAfterPowerCut(t, g, name, q, cut, func() *qemu {
			q := power(plain)
			online(q)
			return q
		})
	}

	q := power(plain)
	q.wait(`^session: online as `+name, 90*time.Second)
	q.wait(`^identity: written to flash`, 10*time.Second)
	enrolled := time.Now()
	serial := g.deviceStatus(name).Status.CertSerial
	if img, err := os.Stat(filepath.Join(state, "wasmbed-flash.img")); err != nil || img.Size() != 8192 {
		t.Fatalf("the emulated flash: %v, %v", img, err)
	}

	cut(q)
	q = power(plain)
	online(q)
	if got := g.deviceStatus(name).Status.CertSerial; got != serial {
		t.Fatalf("certificate serial %s after the power cycle, want %s", got, serial)
	}
	if !renewal {
		appComesBack(q)
		return
	}

	// The power goes at the 100th word of the renewed certificate's record (the record
	// is about 300 words): the new certificate was issued, the flash holds a torn record
	// after the old one. The test image cuts it (diag `powercut <n>`, firmware flash.rs).
	cut(q)
	q = power(image(t, board, bundle("powercut 100")))
	t.Log(q.wait(`^identity: kept in flash`, 60*time.Second))
	// The renewal's certificate arrives and is being written when the power goes:
	// the device says "renew: new certificate" only once it is kept, so never here.
	t.Log(q.wait(`^flash: power cut$`, time.Until(enrolled.Add(2*time.Minute))))
	if l, _ := q.find(regexp.MustCompile(`^renew: new certificate`), 0); l != "" {
		t.Fatalf("the renewal was said done before its write: %s", l)
	}
	select {
	case <-q.dev.Done():
	case <-time.After(20 * time.Second):
		t.Fatal("the board did not stop at the power cut")
	}
	cut(q)

	// Back with the old certificate, which the gateway still accepts (a renewal's
	// certificate is pending until the device uses it); it renews again.
	q = power(plain)
	online(q)
	if got := g.deviceStatus(name).Status.CertSerial; got != serial {
		t.Fatalf("certificate serial %s after the cut renewal, want the old %s", got, serial)
	}
	t.Log(q.wait(`^renew: new certificate`, 60*time.Second))
	t.Log(q.wait(`^identity: written to flash`, 10*time.Second))

	// The next power cycle opens the session with the renewed certificate, which
	// becomes the device's.
	cut(q)
	q = power(plain)
	online(q)
	eventually(t, 10*time.Second, "the renewed certificate in use", func() bool {
		s := g.deviceStatus(name).Status.CertSerial
		return s != "" && s != serial
	})
	appComesBack(q)
}

// appAfterPowerCut deploys the sensor app on the board (online, labelled cycle=name),
// cuts the power and powers it again, and checks that the gateway took the boot after
// the cut for a new boot (its boot id is new, the one the console printed) and deployed
// the sensor again: it runs at its generation and publishes.
func appAfterPowerCut(t *testing.T, g *gw, name string, q *qemu, cut func(*qemu), power func() *qemu) {
	t.Helper()
	ctx := context.Background()
	mod, err := g.api.UploadModule(ctx, app(t, "sensor"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.api.PutApplication(ctx, "sensor", apiv1.ApplicationSpec{Version: "1.0.0", SHA256: mod.SHA256,
		Config: map[string]string{"offset": "100"}, Limits: fleet.Limits{Memory: 65536, TickMS: 200},
		Selector: fleet.Selector{Labels: map[string]string{"cycle": name}}}); err != nil {
		t.Fatal(err)
	}
	published := func(after time.Time) bool {
		out, err := g.api.ApplicationOutput(ctx, "sensor", name, 200)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range out {
			if r.Key == "temperature" && r.Value != nil && r.Time.After(after) {
				return true
			}
		}
		return false
	}
	eventually(t, 60*time.Second, "sensor publishing", func() bool { return published(time.Time{}) })
	deps, err := g.api.Deployments(ctx, "sensor", name)
	if err != nil || len(deps) != 1 || deps[0].State != "running" {
		t.Fatalf("sensor before the power cut: %+v %v", deps, err)
	}
	gen := deps[0].Generation
	before := g.deviceStatus(name).Status.Reset
	if before == nil || before.BootID == 0 || before.Cause != "power_on" || before.Boots != 1 {
		t.Fatalf("the boot before the power cut: %+v", before)
	}

	cut(q)
	cutAt := time.Now()
	q = power()
	id := regexp.MustCompile(`^reset: boot id ([0-9a-f]{8})`).FindStringSubmatch(q.wait(`^reset: boot id `, 30*time.Second))
	eventually(t, 20*time.Second, "the boot after the power cut recorded", func() bool {
		r := g.deviceStatus(name).Status.Reset
		return r != nil && r.Time.After(cutAt)
	})
	after := g.deviceStatus(name).Status.Reset
	if after.Cause != "power_on" || after.Boots != 1 || after.BootID == before.BootID || fmt.Sprintf("%08x", after.BootID) != id[1] {
		t.Fatalf("the boot after the power cut: %+v (console: boot id %s), the one before: %+v", after, id[1], before)
	}
	t.Logf("boot id %08x before the power cut, %08x after", before.BootID, after.BootID)
	eventually(t, 60*time.Second, "sensor publishing again after the power cut", func() bool { return published(cutAt) })
	deps, err = g.api.Deployments(ctx, "sensor", name)
	if err != nil || len(deps) != 1 || deps[0].State != "running" || deps[0].Generation != gen {
		t.Fatalf("sensor after the power cut: %+v %v, had generation %d", deps, err, gen)
	}
}

// A board without its flash (QEMU with semihosting off) runs with its identity
// in RAM only, and says so to the gateway: a device.error event.
func TestNoFlashIsReported(t *testing.T) {
	needQEMU(t)
	t.Parallel()
	g := startGateway(t, gateway.Config{HeartbeatInterval: 2 * time.Second})
	br := startBridge(t)
	const name = "noflash"
	token := g.register(name, "mps2-an386", nil)
	elf := image(t, "mps2-an386", &provision.Bundle{Gateways: []string{g.device}, ServerName: "localhost", CARoot: g.caDER,
		Device: name, Token: token})
	q := bootOpts(t, emulator.Options{Board: "mps2-an386", Image: elf, Bridge: br, Name: name,
		Args: []string{"-semihosting-config", "enable=off"}})
	t.Log(q.wait(`^flash: no semihosting host`, 60*time.Second))
	t.Log(q.wait(`^session: online as `+name, 90*time.Second))
	eventually(t, 20*time.Second, "a device.error event about the flash", func() bool {
		evs, err := g.api.Events(context.Background(), 0, 1000)
		if err != nil {
			return false
		}
		for _, e := range evs {
			if e.Kind == "device.error" && e.Object == name && strings.Contains(e.Message, "no flash for the identity") {
				return true
			}
		}
		return false
	})
}
