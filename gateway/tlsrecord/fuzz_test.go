//go:build unix

package tlsrecord

import (
	"bytes"
	"crypto/tls"
	"errors"
	"strings"
	"testing"
)

// fuzzConn is a Conn whose reading side and a peer's writing side share
// keys, with nothing to write to: what the Conn would send back (alerts,
// key updates) is dropped, as after a failed write.
func fuzzConn(t *testing.T) (c *Conn, peer *half) {
	secret := bytes.Repeat([]byte{7}, 32)
	s := suites[tls.TLS_AES_128_GCM_SHA256]
	c = &Conn{in: half{suite: s}, out: half{suite: s}, werr: errors.New("fuzz: no writing")}
	peer = &half{suite: s}
	for _, h := range []*half{&c.in, &c.out, peer} {
		if err := h.setSecret(secret); err != nil {
			t.Fatal(err)
		}
	}
	return c, peer
}

// FuzzRecords feeds a Conn what an authenticated peer could send: each
// input is cut into records' inner plaintexts (content, content type,
// padding), sealed with the peer's key, and read. Whatever the peer sends,
// reading must not panic, must end in an error once it does, and must hand
// over exactly the application data sent before that.
func FuzzRecords(f *testing.F) {
	f.Add([]byte("hello\x17"), uint8(0))
	f.Add([]byte("hello\x17\x00\x00\x00"), uint8(3))
	f.Add([]byte{0x18, 0, 0, 1, 1, typeHandshake}, uint8(0))            // a key update, requested
	f.Add([]byte{0x18, 0, 0, 1, 0, typeHandshake, 'x', 0x17}, uint8(6)) // a key update, then data
	f.Add([]byte{1, 0, typeAlert}, uint8(0))                            // close_notify
	f.Add([]byte{2, 40, typeAlert}, uint8(0))
	f.Add([]byte{0, 0, 0}, uint8(1))
	f.Add([]byte{0x16}, uint8(0))
	f.Fuzz(func(t *testing.T, data []byte, cut uint8) {
		if len(data) == 0 {
			return // a record always has a content type
		}
		c, peer := fuzzConn(t)
		// Up to two records: data[:cut] and data[cut:].
		parts := [][]byte{data}
		if int(cut) < len(data) && cut > 0 {
			parts = [][]byte{data[:cut], data[cut:]}
		}
		var want []byte
		var wire []byte
		for _, p := range parts {
			if len(p) > maxPlaintext+1 {
				return
			}
			// seal appends the content type; here it is the input's last byte.
			wire = peer.seal(wire, p[len(p)-1], p[:len(p)-1])
			// What a correct reader hands over, as far as the rules go.
			if i := bytes.LastIndexFunc(p, func(r rune) bool { return r != 0 }); i >= 0 && p[i] == typeApplicationData {
				want = append(want, p[:i]...)
			}
			if p[len(p)-1] == typeHandshake && len(p) == 6 && p[0] == handshakeKeyUpdate {
				peer.update() // the peer moves on after a key update
			}
		}
		c.rbuf = append(getBuf(), wire...)
		err := c.records()
		if got := c.Buffered(); !bytes.HasPrefix(want, got) {
			t.Fatalf("handed over %q, more than the %q sent", got, want)
		}
		if err == nil && !bytes.Equal(c.Buffered(), want) {
			t.Fatalf("no error, but handed over %q of %q", c.Buffered(), want)
		}
	})
}

// FuzzCiphertext feeds a Conn bytes nobody sealed: they must be refused
// without a panic and without any of them handed over as data.
func FuzzCiphertext(f *testing.F) {
	f.Add([]byte{typeApplicationData, 3, 3, 0, 20, 1, 2, 3})
	f.Add([]byte{typeApplicationData, 3, 3, 0x40, 0x01})
	f.Add([]byte{typeChangeCipherSpec, 3, 3, 0, 1, 1})
	f.Add(bytes.Repeat([]byte{typeApplicationData, 3, 3, 0, 17}, 8))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, _ := fuzzConn(t)
		c.rbuf = append(getBuf(), data...)
		err := c.records()
		if len(c.Buffered()) > 0 {
			t.Fatalf("forged bytes handed over as data: %q", c.Buffered())
		}
		if err == nil && len(c.rbuf) >= headerLen+maxCiphertext {
			t.Fatal("a whole record's worth of bytes neither read nor refused")
		}
	})
}

// TestPlaintextLimit: a record may hold 2^14 bytes of content, and its
// content, type and padding together 2^14 + 1 bytes (RFC 8446 section 5.4).
func TestPlaintextLimit(t *testing.T) {
	full := bytes.Repeat([]byte{'a'}, maxPlaintext)
	c, peer := fuzzConn(t)
	c.rbuf = peer.seal(nil, typeApplicationData, full)
	if err := c.records(); err != nil || len(c.Buffered()) != maxPlaintext {
		t.Fatalf("a full record: %d bytes, %v", len(c.Buffered()), err)
	}

	// The same content with padding: the seal's type byte is padding too.
	c, peer = fuzzConn(t)
	padded := append(append(append([]byte{}, full...), typeApplicationData), make([]byte, 9)...)
	c.rbuf = peer.seal(nil, 0, padded)
	if err := c.records(); err == nil || !strings.Contains(err.Error(), "plaintext bytes") || len(c.Buffered()) != 0 {
		t.Fatalf("an overlong padded record: %d bytes, %v", len(c.Buffered()), err)
	}
}
