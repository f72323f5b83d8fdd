package provision

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite firmware/net/testdata/bundle.bin")

func golden() *Bundle {
	seed := make([]byte, 32)
	for i := range seed {
		seed[i] = byte(i)
	}
	return &Bundle{Gateways: []string{"127.0.0.1:8081", "gw2.example:8081"}, ServerName: "localhost",
		CARoot: []byte("not really DER"), Device: "sensor-7", Token: "wbt_0123456789abcdef_secret", Seed: seed,
		TokenExpires: time.UnixMilli(1_893_456_000_000), Board: "stm32f4-discovery", Diag: "echo"}
}

// The bundle the Rust parser reads in firmware/net/tests/net.rs (bundle_written_by_go).
func TestGolden(t *testing.T) {
	raw, err := golden().Marshal()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("..", "net", "testdata", "bundle.bin")
	if *update {
		if err := os.WriteFile(path, raw, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(raw, want) {
		t.Fatalf("bundle encoding changed (go test -run Golden -update rewrites %s)", path)
	}
	b, err := Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	if b.Device != "sensor-7" || len(b.Gateways) != 2 || !b.TokenExpires.Equal(golden().TokenExpires) || b.Diag != "echo" {
		t.Fatalf("round trip: %+v", b)
	}
}

func TestMarshalChecks(t *testing.T) {
	for name, b := range map[string]*Bundle{
		"no gateway":  {Device: "d", CARoot: []byte{1}},
		"no CA":       {Gateways: []string{"a:1"}, Device: "d"},
		"IP as name":  {Gateways: []string{"a:1"}, Device: "d", CARoot: []byte{1}, ServerName: "127.0.0.1"},
		"key no cert": {Gateways: []string{"a:1"}, Device: "d", CARoot: []byte{1}, Key: make([]byte, 32)},
	} {
		if _, err := b.Marshal(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	b := &Bundle{Gateways: []string{"a:1"}, Device: "d", CARoot: []byte{1}}
	raw, err := b.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Seed) != 32 || bytes.Equal(b.Seed, make([]byte, 32)) {
		t.Fatalf("seed %x", b.Seed)
	}
	raw[10] ^= 1
	if _, err := Parse(raw); err == nil {
		t.Fatal("a corrupted bundle parsed")
	}
}

// The CSR the firmware builds (firmware/net/src/csr.rs, pinned by its csr_golden test)
// is what Go's x509 (and so the gateway) accepts.
func TestCSRFromFirmware(t *testing.T) {
	der, err := os.ReadFile(filepath.Join("..", "net", "testdata", "csr.der"))
	if err != nil {
		t.Fatal(err)
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		t.Fatal(err)
	}
	if err := csr.CheckSignature(); err != nil {
		t.Fatal(err)
	}
	if csr.Subject.CommonName != "sensor-7" {
		t.Fatalf("CN %q", csr.Subject.CommonName)
	}
	if k, ok := csr.PublicKey.(*ecdsa.PublicKey); !ok || k.Curve != elliptic.P256() {
		t.Fatalf("key %T", csr.PublicKey)
	}
}

// Provisioning a built firmware image (scripts/firmware.sh build writes them) and
// reading the bundle back.
func TestWriteELF(t *testing.T) {
	for _, board := range []string{"stm32f4-discovery", "mps2-an386", "nano33ble", "riscv32-virt"} {
		img, err := os.ReadFile(filepath.Join("..", "..", "bin", "firmware", board+".elf"))
		if err != nil {
			t.Fatalf("no firmware image (make firmware): %v", err)
		}
		if _, _, err := ConfigArea(img); err != nil {
			t.Fatalf("%s: %v: an image from before provisioning (make firmware)", board, err)
		}
		if b, err := Read(img); err != nil || b != nil {
			t.Fatalf("%s: fresh image: %v %v", board, b, err)
		}
		g := golden()
		g.Board = board
		raw, err := g.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		out, err := Write(img, raw, -1)
		if err != nil {
			t.Fatal(err)
		}
		b, err := Read(out)
		if err != nil || b == nil || b.Board != board || b.Token != g.Token {
			t.Fatalf("%s: read back %+v %v", board, b, err)
		}
		// Re-provisioning replaces the bundle.
		g.Token = "wbt_other"
		raw, _ = g.Marshal()
		if out, err = Write(out, raw, -1); err != nil {
			t.Fatal(err)
		}
		if b, _ = Read(out); b.Token != "wbt_other" {
			t.Fatalf("%s: re-provisioned token %q", board, b.Token)
		}
	}
}
