//go:build qemu

package e2e

import (
	"testing"
	"time"

	"github.com/wasmbed/wasmbed/firmware/provision"
	"github.com/wasmbed/wasmbed/gateway"
)

// Step 2: each QEMU board runs a server-authenticated TLS 1.3 handshake with the real
// gateway through the bridge (the gateway's chain checked against the bundle's CA
// root), says hello and gets the enrollment session's welcome. The console reports the
// record sizes the buffers were chosen for.
func TestTLSHello(t *testing.T) {
	needQEMU(t)
	t.Parallel()
	g := startGateway(t, gateway.Config{})
	br := startBridge(t)
	for _, b := range boards {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			elf := image(t, b.name, &provision.Bundle{Gateways: []string{g.device}, ServerName: "localhost",
				CARoot: g.caDER, Device: "tls-" + b.name, Diag: "tls"})
			q := boot(t, b.name+"-tls", b.name, elf, br)
			t.Log(q.wait(`^tls: handshake ok`, 60*time.Second))
			t.Log(q.wait(`^tls: welcome from gateway \(device ""`, 30*time.Second))
			t.Log(q.wait(`^tls: records`, 10*time.Second))
		})
	}
}
