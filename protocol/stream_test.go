package protocol

import (
	"bytes"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
)

func TestStreamRoundTripOverPipe(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	dev, gw := NewStream(a, 2048), NewStream(b, MaxFrameSize)
	go func() {
		for i := uint64(1); i <= 3; i++ {
			if err := dev.Send(Envelope{i, &Heartbeat{Seq: i, UptimeMS: i * 1000}}); err != nil {
				t.Error(err)
			}
		}
	}()
	for i := uint64(1); i <= 3; i++ {
		e, err := gw.Receive()
		if err != nil {
			t.Fatal(err)
		}
		if hb, ok := e.Msg.(*Heartbeat); !ok || hb.Seq != i || e.RequestID != i {
			t.Fatalf("message %d: got %#v", i, e)
		}
	}
}

func TestSendRespectsPeerLimit(t *testing.T) {
	var buf bytes.Buffer
	s := NewStream(struct {
		io.Reader
		io.Writer
	}{strings.NewReader(""), &buf}, MaxFrameSize)
	s.SetPeerMaxFrame(MinFrameSize)
	err := s.Send(Envelope{1, &ModuleChunk{App: "a", Generation: 1, Data: make([]byte, MinFrameSize)}})
	if !errors.Is(err, ErrPeerFrameLimit) {
		t.Fatalf("got %v, want ErrPeerFrameLimit", err)
	}
	if fits := s.Fits(Envelope{1, &ModuleChunk{App: "a", Generation: 1, Data: make([]byte, MinFrameSize)}}); !errors.Is(fits, ErrPeerFrameLimit) {
		t.Fatalf("Fits: %v, want ErrPeerFrameLimit", fits)
	}
	if buf.Len() != 0 {
		t.Fatalf("%d bytes written for a refused message", buf.Len())
	}
	small := Envelope{1, &ModuleChunk{App: "a", Generation: 1, Data: make([]byte, 64)}}
	if err := s.Fits(small); err != nil {
		t.Fatal(err)
	}
	if err := s.Send(small); err != nil {
		t.Fatal(err)
	}
}

func TestReceiveRespectsOwnLimit(t *testing.T) {
	chunk := mustMarshal(Envelope{1, &ModuleChunk{App: "a", Generation: 1, Data: make([]byte, MinFrameSize)}})
	s := NewStream(struct {
		io.Reader
		io.Writer
	}{bytes.NewReader(frame(chunk)), io.Discard}, MinFrameSize)
	if _, err := s.Receive(); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("got %v, want ErrFrameTooLarge", err)
	}
}

func TestMarshalRefusesInvalid(t *testing.T) {
	for _, m := range []Message{&Deploy{App: "x"}, &Hello{}, &Error{}, &Enroll{Device: "bad name"}} {
		if _, err := Marshal(Envelope{1, m}); err == nil {
			t.Errorf("%T: marshal accepted an invalid message", m)
		}
	}
	if _, err := Marshal(Envelope{}); err == nil {
		t.Error("marshal accepted a nil message")
	}
}

// Decoded messages must not alias the read buffer: Stream reuses it.
func TestDecodedMessagesOwnTheirBytes(t *testing.T) {
	raw := readFile(t, "testdata/module_chunk.cbor")
	e, err := Unmarshal(raw)
	if err != nil {
		t.Fatal(err)
	}
	want := append([]byte(nil), e.Msg.(*ModuleChunk).Data...)
	for i := range raw {
		raw[i] = 0
	}
	if got := e.Msg.(*ModuleChunk).Data; !bytes.Equal(got, want) {
		t.Fatalf("chunk data changed with the input buffer: %x", got)
	}
}

func TestConcurrentSendsDoNotInterleave(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	w, r := NewStream(a, MaxFrameSize), NewStream(b, MaxFrameSize)
	const n = 50
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := w.Send(Envelope{uint64(i + 1), &ModuleChunk{App: "a", Generation: 1, Data: bytes.Repeat([]byte{byte(i)}, 3000)}}); err != nil {
				t.Error(err)
			}
		}()
	}
	for i := 0; i < n; i++ {
		e, err := r.Receive()
		if err != nil {
			t.Fatal(err)
		}
		c := e.Msg.(*ModuleChunk)
		if c.Data[0] != byte(e.RequestID-1) || c.Data[len(c.Data)-1] != c.Data[0] {
			t.Fatalf("interleaved frame for request %d", e.RequestID)
		}
	}
	wg.Wait()
}

func TestValidName(t *testing.T) {
	for _, ok := range []string{"dev-01", "a", "Sensor_2.b", strings.Repeat("x", MaxNameLen)} {
		if err := ValidName(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "-a", ".hidden", "a b", "a/b", "é", strings.Repeat("x", MaxNameLen+1), "a\x00"} {
		if err := ValidName(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if err := ValidVersion("1.0.0+build.1"); err != nil {
		t.Error(err)
	}
	if err := ValidVersion("1.0 beta"); err == nil {
		t.Error("version with a space accepted")
	}
}

func TestCodeFor(t *testing.T) {
	for err, want := range map[error]ErrorCode{
		&DecodeError{Kind: ErrUnknownType}: CodeUnsupported,
		&DecodeError{Kind: ErrInvalid}:     CodeInvalid,
		&DecodeError{Kind: ErrTruncated}:   CodeMalformed,
		errors.New("other"):                CodeInternal,
	} {
		if got := CodeFor(err); got != want {
			t.Errorf("CodeFor(%v) = %d, want %d", err, got, want)
		}
	}
}

// A newer peer may add optional fields: unknown body keys are ignored.
func TestUnknownBodyKeysIgnored(t *testing.T) {
	// [6, 1, {1: 5, 2: 6, 3: 7, 99: "future"}]
	raw := []byte{0x83, 0x06, 0x01, 0xa4, 0x01, 0x05, 0x02, 0x06, 0x03, 0x07, 0x18, 0x63, 0x66, 'f', 'u', 't', 'u', 'r', 'e'}
	e, err := Unmarshal(raw)
	if err != nil {
		t.Fatal(err)
	}
	if hb := e.Msg.(*Heartbeat); hb.Seq != 5 || hb.UptimeMS != 6 || hb.RAMFree != 7 {
		t.Fatalf("got %#v", hb)
	}
}

func BenchmarkMarshalHeartbeat(b *testing.B) {
	e := Envelope{42, &Heartbeat{Seq: 41, UptimeMS: 205000, RAMFree: 61440}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Marshal(e); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkUnmarshalHeartbeat(b *testing.B) {
	raw := mustMarshal(Envelope{42, &Heartbeat{Seq: 41, UptimeMS: 205000, RAMFree: 61440}})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Unmarshal(raw); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkUnmarshalModuleChunk4K(b *testing.B) {
	raw := mustMarshal(Envelope{5, &ModuleChunk{App: "sensor", Generation: 4, Offset: 4096, Data: make([]byte, 4096)}})
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Unmarshal(raw); err != nil {
			b.Fatal(err)
		}
	}
}

func TestParseFrame(t *testing.T) {
	hb, err := AppendMarshal(nil, Envelope{RequestID: 7, Msg: &Heartbeat{Seq: 3}})
	if err != nil {
		t.Fatal(err)
	}
	one, err := AppendFrame(nil, hb)
	if err != nil {
		t.Fatal(err)
	}
	two := append(append([]byte{}, one...), one...)
	// Every proper prefix of a frame is "not yet".
	for i := range len(one) {
		if p, n, err := ParseFrame(two[:i], MaxFrameSize); p != nil || n != 0 || err != nil {
			t.Fatalf("prefix of %d bytes: %v, %d, %v", i, p, n, err)
		}
	}
	p, n, err := ParseFrame(two, MaxFrameSize)
	if err != nil || n != len(one) || !bytes.Equal(p, hb) {
		t.Fatalf("whole frame: %x, %d, %v", p, n, err)
	}
	if p, n, err = ParseFrame(two[n:], MaxFrameSize); err != nil || n != len(one) || !bytes.Equal(p, hb) {
		t.Fatalf("second frame: %x, %d, %v", p, n, err)
	}

	cases := []struct {
		name  string
		b     []byte
		limit int
		kind  error
		skip  int
	}{
		{"too large for the limit", one, len(hb) - 1, ErrFrameTooLarge, 0},
		{"unknown version", append([]byte{2, 0}, one[2:]...), MaxFrameSize, ErrUnsupportedVersion, 0},
		{"flags set", append([]byte{1, 1}, one[2:]...), MaxFrameSize, ErrUnsupportedVersion, 0},
		{"empty frame", append([]byte{1, 0, 0, 0}, one...), MaxFrameSize, ErrMalformed, HeaderSize},
	}
	for _, c := range cases {
		_, n, err := ParseFrame(c.b, c.limit)
		var de *DecodeError
		if !errors.As(err, &de) || !errors.Is(err, c.kind) || n != c.skip {
			t.Errorf("%s: n %d, err %v; want %v and skip %d", c.name, n, err, c.kind, c.skip)
		}
	}
}

// A frame whose CBOR item ends early was still read whole: malformed, with
// the request id it carries, and the next frame reads. A stream that ends
// inside a frame is truncated.
func TestShortItemInWholeFrameVersusCutFrame(t *testing.T) {
	short := heartbeatCBOR[:len(heartbeatCBOR)-2]
	data := append(frame(short), frame(heartbeatCBOR)...)
	data = append(data, frame(heartbeatCBOR)[:5]...)
	s := NewStream(struct {
		io.Reader
		io.Writer
	}{bytes.NewReader(data), io.Discard}, MaxFrameSize)
	_, err := s.Receive()
	if !errors.Is(err, ErrMalformed) || RequestIDOf(err) != 1 {
		t.Fatalf("short item in a whole frame: %v (request id %d), want malformed with id 1", err, RequestIDOf(err))
	}
	if e, err := s.Receive(); err != nil || e.Msg.Type() != TypeHeartbeat {
		t.Fatalf("the frame after: %v %v", e, err)
	}
	if _, err := s.Receive(); !errors.Is(err, ErrTruncated) || RequestIDOf(err) != 0 {
		t.Fatalf("cut frame: %v, want truncated", err)
	}
}
