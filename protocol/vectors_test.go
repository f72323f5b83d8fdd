package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// go test ./protocol -run Vectors -update rewrites testdata/ from the
// definitions below. Review the diff: a changed vector is a wire change.
var update = flag.Bool("update", false, "rewrite the golden vectors in testdata/")

var (
	sha = bytes.Repeat([]byte{0xab}, 32)
	// Short stand-ins for DER: the protocol carries them opaquely.
	fakeCSR  = []byte{0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x02}
	fakeLeaf = []byte{0x30, 0x03, 0x02, 0x01, 0x0a}
	fakeCA   = []byte{0x30, 0x03, 0x02, 0x01, 0x0b}
)

// goldenVectors are the valid messages pinned in testdata/<name>.cbor, with
// readable twins <name>.json (named fields) and <name>.diag (CBOR diagnostic
// notation). Every message type has at least one.
var goldenVectors = map[string]Envelope{
	"hello": {1, &Hello{ABIVersion: 1, Board: "stm32f4-discovery", Firmware: "0.1.0", RAMFree: 65536,
		FlashFree: 524288, MaxFrame: 2048, Features: []string{"log", "time", "gpio", "publish", "config"}}},
	"hello_with_apps": {1, &Hello{ABIVersion: 1, Board: "mps2-an386", Firmware: "0.1.0", RAMFree: 131072,
		FlashFree: 1048576, MaxFrame: 4096, Features: []string{"log", "publish"},
		Apps: []AppReport{{App: "sensor", Version: "1.2.0", Generation: 3, State: AppStateRunning, SHA256: sha}}}},
	// After an unexpected reset: why, and the app that was running then, failed.
	"hello_after_crash": {1, &Hello{ABIVersion: 1, Board: "stm32f4-discovery", Firmware: "0.2.0", RAMFree: 65536,
		FlashFree: 262144, MaxFrame: 4096, Features: []string{"log", "time", "gpio", "publish", "config"},
		Apps: []AppReport{{App: "sensor", Version: "1.3.0", Generation: 4, State: AppStateFailed, SHA256: sha,
			Detail: "crashed: watchdog in tick"}},
		Reset: &ResetReport{Cause: ResetWatchdog, Detail: "app sensor in tick", Boots: 3, Unexpected: 1}}},
	// The third unexpected reset in a row: safe mode (the optional detail left out).
	"hello_safe_mode": {1, &Hello{ABIVersion: 1, Board: "mps2-an386", Firmware: "0.2.0", RAMFree: 1048576,
		FlashFree: 524288, MaxFrame: 16384, Features: []string{"log", "publish"},
		Apps: []AppReport{{App: "crasher", Version: "0.1.0", Generation: 2, State: AppStateFailed, SHA256: sha,
			Detail: "crashed: panic during install"}},
		Reset: &ResetReport{Cause: ResetPanic, Boots: 5, Unexpected: 3, SafeMode: true}}},
	// After a power cut: the cause and boot count of any power-on boot; the
	// boot id, picked at random at each boot, tells this boot from the last.
	"hello_power_on": {1, &Hello{ABIVersion: 1, Board: "stm32f4-discovery", Firmware: "0.2.0", RAMFree: 65536,
		FlashFree: 262144, MaxFrame: 4096, Features: []string{"log", "time", "gpio", "publish", "config"},
		Reset: &ResetReport{Cause: ResetPowerOn, Boots: 1, BootID: 0x9e3779b9}}},
	"welcome":            {1, &Welcome{Device: "dev-01", Time: 1795000000000, HeartbeatMS: 5000, MaxFrame: 16384, Gateway: "gw-1"}},
	"welcome_enrollment": {1, &Welcome{Time: 1795000000000, HeartbeatMS: 5000, MaxFrame: 16384, Gateway: "gw-1"}},
	"enroll":             {2, &Enroll{Device: "dev-01", Token: "wbt_Zm9vYmFyYmF6cXV4", CSR: fakeCSR}},
	"certificate":        {2, &Certificate{Chain: [][]byte{fakeLeaf, fakeCA}, NotAfter: 1795086400000}},
	"renew":              {7, &Renew{CSR: fakeCSR}},
	"heartbeat":          {42, &Heartbeat{Seq: 41, UptimeMS: 205000, RAMFree: 61440}},
	"heartbeat_with_apps": {43, &Heartbeat{Seq: 42, UptimeMS: 210000, RAMFree: 57344, Apps: []AppMetrics{
		{App: "sensor", Generation: 4, Calls: 206, Fuel: 1854000, CallUS: 41200, Memory: 65536, MemoryPeak: 65536,
			Starts: 1, InstantiateUS: 1830, Published: 412},
		{App: "crasher", Generation: 2, Calls: 3, Fuel: 15000, CallUS: 950, Traps: 1, MemoryPeak: 131072,
			Starts: 1, InstantiateUS: 2410}}}},
	"heartbeat_ack": {42, &HeartbeatAck{Seq: 41, Time: 1795000205000}},
	"deploy": {3, &Deploy{App: "sensor", Generation: 4, Version: "1.3.0", SHA256: sha, Size: 32768,
		Limits: Limits{Fuel: 100000, Memory: 65536, TickMS: 1000}, Start: true}},
	"deploy_with_config": {4, &Deploy{App: "blinker", Generation: 1, Version: "0.1.0+build.7", SHA256: sha, Size: 512,
		Limits: Limits{Fuel: 5000, Memory: 4096, TickMS: 250}, Config: map[string]string{"pin": "13", "period_ms": "500"}}},
	"module_chunk":      {5, &ModuleChunk{App: "sensor", Generation: 4, Offset: 1024, Data: []byte("\x00asm\x01\x00\x00\x00")}},
	"transfer_progress": {5, &TransferProgress{App: "sensor", Generation: 4, Offset: 1032}},
	"start":             {6, &Start{App: "sensor", Generation: 5}},
	"stop":              {7, &Stop{App: "sensor", Generation: 6}},
	"remove":            {8, &Remove{App: "sensor", Generation: 7}},
	"app_status":        {6, &AppStatus{App: "sensor", Generation: 5, State: AppStateRunning, Version: "1.3.0"}},
	"app_status_trapped": {0, &AppStatus{App: "crasher", Generation: 2, State: AppStateTrapped, Version: "0.1.0",
		Detail: "unreachable executed in tick"}},
	"app_output": {0, &AppOutput{App: "sensor", Seq: 12,
		Logs:   []LogRecord{{Time: 1795000206000, Level: LogInfo, Text: "sampling"}},
		Values: []ValueRecord{{Time: 1795000206000, Key: "temperature", Value: 21.5}, {Time: 1795000206000, Key: "count", Value: 70000}}}},
	"error": {2, &Error{Code: CodeUnauthorized, Message: "enrollment token already used"}},
	// A gateway that does not serve the device names the one that does.
	"error_wrong_gateway": {1, &Error{Code: CodeWrongGateway, Message: "device dev-01 is served by gateway gw-2",
		Gateways: []string{"gw-2.wasmbed-gateway.fleet.svc:8081", "10.0.0.12:8081"}}},
}

func TestVectorsCoverEveryType(t *testing.T) {
	seen := map[Type]bool{}
	for _, e := range goldenVectors {
		seen[e.Msg.Type()] = true
	}
	for _, typ := range Types() {
		if !seen[typ] {
			t.Errorf("no golden vector for message type %s", typ)
		}
	}
}

func TestVectors(t *testing.T) {
	if *update {
		writeVectors(t)
	}
	files, err := filepath.Glob("testdata/*.cbor")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range files {
		names = append(names, strings.TrimSuffix(filepath.Base(f), ".cbor"))
	}
	var want []string
	for n := range goldenVectors {
		want = append(want, n)
	}
	slices.Sort(want)
	if !slices.Equal(names, want) {
		t.Fatalf("testdata/*.cbor holds %v, the definitions %v: run go test ./protocol -run Vectors -update", names, want)
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			raw := readFile(t, "testdata/"+name+".cbor")
			got, err := Unmarshal(raw)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			re, err := Marshal(got)
			if err != nil {
				t.Fatalf("re-encode: %v", err)
			}
			if !bytes.Equal(re, raw) {
				t.Fatalf("re-encoding differs:\n got %x\nwant %x", re, raw)
			}
			if !reflect.DeepEqual(got, goldenVectors[name]) {
				t.Errorf("decoded %#v, defined %#v", got.Msg, goldenVectors[name].Msg)
			}
			var fromJSON Envelope
			if err := json.Unmarshal(readFile(t, "testdata/"+name+".json"), &fromJSON); err != nil {
				t.Fatalf("json twin: %v", err)
			}
			if !reflect.DeepEqual(fromJSON, got) {
				t.Errorf("json twin says %#v, cbor holds %#v", fromJSON.Msg, got.Msg)
			}
			diag, err := Diagnose(raw)
			if err != nil {
				t.Fatal(err)
			}
			if want := strings.TrimSpace(string(readFile(t, "testdata/"+name+".diag"))); diag != want {
				t.Errorf("diagnostic twin says %s, cbor is %s", want, diag)
			}
		})
	}
}

// TestSessionVector checks testdata/session.bin: every golden vector framed,
// in name order, as a stream a device or gateway would read.
func TestSessionVector(t *testing.T) {
	raw := readFile(t, "testdata/session.bin")
	var order []string
	if err := json.Unmarshal(readFile(t, "testdata/session.json"), &order); err != nil {
		t.Fatal(err)
	}
	s := NewStream(struct {
		io.Reader
		io.Writer
	}{bytes.NewReader(raw), io.Discard}, MaxFrameSize)
	for _, name := range order {
		got, err := s.Receive()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !reflect.DeepEqual(got, goldenVectors[name]) {
			t.Errorf("%s: got %#v", name, got.Msg)
		}
	}
	if _, err := s.Receive(); err == nil || !errors.Is(err, io.EOF) {
		t.Fatalf("after the last frame: %v, want io.EOF", err)
	}
}

func writeVectors(t *testing.T) {
	t.Helper()
	old, _ := filepath.Glob("testdata/*.*")
	for _, f := range old {
		os.Remove(f)
	}
	var names []string
	for n := range goldenVectors {
		names = append(names, n)
	}
	slices.Sort(names)
	var session []byte
	for _, name := range names {
		e := goldenVectors[name]
		raw, err := Marshal(e)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		js, err := json.MarshalIndent(e, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		diag, err := Diagnose(raw)
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, "testdata/"+name+".cbor", raw)
		writeFile(t, "testdata/"+name+".json", append(js, '\n'))
		writeFile(t, "testdata/"+name+".diag", []byte(diag+"\n"))
		if session, err = AppendFrame(session, raw); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, "testdata/session.bin", session)
	js, _ := json.MarshalIndent(names, "", "  ")
	writeFile(t, "testdata/session.json", append(js, '\n'))
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestResetCauses(t *testing.T) {
	want := map[ResetCause][2]string{ // name, unexpected
		ResetUnknown: {"unknown", ""}, ResetPowerOn: {"power_on", ""}, ResetRequested: {"requested", ""}, ResetPin: {"pin", ""},
		ResetWatchdog: {"watchdog", "y"}, ResetPanic: {"panic", "y"}, ResetHardFault: {"hard_fault", "y"}, ResetBrownOut: {"brown_out", "y"},
	}
	for c, w := range want {
		if c.String() != w[0] || c.Unexpected() != (w[1] != "") {
			t.Errorf("cause %d: %s unexpected=%v, want %s %v", c, c, c.Unexpected(), w[0], w[1] != "")
		}
	}
	if s := ResetCause(8).String(); s != "reset_cause(8)" {
		t.Errorf("unassigned cause: %s", s)
	}
	// An older device says nothing of resets: Reset stays nil, and a
	// report without its optional fields keeps them zero.
	env, err := Unmarshal(readFile(t, "testdata/hello.cbor"))
	if err != nil || env.Msg.(*Hello).Reset != nil {
		t.Fatalf("hello without reset: %v %+v", err, env.Msg)
	}
	env, err = Unmarshal(readFile(t, "testdata/hello_safe_mode.cbor"))
	if err != nil {
		t.Fatal(err)
	}
	if r := env.Msg.(*Hello).Reset; r.Detail != "" || !r.SafeMode || r.Unexpected != SafeModeAfter {
		t.Fatalf("safe mode reset: %+v", r)
	}
}
