package protocol

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// addVectorSeeds feeds every golden and invalid vector to a fuzz target, so
// `go test` (without -fuzz) runs them all as its seed corpus.
func addVectorSeeds(f *testing.F, framed bool) {
	for _, pattern := range []string{"testdata/*.cbor", "testdata/invalid/*.cbor", "testdata/invalid/*.bin", "testdata/session.bin"} {
		files, err := filepath.Glob(pattern)
		if err != nil {
			f.Fatal(err)
		}
		for _, file := range files {
			b, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			if framed && filepath.Ext(file) == ".cbor" {
				if fb, err := AppendFrame(nil, b); err == nil {
					b = fb
				}
			}
			f.Add(b)
		}
	}
}

// FuzzUnmarshal: any input either fails with a *DecodeError or decodes to a
// message that re-encodes, decodes again to the same encoding, and validates.
func FuzzUnmarshal(f *testing.F) {
	addVectorSeeds(f, false)
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := Unmarshal(data)
		if err != nil {
			var de *DecodeError
			if !errors.As(err, &de) || KindName(err) == "" {
				t.Fatalf("error %v (%T) is not a classified *DecodeError", err, err)
			}
			return
		}
		b1, err := Marshal(e)
		if err != nil {
			t.Fatalf("decoded %#v but cannot re-encode: %v", e.Msg, err)
		}
		e2, err := Unmarshal(b1)
		if err != nil {
			t.Fatalf("re-encoding %x does not decode: %v", b1, err)
		}
		b2, err := Marshal(e2)
		if err != nil || !bytes.Equal(b1, b2) {
			t.Fatalf("encoding not stable: %x then %x (%v)", b1, b2, err)
		}
	})
}

// FuzzStream: reading any byte stream as frames ends in io.EOF or a
// classified error, never a panic or a hang.
func FuzzStream(f *testing.F) {
	addVectorSeeds(f, true)
	f.Fuzz(func(t *testing.T, data []byte) {
		s := NewStream(struct {
			io.Reader
			io.Writer
		}{bytes.NewReader(data), io.Discard}, MaxFrameSize)
		for i := 0; i <= len(data); i++ {
			_, err := s.Receive()
			if err == nil {
				continue
			}
			if errors.Is(err, io.EOF) {
				return
			}
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("error %v (%T) is not a *DecodeError", err, err)
			}
			switch {
			case errors.Is(err, ErrTruncated), errors.Is(err, ErrFrameTooLarge), errors.Is(err, ErrUnsupportedVersion):
				return // the stream cannot be resynchronised
			}
		}
		t.Fatalf("more messages than bytes")
	})
}
