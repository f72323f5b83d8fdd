package protocol

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
)

// Frame layout: version (1 byte), flags (1 byte, reserved, 0), payload length
// (2 bytes, big-endian), then the payload: one CBOR message.
const (
	FrameVersion = 1
	HeaderSize   = 4
	// MaxFrameSize is the hard limit on a frame's payload, whatever a peer
	// announces. Peers announce their own, smaller or equal, limit as
	// max_frame in Hello and Welcome.
	MaxFrameSize = 16384
)

// AppendFrame appends a frame holding payload to dst.
func AppendFrame(dst, payload []byte) ([]byte, error) {
	if len(payload) == 0 {
		return dst, errors.New("protocol: empty frame payload")
	}
	if len(payload) > MaxFrameSize {
		return dst, fmt.Errorf("protocol: frame payload of %d bytes exceeds the %d-byte limit", len(payload), MaxFrameSize)
	}
	dst = append(dst, FrameVersion, 0, byte(len(payload)>>8), byte(len(payload)))
	return append(dst, payload...), nil
}

// readHeader reads and checks a frame header, returning the payload length.
// It returns io.EOF, unwrapped, when the stream ends cleanly before a header.
func readHeader(r io.Reader, limit int) (int, error) {
	var h [HeaderSize]byte
	if n, err := io.ReadFull(r, h[:]); err != nil {
		if n == 0 && errors.Is(err, io.EOF) {
			return 0, io.EOF
		}
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return 0, decodeErr(ErrTruncated, 0, err, "frame header: %d of %d bytes", n, HeaderSize)
		}
		return 0, err
	}
	return checkHeader(h[:], limit)
}

// checkHeader checks a frame header, returning the payload length.
func checkHeader(h []byte, limit int) (int, error) {
	if h[0] != FrameVersion || h[1] != 0 {
		return 0, decodeErr(ErrUnsupportedVersion, 0, nil, "frame version %d, flags %#x (want version %d, flags 0)", h[0], h[1], FrameVersion)
	}
	n := int(binary.BigEndian.Uint16(h[2:]))
	if n == 0 {
		return 0, decodeErr(ErrMalformed, 0, nil, "empty frame")
	}
	if n > limit {
		return 0, decodeErr(ErrFrameTooLarge, 0, nil, "%d bytes announced, limit %d", n, limit)
	}
	return n, nil
}

// ParseFrame finds the frame at the start of b, for a reader that gathers
// bytes as they arrive instead of blocking on a stream. It returns the
// frame's payload (aliasing b) and the frame's length; a length of 0 with a
// nil error means b does not hold a whole frame yet. A bad header is a
// *DecodeError, as from ReadFrame, and n is what to skip to go on: the
// header of an empty frame, or 0 when the stream cannot be resynchronised.
func ParseFrame(b []byte, limit int) (payload []byte, n int, err error) {
	if len(b) < HeaderSize {
		return nil, 0, nil
	}
	size, err := checkHeader(b, min(limit, MaxFrameSize))
	if err != nil {
		if errors.Is(err, ErrMalformed) {
			return nil, HeaderSize, err
		}
		return nil, 0, err
	}
	if len(b) < HeaderSize+size {
		return nil, 0, nil
	}
	return b[HeaderSize : HeaderSize+size], HeaderSize + size, nil
}

// ReadFrame reads one frame from r into buf (grown if needed) and returns its
// payload. limit is the largest payload accepted (at most MaxFrameSize). A clean
// end of stream between frames is io.EOF; a bad frame is a *DecodeError; other
// errors come from r.
func ReadFrame(r io.Reader, buf []byte, limit int) ([]byte, error) {
	limit = min(limit, MaxFrameSize)
	n, err := readHeader(r, limit)
	if err != nil {
		return nil, err
	}
	return readPayload(r, buf, n)
}

// readPayload reads a frame's n-byte payload into buf (grown if needed).
func readPayload(r io.Reader, buf []byte, n int) ([]byte, error) {
	if cap(buf) < n {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if got, err := io.ReadFull(r, buf); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, decodeErr(ErrTruncated, 0, io.ErrUnexpectedEOF, "frame payload: %d of %d bytes", got, n)
		}
		return nil, err
	}
	return buf, nil
}

// Stream sends and receives messages over a byte stream (a TLS connection, a
// UART bridge). Send may be called from several goroutines; Receive from one.
// A Stream keeps no buffer between calls, so an idle session costs only the
// Stream itself.
type Stream struct {
	rw        io.ReadWriter
	recvLimit int // largest payload we accept
	wmu       sync.Mutex
	sendLimit int // largest payload the peer accepts
}

// NewStream wraps rw. recvLimit is the largest frame payload this side
// accepts (what it announces as max_frame); it is capped at MaxFrameSize.
func NewStream(rw io.ReadWriter, recvLimit int) *Stream {
	recvLimit = min(recvLimit, MaxFrameSize)
	return &Stream{rw: rw, recvLimit: recvLimit, sendLimit: MaxFrameSize}
}

// SetPeerMaxFrame records the peer's announced max_frame; Send refuses larger
// messages from then on.
func (s *Stream) SetPeerMaxFrame(n uint32) {
	s.wmu.Lock()
	s.sendLimit = min(int(n), MaxFrameSize)
	s.wmu.Unlock()
}

// PeerMaxFrame is the largest payload the peer accepts.
func (s *Stream) PeerMaxFrame() int {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	return s.sendLimit
}

// ErrPeerFrameLimit is why Send and Fits refuse a message: encoded, it is
// larger than the peer's max_frame.
var ErrPeerFrameLimit = errors.New("larger than the peer's max_frame")

// Fits reports whether e, encoded, fits the peer's max_frame: nil, or an
// error matching ErrPeerFrameLimit (or the encoding's error).
func (s *Stream) Fits(e Envelope) error {
	b, err := Marshal(e)
	if err != nil {
		return err
	}
	if limit := s.PeerMaxFrame(); len(b) > limit {
		return fmt.Errorf("protocol: %s of %d bytes: %w (%d)", e.Msg.Type(), len(b), ErrPeerFrameLimit, limit)
	}
	return nil
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// Send encodes e and writes it as one frame with a single Write, so over TLS
// a message never shares or splits a record unnecessarily.
func (s *Stream) Send(e Envelope) error {
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	b, err := AppendMarshal(append((*bp)[:0], 0, 0, 0, 0), e)
	if err != nil {
		return err
	}
	*bp = b
	n := len(b) - HeaderSize
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if n > s.sendLimit {
		return fmt.Errorf("protocol: send %s of %d bytes: %w (%d)", e.Msg.Type(), n, ErrPeerFrameLimit, s.sendLimit)
	}
	b[0], b[1] = FrameVersion, 0
	binary.BigEndian.PutUint16(b[2:], uint16(n))
	_, err = s.rw.Write(b)
	return err
}

// Receive reads and decodes the next message. io.EOF means the peer closed
// the stream between frames; a *DecodeError means bad input (after
// ErrTruncated, the stream ending inside a frame, ErrFrameTooLarge or
// ErrUnsupportedVersion the stream cannot be resynchronised and should be
// closed; after the others, the frame having been read whole, it can go on,
// answering the error with the DecodeError's RequestID).
func (s *Stream) Receive() (Envelope, error) {
	// The header first: an idle session waits here holding no buffer.
	n, err := readHeader(s.rw, s.recvLimit)
	if err != nil {
		return Envelope{}, err
	}
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	payload, err := readPayload(s.rw, *bp, n)
	if err != nil {
		return Envelope{}, err
	}
	*bp = payload[:0]
	return Unmarshal(payload)
}
