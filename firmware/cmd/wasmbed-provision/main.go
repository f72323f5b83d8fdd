// Command wasmbed-provision writes a device's provisioning bundle into a copy of a
// firmware image (ELF, or raw binary with -offset), or shows the bundle of an image.
//
//	wasmbed-provision -in bin/firmware/stm32f4-discovery.elf -out dev-1.elf \
//	    -gateway 10.0.0.5:8081 -server-name gateway.local -ca ca.crt \
//	    -device dev-1 -token wbt_... [-board stm32f4-discovery]
//	wasmbed-provision -show dev-1.elf
package main

import (
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/wasmbed/wasmbed/firmware/provision"
)

type list []string

func (l *list) String() string     { return strings.Join(*l, ",") }
func (l *list) Set(v string) error { *l = append(*l, v); return nil }

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "wasmbed-provision:", err)
		os.Exit(1)
	}
}

func run() error {
	var gateways list
	in := flag.String("in", "", "firmware image to copy (ELF, or raw binary with -offset)")
	out := flag.String("out", "", "provisioned image to write")
	offset := flag.Int("offset", -1, "config area offset in a raw binary image (stm32f4-discovery: 0xE0000, riscv32-virt: 0x7F000, uno-r4: 0x3E000)")
	show := flag.String("show", "", "print the bundle of this ELF image and exit")
	flag.Var(&gateways, "gateway", "gateway device listener host:port (repeat for fallbacks)")
	serverName := flag.String("server-name", "localhost", "DNS name in the gateway's certificate")
	caFile := flag.String("ca", "", "fleet CA root certificate (PEM or DER), e.g. the gateway's ca.crt")
	device := flag.String("device", "", "device name")
	token := flag.String("token", "", "one-time enrollment token")
	expires := flag.String("token-expires", "", "token expiry, RFC 3339 (informational)")
	board := flag.String("board", "", "board the image is for (the firmware refuses a bundle for another)")
	seed := flag.String("seed", "", "per-device seed, 64 hex digits (default: random)")
	keyFile := flag.String("key", "", "factory identity: the device's P-256 key (PEM) instead of enrollment")
	certFile := flag.String("cert", "", "factory identity: its certificate chain (PEM, leaf first)")
	diag := flag.String("diag", "", "diagnostic mode instead of the agent: echo or tls")
	flag.Parse()

	if *show != "" {
		img, err := os.ReadFile(*show)
		if err != nil {
			return err
		}
		b, err := provision.Read(img)
		if err != nil {
			return err
		}
		if b == nil {
			fmt.Println("not provisioned")
			return nil
		}
		fmt.Printf("device %s board %q gateways %v server name %q token %d bytes seed %d bytes CA root %d bytes", b.Device,
			b.Board, b.Gateways, b.ServerName, len(b.Token), len(b.Seed), len(b.CARoot))
		if len(b.Key) > 0 {
			fmt.Printf(" factory identity (%d certificates)", len(b.Certs))
		}
		if b.Diag != "" {
			fmt.Printf(" diag %s", b.Diag)
		}
		fmt.Println()
		return nil
	}
	if *in == "" || *out == "" {
		return errors.New("need -in and -out (or -show)")
	}
	b := &provision.Bundle{Gateways: gateways, ServerName: *serverName, Device: *device, Token: *token, Board: *board, Diag: *diag}
	if *caFile != "" {
		der, err := readDER(*caFile, "CERTIFICATE")
		if err != nil {
			return err
		}
		b.CARoot = der[0]
	}
	if *expires != "" {
		t, err := time.Parse(time.RFC3339, *expires)
		if err != nil {
			return err
		}
		b.TokenExpires = t
	}
	if *seed != "" {
		s, err := hex.DecodeString(*seed)
		if err != nil {
			return err
		}
		b.Seed = s
	}
	if *keyFile != "" {
		der, err := readDER(*keyFile, "")
		if err != nil {
			return err
		}
		scalar, err := p256Scalar(der[0])
		if err != nil {
			return err
		}
		b.Key = scalar
		if b.Certs, err = readDER(*certFile, "CERTIFICATE"); err != nil {
			return err
		}
	}
	raw, err := b.Marshal()
	if err != nil {
		return err
	}
	img, err := os.ReadFile(*in)
	if err != nil {
		return err
	}
	img, err = provision.Write(img, raw, *offset)
	if err != nil {
		return err
	}
	if err := os.WriteFile(*out, img, 0o600); err != nil {
		return err
	}
	fmt.Printf("wrote %s: device %s, bundle %d bytes\n", *out, b.Device, len(raw))
	return nil
}

// readDER reads PEM blocks (of type typ, if given) or one DER item.
func readDER(path, typ string) ([][]byte, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out [][]byte
	for rest := raw; ; {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			break
		}
		if typ == "" || blk.Type == typ {
			out = append(out, blk.Bytes)
		}
	}
	if len(out) == 0 {
		out = [][]byte{raw}
	}
	return out, nil
}

// p256Scalar takes a SEC1 or PKCS#8 P-256 private key.
func p256Scalar(der []byte) ([]byte, error) {
	var k *ecdsa.PrivateKey
	if ec, err := x509.ParseECPrivateKey(der); err == nil {
		k = ec
	} else if any, err := x509.ParsePKCS8PrivateKey(der); err == nil {
		var ok bool
		if k, ok = any.(*ecdsa.PrivateKey); !ok {
			return nil, errors.New("the key is not ECDSA")
		}
	} else {
		return nil, fmt.Errorf("read key: %w", err)
	}
	if k.Curve.Params().Name != "P-256" {
		return nil, errors.New("the key is not P-256")
	}
	return k.D.FillBytes(make([]byte, 32)), nil
}
