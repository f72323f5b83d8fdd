// Command wasmbed-proto decodes Wasmbed device-protocol data for humans: a
// framed stream (a capture of a session, protocol/testdata/session.bin) or a
// single CBOR message, printed as one JSON object per message.
//
//	wasmbed-proto decode [-payload] [FILE]   (FILE or standard input)
//	wasmbed-proto diag FILE                  (CBOR diagnostic notation of one message)
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/wasmbed/wasmbed/protocol"
)

func main() {
	if err := run(os.Args[1:], os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "wasmbed-proto:", err)
		os.Exit(1)
	}
}

func usage() error {
	return errors.New("usage: wasmbed-proto decode [-payload] [FILE] | wasmbed-proto diag FILE")
}

func run(args []string, stdin io.Reader, stdout io.Writer) error {
	if len(args) == 0 {
		return usage()
	}
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	payload := fs.Bool("payload", false, "input is one CBOR message without a frame header")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	in := stdin
	if fs.NArg() > 0 {
		f, err := os.Open(fs.Arg(0))
		if err != nil {
			return err
		}
		defer f.Close()
		in = f
	}
	switch args[0] {
	case "decode":
		if *payload {
			return decodePayload(in, stdout)
		}
		return decodeStream(in, stdout)
	case "diag":
		b, err := io.ReadAll(in)
		if err != nil {
			return err
		}
		d, err := protocol.Diagnose(b)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(stdout, d)
		return err
	default:
		return usage()
	}
}

func decodePayload(in io.Reader, out io.Writer) error {
	b, err := io.ReadAll(in)
	if err != nil {
		return err
	}
	e, err := protocol.Unmarshal(b)
	if err != nil {
		return err
	}
	return json.NewEncoder(out).Encode(e)
}

func decodeStream(in io.Reader, out io.Writer) error {
	s := protocol.NewStream(struct {
		io.Reader
		io.Writer
	}{in, io.Discard}, protocol.MaxFrameSize)
	enc := json.NewEncoder(out)
	for n := 1; ; n++ {
		e, err := s.Receive()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("frame %d: %w", n, err)
		}
		if err := enc.Encode(e); err != nil {
			return err
		}
	}
}
