// Package provision writes a device's provisioning bundle (gateway addresses, the fleet
// CA root, the device name, its one-time enrollment token, a per-device seed) into the
// config area of a copy of a firmware image, so one build serves every device. The
// format is firmware/net/src/bundle.rs's:
//
//	"WBCF" | version 1 | flags 0 | length u16 BE | TLVs | SHA-256 of all before
//	TLV: tag u8 | length u16 BE | value
//
// The config area is the ELF section .wasmbed_config (erased flash, 0xFF, in the image
// as built); in a raw .bin it is at the board's config offset.
package provision

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Tags of the bundle's fields.
const (
	TagGateway      = 1
	TagServerName   = 2
	TagCARoot       = 3
	TagDevice       = 4
	TagToken        = 5
	TagSeed         = 6
	TagTokenExpires = 7
	TagBoard        = 8
	TagKey          = 9
	TagCert         = 10
	TagDiag         = 11
)

// Section is the ELF section holding the config area.
const Section = ".wasmbed_config"

var magic = []byte("WBCF")

// Bundle is what a device is provisioned with.
type Bundle struct {
	Gateways     []string // host:port of gateways' device listeners, tried in turn
	ServerName   string   // DNS name the gateway certificate carries (a name, not an IP)
	CARoot       []byte   // DER
	Device       string
	Token        string
	Seed         []byte // 32 bytes, per device; random when empty
	TokenExpires time.Time
	Board        string // checked by the firmware when set
	// A factory identity instead of enrollment: the P-256 private scalar (32 bytes)
	// and the certificate chain (DER, leaf first).
	Key   []byte
	Certs [][]byte
	// Diag runs a diagnostic instead of the agent: "echo" (the link: open, echo,
	// close), "tls" (a TLS handshake and hello with the gateway) or "tls-bench"
	// (the same, counting the handshake's cycles: bench/firmware.sh).
	Diag string
}

// Marshal encodes the bundle, making a random seed if it has none.
func (b *Bundle) Marshal() ([]byte, error) {
	if len(b.Gateways) == 0 || b.Device == "" {
		return nil, errors.New("provision: a bundle needs at least one gateway and the device name")
	}
	if len(b.CARoot) == 0 && b.Diag != "echo" {
		return nil, errors.New("provision: a bundle needs the CA root")
	}
	if b.ServerName != "" && strings.Trim(b.ServerName, "0123456789.") == "" {
		return nil, fmt.Errorf("provision: server name %q is an IP address: the device checks a DNS name of the gateway certificate (e.g. localhost)", b.ServerName)
	}
	if (len(b.Key) == 0) != (len(b.Certs) == 0) {
		return nil, errors.New("provision: a factory identity needs both the key and the certificates")
	}
	if len(b.Key) != 0 && len(b.Key) != 32 {
		return nil, errors.New("provision: the key must be a 32-byte P-256 scalar")
	}
	if len(b.Seed) == 0 {
		b.Seed = make([]byte, 32)
		if _, err := rand.Read(b.Seed); err != nil {
			return nil, err
		}
	}
	if len(b.Seed) != 32 {
		return nil, errors.New("provision: the seed must be 32 bytes")
	}
	out := append([]byte{}, magic...)
	out = append(out, 1, 0, 0, 0)
	add := func(tag byte, v []byte) {
		out = append(out, tag)
		out = binary.BigEndian.AppendUint16(out, uint16(len(v)))
		out = append(out, v...)
	}
	for _, g := range b.Gateways {
		add(TagGateway, []byte(g))
	}
	if b.ServerName != "" {
		add(TagServerName, []byte(b.ServerName))
	}
	if len(b.CARoot) > 0 {
		add(TagCARoot, b.CARoot)
	}
	add(TagDevice, []byte(b.Device))
	if b.Token != "" {
		add(TagToken, []byte(b.Token))
	}
	add(TagSeed, b.Seed)
	if !b.TokenExpires.IsZero() {
		add(TagTokenExpires, binary.BigEndian.AppendUint64(nil, uint64(b.TokenExpires.UnixMilli())))
	}
	if b.Board != "" {
		add(TagBoard, []byte(b.Board))
	}
	if len(b.Key) > 0 {
		add(TagKey, b.Key)
		for _, c := range b.Certs {
			add(TagCert, c)
		}
	}
	if b.Diag != "" {
		add(TagDiag, []byte(b.Diag))
	}
	n := len(out) - 8
	if n > 0xFFFF {
		return nil, fmt.Errorf("provision: bundle of %d bytes is too large", n)
	}
	binary.BigEndian.PutUint16(out[6:], uint16(n))
	sum := sha256.Sum256(out)
	return append(out, sum[:]...), nil
}

// Parse decodes a bundle from a config area; nil, nil if the area is erased.
func Parse(area []byte) (*Bundle, error) {
	if len(area) >= 4 && bytes.Equal(area[:4], []byte{0xFF, 0xFF, 0xFF, 0xFF}) {
		return nil, nil
	}
	if len(area) < 8 || !bytes.Equal(area[:4], magic) {
		return nil, errors.New("provision: no bundle (bad magic)")
	}
	if area[4] != 1 {
		return nil, fmt.Errorf("provision: bundle version %d", area[4])
	}
	end := 8 + int(binary.BigEndian.Uint16(area[6:]))
	if len(area) < end+32 {
		return nil, errors.New("provision: bundle truncated")
	}
	if sum := sha256.Sum256(area[:end]); !bytes.Equal(sum[:], area[end:end+32]) {
		return nil, errors.New("provision: bundle checksum mismatch")
	}
	b := &Bundle{}
	for p := 8; p < end; {
		if p+3 > end {
			return nil, errors.New("provision: bundle truncated")
		}
		tag, n := area[p], int(binary.BigEndian.Uint16(area[p+1:]))
		p += 3
		if p+n > end {
			return nil, errors.New("provision: bundle truncated")
		}
		v := append([]byte{}, area[p:p+n]...)
		p += n
		switch tag {
		case TagGateway:
			b.Gateways = append(b.Gateways, string(v))
		case TagServerName:
			b.ServerName = string(v)
		case TagCARoot:
			b.CARoot = v
		case TagDevice:
			b.Device = string(v)
		case TagToken:
			b.Token = string(v)
		case TagSeed:
			b.Seed = v
		case TagTokenExpires:
			if n == 8 {
				b.TokenExpires = time.UnixMilli(int64(binary.BigEndian.Uint64(v)))
			}
		case TagBoard:
			b.Board = string(v)
		case TagKey:
			b.Key = v
		case TagCert:
			b.Certs = append(b.Certs, v)
		case TagDiag:
			b.Diag = string(v)
		}
	}
	return b, nil
}

// ConfigArea finds the config area in an ELF image: its file offset and size.
func ConfigArea(image []byte) (offset, size int, err error) {
	f, err := elf.NewFile(bytes.NewReader(image))
	if err != nil {
		return 0, 0, fmt.Errorf("provision: not an ELF image: %w", err)
	}
	s := f.Section(Section)
	if s == nil {
		return 0, 0, fmt.Errorf("provision: the image has no %s section (not a wasmbed firmware?)", Section)
	}
	if s.Type != elf.SHT_PROGBITS {
		return 0, 0, fmt.Errorf("provision: section %s holds no bytes in the file", Section)
	}
	return int(s.Offset), int(s.Size), nil
}

// Write puts bundle into image (an ELF, or a raw binary with binOffset >= 0 as the
// config area's offset) and returns the new image; image is not modified. The area
// must be erased or hold a bundle already (re-provisioning).
func Write(image, bundle []byte, binOffset int) ([]byte, error) {
	off, size := binOffset, 0
	if binOffset < 0 {
		var err error
		if off, size, err = ConfigArea(image); err != nil {
			return nil, err
		}
	} else {
		size = len(image) - off
		if size <= 0 {
			return nil, fmt.Errorf("provision: offset %#x is past the end of the %d-byte image", off, len(image))
		}
		size = min(size, 4096)
	}
	if len(bundle) > size {
		return nil, fmt.Errorf("provision: the bundle (%d bytes) does not fit the %d-byte config area", len(bundle), size)
	}
	area := image[off : off+size]
	if _, err := Parse(area); err != nil && !allFF(area) {
		return nil, fmt.Errorf("provision: the config area holds neither a bundle nor erased flash: %w", err)
	}
	out := bytes.Clone(image)
	copy(out[off:], bundle)
	for i := off + len(bundle); i < off+size; i++ {
		out[i] = 0xFF
	}
	return out, nil
}

// Read returns the bundle of an ELF image (nil if it is not provisioned).
func Read(image []byte) (*Bundle, error) {
	off, size, err := ConfigArea(image)
	if err != nil {
		return nil, err
	}
	return Parse(image[off : off+size])
}

func allFF(b []byte) bool {
	for _, c := range b {
		if c != 0xFF {
			return false
		}
	}
	return true
}
