//go:build qemu

package e2e

import (
	"net"
	"regexp"
	"testing"
	"time"

	"github.com/wasmbed/wasmbed/firmware/provision"
	"github.com/wasmbed/wasmbed/fleet"
	"github.com/wasmbed/wasmbed/gateway"
)

// A bundle listing a gateway that is not there first: the device moves on to the next
// gateway after a short pause (at most the minimum backoff, 1 s), not a growing
// backoff, enrolls and comes online there; when that gateway goes away too, it walks
// the bundle again (the dead endpoint, then its gateway) until it is back.
func TestFailoverToNextGateway(t *testing.T) {
	needQEMU(t)
	t.Parallel()
	cfg := gateway.Config{HeartbeatInterval: 2 * time.Second}
	g := startGateway(t, cfg)
	br := startBridge(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := l.Addr().String() // nothing listens there once closed
	l.Close()
	const name = "qemu-failover"
	token := g.register(name, "stm32f4-discovery", nil)
	elf := image(t, "stm32f4-discovery", &provision.Bundle{Gateways: []string{dead, g.device}, ServerName: "localhost",
		CARoot: g.caDER, Device: name, Token: token})
	q := boot(t, name, "stm32f4-discovery", elf, br)
	next := q.wait(`^agent: reconnecting in [0-9]+ ms to `+regexp.QuoteMeta(g.device), 60*time.Second)
	t.Log(next)
	if ms := waitMS(t, next); ms > 1000 {
		t.Fatalf("moved on to the next gateway after %d ms, want at most the minimum backoff (1000 ms)", ms)
	}
	q.wait(`^session: online as `+name, 60*time.Second)
	eventually(t, 20*time.Second, "online", func() bool { return g.deviceStatus(name).Status.Phase == fleet.PhaseOnline })

	// Its gateway goes away: the device walks the bundle (the dead endpoint, then its
	// gateway again) and is back once the gateway is.
	mark := q.mark()
	dir, apiAddr, devAddr := g.dir, g.apiAddr, g.device
	g.stop()
	t.Log(q.waitFrom(mark, `^agent: reconnecting in [0-9]+ ms to `+regexp.QuoteMeta(dead), 30*time.Second))
	t.Log(q.waitFrom(mark, `^agent: reconnecting in [0-9]+ ms to `+regexp.QuoteMeta(devAddr), 30*time.Second))
	g = startGatewayAt(t, dir, apiAddr, devAddr, cfg)
	t.Log(q.waitFrom(mark, `^session: online as `+name, 60*time.Second))
}

var reconnectMS = regexp.MustCompile(`reconnecting in ([0-9]+) ms`)

func waitMS(t *testing.T, line string) int {
	t.Helper()
	m := reconnectMS.FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("no wait in %q", line)
	}
	n := 0
	for _, c := range m[1] {
		n = n*10 + int(c-'0')
	}
	return n
}
