package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// invalidVector is bad input, the kind of error it must produce and the
// request id an error answer to it carries (the id read from the message,
// 0 when none can be). Files ending in .bin are frame streams (read with
// ReadFrame then Unmarshal); .cbor files are message payloads (Unmarshal).
// testdata/invalid/expect.json maps each file to its kind and request id so
// the firmware's tests can check the same.
type invalidVector struct {
	file      string
	data      []byte
	kind      error
	requestID uint64
}

func frame(payload []byte) []byte {
	b, err := AppendFrame(nil, payload)
	if err != nil {
		panic(err)
	}
	return b
}

func mustMarshal(e Envelope) []byte {
	b, err := Marshal(e)
	if err != nil {
		panic(err)
	}
	return b
}

var heartbeatCBOR = mustMarshal(Envelope{1, &Heartbeat{Seq: 1, UptimeMS: 2, RAMFree: 3}})

var invalidVectors = []invalidVector{
	// A stream that ends inside a frame; frame headers refused: no message read, no id.
	{"truncated_header.bin", []byte{0x01, 0x00}, ErrTruncated, 0},
	{"truncated_payload.bin", append([]byte{0x01, 0x00, 0x00, 0x0a}, 0x83, 0x06, 0x01), ErrTruncated, 0},
	{"oversized_frame.bin", []byte{0x01, 0x00, 0x40, 0x01}, ErrFrameTooLarge, 0},
	{"frame_version_2.bin", append([]byte{0x02, 0x00, 0x00, byte(len(heartbeatCBOR))}, heartbeatCBOR...), ErrUnsupportedVersion, 0},
	{"frame_flags_set.bin", append([]byte{0x01, 0x80, 0x00, byte(len(heartbeatCBOR))}, heartbeatCBOR...), ErrUnsupportedVersion, 0},
	{"empty_frame.bin", []byte{0x01, 0x00, 0x00, 0x00}, ErrMalformed, 0},
	// A whole frame whose CBOR item ends early is malformed, not truncated:
	// the frame was read whole and the stream goes on.
	{"cbor_ends_before_frame.bin", frame(heartbeatCBOR[:len(heartbeatCBOR)-2]), ErrMalformed, 1},
	{"not_cbor.cbor", []byte{0xff}, ErrMalformed, 0},
	{"cbor_ends_before_frame.cbor", heartbeatCBOR[:len(heartbeatCBOR)-2], ErrMalformed, 1},
	{"trailing_bytes.cbor", append(slices.Clone(heartbeatCBOR), 0x00), ErrMalformed, 1},
	{"envelope_not_array.cbor", []byte{0xa1, 0x01, 0x02}, ErrMalformed, 0},                       // {1: 2}
	{"envelope_too_short.cbor", []byte{0x82, 0x06, 0x01}, ErrMalformed, 0},                       // [6, 1]
	{"unknown_type.cbor", []byte{0x83, 0x18, 0x63, 0x01, 0xa0}, ErrUnknownType, 1},               // [99, 1, {}]
	{"type_zero.cbor", []byte{0x83, 0x00, 0x01, 0xa0}, ErrUnknownType, 1},                        // [0, 1, {}]
	{"body_not_map.cbor", []byte{0x83, 0x06, 0x01, 0x82, 0x01, 0x02}, ErrMalformed, 1},           // [6, 1, [1, 2]]
	{"wrong_field_type.cbor", []byte{0x83, 0x06, 0x01, 0xa1, 0x01, 0x61, 0x78}, ErrMalformed, 1}, // [6, 1, {1: "x"}]
	{"negative_uint.cbor", []byte{0x83, 0x06, 0x01, 0xa1, 0x01, 0x20}, ErrMalformed, 1},          // [6, 1, {1: -1}]
	{"body_not_cbor.cbor", []byte{0x83, 0x06, 0x19, 0x01, 0x2c, 0xff}, ErrMalformed, 300},        // [6, 300, <break>
	{"uint32_overflow.cbor", []byte{0x83, 0x06, 0x01, 0xa1, 0x03, 0x1b, 0, 0, 1, 0, 0, 0, 0, 0}, ErrMalformed, 1},
	{"duplicate_key.cbor", []byte{0x83, 0x06, 0x01, 0xa2, 0x01, 0x01, 0x01, 0x02}, ErrMalformed, 1}, // {1: 1, 1: 2}
	{"indefinite_length.cbor", []byte{0x9f, 0x06, 0x01, 0xa0, 0xff}, ErrMalformed, 0},
	{"tagged_value.cbor", []byte{0x83, 0x06, 0x01, 0xa1, 0x01, 0xc1, 0x01}, ErrMalformed, 1}, // {1: 1(1)}
	{"invalid_utf8.cbor", []byte{0x83, 0x0e, 0x00, 0xa1, 0x01, 0x62, 0xc3, 0x28}, ErrMalformed, 0},
	{"deeply_nested.cbor", append([]byte{0x83, 0x06, 0x01, 0xa1, 0x04}, append(bytes.Repeat([]byte{0x81}, 16), 0x00)...), ErrMalformed, 1},
	{"huge_array.cbor", []byte{0x83, 0x01, 0x01, 0xa1, 0x07, 0x9a, 0x00, 0x10, 0x00, 0x00}, ErrMalformed, 1},
	{"bad_sha256_length.cbor", mustMarshalUnchecked(Envelope{1, &Deploy{App: "a", Generation: 1, Version: "1", SHA256: []byte{1, 2, 3},
		Size: 1, Limits: Limits{Fuel: 1, Memory: 1}}}), ErrInvalid, 1},
	{"zero_generation.cbor", mustMarshalUnchecked(Envelope{1, &Start{App: "a"}}), ErrInvalid, 1},
	{"bad_app_name.cbor", mustMarshalUnchecked(Envelope{1, &Stop{App: "../etc", Generation: 1}}), ErrInvalid, 1},
	{"unassigned_state.cbor", mustMarshalUnchecked(Envelope{0, &AppStatus{App: "a", State: 200}}), ErrInvalid, 0},
	{"nan_value.cbor", []byte{0x83, 0x0f, 0x00, 0xa2, 0x01, 0x61, 0x61, 0x04, 0x81, 0xa3, 0x01, 0x00, 0x02, 0x61, 0x6b, 0x03, 0xf9, 0x7e, 0x00}, ErrInvalid, 0},
	{"unassigned_reset_cause.cbor", mustMarshalUnchecked(Envelope{1, &Hello{ABIVersion: 1, Board: "b", MaxFrame: MinFrameSize,
		Reset: &ResetReport{Cause: 200, Boots: 1}}}), ErrInvalid, 1},
	{"zero_boots.cbor", mustMarshalUnchecked(Envelope{1, &Hello{ABIVersion: 1, Board: "b", MaxFrame: MinFrameSize,
		Reset: &ResetReport{Cause: ResetPowerOn}}}), ErrInvalid, 1},
	// boot_id is a u32: 2^32 does not fit.
	{"boot_id_overflow.cbor", bytes.Replace(mustMarshal(Envelope{1, &Hello{ABIVersion: 1, Board: "b", MaxFrame: MinFrameSize,
		Reset: &ResetReport{Cause: ResetPowerOn, Boots: 1, BootID: 0xffffffff}}}),
		[]byte{0x06, 0x1a, 0xff, 0xff, 0xff, 0xff}, []byte{0x06, 0x1b, 0, 0, 0, 1, 0, 0, 0, 0}, 1), ErrMalformed, 1},
	{"heartbeat_app_twice.cbor", mustMarshalUnchecked(Envelope{9, &Heartbeat{Seq: 1, Apps: []AppMetrics{
		{App: "a", Generation: 1}, {App: "a", Generation: 1}}}}), ErrInvalid, 9},
	{"heartbeat_app_zero_generation.cbor", mustMarshalUnchecked(Envelope{9, &Heartbeat{Seq: 1, Apps: []AppMetrics{{App: "a"}}}}), ErrInvalid, 9},
	{"heartbeat_too_many_apps.cbor", mustMarshalUnchecked(Envelope{9, &Heartbeat{Seq: 1, Apps: manyAppMetrics(MaxApps + 1)}}), ErrInvalid, 9},
	{"error_too_many_gateways.cbor", mustMarshalUnchecked(Envelope{4, &Error{Code: CodeWrongGateway, Message: "elsewhere",
		Gateways: strings.Split(strings.Repeat("gw:8081,", MaxErrorGateways+1), ",")[:MaxErrorGateways+1]}}), ErrInvalid, 4},
	{"max_frame_too_small.cbor", mustMarshalUnchecked(Envelope{1, &Hello{ABIVersion: 1, Board: "b", MaxFrame: 16}}), ErrInvalid, 1},
	// 512, the minimum of earlier drafts, is below the certificate answer.
	{"max_frame_below_minimum.cbor", mustMarshalUnchecked(Envelope{7, &Hello{ABIVersion: 1, Board: "b", MaxFrame: MinFrameSize - 1}}), ErrInvalid, 7},
}

// manyAppMetrics is n well-formed app records with distinct names.
func manyAppMetrics(n int) []AppMetrics {
	apps := make([]AppMetrics, n)
	for i := range apps {
		apps[i] = AppMetrics{App: "app" + strconv.Itoa(i), Generation: 1}
	}
	return apps
}

// expectation is one entry of testdata/invalid/expect.json.
type expectation struct {
	Kind      string `json:"kind"`
	RequestID uint64 `json:"request_id"`
}

// mustMarshalUnchecked encodes a message without validating it, to make
// invalid vectors.
func mustMarshalUnchecked(e Envelope) []byte {
	body, err := encMode.Marshal(e.Msg)
	if err != nil {
		panic(err)
	}
	b, err := encMode.Marshal(wire{Type: e.Msg.Type(), RequestID: e.RequestID, Body: body})
	if err != nil {
		panic(err)
	}
	return b
}

// decodeInvalid runs a vector through the reader its file type calls for.
func decodeInvalid(name string, data []byte) error {
	if strings.HasSuffix(name, ".bin") {
		s := NewStream(struct {
			io.Reader
			io.Writer
		}{bytes.NewReader(data), io.Discard}, MaxFrameSize)
		_, err := s.Receive()
		return err
	}
	_, err := Unmarshal(data)
	return err
}

func TestInvalidVectors(t *testing.T) {
	if *update {
		writeInvalidVectors(t)
	}
	var expect map[string]expectation
	if err := json.Unmarshal(readFile(t, "testdata/invalid/expect.json"), &expect); err != nil {
		t.Fatal(err)
	}
	if len(expect) != len(invalidVectors) {
		t.Fatalf("expect.json lists %d vectors, the definitions %d: run go test ./protocol -run Vectors -update", len(expect), len(invalidVectors))
	}
	for _, v := range invalidVectors {
		t.Run(v.file, func(t *testing.T) {
			data := readFile(t, "testdata/invalid/"+v.file)
			if !bytes.Equal(data, v.data) {
				t.Fatalf("file differs from its definition: run with -update")
			}
			err := decodeInvalid(v.file, data)
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("got %v (%T), want a *DecodeError", err, err)
			}
			if !errors.Is(err, v.kind) {
				t.Fatalf("got %v, want kind %v", err, v.kind)
			}
			if got := KindName(err); got != expect[v.file].Kind {
				t.Errorf("kind %q, expect.json says %q", got, expect[v.file].Kind)
			}
			if got := RequestIDOf(err); got != v.requestID || got != expect[v.file].RequestID {
				t.Errorf("request id %d, want %d (expect.json: %d)", got, v.requestID, expect[v.file].RequestID)
			}
			if CodeFor(err) == CodeInternal {
				t.Errorf("no error code for %v", err)
			}
		})
	}
}

func writeInvalidVectors(t *testing.T) {
	t.Helper()
	old, _ := filepath.Glob("testdata/invalid/*")
	for _, f := range old {
		os.Remove(f)
	}
	expect := map[string]expectation{}
	for _, v := range invalidVectors {
		writeFile(t, "testdata/invalid/"+v.file, v.data)
		expect[v.file] = expectation{Kind: KindName(v.kind), RequestID: v.requestID}
	}
	js, _ := json.MarshalIndent(expect, "", "  ")
	writeFile(t, "testdata/invalid/expect.json", append(js, '\n'))
}
