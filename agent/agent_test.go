package agent_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wasmbed/wasmbed/agent"
	"github.com/wasmbed/wasmbed/agent/agenttest"
	"github.com/wasmbed/wasmbed/agent/runtime"
	"github.com/wasmbed/wasmbed/module/wasmtest"
	"github.com/wasmbed/wasmbed/protocol"
)

// The agents in these tests run against agenttest.Gateway, a scripted test
// double of the gateway, not the real one (package gateway): the double lets
// a test script exact message sequences.

var (
	engineOnce sync.Once
	engine     *runtime.Engine
)

// sharedEngine is one runtime for every agent of the package's tests, as a
// simulator would share it.
func sharedEngine(t *testing.T) *runtime.Engine {
	engineOnce.Do(func() {
		var err error
		if engine, err = runtime.New(context.Background(), runtime.Config{}); err != nil {
			t.Fatal(err)
		}
	})
	return engine
}

func testLogger(t *testing.T) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return nil
}

func agentConfig(t *testing.T, dir string, b *agent.Bundle) agent.Config {
	return agent.Config{Dir: dir, Bundle: b, Engine: sharedEngine(t), Logger: testLogger(t),
		MinBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond, DialTimeout: 2 * time.Second,
		OutputInterval: 20 * time.Millisecond}
}

// runAgent starts an agent and stops it at the end of the test (or when the
// returned stop is called).
func runAgent(t *testing.T, cfg agent.Config) (*agent.Agent, func()) {
	t.Helper()
	a, err := agent.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Error("Run did not return within 10 s of cancel")
			}
		})
	}
	t.Cleanup(stop)
	return a, stop
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

var limits = protocol.Limits{Fuel: 1_000_000, Memory: 65536, TickMS: 20}

// First start: the agent makes its key (0600, in its directory), enrolls with
// its token over server-only TLS, then opens a mutual-TLS session whose
// identity is the certificate's, says hello with its board, and heartbeats at
// the welcome's period.
func TestEnrollThenMutualSession(t *testing.T) {
	g := agenttest.NewGateway(t)
	dir := t.TempDir()
	a, _ := runAgent(t, agentConfig(t, dir, g.Bundle("dev-1", "tok-1")))
	s := g.NextSession(t)
	if s.Device != "dev-1" || g.Enrollments.Load() != 1 {
		t.Fatalf("session for %q after %d enrollments", s.Device, g.Enrollments.Load())
	}
	h := s.Hello
	if h.ABIVersion != 1 || h.Board != "linux" || h.MaxFrame != 16384 || !slices.Equal(h.Features, []string{"log", "time", "gpio", "publish", "config"}) ||
		len(h.Apps) != 0 || !strings.HasPrefix(h.Firmware, "wasmbed-agent/") ||
		h.Reset == nil || h.Reset.Cause != protocol.ResetUnknown || h.Reset.Boots != 1 || h.Reset.BootID == 0 {
		t.Errorf("hello %+v", h)
	}
	waitFor(t, "3 heartbeats", func() bool { return s.Beats.Load() >= 3 })
	st := a.Status()
	if !st.Connected || !st.Enrolled || st.Sessions != 1 || st.Enrollments != 1 {
		t.Errorf("status %+v", st)
	}

	// The key: in the state directory, 0600, and the one the certificate is for.
	fi, err := os.Stat(filepath.Join(dir, "identity.pem"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("identity.pem: %v %v", fi, err)
	}
	if di, _ := os.Stat(dir); di.Mode().Perm() != 0o700 {
		t.Errorf("state directory mode %v", di.Mode().Perm())
	}
	key, chain := readIdentity(t, dir)
	issued := g.Issued()[0]
	if !issued.PublicKey.(*ecdsa.PublicKey).Equal(&key.PublicKey) || !bytes.Equal(chain[0], issued.Raw) {
		t.Error("the stored certificate is not the issued one for the stored key")
	}
	if key.Curve.Params().Name != "P-256" {
		t.Errorf("key curve %s", key.Curve.Params().Name)
	}
}

func readIdentity(t *testing.T, dir string) (*ecdsa.PrivateKey, [][]byte) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "identity.pem"))
	if err != nil {
		t.Fatal(err)
	}
	var key *ecdsa.PrivateKey
	var chain [][]byte
	for {
		var blk *pem.Block
		if blk, b = pem.Decode(b); blk == nil {
			break
		}
		switch blk.Type {
		case "PRIVATE KEY":
			k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
			if err != nil {
				t.Fatal(err)
			}
			key = k.(*ecdsa.PrivateKey)
		case "CERTIFICATE":
			chain = append(chain, blk.Bytes)
		}
	}
	return key, chain
}

// A wrong token is refused; the agent keeps trying (with backoff), stores no
// certificate, and never opens a mutual session.
func TestEnrollmentRefused(t *testing.T) {
	g := agenttest.NewGateway(t)
	b := g.Bundle("dev-2", "right")
	b.Token = "wrong"
	dir := t.TempDir()
	a, _ := runAgent(t, agentConfig(t, dir, b))
	waitFor(t, "retries", func() bool { return g.Accepts.Load() >= 3 })
	if st := a.Status(); st.Enrolled || !strings.Contains(st.LastError, "enrollment refused") {
		t.Fatalf("status %+v", st)
	}
	if _, chain := readIdentity(t, dir); len(chain) != 0 {
		t.Fatal("a certificate was stored")
	}
	if g.Sessions() != 0 {
		t.Fatal("a mutual session was opened")
	}
}

// The whole app lifecycle over one session: a chunked deploy with config and
// start, output batched in app_output, stop/start/remove with growing
// generations, and stale commands refused with stale_generation.
func TestDeployLifecycle(t *testing.T) {
	g := agenttest.NewGateway(t)
	cfg := agentConfig(t, t.TempDir(), g.Bundle("dev-3", "tok"))
	cfg.OutputInterval = 100 * time.Millisecond // several ticks per app_output
	a, _ := runAgent(t, cfg)
	s := g.NextSession(t)
	wasm := wasmtest.App(t, "sensor")
	fast := limits
	fast.TickMS = 5

	st := s.Deploy(t, protocol.Deploy{App: "sensor", Generation: 1, Version: "1.0.0", Limits: fast,
		Config: map[string]string{"offset": "100"}, Start: true}, wasm, 97)
	if st.State != protocol.AppStateRunning || st.Generation != 1 || st.Version != "1.0.0" {
		t.Fatalf("deploy answered %+v", st)
	}
	vals := s.Values(t, "sensor", 3)
	for i, v := range vals[:3] {
		if v.Key != "temperature" || v.Value != float64(101+i) {
			t.Errorf("value %d: %+v", i, v)
		}
	}
	// Output is batched: fewer messages than values, seq growing.
	var seqs []uint64
	deadline := time.After(5 * time.Second)
	var n int
	for n < 10 {
		select {
		case m := <-s.Outputs:
			seqs = append(seqs, m.Seq)
			n += len(m.Values)
		case <-deadline:
			t.Fatal("no output")
		}
	}
	increasing := true
	for i := 1; i < len(seqs); i++ {
		increasing = increasing && seqs[i] > seqs[i-1]
	}
	if len(seqs) >= n || !increasing {
		t.Errorf("%d messages for %d values, seqs %v", len(seqs), n, seqs)
	}

	id := s.Send(t, &protocol.Stop{App: "sensor", Generation: 2})
	if st := agenttest.Expect[*protocol.AppStatus](t, s, id); st.State != protocol.AppStateStopped || st.Generation != 2 {
		t.Fatalf("stop: %+v", st)
	}
	// A stale start (generation 1) is refused and changes nothing.
	id = s.Send(t, &protocol.Start{App: "sensor", Generation: 1})
	if e := agenttest.Expect[*protocol.Error](t, s, id); e.Code != protocol.CodeStaleGeneration {
		t.Fatalf("stale start: %+v", e)
	}
	if info, _ := a.Device().App("sensor"); info.State != protocol.AppStateStopped {
		t.Fatalf("after stale start: %v", info.State)
	}
	// The same generation again is applied idempotently.
	id = s.Send(t, &protocol.Stop{App: "sensor", Generation: 2})
	if st := agenttest.Expect[*protocol.AppStatus](t, s, id); st.State != protocol.AppStateStopped {
		t.Fatalf("repeated stop: %+v", st)
	}
	id = s.Send(t, &protocol.Start{App: "sensor", Generation: 3})
	if st := agenttest.Expect[*protocol.AppStatus](t, s, id); st.State != protocol.AppStateRunning {
		t.Fatalf("start: %+v", st)
	}
	id = s.Send(t, &protocol.Remove{App: "sensor", Generation: 4})
	if st := agenttest.Expect[*protocol.AppStatus](t, s, id); st.State != protocol.AppStateRemoved {
		t.Fatalf("remove: %+v", st)
	}
	if _, ok := a.Device().App("sensor"); ok {
		t.Fatal("app still installed")
	}
	// A replayed deploy of generation 1 cannot bring it back.
	sum := sha256.Sum256(wasm)
	id = s.Send(t, &protocol.Deploy{App: "sensor", Generation: 1, Version: "1.0.0", SHA256: sum[:], Size: uint32(len(wasm)), Limits: limits})
	if e := agenttest.Expect[*protocol.Error](t, s, id); e.Code != protocol.CodeStaleGeneration {
		t.Fatalf("stale deploy: %+v", e)
	}
	// Commands for an app the device does not have.
	id = s.Send(t, &protocol.Start{App: "ghost", Generation: 1})
	if e := agenttest.Expect[*protocol.Error](t, s, id); e.Code != protocol.CodeNotFound {
		t.Fatalf("start ghost: %+v", e)
	}
	id = s.Send(t, &protocol.ModuleChunk{App: "ghost", Generation: 1, Data: []byte{1}})
	if e := agenttest.Expect[*protocol.Error](t, s, id); e.Code != protocol.CodeNotFound {
		t.Fatalf("chunk ghost: %+v", e)
	}
}

// A transfer cut by a lost session resumes where it stopped: after the
// reconnect the gateway repeats the deploy and the device answers with the
// bytes it holds. A chunk at the wrong offset is answered with the current one.
func TestTransferResumesAfterReconnect(t *testing.T) {
	g := agenttest.NewGateway(t)
	a, _ := runAgent(t, agentConfig(t, t.TempDir(), g.Bundle("dev-4", "tok")))
	s := g.NextSession(t)
	wasm := wasmtest.App(t, "sensor")
	sum := sha256.Sum256(wasm)
	d := protocol.Deploy{App: "s", Generation: 5, Version: "2.0.0", SHA256: sum[:], Size: uint32(len(wasm)), Limits: limits, Start: true}
	id := s.Send(t, &d)
	if p := agenttest.Expect[*protocol.TransferProgress](t, s, id); p.Offset != 0 {
		t.Fatalf("fresh transfer at %d", p.Offset)
	}
	half := uint32(len(wasm) / 2)
	cid := s.Send(t, &protocol.ModuleChunk{App: "s", Generation: 5, Offset: 0, Data: wasm[:half]})
	agenttest.Expect[*protocol.TransferProgress](t, s, cid)
	// Wrong offset: ignored, answered with the current one.
	cid = s.Send(t, &protocol.ModuleChunk{App: "s", Generation: 5, Offset: half + 10, Data: wasm[half+10:]})
	if p := agenttest.Expect[*protocol.TransferProgress](t, s, cid); p.Offset != half {
		t.Fatalf("wrong-offset chunk answered %d, want %d", p.Offset, half)
	}
	bootID := s.Hello.Reset.BootID
	s.Conn.Close() // the link drops

	s = g.NextSession(t)
	waitFor(t, "the second session", func() bool { return a.Status().Sessions == 2 })
	if s.Hello.Reset.BootID != bootID { // the same process: the same boot
		t.Fatalf("boot id %x after a reconnect, was %x", s.Hello.Reset.BootID, bootID)
	}
	id = s.Send(t, &d)
	p := agenttest.Expect[*protocol.TransferProgress](t, s, id)
	if p.Offset != half {
		t.Fatalf("resumed at %d, want %d", p.Offset, half)
	}
	if st := s.SendFrom(t, d, id, wasm, p.Offset, 1000); st.State != protocol.AppStateRunning {
		t.Fatalf("after resume: %+v", st)
	}
	// The same deploy once more: already installed, nothing to send.
	id = s.Send(t, &d)
	if p := agenttest.Expect[*protocol.TransferProgress](t, s, id); p.Offset != d.Size {
		t.Fatalf("repeat deploy: progress %d", p.Offset)
	}
	if st := agenttest.Expect[*protocol.AppStatus](t, s, id); st.State != protocol.AppStateRunning {
		t.Fatalf("repeat deploy: %+v", st)
	}
}

// A module that does not match its sha256: error checksum, state failed.
// A module the board cannot run: state failed with the check's reason, and
// one whose memory exceeds the limit: out_of_memory.
func TestBadModulesFail(t *testing.T) {
	g := agenttest.NewGateway(t)
	runAgent(t, agentConfig(t, t.TempDir(), g.Bundle("dev-5", "tok")))
	s := g.NextSession(t)
	wasm := wasmtest.App(t, "sensor")
	bad := make([]byte, 32)
	id := s.Send(t, &protocol.Deploy{App: "x", Generation: 1, Version: "1", SHA256: bad, Size: uint32(len(wasm)), Limits: limits})
	agenttest.Expect[*protocol.TransferProgress](t, s, id)
	cid := s.Send(t, &protocol.ModuleChunk{App: "x", Generation: 1, Data: wasm})
	agenttest.Expect[*protocol.TransferProgress](t, s, cid)
	if e := agenttest.Expect[*protocol.Error](t, s, cid); e.Code != protocol.CodeChecksum {
		t.Fatalf("checksum: %+v", e)
	}
	if st := agenttest.Expect[*protocol.AppStatus](t, s, id); st.State != protocol.AppStateFailed || st.Detail != "checksum mismatch" {
		t.Fatalf("checksum status: %+v", st)
	}

	wrong := wasmtest.WAT(t, `(module (import "wasmbed" "gpio_write" (func (param i32) (result i32))) (memory (export "memory") 1) (func (export "tick")))`)
	st := s.Deploy(t, protocol.Deploy{App: "y", Generation: 1, Version: "1", Limits: limits}, wrong, 4096)
	if st.State != protocol.AppStateFailed || !strings.Contains(st.Detail, "imports wasmbed.gpio_write with type i32 -> i32") {
		t.Fatalf("bad import: %+v", st)
	}
	big := wasmtest.WAT(t, `(module (memory (export "memory") 2) (func (export "tick")))`)
	st = s.Deploy(t, protocol.Deploy{App: "z", Generation: 1, Version: "1", Limits: limits}, big, 4096)
	if st.State != protocol.AppStateOutOfMemory || !strings.Contains(st.Detail, "the memory limit is 64 KiB") {
		t.Fatalf("too big: %+v", st)
	}
	// No room for the module at all.
	id = s.Send(t, &protocol.Deploy{App: "huge", Generation: 1, Version: "1", SHA256: bad, Size: 1 << 30, Limits: limits})
	if e := agenttest.Expect[*protocol.Error](t, s, id); e.Code != protocol.CodeNoRoom {
		t.Fatalf("huge: %+v", e)
	}
	if st := agenttest.Expect[*protocol.AppStatus](t, s, id); st.State != protocol.AppStateFailed {
		t.Fatalf("huge status: %+v", st)
	}
}

// A trap, an endless loop: the runtime stops each app on its own and the
// agent reports it unasked (request id 0); the session and other apps go on.
func TestRuntimeStopsReported(t *testing.T) {
	g := agenttest.NewGateway(t)
	runAgent(t, agentConfig(t, t.TempDir(), g.Bundle("dev-6", "tok")))
	s := g.NextSession(t)
	st := s.Deploy(t, protocol.Deploy{App: "sensor", Generation: 1, Version: "1", Limits: limits, Start: true}, wasmtest.App(t, "sensor"), 4096)
	if st.State != protocol.AppStateRunning {
		t.Fatal(st)
	}
	for _, c := range []struct {
		app   string
		state protocol.AppState
		text  string
	}{{"trap", protocol.AppStateTrapped, "unreachable"}, {"spin", protocol.AppStateFuelExhausted, "used its fuel"}} {
		lim := limits
		lim.Fuel = 1
		st := s.Deploy(t, protocol.Deploy{App: c.app, Generation: 7, Version: "1", Limits: lim, Start: true}, wasmtest.App(t, c.app), 4096)
		if st.State != protocol.AppStateRunning {
			t.Fatalf("%s: %+v", c.app, st)
		}
		st = agenttest.Expect[*protocol.AppStatus](t, s, 0)
		if st.App != c.app || st.State != c.state || st.Generation != 7 || !strings.Contains(st.Detail, c.text) {
			t.Fatalf("%s: reported %+v", c.app, st)
		}
	}
	s.Values(t, "sensor", 5) // still publishing
}

// A restarted agent resumes from its directory without a token: same key and
// certificate, its apps reinstalled and running, reported in hello with
// their generations.
func TestRestartResumesWithoutToken(t *testing.T) {
	g := agenttest.NewGateway(t)
	dir := t.TempDir()
	_, stop := runAgent(t, agentConfig(t, dir, g.Bundle("dev-7", "tok")))
	s := g.NextSession(t)
	wasm := wasmtest.App(t, "sensor")
	s.Deploy(t, protocol.Deploy{App: "sensor", Generation: 3, Version: "1.2.3", Limits: limits, Start: true,
		Config: map[string]string{"offset": "7"}}, wasm, 4096)
	st := s.Deploy(t, protocol.Deploy{App: "idle", Generation: 2, Version: "0.1", Limits: limits}, wasmtest.App(t, "blinker"), 4096)
	if st.State != protocol.AppStateInstalled {
		t.Fatal(st)
	}
	s.Values(t, "sensor", 1)
	bootID := s.Hello.Reset.BootID
	stop()
	s.WaitClosed(t, 5*time.Second)
	keyBefore, chainBefore := readIdentity(t, dir)

	cfg := agentConfig(t, dir, nil) // no bundle, no token
	a2, _ := runAgent(t, cfg)
	s = g.NextSession(t)
	if g.Enrollments.Load() != 1 {
		t.Fatalf("%d enrollments", g.Enrollments.Load())
	}
	if s.Hello.Reset.BootID == bootID { // a new process: a new boot (1 chance in 2^32 of a false alarm)
		t.Errorf("the same boot id %x after a restart", bootID)
	}
	sum := sha256.Sum256(wasm)
	want := []protocol.AppReport{
		{App: "idle", Version: "0.1", Generation: 2, State: protocol.AppStateInstalled, SHA256: sha(wasmtest.App(t, "blinker"))},
		{App: "sensor", Version: "1.2.3", Generation: 3, State: protocol.AppStateRunning, SHA256: sum[:]},
	}
	got := slices.Clone(s.Hello.Apps)
	slices.SortFunc(got, func(a, b protocol.AppReport) int { return strings.Compare(a.App, b.App) })
	if len(got) != 2 || !reportEq(got[0], want[0]) || !reportEq(got[1], want[1]) {
		t.Fatalf("hello apps %+v", got)
	}
	if v := s.Values(t, "sensor", 1)[0]; v.Value != 8 { // a fresh instance: offset 7 + tick 1
		t.Errorf("first value after restart %v", v.Value)
	}
	keyAfter, chainAfter := readIdentity(t, dir)
	if !keyAfter.Equal(keyBefore) || !bytes.Equal(chainAfter[0], chainBefore[0]) {
		t.Error("identity changed across a restart")
	}
	// Generations survive too: a stale command is still refused.
	id := s.Send(t, &protocol.Stop{App: "sensor", Generation: 2})
	if e := agenttest.Expect[*protocol.Error](t, s, id); e.Code != protocol.CodeStaleGeneration {
		t.Fatalf("stale after restart: %+v", e)
	}
	if a2.Status().Enrollments != 0 {
		t.Error("the restarted agent enrolled")
	}
}

// A transfer cut by a restart of the agent resumes from the bytes on disk.
func TestTransferResumesAfterRestart(t *testing.T) {
	g := agenttest.NewGateway(t)
	dir := t.TempDir()
	_, stop := runAgent(t, agentConfig(t, dir, g.Bundle("dev-11", "tok")))
	s := g.NextSession(t)
	wasm := wasmtest.App(t, "sensor")
	sum := sha256.Sum256(wasm)
	d := protocol.Deploy{App: "s", Generation: 1, Version: "1", SHA256: sum[:], Size: uint32(len(wasm)), Limits: limits, Start: true}
	id := s.Send(t, &d)
	agenttest.Expect[*protocol.TransferProgress](t, s, id)
	cid := s.Send(t, &protocol.ModuleChunk{App: "s", Generation: 1, Data: wasm[:100]})
	agenttest.Expect[*protocol.TransferProgress](t, s, cid)
	stop()

	runAgent(t, agentConfig(t, dir, nil))
	s = g.NextSession(t)
	id = s.Send(t, &d)
	p := agenttest.Expect[*protocol.TransferProgress](t, s, id)
	if p.Offset != 100 {
		t.Fatalf("resumed at %d, want 100", p.Offset)
	}
	if st := s.SendFrom(t, d, id, wasm, p.Offset, 1000); st.State != protocol.AppStateRunning {
		t.Fatalf("after resume: %+v", st)
	}
}

func sha(b []byte) []byte { s := sha256.Sum256(b); return s[:] }

func reportEq(a, b protocol.AppReport) bool {
	return a.App == b.App && a.Version == b.Version && a.Generation == b.Generation && a.State == b.State && bytes.Equal(a.SHA256, b.SHA256)
}

// The certificate is renewed over the mutual-TLS session once two thirds of
// its lifetime have passed, with a new key; the next session uses it.
func TestRenewal(t *testing.T) {
	g := agenttest.NewGateway(t)
	g.CertLife = 2 * time.Second // X.509 times have whole seconds: 1 to 2 s, in fact
	dir := t.TempDir()
	a, _ := runAgent(t, agentConfig(t, dir, g.Bundle("dev-8", "tok")))
	s := g.NextSession(t)
	keyBefore, chain := readIdentity(t, dir)
	first, _ := x509.ParseCertificate(chain[0])
	renewAt := first.NotBefore.Add(first.NotAfter.Sub(first.NotBefore) * 2 / 3)
	waitFor(t, "a renewal", func() bool { return a.Status().Renewals >= 1 })
	if early := renewAt.Sub(time.Now()); early > 50*time.Millisecond {
		t.Errorf("renewed %v before 2/3 of the certificate's lifetime", early)
	}
	keyAfter, chain := readIdentity(t, dir)
	if keyAfter.Equal(keyBefore) {
		t.Error("renewal kept the old key")
	}
	leaf, _ := x509.ParseCertificate(chain[0])
	if leaf.SerialNumber.Cmp(s.Serial) == 0 || !leaf.PublicKey.(*ecdsa.PublicKey).Equal(&keyAfter.PublicKey) {
		t.Error("the stored certificate is not the renewed one")
	}
	s.Conn.Close()
	s2 := g.NextSession(t)
	if s2.Serial.Cmp(leaf.SerialNumber) != 0 {
		t.Errorf("the next session used serial %v, want the renewed %v", s2.Serial, leaf.SerialNumber)
	}
}

// A gateway that stops acknowledging heartbeats: the agent closes the
// session and reconnects.
func TestHeartbeatTimeoutReconnects(t *testing.T) {
	g := agenttest.NewGateway(t)
	a, _ := runAgent(t, agentConfig(t, t.TempDir(), g.Bundle("dev-9", "tok")))
	s := g.NextSession(t)
	g.AckHeartbeats.Store(false)
	s.WaitClosed(t, 2*time.Second) // 3 periods of 50 ms, plus slack
	g.AckHeartbeats.Store(true)
	g.NextSession(t)
	if !strings.Contains(a.Status().LastError, "no heartbeat_ack") {
		t.Errorf("last error %q", a.Status().LastError)
	}
}

// With the gateway gone, the agent retries with growing, jittered waits,
// and connects when it comes back.
func TestReconnectBackoff(t *testing.T) {
	g := agenttest.NewGateway(t)
	cfg := agentConfig(t, t.TempDir(), g.Bundle("dev-10", "tok"))
	cfg.MinBackoff, cfg.MaxBackoff = 20*time.Millisecond, 80*time.Millisecond
	a, _ := runAgent(t, cfg)
	s := g.NextSession(t)
	g.Stop()
	s.Conn.Close()
	time.Sleep(400 * time.Millisecond) // several attempts against a closed port
	if a.Status().Connected {
		t.Fatal("connected to a stopped gateway")
	}
	g.Restart()
	g.NextSession(t)
	waitFor(t, "connected", func() bool { return a.Status().Connected })
}

func TestBackoffBounds(t *testing.T) {
	lo, hi := 100*time.Millisecond, 2*time.Second
	for n := range 40 {
		d := agent.Backoff(n, lo, hi)
		want := min(lo<<min(n, 31), hi)
		if n >= 31 {
			want = hi
		}
		if d < want/2 || d > want {
			t.Errorf("attempt %d: %v outside [%v, %v]", n, d, want/2, want)
		}
	}
	seen := map[time.Duration]bool{}
	for range 50 {
		seen[agent.Backoff(3, lo, hi)] = true
	}
	if len(seen) < 10 {
		t.Errorf("no jitter: %d distinct waits", len(seen))
	}
}

func TestBundle(t *testing.T) {
	g := agenttest.NewGateway(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "ca.pem"), []byte(g.CAPEM()), 0o644); err != nil {
		t.Fatal(err)
	}
	good := `{"gateways": ["127.0.0.1:4443"], "ca_root_file": "ca.pem", "device": "d1", "token": "t", "board": "linux"}`
	if err := os.WriteFile(filepath.Join(dir, "b.json"), []byte(good), 0o600); err != nil {
		t.Fatal(err)
	}
	b, err := agent.LoadBundle(filepath.Join(dir, "b.json"))
	if err != nil || b.Device != "d1" || !strings.Contains(b.CARoot, "CERTIFICATE") {
		t.Fatalf("%+v %v", b, err)
	}
	for _, bad := range []string{
		`{"gateways": [], "ca_root_file": "ca.pem", "device": "d1", "board": "linux"}`,
		`{"gateways": ["nope"], "ca_root_file": "ca.pem", "device": "d1", "board": "linux"}`,
		`{"gateways": ["h:1"], "ca_root_file": "ca.pem", "device": "bad name", "board": "linux"}`,
		`{"gateways": ["h:1"], "ca_root_file": "ca.pem", "device": "d1", "board": "esp32"}`,
		`{"gateways": ["h:1"], "ca_root": "x", "device": "d1", "board": "linux"}`,
		`{"gateways": ["h:1"], "ca_root_file": "ca.pem", "device": "d1", "board": "linux", "typo": 1}`,
	} {
		os.WriteFile(filepath.Join(dir, "b.json"), []byte(bad), 0o600)
		if _, err := agent.LoadBundle(filepath.Join(dir, "b.json")); err == nil {
			t.Errorf("accepted %s", bad)
		}
	}
	// No state and no bundle: a clear error, not a crash.
	if _, err := agent.New(agent.Config{Dir: t.TempDir()}); err == nil || !strings.Contains(err.Error(), "no provisioning bundle") {
		t.Errorf("New without a bundle: %v", err)
	}
}
