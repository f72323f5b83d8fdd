package protocol

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/fxamacker/cbor/v2"
)

// Envelope is one message with its request id. A request carries a fresh id
// from its sender (a counter per session, starting at 1); an answer (Welcome,
// Certificate, HeartbeatAck, TransferProgress, AppStatus, Error) carries the
// id of the request it answers; a message sent on the sender's own initiative
// (AppOutput, an AppStatus after a trap) carries 0.
type Envelope struct {
	RequestID uint64
	Msg       Message
}

// wire is the CBOR shape of an Envelope: [type, request id, body].
type wire struct {
	_         struct{} `cbor:",toarray"`
	Type      Type
	RequestID uint64
	Body      cbor.RawMessage
}

// Limits on decoded CBOR, well above what valid messages need and well below
// what would let a peer make the decoder work hard.
const (
	maxNesting    = 8
	maxArrayItems = 1024
	maxMapPairs   = 256
)

var (
	encMode = must(func() (cbor.EncMode, error) {
		eo := cbor.CoreDetEncOptions()
		eo.NilContainers = cbor.NilContainerAsEmpty
		return eo.EncMode()
	}())
	decMode = must(cbor.DecOptions{
		DupMapKey:        cbor.DupMapKeyEnforcedAPF,
		MaxNestedLevels:  maxNesting,
		MaxArrayElements: maxArrayItems,
		MaxMapPairs:      maxMapPairs,
		IndefLength:      cbor.IndefLengthForbidden,
		TagsMd:           cbor.TagsForbidden,
		UTF8:             cbor.UTF8RejectInvalid,
	}.DecMode())
	// diagMode renders the readable twins of the golden vectors.
	diagMode = must(cbor.DiagOptions{ByteStringEncoding: cbor.ByteStringBase16Encoding}.DiagMode())
)

// must is for the fixed options above: an error there is a programming error.
func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// Marshal encodes an envelope as deterministic CBOR (no frame header). It
// refuses a message that does not Validate.
func Marshal(e Envelope) ([]byte, error) {
	return AppendMarshal(nil, e)
}

// AppendMarshal is Marshal appending to dst.
func AppendMarshal(dst []byte, e Envelope) ([]byte, error) {
	if e.Msg == nil {
		return nil, errors.New("protocol: marshal: nil message")
	}
	t := e.Msg.Type()
	if err := e.Msg.Validate(); err != nil {
		return nil, fmt.Errorf("protocol: marshal %s: %w", t, err)
	}
	body, err := encMode.Marshal(e.Msg)
	if err != nil {
		return nil, fmt.Errorf("protocol: marshal %s: %w", t, err)
	}
	out, err := encMode.Marshal(wire{Type: t, RequestID: e.RequestID, Body: body})
	if err != nil {
		return nil, fmt.Errorf("protocol: marshal %s: %w", t, err)
	}
	return append(dst, out...), nil
}

// Unmarshal decodes one message (no frame header). Every error is a
// *DecodeError, with the message's request id when it could be read (see
// peekRequestID); see the package documentation.
func Unmarshal(b []byte) (Envelope, error) {
	e, de := unmarshal(b)
	if de != nil {
		de.RequestID = peekRequestID(b)
		return Envelope{}, de
	}
	return e, nil
}

func unmarshal(b []byte) (Envelope, *DecodeError) {
	var w wire
	if err := decMode.Unmarshal(b, &w); err != nil {
		return Envelope{}, classify(0, err, "envelope")
	}
	mt, ok := messageTypes[w.Type]
	if !ok {
		return Envelope{}, decodeErr(ErrUnknownType, 0, nil, "type number %d", uint8(w.Type))
	}
	m := mt.new()
	if len(w.Body) == 0 || w.Body[0]>>5 != 5 { // major type 5: map
		return Envelope{}, decodeErr(ErrMalformed, w.Type, nil, "body is not a map")
	}
	if err := decMode.Unmarshal(w.Body, m); err != nil {
		return Envelope{}, classify(w.Type, err, "body")
	}
	if err := m.Validate(); err != nil {
		return Envelope{}, decodeErr(ErrInvalid, w.Type, err, "")
	}
	return Envelope{RequestID: w.RequestID, Msg: m}, nil
}

// classify turns a CBOR library error into a DecodeError. A payload is a
// whole frame: an item that ends before it is malformed, not truncated.
func classify(t Type, err error, where string) *DecodeError {
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return decodeErr(ErrMalformed, t, err, "%s: the CBOR item ends before the frame", where)
	}
	var typeErr *cbor.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		return decodeErr(ErrMalformed, t, err, "%s: wrong field type", where)
	}
	return decodeErr(ErrMalformed, t, err, "%s", where)
}

// peekRequestID reads the request id of a payload that does not decode,
// when it starts as a message does: 0x83 (an array of three), an unsigned
// type, an unsigned request id; whatever follows. It returns 0 otherwise.
// The firmware (wasmbed_proto) reads it by the same rule.
func peekRequestID(b []byte) uint64 {
	if len(b) == 0 || b[0] != 0x83 {
		return 0
	}
	b = b[1:]
	for i := 0; ; i++ {
		if len(b) == 0 || b[0]>>5 != 0 { // major type 0: unsigned integer
			return 0
		}
		var v uint64
		switch ai := int(b[0] & 0x1f); {
		case ai < 24:
			v, b = uint64(ai), b[1:]
		case ai <= 27 && len(b) > 1<<(ai-24):
			n := 1 << (ai - 24)
			for _, c := range b[1 : 1+n] {
				v = v<<8 | uint64(c)
			}
			b = b[1+n:]
		default:
			return 0
		}
		if i == 1 {
			return v
		}
	}
}

// Diagnose renders encoded CBOR in diagnostic notation (RFC 8949 section 8).
func Diagnose(b []byte) (string, error) {
	return diagMode.Diagnose(b)
}

// envelopeJSON is the readable JSON form of an Envelope, used by the golden
// vectors' twins and by tools that print messages.
type envelopeJSON struct {
	Type      string          `json:"type"`
	RequestID uint64          `json:"request_id"`
	Body      json.RawMessage `json:"body"`
}

// MarshalJSON writes {"type": name, "request_id": n, "body": {...}}.
func (e Envelope) MarshalJSON() ([]byte, error) {
	if e.Msg == nil {
		return nil, errors.New("protocol: marshal json: nil message")
	}
	body, err := json.Marshal(e.Msg)
	if err != nil {
		return nil, err
	}
	return json.Marshal(envelopeJSON{Type: e.Msg.Type().String(), RequestID: e.RequestID, Body: body})
}

// UnmarshalJSON reads the form MarshalJSON writes.
func (e *Envelope) UnmarshalJSON(b []byte) error {
	var j envelopeJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	t, ok := ParseType(j.Type)
	if !ok {
		return fmt.Errorf("protocol: unknown message type %q", j.Type)
	}
	m := messageTypes[t].new()
	if err := json.Unmarshal(j.Body, m); err != nil {
		return fmt.Errorf("protocol: %s body: %w", j.Type, err)
	}
	e.RequestID, e.Msg = j.RequestID, m
	return nil
}
