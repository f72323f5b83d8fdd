// Package protocol is the wire protocol between a Wasmbed gateway and its devices.
//
// A session is a byte stream (TLS 1.3 over TCP) carrying frames. A frame is a
// four-byte header (version, reserved flags, big-endian payload length) and one
// CBOR-encoded message. A message is the array [type, request id, body], where
// body is a map with small integer keys. Encoding is RFC 8949 core deterministic
// (shortest integers and floats, definite lengths, sorted map keys), so one
// message has exactly one encoding: the golden vectors in testdata/ pin it, and
// the firmware's tests read the same files.
//
// Decoding never panics on untrusted input: every failure is a *DecodeError
// whose Kind is one of the sentinel errors (ErrTruncated, ErrFrameTooLarge,
// ErrUnsupportedVersion, ErrUnknownType, ErrMalformed, ErrInvalid), so callers
// can answer with the matching ErrorCode (CodeFor) and the request id read
// from the bad message (DecodeError.RequestID), and keep the session unless
// the stream cannot be resynchronised.
//
// The specification for humans is docs/protocol.md; this package is the
// reference implementation and must agree with it.
package protocol
