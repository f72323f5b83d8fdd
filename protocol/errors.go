package protocol

import (
	"errors"
	"fmt"
)

// The kinds of decoding failure. Every error Unmarshal, ReadFrame and
// Stream.Receive return for bad input is a *DecodeError matching exactly one of
// these with errors.Is.
var (
	// ErrTruncated: the stream ended inside a frame (its header or its
	// payload). A CBOR item that ends before its frame does is ErrMalformed:
	// the frame was whole, the next one can be read.
	ErrTruncated = errors.New("truncated")
	// ErrFrameTooLarge: the frame header announces more than the allowed size.
	ErrFrameTooLarge = errors.New("frame too large")
	// ErrUnsupportedVersion: the frame version (or reserved flags) is not one we speak.
	ErrUnsupportedVersion = errors.New("unsupported version")
	// ErrUnknownType: the message type number is not assigned.
	ErrUnknownType = errors.New("unknown message type")
	// ErrMalformed: not CBOR, or not the shape of the message (wrong field
	// types, trailing bytes, nesting too deep, duplicate keys, indefinite lengths, tags).
	ErrMalformed = errors.New("malformed message")
	// ErrInvalid: well-formed, but a field value is outside what the protocol allows.
	ErrInvalid = errors.New("invalid message")
)

// DecodeError describes input that could not be decoded.
type DecodeError struct {
	Kind error // one of the Err* sentinels above
	Type Type  // the message type, when it was read before the failure
	// RequestID is the message's request id when it could be read (the
	// payload starts [type, request_id, ...]), else 0: the id an error
	// answer carries.
	RequestID uint64
	Msg       string // what was wrong, for humans
	Err       error  // the underlying error, if any
}

func (e *DecodeError) Error() string {
	s := "protocol: " + e.Kind.Error()
	if e.Type != 0 {
		s += " (" + e.Type.String() + ")"
	}
	if e.Msg != "" {
		s += ": " + e.Msg
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Is makes errors.Is(err, ErrMalformed) and the like work.
func (e *DecodeError) Is(target error) bool { return target == e.Kind }

func (e *DecodeError) Unwrap() error { return e.Err }

func decodeErr(kind error, t Type, err error, format string, args ...any) *DecodeError {
	return &DecodeError{Kind: kind, Type: t, Msg: fmt.Sprintf(format, args...), Err: err}
}

// RequestIDOf is the request id an error answer to err carries: the one
// read from the bad message, or 0.
func RequestIDOf(err error) uint64 {
	var de *DecodeError
	if errors.As(err, &de) {
		return de.RequestID
	}
	return 0
}

// CodeFor gives the ErrorCode a receiver should answer a decoding failure with.
func CodeFor(err error) ErrorCode {
	switch {
	case errors.Is(err, ErrUnknownType), errors.Is(err, ErrUnsupportedVersion):
		return CodeUnsupported
	case errors.Is(err, ErrInvalid):
		return CodeInvalid
	case errors.Is(err, ErrTruncated), errors.Is(err, ErrFrameTooLarge), errors.Is(err, ErrMalformed):
		return CodeMalformed
	default:
		return CodeInternal
	}
}

// KindName is the short name of a decoding failure's kind, as the invalid
// vectors in testdata/invalid/expect.json spell it.
func KindName(err error) string {
	for _, k := range []struct {
		kind error
		name string
	}{
		{ErrTruncated, "truncated"},
		{ErrFrameTooLarge, "frame_too_large"},
		{ErrUnsupportedVersion, "unsupported_version"},
		{ErrUnknownType, "unknown_type"},
		{ErrMalformed, "malformed"},
		{ErrInvalid, "invalid"},
	} {
		if errors.Is(err, k.kind) {
			return k.name
		}
	}
	return ""
}
