//go:build unix

package tlsrecord

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

// pipeConn is a Conn over one end of a net.Pipe whose reading and writing
// keys are shared with peer (as in fuzzConn), so that a test can seal the
// records a client would send and open those the Conn sends back.
func pipeConn(t *testing.T) (c *Conn, peer *half, other net.Conn) {
	t.Helper()
	c, peer = fuzzConn(t)
	a, b := net.Pipe()
	t.Cleanup(func() { a.Close(); b.Close() })
	c.raw, c.werr = a, nil
	return c, peer, b
}

// openRecord reads one record from r and opens it with h (whose key
// matches the Conn's writing key), returning its content type and content.
func openRecord(t *testing.T, r io.Reader, h *half) (byte, []byte) {
	t.Helper()
	var hdr [headerLen]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		t.Fatalf("read record header: %v", err)
	}
	body := make([]byte, binary.BigEndian.Uint16(hdr[3:]))
	if _, err := io.ReadFull(r, body); err != nil {
		t.Fatalf("read record body: %v", err)
	}
	nonce := h.nonce()
	out, err := h.aead.Open(nil, nonce[:], body, hdr[:])
	if err != nil {
		t.Fatalf("open record: %v", err)
	}
	h.seq++
	i := bytes.LastIndexFunc(out, func(r rune) bool { return r != 0 })
	return out[i], out[:i]
}

// TestHandshakeRecordBoundaries: RFC 8446 section 5.1 lets handshake
// messages be fragmented and coalesced, except a message that immediately
// precedes a key change, which must align with a record boundary, or the
// connection is terminated with unexpected_message. After the handshake a
// client may only send KeyUpdate, which precedes a key change: so a
// KeyUpdate split across records, or followed by anything in its record,
// is refused with unexpected_message, and the alert is sent.
func TestHandshakeRecordBoundaries(t *testing.T) {
	cases := []struct {
		name    string
		records [][]byte // handshake records' contents, in order
		want    string
		alert   byte
	}{
		{"header split", [][]byte{{handshakeKeyUpdate, 0, 0}, {1, 0}}, "split across records", alertUnexpectedMessage},
		{"body in the next record", [][]byte{{handshakeKeyUpdate, 0, 0, 1}, {0}}, "key update split across records", alertUnexpectedMessage},
		{"two key updates in one record", [][]byte{{handshakeKeyUpdate, 0, 0, 1, 0, handshakeKeyUpdate, 0, 0, 1, 0}}, "not at the end of its record", alertUnexpectedMessage},
		{"key update and a fragment", [][]byte{{handshakeKeyUpdate, 0, 0, 1, 0, 4}}, "not at the end of its record", alertUnexpectedMessage},
		{"another handshake message", [][]byte{{4, 0, 0, 1, 0}}, "not a key update", alertUnexpectedMessage},
		{"wrong length", [][]byte{{handshakeKeyUpdate, 0, 0, 2, 0, 0}}, "malformed key update", alertDecodeError},
		{"unknown request", [][]byte{{handshakeKeyUpdate, 0, 0, 1, 2}}, "unknown kind", alertIllegalParameter},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, peer, other := pipeConn(t)
			reply := *peer // the Conn's writing key is the same secret
			var wire []byte
			for _, r := range tc.records {
				wire = peer.seal(wire, typeHandshake, r)
			}
			c.rbuf = append(getBuf(), wire...)
			type alert struct {
				typ     byte
				content []byte
			}
			got := make(chan alert, 1)
			go func() {
				typ, content := openRecord(t, other, &reply)
				got <- alert{typ, content}
			}()
			err := c.records()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("records: %v, want an error about %q", err, tc.want)
			}
			select {
			case a := <-got:
				if a.typ != typeAlert || len(a.content) != 2 || a.content[0] != 2 || a.content[1] != tc.alert {
					t.Fatalf("sent record of type %d %v, want fatal alert %d", a.typ, a.content, tc.alert)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("no alert sent")
			}
		})
	}
}

// TestKeyUpdateAnswerAfterIdle: the answer to a KeyUpdate request is
// written under a deadline of its own, not the one the last Write left,
// which has long passed on a session idle for longer than it.
func TestKeyUpdateAnswerAfterIdle(t *testing.T) {
	c, peer, other := pipeConn(t)
	reply := *peer
	c.SetWriteDeadline(time.Now().Add(-time.Minute)) // what the last Write left
	c.rbuf = append(getBuf(), peer.seal(nil, typeHandshake, []byte{handshakeKeyUpdate, 0, 0, 1, 1})...)
	done := make(chan error, 1)
	go func() { done <- c.records() }()
	typ, content := openRecord(t, other, &reply)
	if err := <-done; err != nil {
		t.Fatalf("key update request after the write deadline passed: %v", err)
	}
	if typ != typeHandshake || !bytes.Equal(content, []byte{handshakeKeyUpdate, 0, 0, 1, 0}) {
		t.Fatalf("answer: type %d %v, want a key update not requesting one", typ, content)
	}
}

// TestKeyUpdateAnswerFailure: when the answer cannot be written, reading
// ends with ErrWriteFailed, so the caller does not take a write timeout
// for the read deadline (a missed heartbeat).
func TestKeyUpdateAnswerFailure(t *testing.T) {
	defer func(d time.Duration) { controlWriteTimeout = d }(controlWriteTimeout)
	controlWriteTimeout = 50 * time.Millisecond
	c, peer, _ := pipeConn(t) // nobody reads the other end: the write times out
	c.rbuf = append(getBuf(), peer.seal(nil, typeHandshake, []byte{handshakeKeyUpdate, 0, 0, 1, 1})...)
	err := c.records()
	if !errors.Is(err, ErrWriteFailed) || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("records: %v, want ErrWriteFailed wrapping the write timeout", err)
	}
}

// TestPipelinedRecordsAllBuffered: records that arrive together are all
// decrypted by one Fill, so a reader that consumed the first message finds
// the second in Buffered without waiting on the socket.
func TestPipelinedRecordsAllBuffered(t *testing.T) {
	p := newPKI(t)
	addr, conns := listen(t, p.serverConfig())
	tc := &tamper{}
	client := dial(t, addr, p.clientConfig(), func(raw net.Conn) net.Conn { tc.Conn = raw; return tc })
	s := accept(t, conns).conn
	// Two records in one TCP write: hold the first until the second comes.
	var held []byte
	tc.mu.Lock()
	tc.on = func(b []byte) []byte {
		if held == nil {
			held = b
			return nil
		}
		return append(held, b...)
	}
	tc.mu.Unlock()
	client.Write([]byte("first"))
	client.Write([]byte("second"))
	s.SetReadDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.ReadFull(s, make([]byte, 5)); err != nil {
		t.Fatal(err)
	}
	if got := string(s.Buffered()); got != "second" {
		t.Fatalf("after reading the first message, buffered %q, want the second", got)
	}
}
