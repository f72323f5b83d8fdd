package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"
)

func TestDecodeSession(t *testing.T) {
	var out bytes.Buffer
	if err := run([]string{"decode", "../../protocol/testdata/session.bin"}, nil, &out); err != nil {
		t.Fatal(err)
	}
	var names []string
	b, err := os.ReadFile("../../protocol/testdata/session.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &names); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(&out)
	i := 0
	for ; sc.Scan(); i++ {
		want, err := os.ReadFile("../../protocol/testdata/" + names[i] + ".json")
		if err != nil {
			t.Fatal(err)
		}
		var got, exp any
		json.Unmarshal(sc.Bytes(), &got)
		json.Unmarshal(want, &exp)
		gb, _ := json.Marshal(got)
		eb, _ := json.Marshal(exp)
		if !bytes.Equal(gb, eb) {
			t.Errorf("message %d (%s): %s, want %s", i, names[i], gb, eb)
		}
	}
	if i != len(names) {
		t.Fatalf("%d messages, want %d", i, len(names))
	}
}

func TestDecodeReportsBadFrame(t *testing.T) {
	err := run([]string{"decode"}, bytes.NewReader([]byte{1, 0, 0x40, 1}), &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "frame 1") || !strings.Contains(err.Error(), "frame too large") {
		t.Fatalf("got %v", err)
	}
}

func TestDiag(t *testing.T) {
	var out bytes.Buffer
	if err := run([]string{"diag", "../../protocol/testdata/heartbeat.cbor"}, nil, &out); err != nil {
		t.Fatal(err)
	}
	if want, _ := os.ReadFile("../../protocol/testdata/heartbeat.diag"); out.String() != string(want) {
		t.Fatalf("got %q, want %q", out.String(), want)
	}
}
