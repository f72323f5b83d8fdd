package module

import (
	"errors"
	"fmt"
)

// importEntry is one entry of a module's import section.
type importEntry struct {
	module, name string
	kind         byte // 0 function, 1 table, 2 memory, 3 global, 4 tag
}

var importKinds = [...]string{"a function", "a table", "a memory", "a global", "an exception tag"}

func (e importEntry) kindName() string {
	if int(e.kind) < len(importKinds) {
		return importKinds[e.kind]
	}
	return fmt.Sprintf("an import of kind %d", e.kind)
}

// scanned is what wazero's CompiledModule does not tell: every import with
// its kind (wazero lists only imported functions and memories) and whether
// there is a start function.
type scanned struct {
	imports  []importEntry
	hasStart bool
}

const (
	sectionImport = 2
	sectionStart  = 8
)

var errShort = errors.New("unexpected end of module")

type reader struct {
	b   []byte
	off int
}

func (r *reader) byte() (byte, error) {
	if r.off >= len(r.b) {
		return 0, errShort
	}
	c := r.b[r.off]
	r.off++
	return c, nil
}

func (r *reader) uleb() (uint64, error) {
	var v uint64
	for shift := 0; shift < 64; shift += 7 {
		c, err := r.byte()
		if err != nil {
			return 0, err
		}
		v |= uint64(c&0x7f) << shift
		if c&0x80 == 0 {
			return v, nil
		}
	}
	return 0, errors.New("LEB128 integer too long")
}

func (r *reader) bytes(n uint64) ([]byte, error) {
	if n > uint64(len(r.b)-r.off) {
		return nil, errShort
	}
	b := r.b[r.off : r.off+int(n)]
	r.off += int(n)
	return b, nil
}

func (r *reader) name() (string, error) {
	n, err := r.uleb()
	if err != nil {
		return "", err
	}
	b, err := r.bytes(n)
	return string(b), err
}

func (r *reader) limits() error {
	flags, err := r.byte()
	if err != nil {
		return err
	}
	if _, err := r.uleb(); err != nil {
		return err
	}
	if flags&1 != 0 {
		_, err = r.uleb()
	}
	return err
}

// scan reads the import and start sections of a module wazero has already
// validated; it still fails cleanly on malformed input.
func scan(wasm []byte) (scanned, error) {
	var s scanned
	if len(wasm) < 8 || string(wasm[:4]) != "\x00asm" {
		return s, errors.New("not a WebAssembly binary")
	}
	r := &reader{b: wasm, off: 8}
	for r.off < len(r.b) {
		id, err := r.byte()
		if err != nil {
			return s, err
		}
		size, err := r.uleb()
		if err != nil {
			return s, err
		}
		body, err := r.bytes(size)
		if err != nil {
			return s, err
		}
		switch id {
		case sectionStart:
			s.hasStart = true
		case sectionImport:
			if s.imports, err = scanImports(body); err != nil {
				return s, fmt.Errorf("import section: %w", err)
			}
		}
	}
	return s, nil
}

func scanImports(body []byte) ([]importEntry, error) {
	r := &reader{b: body}
	n, err := r.uleb()
	if err != nil {
		return nil, err
	}
	if n > uint64(len(body)) {
		return nil, errShort
	}
	out := make([]importEntry, 0, n)
	for range n {
		var e importEntry
		if e.module, err = r.name(); err != nil {
			return nil, err
		}
		if e.name, err = r.name(); err != nil {
			return nil, err
		}
		if e.kind, err = r.byte(); err != nil {
			return nil, err
		}
		switch e.kind {
		case 0: // function: type index
			_, err = r.uleb()
		case 1: // table: reference type, limits
			if _, err = r.byte(); err == nil {
				err = r.limits()
			}
		case 2: // memory: limits
			err = r.limits()
		case 3: // global: value type, mutability
			if _, err = r.byte(); err == nil {
				_, err = r.byte()
			}
		case 4: // tag: attribute, type index
			if _, err = r.byte(); err == nil {
				_, err = r.uleb()
			}
		default:
			return nil, fmt.Errorf("import %s.%s: unknown kind %d", e.module, e.name, e.kind)
		}
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}
