package bridge

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// fakeDevice is the device side of a link, written out for the tests.
type fakeDevice struct {
	t     *testing.T
	c     net.Conn
	nonce uint32
}

func (d *fakeDevice) send(kind, id byte, p []byte) {
	d.t.Helper()
	if _, err := d.c.Write(frame(kind, id, p)); err != nil {
		d.t.Fatal(err)
	}
}

func (d *fakeDevice) recv() (kind, id byte, p []byte) {
	d.t.Helper()
	d.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	h := make([]byte, HeaderSize)
	if _, err := io.ReadFull(d.c, h); err != nil {
		d.t.Fatalf("recv: %v", err)
	}
	if h[0] != Sync {
		d.t.Fatalf("frame starts with %#x", h[0])
	}
	p = make([]byte, binary.BigEndian.Uint16(h[3:]))
	if _, err := io.ReadFull(d.c, p); err != nil {
		d.t.Fatal(err)
	}
	return h[1], h[2], p
}

func (d *fakeDevice) expect(kind, id byte) []byte {
	d.t.Helper()
	k, i, p := d.recv()
	if k != kind || i != id {
		d.t.Fatalf("got kind %d id %d (%q), want kind %d id %d", k, i, p, kind, id)
	}
	return p
}

func (d *fakeDevice) reset(window uint32) {
	d.t.Helper()
	d.nonce++
	p := binary.BigEndian.AppendUint32(nil, window)
	p = binary.BigEndian.AppendUint32(p, d.nonce)
	d.send(KindReset, 0, append(p, Magic...))
	for {
		k, _, p := d.recv()
		if k == KindReset && bytes.Equal(p, resetPayload(d.nonce)) {
			return
		}
	}
}

func echoServer(t *testing.T) (string, chan struct{}) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	closed := make(chan struct{}, 8)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				io.Copy(c, c)
				c.Close()
				closed <- struct{}{}
			}()
		}
	}()
	return l.Addr().String(), closed
}

func start(t *testing.T, cfg Config) (*Bridge, *fakeDevice) {
	b := New(cfg)
	dev, host := net.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		b.ServeLink(ctx, host)
		close(done)
	}()
	t.Cleanup(func() {
		cancel()
		dev.Close()
		<-done
	})
	d := &fakeDevice{t: t, c: dev}
	// The bridge says RESET first, whatever the device does.
	if k, _, p := d.recv(); k != KindReset || !bytes.Equal(p, resetPayload(0)) {
		t.Fatalf("first frame kind %d %q", k, p)
	}
	return b, d
}

func TestOpenEchoClose(t *testing.T) {
	addr, closed := echoServer(t)
	b, d := start(t, Config{})
	d.reset(4096)
	d.send(KindOpen, 1, []byte(addr))
	d.expect(KindOpened, 1)
	d.send(KindData, 1, []byte("hello through the modem"))
	var got []byte
	for len(got) < 23 {
		got = append(got, d.expect(KindData, 1)...)
	}
	if string(got) != "hello through the modem" {
		t.Fatalf("echo %q", got)
	}
	d.send(KindClose, 1, nil)
	d.expect(KindClosed, 1)
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("the TCP connection was not closed")
	}
	if b.Stats.Opens.Load() != 1 || b.Stats.Closes.Load() != 1 {
		t.Fatalf("stats %s", &b.Stats)
	}
}

func TestRefusedAndRemoteClose(t *testing.T) {
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := l.Addr().String()
	l.Close()
	_, d := start(t, Config{Allow: func(a string) error {
		if strings.HasPrefix(a, "10.") {
			return io.ErrUnexpectedEOF
		}
		return nil
	}})
	d.reset(4096)
	d.send(KindOpen, 1, []byte(dead))
	if why := d.expect(KindClosed, 1); !strings.Contains(string(why), "refused") {
		t.Fatalf("reason %q", why)
	}
	d.send(KindOpen, 2, []byte("10.1.1.1:9"))
	d.expect(KindClosed, 2)
	d.send(KindOpen, 3, []byte("no port"))
	d.expect(KindClosed, 3)

	// A server that answers and hangs up.
	srv, _ := net.Listen("tcp", "127.0.0.1:0")
	defer srv.Close()
	go func() {
		c, err := srv.Accept()
		if err == nil {
			c.Write([]byte("bye"))
			c.Close()
		}
	}()
	d.send(KindOpen, 4, []byte(srv.Addr().String()))
	d.expect(KindOpened, 4)
	if p := d.expect(KindData, 4); string(p) != "bye" {
		t.Fatalf("data %q", p)
	}
	if why := d.expect(KindClosed, 4); string(why) != "EOF" {
		t.Fatalf("reason %q", why)
	}
}

// The bridge never has more than the window outstanding toward the device.
func TestCreditWindow(t *testing.T) {
	srv, _ := net.Listen("tcp", "127.0.0.1:0")
	defer srv.Close()
	go func() {
		c, err := srv.Accept()
		if err == nil {
			c.Write(bytes.Repeat([]byte{'x'}, 20000))
			time.Sleep(2 * time.Second)
			c.Close()
		}
	}()
	_, d := start(t, Config{})
	const window = 2048
	d.reset(window)
	d.send(KindOpen, 1, []byte(srv.Addr().String()))
	d.expect(KindOpened, 1)
	// Reset reply (23) + OPENED (5) were counted too; read until the bridge stops.
	got := 23 + 5
	for {
		d.c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		h := make([]byte, HeaderSize)
		if _, err := io.ReadFull(d.c, h); err != nil {
			break
		}
		p := make([]byte, binary.BigEndian.Uint16(h[3:]))
		io.ReadFull(d.c, p)
		got += HeaderSize + len(p)
	}
	if got > window || got < window-MaxPayload {
		t.Fatalf("%d bytes outstanding with a window of %d", got, window)
	}
	// Credit everything: the rest flows.
	total := got - 28
	for total < 20000 {
		d.send(KindCredit, 0, binary.BigEndian.AppendUint32(nil, uint32(window)))
		p := d.expect(KindData, 1)
		total += len(p)
	}
}

// A device RESET (it rebooted) closes its connections.
func TestDeviceResetClosesConnections(t *testing.T) {
	addr, closed := echoServer(t)
	b, d := start(t, Config{})
	d.reset(4096)
	d.send(KindOpen, 1, []byte(addr))
	d.expect(KindOpened, 1)
	d.reset(4096)
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("the TCP connection survived the device reset")
	}
	d.send(KindData, 1, []byte("to nowhere")) // dropped
	d.send(KindOpen, 1, []byte(addr))
	d.expect(KindOpened, 1)
	if b.Stats.Resets.Load() != 2 {
		t.Fatalf("stats %s", &b.Stats)
	}
}
