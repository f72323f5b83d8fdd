package main

import (
	"fmt"
	"net"
	"path/filepath"
	"time"
)

// ---- stalled handshakes: the memory a connection costs the gateway while
// it has not authenticated and sends nothing more (a flood's cheapest
// form), with the gateway's defaults for its unauthenticated-work bounds.

// stalledPhase starts a fresh gateway, opens c.stalled connections to its
// device port that stall before or inside their ClientHello (a third send
// nothing, a third part of a record header, a third a header and part of
// the record), and records (VmRSS with them - VmRSS before) / connections
// the gateway held.
func stalledPhase(c *runConfig) error {
	addrs, err := loopbackAddrs(2)
	if err != nil {
		return err
	}
	apiAddr, devAddr := addrs[0], addrs[1]
	// The connections must outlive the measurement: a long handshake
	// deadline here (the default, 10 s, would end them while RSS settles).
	g, err := startGateway(c, filepath.Join(c.work, "stalled-data"), apiAddr, devAddr, "", "--handshake-timeout", "5m")
	if err != nil {
		return err
	}
	defer g.p.stop(30 * time.Second)
	idle, err := g.settledMemory()
	if err != nil {
		return err
	}
	cond := conditions(c.work)
	// From many loopback sources, under the per-source cap (default 128).
	const perSource = 100
	logf("opening %d stalled connections to the device port from %d source addresses; %s", c.stalled, (c.stalled+perSource-1)/perSource, cond)
	conns := make([]net.Conn, 0, c.stalled)
	defer func() {
		for _, cn := range conns {
			cn.Close()
		}
	}()
	for i := range c.stalled {
		src := i / perSource
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 1, byte(src>>8), byte(src&0xff+1))}, Timeout: 10 * time.Second}
		cn, err := d.Dial("tcp", devAddr)
		if err != nil {
			return fmt.Errorf("stalled connection %d: %w", i, err)
		}
		switch i % 3 {
		case 1:
			cn.Write([]byte{22, 3})
		case 2:
			cn.Write(append([]byte{22, 3, 1, 2, 0}, make([]byte, 100)...))
		}
		conns = append(conns, cn)
	}
	loaded, err := g.settledMemory()
	if err != nil {
		return err
	}
	held, err := g.api.metric("wasmbed_gateway_preauth_connections")
	if err != nil {
		return err
	}
	if held < float64(c.stalled)/2 {
		return fmt.Errorf("the gateway holds %.0f of %d stalled connections", held, c.stalled)
	}
	per := float64(loaded.RSS-idle.RSS) / held
	logf("gateway with %.0f stalled connections: VmRSS %.1f -> %.1f MiB, %d fds", held, mib(idle.RSS), mib(loaded.RSS), countFDs(g.p.pid()))
	result("gateway_stalled_handshake_bytes", per, "bytes", fmt.Sprintf(
		"(VmRSS with %.0f stalled pre-auth connections - VmRSS idle) / %.0f, /proc/PID/status of a fresh wasmbed-gateway with its default bounds "+
			"(--handshake-timeout 5m only, so that they outlive the measurement), read after 5 s of settling: %.1f -> %.1f MiB "+
			"(anonymous memory %.0f B/connection, of which Go heap in use %.0f B and goroutine stacks %.0f B; %.0f goroutines); "+
			"a third of the connections send nothing, a third 2 bytes of a record header, a third a header and 100 of its 512 bytes, "+
			"from %d loopback addresses (target <= 8192); the kernel's socket buffers are not in the process's RSS; %s",
		held, held, mib(idle.RSS), mib(loaded.RSS), float64(loaded.Anon-idle.Anon)/held, (loaded.heap-idle.heap)/held, (loaded.stack-idle.stack)/held,
		loaded.goroutines, (c.stalled+perSource-1)/perSource, cond))
	return nil
}
