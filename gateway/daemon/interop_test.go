package daemon

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wasmbed/wasmbed/gateway"
	"github.com/wasmbed/wasmbed/protocol"
)

// syncBuffer is a bytes.Buffer safe for one writer and one reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestOpenSSLClientPipeliningAndKeyUpdate runs a device session from
// OpenSSL's s_client (another TLS 1.3 implementation than the gateway's and
// the devices'): hello and a heartbeat written together, in one record, get
// the welcome and the heartbeat's ack without the client sending more; and
// after the session has been idle for longer than the gateway's write
// deadline, a KeyUpdate asking the gateway to update too (s_client's "K"
// command) is answered and the session goes on.
func TestOpenSSLClientPipeliningAndKeyUpdate(t *testing.T) {
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Fatal("openssl is needed (make setup installs it): ", err)
	}
	// Sends are bounded by HandshakeTimeout: 1 s goes stale in the idle
	// time below; the heartbeat window (20 s) does not.
	h := startGateway(t, gateway.Config{HandshakeTimeout: time.Second, HeartbeatInterval: 4 * time.Second, MissedHeartbeats: 5})
	d := newTestDevice(t, h, "openssl-dev")
	d.connect()
	d.conn.Close()

	dir := t.TempDir()
	var chain []byte // what s_client sends after the leaf (-cert_chain)
	for _, der := range d.cert.Certificate[1:] {
		chain = append(chain, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	}
	chainFile := filepath.Join(dir, "chain.pem")
	if err := os.WriteFile(chainFile, chain, 0o600); err != nil {
		t.Fatal(err)
	}
	leaf := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: d.cert.Certificate[0]})
	keyDER, err := x509.MarshalPKCS8PrivateKey(d.key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := filepath.Join(dir, "device.pem"), filepath.Join(dir, "device.key")
	if err := os.WriteFile(certFile, leaf, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// -quiet keeps stdout to the application data; -no_ign_eof after it
	// keeps s_client's commands (K) on.
	cmd := exec.CommandContext(ctx, openssl, "s_client", "-connect", h.device, "-tls1_3", "-CAfile", filepath.Join(h.dir, CACertFile),
		"-cert", certFile, "-cert_chain", chainFile, "-key", keyFile, "-verify_return_error", "-quiet", "-no_ign_eof")
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { stdin.Close(); cancel(); cmd.Wait() }()

	var out bytes.Buffer
	frames := protocol.NewStream(&out, protocol.MaxFrameSize)
	in := protocol.NewStream(struct {
		io.Reader
		io.Writer
	}{stdout, io.Discard}, protocol.MaxFrameSize)
	type result struct {
		env protocol.Envelope
		err error
	}
	got := make(chan result, 8)
	go func() {
		for {
			env, err := in.Receive()
			got <- result{env, err}
			if err != nil {
				return
			}
		}
	}()
	next := func(what string, timeout time.Duration) protocol.Envelope {
		t.Helper()
		select {
		case r := <-got:
			if r.err != nil {
				t.Fatalf("%s: %v (s_client: %s)", what, r.err, stderr.String())
			}
			return r.env
		case <-time.After(timeout):
			t.Fatalf("%s: nothing within %v (s_client: %s)", what, timeout, stderr.String())
		}
		panic("unreachable")
	}

	// hello and a heartbeat in one write: s_client sends them in one record.
	frames.Send(protocol.Envelope{RequestID: 1, Msg: &protocol.Hello{ABIVersion: 1, Board: "stm32f4-discovery", Firmware: "openssl",
		RAMFree: 65536, FlashFree: 262144, MaxFrame: 4096}})
	frames.Send(protocol.Envelope{RequestID: 2, Msg: &protocol.Heartbeat{Seq: 1}})
	if _, err := stdin.Write(out.Bytes()); err != nil {
		t.Fatal(err)
	}
	if w, ok := next("answer to hello", 20*time.Second).Msg.(*protocol.Welcome); !ok || w.Device != d.name {
		t.Fatalf("answer to hello: not a welcome for %s", d.name)
	}
	// The ack comes with nothing more sent: well before the heartbeat window.
	if ack, ok := next("answer to the pipelined heartbeat", 3*time.Second).Msg.(*protocol.HeartbeatAck); !ok || ack.Seq != 1 {
		t.Fatalf("answer to the pipelined heartbeat: %#v", ack)
	}

	// Idle past the write deadline the last send left, then a KeyUpdate
	// that requests the gateway's.
	time.Sleep(2 * time.Second)
	io.WriteString(stdin, "K\n")
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(stderr.String(), "KEYUPDATE") {
		if time.Now().After(deadline) {
			t.Fatalf("s_client sent no key update: %s", stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // a separate read for s_client: not part of the command line
	out.Reset()
	frames.Send(protocol.Envelope{RequestID: 3, Msg: &protocol.Heartbeat{Seq: 2}})
	stdin.Write(out.Bytes())
	if ack, ok := next("heartbeat after the key update", 10*time.Second).Msg.(*protocol.HeartbeatAck); !ok || ack.Seq != 2 {
		t.Fatalf("heartbeat after the key update: %#v", ack)
	}
	eventually(t, "the device online", func() bool {
		var dev struct{ Status struct{ Phase string } }
		h.must(200, "GET", "/v1/devices/"+d.name, nil, &dev)
		return dev.Status.Phase == "online"
	})
}
