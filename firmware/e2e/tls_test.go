//go:build qemu

package e2e

import (
	"testing"
	"time"

	"github.com/wasmbed/wasmbed/firmware/provision"
	"github.com/wasmbed/wasmbed/gateway"
)

// Step 2: each QEMU board (and riscv32-virt, under Renode) runs a server-authenticated TLS 1.3 handshake with the real
// gateway through the bridge (the gateway's chain checked against the bundle's CA
// root), says hello and gets the enrollment session's welcome. The console reports the
// record sizes the buffers were chosen for. A gateway the bundle does not name, or
// whose chain another CA root did not issue, is refused.
func TestTLSHello(t *testing.T) {
	needQEMU(t)
	needRenode(t)
	t.Parallel()
	g := startGateway(t, gateway.Config{})
	br := startBridge(t)
	for _, b := range append(boards, renodeBoards...) {
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
	// The device checks the gateway (wasmbed_net::x509): a bundle whose server name the
	// gateway's certificate does not carry, or whose CA root did not issue it, fails.
	_, foreign := foreignIdentity(t, "nobody")
	for name, ca := range map[string][]byte{"wrong.example": g.caDER, "localhost": foreign[1]} {
		t.Run("refused-"+name, func(t *testing.T) {
			t.Parallel()
			elf := image(t, "stm32f4-discovery", &provision.Bundle{Gateways: []string{g.device}, ServerName: name,
				CARoot: ca, Device: "tls-refused", Diag: "tls"})
			q := boot(t, "stm32f4-discovery-tls-refused-"+name, "stm32f4-discovery", elf, br)
			t.Log(q.wait(`^tls: handshake failed: TLS: InvalidCertificate`, 60*time.Second))
		})
	}
}
