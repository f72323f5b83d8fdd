package module_test

import (
	"bytes"
	"testing"

	"github.com/wasmbed/wasmbed/module"
)

// TestAllocator: grown memory reads zero, even where it was handed out
// before; what was there stays; beyond the limit the allocator refuses.
func TestAllocator(t *testing.T) {
	const page = 65536
	var refused []uint64
	mem := module.NewAllocator(3*page, func(n uint64) { refused = append(refused, n) }).Allocate(page, 3*page)
	b := mem.Reallocate(page)
	if len(b) != page || !bytes.Equal(b, make([]byte, page)) {
		t.Fatalf("first page: %d bytes, not all zero", len(b))
	}
	for i := range b {
		b[i] = 0xaa
	}
	b = mem.Reallocate(2 * page)
	if !bytes.Equal(b[:page], bytes.Repeat([]byte{0xaa}, page)) || !bytes.Equal(b[page:], make([]byte, page)) {
		t.Fatal("growing lost the first page or left garbage in the second")
	}
	for i := range b {
		b[i] = 0xbb
	}
	// Were a memory to shrink and grow again, what it held must not show.
	mem.Reallocate(100)
	b = mem.Reallocate(2 * page) // within the buffer it has
	if !bytes.Equal(b[:100], bytes.Repeat([]byte{0xbb}, 100)) || !bytes.Equal(b[100:], make([]byte, 2*page-100)) {
		t.Fatal("memory grown again shows old contents")
	}
	b = mem.Reallocate(3 * page) // a new buffer
	if !bytes.Equal(b[:100], bytes.Repeat([]byte{0xbb}, 100)) || !bytes.Equal(b[100:], make([]byte, 3*page-100)) {
		t.Fatal("memory moved to a new buffer shows old contents")
	}
	if b := mem.Reallocate(4 * page); b != nil || len(refused) != 1 || refused[0] != 4*page {
		t.Fatalf("beyond the limit: %d bytes, refused %v", len(b), refused)
	}
}
