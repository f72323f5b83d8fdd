//go:build unix

// Package tlsrecord carries the application data of a TLS 1.3 server
// connection after crypto/tls has made the handshake.
//
// A gateway holds tens of thousands of device sessions that are idle most of
// the time. For as long as a crypto/tls Conn lives it keeps the client's
// parsed certificate chain and the record and handshake buffers the
// handshake grew, and it is read by a goroutine blocked in Read, whose stack
// was grown by the record layer. Together that was two thirds of a session's
// memory. A Conn from this package keeps the traffic keys and nothing else
// while idle: buffers are taken from a pool while records arrive, and
// WaitReadable parks the caller in the runtime's poller until the peer
// sends, so that the goroutine that waits can be a fresh one with a minimal
// stack.
//
// crypto/tls still does all of the handshake: key exchange, certificate
// verification, the Finished messages. Server gives it the connection
// through a reader that stops at record boundaries, so it never reads an
// application record, and turns session tickets off, so it never writes
// one; the traffic secrets come from its KeyLogWriter hook, given a
// per-connection writer that keeps them in memory only. From there Conn
// implements record protection (RFC 8446 section 5), KeyUpdate (4.6.3) and
// alerts (6) for the three TLS 1.3 cipher suites.
package tlsrecord

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/crypto/chacha20poly1305"
)

// Record layer constants (RFC 8446 section 5).
const (
	headerLen     = 5
	maxPlaintext  = 1 << 14
	maxCiphertext = maxPlaintext + 256

	typeChangeCipherSpec = 20
	typeAlert            = 21
	typeHandshake        = 22
	typeApplicationData  = 23

	handshakeKeyUpdate = 24

	alertCloseNotify       = 0
	alertUnexpectedMessage = 10
	alertBadRecordMAC      = 20
	alertRecordOverflow    = 22
	alertDecodeError       = 50
	alertIllegalParameter  = 47
	alertUserCanceled      = 90

	// maxUselessRecords is how many records in a row may carry no
	// application data (empty records, key updates) before the peer is
	// taken for a flood, as crypto/tls does.
	maxUselessRecords = 16
	// closeNotifyTimeout bounds the close_notify that Close sends.
	closeNotifyTimeout = time.Second
	// lingerTimeout bounds the wait for the peer to close after a refusal.
	lingerTimeout = 500 * time.Millisecond
)

// keyUpdateAfter is the number of records sent under one key before the
// write key is updated: well inside AES-GCM's limit of 2^24.5 full-size
// records per key (RFC 8446 section 5.5). A variable for tests.
var keyUpdateAfter uint64 = 1 << 24

// ErrWouldBlock is Fill's answer when the connection had nothing to read.
var ErrWouldBlock = errors.New("tlsrecord: nothing to read yet")

// ErrWriteFailed wraps the error of a write made on the reading side (the
// answer to a KeyUpdate request): reading ended because the peer could not
// be written to, not because it stopped sending. A write timeout in it is
// not the read deadline passing.
var ErrWriteFailed = errors.New("tlsrecord: write failed")

// controlWriteTimeout bounds a record the reading side writes on its own
// (the answer to a KeyUpdate request), whatever write deadline the
// application's last Write left behind: a session idle for longer than that
// deadline must still be able to answer. A variable for tests.
var controlWriteTimeout = 10 * time.Second

// suite is one TLS 1.3 cipher suite.
type suite struct {
	keyLen int
	hash   func() hash.Hash
	aead   func(key []byte) (cipher.AEAD, error)
}

func aesGCM(key []byte) (cipher.AEAD, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

var suites = map[uint16]*suite{
	tls.TLS_AES_128_GCM_SHA256:       {16, sha256.New, aesGCM},
	tls.TLS_AES_256_GCM_SHA384:       {32, sha512.New384, aesGCM},
	tls.TLS_CHACHA20_POLY1305_SHA256: {32, sha256.New, chacha20poly1305.New},
}

// expandLabel is HKDF-Expand-Label with an empty context (RFC 8446 section 7.1).
func expandLabel(h func() hash.Hash, secret []byte, label string, length int) ([]byte, error) {
	full := "tls13 " + label
	info := make([]byte, 0, 4+len(full))
	info = append(info, byte(length>>8), byte(length), byte(len(full)))
	info = append(info, full...)
	info = append(info, 0)
	return hkdf.Expand(h, secret, string(info), length)
}

// half is one direction of the connection: its traffic secret, the key and
// IV derived from it, and the record sequence number.
type half struct {
	suite  *suite
	secret []byte
	aead   cipher.AEAD
	iv     [12]byte
	seq    uint64
}

func (h *half) setSecret(secret []byte) error {
	key, err := expandLabel(h.suite.hash, secret, "key", h.suite.keyLen)
	if err != nil {
		return err
	}
	iv, err := expandLabel(h.suite.hash, secret, "iv", len(h.iv))
	if err != nil {
		return err
	}
	aead, err := h.suite.aead(key)
	if err != nil {
		return err
	}
	h.secret, h.aead, h.seq = secret, aead, 0
	copy(h.iv[:], iv)
	return nil
}

// update moves to the next traffic secret (RFC 8446 section 7.2).
func (h *half) update() error {
	next, err := expandLabel(h.suite.hash, h.secret, "traffic upd", h.suite.hash().Size())
	if err != nil {
		return err
	}
	return h.setSecret(next)
}

func (h *half) nonce() [12]byte {
	n := h.iv
	for i := range 8 {
		n[4+i] ^= byte(h.seq >> (56 - 8*i))
	}
	return n
}

// seal appends to dst a record of content type typ holding data.
func (h *half) seal(dst []byte, typ byte, data []byte) []byte {
	n := len(data) + 1 + h.aead.Overhead()
	start := len(dst)
	dst = append(dst, typeApplicationData, 3, 3, byte(n>>8), byte(n))
	dst = append(dst, data...)
	dst = append(dst, typ)
	dst = slices.Grow(dst, h.aead.Overhead()) // sealed in place
	nonce := h.nonce()
	h.seq++
	body := dst[start+headerLen:]
	return dst[:start+headerLen+len(h.aead.Seal(body[:0], nonce[:], body, dst[start:start+headerLen]))]
}

// Conn is the application-data side of a TLS 1.3 server connection. One
// goroutine reads (Fill, Buffered, Discard, WaitReadable or Read); any
// number may Write.
type Conn struct {
	raw net.Conn
	rc  syscall.RawConn

	in      half
	rbuf    []byte // received bytes that are not a whole record yet
	plain   []byte // decrypted application data not consumed yet
	rerr    error  // what ended reading; sticky
	useless int    // records in a row without application data

	wmu    sync.Mutex
	out    half
	werr   error // what ended writing; sticky
	closed atomic.Bool
}

// Server makes the TLS 1.3 server handshake on raw with config and returns
// the connection that carries the application data after it, with the
// handshake's state (the client's verified certificates among it; keep only
// what you need from it, the parsed chain is what this package saves).
// raw must be a socket (a syscall.Conn). config is cloned; in the clone the
// version is TLS 1.3 only, session tickets are off, and KeyLogWriter is this
// package's. On error the caller still owns raw.
func Server(ctx context.Context, raw net.Conn, config *tls.Config) (*Conn, tls.ConnectionState, error) {
	sc, ok := raw.(syscall.Conn)
	if !ok {
		return nil, tls.ConnectionState{}, fmt.Errorf("tlsrecord: %T is not a socket", raw)
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil, tls.ConnectionState{}, fmt.Errorf("tlsrecord: %w", err)
	}
	var keys trafficSecrets
	cfg := config.Clone()
	cfg.MinVersion, cfg.MaxVersion = tls.VersionTLS13, tls.VersionTLS13
	cfg.SessionTicketsDisabled = true
	cfg.KeyLogWriter = &keys
	rr := &recordReader{Conn: raw}
	tc := tls.Server(rr, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		if ctx.Err() == nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			// crypto/tls sent its alert, maybe before reading the rest of
			// the client's flight: read that, so that closing raw does not
			// reset the connection and lose the alert.
			linger(raw, lingerTimeout)
		}
		return nil, tls.ConnectionState{}, err
	}
	st := tc.ConnectionState()
	if rr.hn != 0 || rr.left != 0 {
		return nil, st, errors.New("tlsrecord: the handshake ended inside a record")
	}
	s := suites[st.CipherSuite]
	if s == nil {
		return nil, st, fmt.Errorf("tlsrecord: cipher suite %s is not supported", tls.CipherSuiteName(st.CipherSuite))
	}
	if keys.client == nil || keys.server == nil {
		return nil, st, errors.New("tlsrecord: crypto/tls did not hand over the traffic secrets")
	}
	c := &Conn{raw: raw, rc: rc, in: half{suite: s}, out: half{suite: s}}
	if err := c.in.setSecret(keys.client); err != nil {
		return nil, st, fmt.Errorf("tlsrecord: client keys: %w", err)
	}
	if err := c.out.setSecret(keys.server); err != nil {
		return nil, st, fmt.Errorf("tlsrecord: server keys: %w", err)
	}
	return c, st, nil
}

// trafficSecrets receives crypto/tls's key log lines for one connection
// ("LABEL <client random> <secret>", NSS key log format) and keeps the
// application traffic secrets. Nothing is written anywhere.
type trafficSecrets struct{ client, server []byte }

func (t *trafficSecrets) Write(line []byte) (int, error) {
	f := bytes.Fields(line)
	if len(f) != 3 {
		return 0, errors.New("tlsrecord: unexpected key log line")
	}
	secret := make([]byte, hex.DecodedLen(len(f[2])))
	if _, err := hex.Decode(secret, f[2]); err != nil {
		return 0, errors.New("tlsrecord: unexpected key log line")
	}
	switch string(f[0]) {
	case "CLIENT_TRAFFIC_SECRET_0":
		t.client = secret
	case "SERVER_TRAFFIC_SECRET_0":
		t.server = secret
	}
	return len(line), nil
}

// recordReader hands crypto/tls the connection one record at a time, so
// that a handshake record never comes with the start of the application
// data behind it.
type recordReader struct {
	net.Conn
	hdr  [headerLen]byte
	hn   int // header bytes read
	left int // body bytes of the current record still to read
}

func (r *recordReader) Read(p []byte) (int, error) {
	if r.left == 0 {
		p = p[:min(len(p), headerLen-r.hn)]
		n, err := r.Conn.Read(p)
		copy(r.hdr[r.hn:], p[:n])
		if r.hn += n; r.hn == headerLen {
			r.hn, r.left = 0, int(binary.BigEndian.Uint16(r.hdr[3:]))
		}
		return n, err
	}
	n, err := r.Conn.Read(p[:min(len(p), r.left)])
	r.left -= n
	return n, err
}

// bufSize holds one whole record, and then some.
const bufSize = headerLen + maxCiphertext + 1024

var bufs = sync.Pool{New: func() any { b := make([]byte, 0, bufSize); return &b }}

func getBuf() []byte { return (*bufs.Get().(*[]byte))[:0] }

func putBuf(b []byte) {
	if cap(b) == bufSize {
		b = b[:0]
		bufs.Put(&b)
	}
}

// Fill reads what the connection holds, without waiting, and decrypts the
// whole records among it into Buffered. It returns nil if it read
// something, ErrWouldBlock if there was nothing to read, and otherwise what
// ended the connection (io.EOF for the peer's close_notify or a closed
// socket); application data decrypted before the end is in Buffered.
func (c *Conn) Fill() error {
	if c.rerr != nil {
		return c.rerr
	}
	if cap(c.rbuf) != bufSize {
		b := append(getBuf(), c.rbuf...)
		c.rbuf = b
	}
	n, err := c.readNow(c.rbuf[len(c.rbuf):cap(c.rbuf)])
	c.rbuf = c.rbuf[:len(c.rbuf)+n]
	if n > 0 {
		if rerr := c.records(); rerr != nil {
			err = rerr
		}
	}
	if len(c.rbuf) == 0 {
		putBuf(c.rbuf)
		c.rbuf = nil
	}
	if err != nil && err != ErrWouldBlock {
		c.rerr = err
	}
	return err
}

// readNow is one read of the socket that does not wait.
func (c *Conn) readNow(p []byte) (int, error) {
	var n int
	var errno error
	if err := c.rc.Read(func(fd uintptr) bool {
		for {
			n, errno = syscall.Read(int(fd), p)
			if errno != syscall.EINTR {
				return true
			}
		}
	}); err != nil {
		return 0, err
	}
	switch {
	case errno == syscall.EAGAIN:
		return 0, ErrWouldBlock
	case errno != nil:
		return 0, os.NewSyscallError("read", errno)
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}

// records decrypts the whole records at the start of rbuf.
func (c *Conn) records() error {
	off := 0
	defer func() { c.rbuf = c.rbuf[:copy(c.rbuf, c.rbuf[off:])] }()
	for len(c.rbuf)-off >= headerLen {
		hdr := c.rbuf[off : off+headerLen]
		n := int(binary.BigEndian.Uint16(hdr[3:]))
		switch {
		case hdr[0] != typeApplicationData:
			// change_cipher_spec is only allowed during the handshake,
			// and everything else is protected.
			return c.fail(alertUnexpectedMessage, fmt.Errorf("record of type %d after the handshake", hdr[0]))
		case hdr[1] != 3 || hdr[2] != 3:
			return c.fail(alertDecodeError, fmt.Errorf("record version %#02x%02x", hdr[1], hdr[2]))
		case n > maxCiphertext:
			return c.fail(alertRecordOverflow, fmt.Errorf("record of %d bytes", n))
		case n <= c.in.aead.Overhead():
			return c.fail(alertDecodeError, fmt.Errorf("record of %d bytes is too short", n))
		}
		if len(c.rbuf)-off < headerLen+n {
			return nil
		}
		if err := c.record(hdr, c.rbuf[off+headerLen:off+headerLen+n]); err != nil {
			return err
		}
		off += headerLen + n
	}
	return nil
}

// record decrypts one record and acts on its content.
func (c *Conn) record(hdr, body []byte) error {
	if c.plain == nil {
		c.plain = getBuf()
	}
	before := len(c.plain)
	nonce := c.in.nonce()
	out, err := c.in.aead.Open(c.plain, nonce[:], body, hdr)
	if err != nil {
		return c.fail(alertBadRecordMAC, errors.New("record authentication failed"))
	}
	c.in.seq++
	// Content, content type and padding together: at most 2^14 + 1 bytes.
	if len(out)-before > maxPlaintext+1 {
		return c.fail(alertRecordOverflow, fmt.Errorf("record of %d plaintext bytes", len(out)-before))
	}
	// Strip the padding: the content type is the last non-zero byte.
	i := len(out) - 1
	for i >= before && out[i] == 0 {
		i--
	}
	if i < before {
		return c.fail(alertUnexpectedMessage, errors.New("record without a content type"))
	}
	typ, content := out[i], out[before:i]
	if typ == typeApplicationData && len(content) > 0 {
		c.plain, c.useless = out[:i], 0
		return nil
	}
	c.plain = out[:before]
	if c.useless++; c.useless > maxUselessRecords {
		return c.fail(alertUnexpectedMessage, errors.New("too many records without application data"))
	}
	switch typ {
	case typeApplicationData:
		return nil
	case typeAlert:
		return c.alert(content)
	case typeHandshake:
		return c.handshake(content)
	default:
		return c.fail(alertUnexpectedMessage, fmt.Errorf("record content type %d", typ))
	}
}

// alert acts on an alert from the peer.
func (c *Conn) alert(b []byte) error {
	if len(b) != 2 {
		return c.fail(alertDecodeError, errors.New("malformed alert"))
	}
	switch b[1] {
	case alertCloseNotify:
		return io.EOF
	case alertUserCanceled: // a close_notify follows
		return nil
	}
	return fmt.Errorf("tlsrecord: the peer sent alert %w", tls.AlertError(b[1]))
}

// handshake acts on the content of a handshake record from the peer; after
// the handshake a client may only send KeyUpdate (RFC 8446 section 4.6.3).
//
// RFC 8446 section 5.1 lets handshake messages be split across records and
// coalesced in one, except those that immediately precede a key change,
// which must align with a record boundary, or the connection is terminated
// with unexpected_message. KeyUpdate is such a message (the peer's next
// record is under its next key), and it is the only one a client may send
// here: so a handshake record must hold exactly one whole KeyUpdate, and
// one that holds part of a message, or a KeyUpdate and more, is refused
// with unexpected_message.
func (c *Conn) handshake(b []byte) error {
	if len(b) < 4 {
		return c.fail(alertUnexpectedMessage, errors.New("handshake message split across records"))
	}
	if b[0] != handshakeKeyUpdate {
		return c.fail(alertUnexpectedMessage, errors.New("handshake message after the handshake that is not a key update"))
	}
	n := int(b[1])<<16 | int(b[2])<<8 | int(b[3])
	switch {
	case 4+n > len(b):
		return c.fail(alertUnexpectedMessage, errors.New("key update split across records"))
	case 4+n < len(b):
		return c.fail(alertUnexpectedMessage, errors.New("key update not at the end of its record"))
	case n != 1:
		return c.fail(alertDecodeError, errors.New("malformed key update"))
	case b[4] > 1:
		return c.fail(alertIllegalParameter, errors.New("key update request of an unknown kind"))
	}
	if err := c.in.update(); err != nil {
		return c.fail(alertUnexpectedMessage, err)
	}
	if b[4] == 1 {
		c.wmu.Lock()
		defer c.wmu.Unlock()
		// The answer has a deadline of its own: the one the last Write
		// left may have passed while the session was idle. (It stays for
		// the next Write unless that sets its own, as the gateway's do;
		// putting the old one back could undo a deadline set meanwhile.)
		if c.werr == nil {
			c.raw.SetWriteDeadline(time.Now().Add(controlWriteTimeout))
		}
		if err := c.keyUpdateLocked(false); err != nil {
			return fmt.Errorf("%w: key update answer: %w", ErrWriteFailed, err)
		}
	}
	return nil
}

// fail sends alert (best effort) and returns err as the reason reading ended.
func (c *Conn) fail(alert byte, err error) error {
	if c.wmu.TryLock() {
		c.lastAlertLocked(2, alert, fmt.Errorf("tlsrecord: connection failed: %w", err))
		c.wmu.Unlock()
	}
	return fmt.Errorf("tlsrecord: %w", err)
}

// Buffered is the decrypted application data not consumed yet; it is valid
// until the next Fill or Discard.
func (c *Conn) Buffered() []byte { return c.plain }

// Discard consumes the first n bytes of Buffered.
func (c *Conn) Discard(n int) {
	rest := copy(c.plain, c.plain[n:])
	c.plain = c.plain[:rest]
	if rest == 0 {
		putBuf(c.plain)
		c.plain = nil
	}
}

// WaitReadable waits, holding no buffer beyond what partial records and
// messages need, until the peer sends something (or closes), the read
// deadline passes, or the connection is closed.
func (c *Conn) WaitReadable() error {
	c.rbuf, c.plain = shrink(c.rbuf), shrink(c.plain)
	if c.rerr != nil {
		return c.rerr
	}
	// The first call peeks: data may be there already, which the poller
	// will not report again (RawRead forgets a readiness it saw before).
	// The calls after the poller woke us check nothing: a wake-up that
	// proves spurious is Fill's ErrWouldBlock.
	first := true
	return c.rc.Read(func(fd uintptr) bool {
		if !first {
			return true
		}
		first = false
		var b [1]byte
		_, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		// Data, the end of the stream or an error: Fill tells which.
		return err != syscall.EAGAIN && err != syscall.EINTR
	})
}

// shrink gives a pooled buffer back, keeping its contents, if any, in a
// buffer of their size.
func shrink(b []byte) []byte {
	if cap(b) != bufSize {
		return b
	}
	var kept []byte
	if len(b) > 0 {
		kept = append([]byte(nil), b...)
	}
	putBuf(b)
	return kept
}

// Read reads application data, waiting for it: Conn as an io.Reader, for
// the request-and-answer parts of a session.
func (c *Conn) Read(p []byte) (int, error) {
	for len(c.plain) == 0 {
		err := c.Fill()
		if len(c.plain) > 0 {
			break
		}
		if err == ErrWouldBlock {
			err = c.WaitReadable()
		}
		if err != nil {
			return 0, err
		}
	}
	n := copy(p, c.plain)
	c.Discard(n)
	return n, nil
}

// Write sends p as application data, in records of at most 16 KiB, with one
// write to the socket.
func (c *Conn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.werr != nil {
		return 0, c.werr
	}
	if c.out.seq >= keyUpdateAfter {
		if err := c.keyUpdateLocked(false); err != nil {
			return 0, err
		}
	}
	buf := getBuf()
	defer func() { putBuf(buf) }()
	for rest := p; len(rest) > 0; {
		chunk := rest[:min(len(rest), maxPlaintext)]
		buf = c.out.seal(buf, typeApplicationData, chunk)
		rest = rest[len(chunk):]
	}
	if len(buf) == 0 {
		return 0, nil
	}
	if err := c.writeLocked(buf); err != nil {
		return 0, err
	}
	return len(p), nil
}

// keyUpdateLocked sends a KeyUpdate and moves to the next write key.
func (c *Conn) keyUpdateLocked(requestPeer bool) error {
	if c.werr != nil {
		return c.werr
	}
	req := byte(0)
	if requestPeer {
		req = 1
	}
	if err := c.writeLocked(c.out.seal(nil, typeHandshake, []byte{handshakeKeyUpdate, 0, 0, 1, req})); err != nil {
		return err
	}
	if err := c.out.update(); err != nil {
		c.werr = fmt.Errorf("tlsrecord: key update: %w", err)
		return c.werr
	}
	return nil
}

// writeLocked writes whole records; a failed write ends writing, since the
// peer may have got part of a record.
func (c *Conn) writeLocked(b []byte) error {
	if _, err := c.raw.Write(b); err != nil {
		c.werr = err
		return err
	}
	return nil
}

// lastAlertLocked sends an alert (best effort, bounded by
// closeNotifyTimeout) unless writing has ended, and ends writing with then.
func (c *Conn) lastAlertLocked(level, desc byte, then error) {
	if c.werr != nil {
		return
	}
	c.raw.SetWriteDeadline(time.Now().Add(closeNotifyTimeout))
	c.writeLocked(c.out.seal(nil, typeAlert, []byte{level, desc}))
	c.werr = then
}

// Close sends close_notify, unless a write is under way or writing has
// failed, and closes the socket.
func (c *Conn) Close() error {
	if !c.closed.CompareAndSwap(false, true) {
		return net.ErrClosed
	}
	if c.wmu.TryLock() {
		c.lastAlertLocked(1, alertCloseNotify, net.ErrClosed)
		c.wmu.Unlock()
	}
	return c.raw.Close()
}

// Shutdown ends the connection so that what was last sent (an error
// saying why) reaches the peer: close_notify, the end of our stream, then
// whatever the peer still sends is read and dropped, for up to d or until
// it closes, before the socket is closed. Closing a socket with unread data
// resets the connection, and a reset can discard what the peer had yet to
// read.
func (c *Conn) Shutdown(d time.Duration) error {
	if !c.closed.CompareAndSwap(false, true) {
		return net.ErrClosed
	}
	c.wmu.Lock()
	c.lastAlertLocked(1, alertCloseNotify, net.ErrClosed)
	c.wmu.Unlock()
	linger(c.raw, d)
	return c.raw.Close()
}

// linger ends the writing side of raw and reads what the peer sends, for
// up to d or until it closes.
func linger(raw net.Conn, d time.Duration) {
	if cw, ok := raw.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
	raw.SetReadDeadline(time.Now().Add(d))
	io.Copy(io.Discard, io.LimitReader(raw, 1<<20))
}

// RemoteAddr is the peer's address.
func (c *Conn) RemoteAddr() net.Addr { return c.raw.RemoteAddr() }

// SetReadDeadline bounds WaitReadable and Read.
func (c *Conn) SetReadDeadline(t time.Time) error { return c.raw.SetReadDeadline(t) }

// SetWriteDeadline bounds Write.
func (c *Conn) SetWriteDeadline(t time.Time) error { return c.raw.SetWriteDeadline(t) }
