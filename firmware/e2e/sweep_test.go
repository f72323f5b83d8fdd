//go:build qemu

package e2e

// The harness of the corpus sweeps (corpus_test.go, update_test.go): one QEMU
// board per gateway device, its own bridge (so the bytes it moves are its
// own), booted resettable so that a panic, fault or watchdog reset reboots it
// and is counted rather than ending QEMU; apps deployed through the gateway's
// API and followed through the API and the board's console.
//
// No wait is a guess of how fast this machine runs QEMU. Each is derived from
// what the gateway, the protocol and the firmware promise:
//   - a put application is planned at once (the API kicks the reconcile loop),
//     and at the latest by the loop's periodic pass (reconcileResync);
//   - a transfer must keep moving: at least half a chunk reaches the board in
//     every window of the longer of HeartbeatInterval x MissedHeartbeats (the
//     gateway's limit for a silent device) and the firmware's watchdog (the
//     longest the firmware may be busy, e.g. installing), plus a heartbeat;
//     no bound on the transfer as a whole;
//   - an installed app reports running, or why not, in the answer to the
//     deploy's last chunk;
//   - every init or tick call ends within the firmware's watchdog period (a
//     longer call resets the board, which is counted), ticks come every
//     TickMS, and output reaches the gateway at least every outputPeriod.

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	wboard "github.com/wasmbed/wasmbed/board"
	"github.com/wasmbed/wasmbed/firmware/bridge"
	"github.com/wasmbed/wasmbed/firmware/corpus"
	"github.com/wasmbed/wasmbed/firmware/emulator"
	"github.com/wasmbed/wasmbed/firmware/provision"
	"github.com/wasmbed/wasmbed/fleet"
	"github.com/wasmbed/wasmbed/gateway"
	"github.com/wasmbed/wasmbed/gateway/apiv1"
)

const (
	// reconcileResync: the gateway's reconcile loop plans every session at
	// least this often (gateway/deploy.go, reconcileLoop).
	reconcileResync = 30 * time.Second
	// outputPeriod: a device sends app output at least every second (docs/abi.md, Output).
	outputPeriod = time.Second
	// firmwareWatchdog: the firmware's watchdog (firmware/device/src/main.rs,
	// WATCHDOG_MS); an init or tick call longer than this resets the board.
	firmwareWatchdog = 8 * time.Second
	// reconnectBackoffMax: the device's longest wait between session attempts
	// (firmware/README.md, Reconnection).
	reconnectBackoffMax = 30 * time.Second
)

// sweepGatewayConfig is the gateway configuration of the sweeps, defaults
// filled in as gateway.Config does, so waits can be derived from it.
func sweepGatewayConfig() gateway.Config {
	return gateway.Config{HeartbeatInterval: 2 * time.Second, MissedHeartbeats: 3, ChunkSize: 4096, HandshakeTimeout: 10 * time.Second}
}

var (
	reBanner = regexp.MustCompile(`^wasmbed-firmware `)
	reCrash  = regexp.MustCompile(`PANIC|FAULT`)
	// reHeap: the firmware's heap figures after an install or a removal,
	// `heap: free <firmware heap> <largest module>` (more numbers are kept, all compared).
	reHeap = regexp.MustCompile(`heap: free ([0-9]+(?: [0-9]+)*)`)
)

// sweepBoard is one enrolled QEMU board.
type sweepBoard struct {
	t      *testing.T
	g      *gw
	cfg    gateway.Config
	br     *bridge.Bridge
	q      *qemu
	board  string
	engine emulator.Engine
	prof   wboard.Profile
	device string
	short  string // the board's short name, in app names
	boots  int    // boot banners accounted for so far
	seq    int    // deploys so far, for app names
}

// label names the board in reports: <board>, or <board>@<engine> when the
// board runs under an emulator other than its default.
func (b *sweepBoard) label() string {
	if b.engine == emulator.Auto {
		return b.board
	}
	return b.board + "@" + string(b.engine)
}

// appName is a fresh application name for entry name on this board: boards
// share a gateway, and a name once used keeps its output in the gateway.
func (b *sweepBoard) appName(name string) string {
	b.seq++
	return fmt.Sprintf("%s-%s-%d", b.short, name, b.seq)
}

// bootSweepBoard registers device, boots a resettable board enrolled with the
// gateway on its own bridge (under QEMU where it has a machine, else Renode),
// and waits until it is online.
func bootSweepBoard(t *testing.T, g *gw, cfg gateway.Config, board, device string) *sweepBoard {
	t.Helper()
	return bootSweepBoardOn(t, g, cfg, board, device, emulator.Auto)
}

// bootSweepBoardOn is bootSweepBoard on the given emulator.
func bootSweepBoardOn(t *testing.T, g *gw, cfg gateway.Config, board, device string, engine emulator.Engine) *sweepBoard {
	t.Helper()
	prof, ok := wboard.Lookup(board)
	if !ok {
		t.Fatalf("no board profile %s", board)
	}
	br := startBridge(t)
	token := g.register(device, board, map[string]string{"corpus": device})
	elf := image(t, board, &provision.Bundle{Gateways: []string{g.device}, ServerName: "localhost", CARoot: g.caDER,
		Device: device, Token: token, TokenExpires: time.Now().Add(time.Hour)})
	q := bootOpts(t, emulator.Options{Board: board, Image: elf, Bridge: br, Name: device, Reboot: true, Engine: engine})
	// Enrollment makes a key and a TLS handshake on the emulated core: as the
	// other end-to-end tests, a minute for each step.
	q.wait(`^enroll: certificate for `+device, 60*time.Second)
	q.wait(`^session: online as `+device, 60*time.Second)
	short, _, _ := strings.Cut(board, "-")
	short = strings.TrimSuffix(short, "f4")
	if engine != emulator.Auto {
		short = string(engine)[:1] + short // the same board under another emulator: other app names
	}
	b := &sweepBoard{t: t, g: g, cfg: cfg, br: br, q: q, board: board, engine: engine, prof: prof, device: device, short: short, boots: 1}
	eventually(t, cfg.HeartbeatInterval*time.Duration(cfg.MissedHeartbeats), device+" online in the API", func() bool {
		return g.deviceStatus(device).Status.Phase == fleet.PhaseOnline
	})
	return b
}

// resets returns what the console shows of the resets since the last call:
// for each new boot banner, the lines before it (a PANIC or FAULT line, or
// nothing: the watchdog).
func (b *sweepBoard) resets() []string {
	lines := b.q.dev.Lines(0)
	var out []string
	n := 0
	for i, l := range lines {
		if !reBanner.MatchString(l) {
			continue
		}
		n++
		if n <= b.boots {
			continue
		}
		from := max(0, i-8)
		out = append(out, strings.Join(lines[from:i+1], "\n      "))
	}
	b.boots = max(b.boots, n)
	return out
}

// crashLines counts the PANIC and FAULT lines of the console.
func (b *sweepBoard) crashLines() []string {
	var out []string
	for _, l := range b.q.dev.Lines(0) {
		if reCrash.MatchString(l) {
			out = append(out, l)
		}
	}
	return out
}

// heapLines returns the heap figures (reHeap) from console line from on.
func (b *sweepBoard) heapLines(from int) [][]int {
	var out [][]int
	for _, l := range b.q.dev.Lines(from) {
		if m := reHeap.FindStringSubmatch(l); m != nil {
			var f []int
			for _, n := range strings.Fields(m[1]) {
				v, _ := strconv.Atoi(n)
				f = append(f, v)
			}
			out = append(out, f)
		}
	}
	return out
}

// row is the device's line of the application's status ("" state: none yet).
func (b *sweepBoard) row(app string) (apiv1.DeviceRollout, bool) {
	st, err := b.g.api.ApplicationStatus(context.Background(), app)
	if err != nil {
		return apiv1.DeviceRollout{}, false
	}
	for _, d := range st.Devices {
		if d.Device == b.device {
			return d, true
		}
	}
	return apiv1.DeviceRollout{}, false
}

// put uploads e's module and puts it as application app, selecting this
// board only. A module the gateway refuses for the board is an *apiv1.Error.
func (b *sweepBoard) put(app, version string, e corpus.Entry) error {
	ctx := context.Background()
	mod, err := b.g.api.UploadModule(ctx, e.Wasm)
	if err != nil {
		return err
	}
	_, err = b.g.api.PutApplication(ctx, app, apiv1.ApplicationSpec{Version: version, SHA256: mod.SHA256,
		Config: e.Config, Limits: e.Limits, Selector: fleet.Selector{Labels: map[string]string{"corpus": b.device}}})
	return err
}

// outcome is what became of one deploy.
type outcome struct {
	State, Detail string
	Generation    uint64
	Ticks, Sums   []float64 // KeyTick and KeySum values from the API, paired in order
	Took          time.Duration
	Problem       string   // why the wait ended early, "" when the app settled
	Resets        []string // console excerpts of resets while waiting
}

var errReset = errors.New("the board reset")

// deploy is one put of an entry, to follow.
type deploy struct {
	app, version string
	e            corpus.Entry
	mark         int       // the console's line count before the put
	t0           time.Time // when it was put
	// need: a running app settles once it published need values (apps that
	// publish nothing: once it ran for need ticks); with 0, as soon as the
	// API shows it running.
	need int
	// seen: output the gateway held before the put, which does not count.
	seen map[string]bool
}

// start puts e as a fresh application on the board.
func (b *sweepBoard) start(name string, e corpus.Entry, need int) (deploy, error) {
	d := deploy{app: b.appName(name), version: "1", e: e, mark: b.q.mark(), t0: time.Now(), need: need}
	return d, b.put(d.app, d.version, e)
}

// settle follows a deploy until it settles as the entry expects, or fails,
// or the board resets. Waits are derived as the file comment says.
func (b *sweepBoard) settle(d deploy) outcome {
	app, version, e, mark, t0, need := d.app, d.version, d.e, d.mark, d.t0, d.need
	hb := b.cfg.HeartbeatInterval
	// A transfer may pause while the firmware works (an install compiles the
	// module) as long as its watchdog allows, and the gateway lets a device
	// be silent for its missed heartbeats.
	silent := max(hb*time.Duration(b.cfg.MissedHeartbeats), firmwareWatchdog) + hb
	var o outcome
	done := func(problem string) outcome {
		o.Took, o.Problem = time.Since(t0), problem
		return o
	}
	poll := func() (apiv1.DeviceRollout, error) {
		if r := b.resets(); len(r) > 0 {
			o.Resets = append(o.Resets, r...)
			return apiv1.DeviceRollout{}, errReset
		}
		row, _ := b.row(app)
		if row.Current && row.State != "" {
			o.State, o.Detail, o.Generation = row.State, row.Detail, row.Generation
		}
		return row, nil
	}
	pending := func(r apiv1.DeviceRollout) bool {
		return !r.Current || r.State == "" || r.State == "pending" || r.State == "downloading" || r.State == "installed"
	}

	// Sent: the board logs the deploy (or the API already shows an answer).
	deadline := time.Now().Add(reconcileResync + hb)
	reDeploy := regexp.MustCompile(`^deploy: ` + regexp.QuoteMeta(app) + ` generation`)
	for {
		row, err := poll()
		if err != nil {
			// Seen with the deploy line, the reset came with the transfer.
			if l, _ := b.q.find(reDeploy, mark); l != "" {
				return done(err.Error() + " during the transfer or install")
			}
			return done(err.Error() + " before the deploy reached it")
		}
		if l, _ := b.q.find(reDeploy, mark); l != "" || (row.Current && !pending(row)) {
			break
		}
		if time.Now().After(deadline) {
			return done(fmt.Sprintf("no deploy within %v (API: %+v)", reconcileResync+hb, row))
		}
		time.Sleep(100 * time.Millisecond)
	}

	// Transfer and install: half a chunk at least per silent window.
	progress, moved := time.Now(), b.br.Stats.ToDevice.Load()
	for {
		row, err := poll()
		if err != nil {
			return done(err.Error() + " during the transfer or install")
		}
		if row.Current && !pending(row) {
			break
		}
		if n := b.br.Stats.ToDevice.Load(); n-moved >= int64(b.cfg.ChunkSize/2) {
			progress, moved = time.Now(), n
		}
		if time.Since(progress) > silent {
			return done(fmt.Sprintf("the transfer stalled: under %d bytes to the board in %v (API: %s %q)", b.cfg.ChunkSize/2, silent, row.State, row.Detail))
		}
		time.Sleep(100 * time.Millisecond)
	}

	// Settle: ticks and output.
	if e.Expect.Ticks > 0 {
		need = e.Expect.Ticks + 1
	}
	ticks := time.Duration(need) * time.Duration(e.Limits.TickMS) * time.Millisecond
	deadline = time.Now().Add(ticks + firmwareWatchdog + outputPeriod + hb)
	var runningSince time.Time
	for {
		row, err := poll()
		if err != nil {
			return done(err.Error() + " while the app ran")
		}
		o.Ticks, o.Sums = b.values(app, e.Expect.Base, d.seen)
		switch {
		case !row.Current:
		case row.State == corpus.StateRunning && row.Observed == version:
			if runningSince.IsZero() {
				runningSince = time.Now()
			}
			if e.Expect.State == corpus.StateRunning && (need == 0 || e.Expect.Publish && len(o.Ticks) >= need) {
				return done("")
			}
			if e.Expect.State == corpus.StateRunning && !e.Expect.Publish && time.Since(runningSince) > ticks+outputPeriod {
				return done("")
			}
		case !pending(row) && row.State != corpus.StateRunning:
			// Stopped: its last values may still be on their way.
			time.Sleep(outputPeriod + hb)
			o.Ticks, o.Sums = b.values(app, e.Expect.Base, d.seen)
			return done("")
		}
		if time.Now().After(deadline) {
			return done(fmt.Sprintf("not settled in %v: %s %q, %d values", time.Since(t0).Round(time.Millisecond), row.State, row.Detail, len(o.Ticks)))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// values returns the app's KeyTick values in (base, base+1e6) that are not
// in seen, sorted, and the KeySum published with each (-1 when missing). The
// gateway orders output by the device's clock, which a heartbeat may set
// back: records of apps side by side, or of an app and its previous
// version, can interleave in any order; a sum is paired with the tick
// published just before it, in the same millisecond or the next.
func (b *sweepBoard) values(app string, base float64, seen map[string]bool) (ticks, sums []float64) {
	recs, err := b.g.api.ApplicationOutput(context.Background(), app, b.device, 1000)
	if err != nil {
		return nil, nil
	}
	sum := map[float64]float64{}
	for i, r := range recs {
		if r.Value == nil || r.Key != corpus.KeyTick || seen[recordKey(r)] || *r.Value <= base || *r.Value >= base+1e6 {
			continue
		}
		ticks = append(ticks, *r.Value)
		sum[*r.Value] = -1
		if i+1 < len(recs) {
			n := recs[i+1]
			if n.Key == corpus.KeySum && n.Value != nil && n.Time.Sub(r.Time) <= 2*time.Millisecond && n.Time.Sub(r.Time) >= 0 {
				sum[*r.Value] = *n.Value
			}
		}
	}
	slices.Sort(ticks)
	for _, t := range ticks {
		sums = append(sums, sum[t])
	}
	return ticks, sums
}

func recordKey(r fleet.OutputRecord) string {
	v := 0.0
	if r.Value != nil {
		v = *r.Value
	}
	return fmt.Sprintf("%d %s %v %s", r.Time.UnixMilli(), r.Key, v, r.Text)
}

// output is the app's output the gateway holds, as a set (for deploy.seen).
func (b *sweepBoard) output(app string) map[string]bool {
	seen := map[string]bool{}
	recs, _ := b.g.api.ApplicationOutput(context.Background(), app, b.device, 1000)
	for _, r := range recs {
		seen[recordKey(r)] = true
	}
	return seen
}

// remove deletes the application and waits until the board no longer holds it.
func (b *sweepBoard) remove(app string) error {
	if err := b.g.api.DeleteApplication(context.Background(), app); err != nil {
		return err
	}
	return b.waitGone(app, reconcileResync+b.cfg.HeartbeatInterval)
}

func (b *sweepBoard) waitGone(app string, bound time.Duration) error {
	deadline := time.Now().Add(bound)
	for {
		deps, err := b.g.api.Deployments(context.Background(), app, b.device)
		if err == nil && len(deps) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s still on %s after %v: %+v", app, b.device, bound, deps)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// recover removes apps after a reset and waits until the board is online
// without them: its reconnection (backoff, handshake), then the removals.
func (b *sweepBoard) recover(apps ...string) []string {
	ctx := context.Background()
	for _, a := range apps {
		b.g.api.DeleteApplication(ctx, a)
	}
	bound := reconnectBackoffMax + b.cfg.HandshakeTimeout + reconcileResync + b.cfg.HeartbeatInterval
	var problems []string
	for _, a := range apps {
		if err := b.waitGone(a, bound); err != nil {
			problems = append(problems, err.Error())
		}
	}
	deadline := time.Now().Add(bound)
	for b.g.deviceStatus(b.device).Status.Phase != fleet.PhaseOnline {
		if time.Now().After(deadline) {
			problems = append(problems, "not online again within "+bound.String())
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	return problems
}

// waitOnline waits until the board holds a session again after a reset: its
// reconnection backoff and a handshake.
func (b *sweepBoard) waitOnline() error {
	bound := reconnectBackoffMax + b.cfg.HandshakeTimeout + b.cfg.HeartbeatInterval
	deadline := time.Now().Add(bound)
	reOnline := regexp.MustCompile(`^session: online as `)
	for {
		// The console says so after its last boot; the API once the gateway has the hello.
		boot := 0
		for i, l := range b.q.dev.Lines(0) {
			if reBanner.MatchString(l) {
				boot = i
			}
		}
		if l, _ := b.q.find(reOnline, boot); l != "" && b.g.deviceStatus(b.device).Status.Phase == fleet.PhaseOnline {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not online again within %v of the reset", b.device, bound)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// check compares what a settled deploy did with e's expectation on this
// board; ladder apps may be refused by the device for lack of memory
// (failed, with a reason). It returns what is wrong ("" if nothing) and,
// for a behaving app, whether it ran.
func (b *sweepBoard) check(e corpus.Entry, o outcome) (problem string, ran bool) {
	if o.Problem != "" {
		return o.Problem, false
	}
	want := e.Verdict(b.prof).State
	switch {
	case o.State != corpus.StateRunning && o.Detail == "":
		return fmt.Sprintf("%s without a reason", o.State), false
	case e.Ladder && o.State == corpus.StateFailed:
		return "", false // does not fit this device: said so
	case o.State != want:
		return fmt.Sprintf("%s (%s), expected %s", o.State, o.Detail, want), false
	}
	if e.Expect.Publish {
		if e.Expect.Ticks > 0 && len(o.Ticks) != e.Expect.Ticks {
			return fmt.Sprintf("published %d ticks %v before stopping, expected %d", len(o.Ticks), o.Ticks, e.Expect.Ticks), false
		}
		if n := len(o.Ticks); n > 0 && o.Ticks[0] > e.Expect.Base+1 && o.Ticks[n-1]-o.Ticks[0] == float64(n-1) {
			return fmt.Sprintf("%s %v..%v never reached the API, then %v: the app's first output was lost",
				corpus.KeyTick, e.Expect.Base+1, o.Ticks[0]-1, short(o.Ticks)), false
		}
		for i, v := range o.Ticks {
			if v != e.Expect.Base+float64(i+1) {
				return fmt.Sprintf("published %s %v (values %v), expected %v..%v", corpus.KeyTick, v, short(o.Ticks), e.Expect.Base+1, e.Expect.Base+float64(len(o.Ticks))), false
			}
		}
		// The same sums as wazero computes: the interpreter runs the code right.
		if len(o.Ticks) > 0 {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			ref, err := corpus.RunOnAgent(ctx, e, b.prof, len(o.Ticks), 1)
			cancel()
			if err != nil {
				return "reference run on the agent: " + err.Error(), false
			}
			for i := range o.Sums {
				if i < len(ref.Sums) && o.Sums[i] >= 0 && o.Sums[i] != ref.Sums[i] {
					return fmt.Sprintf("%s on tick %d is %v; wazero computes %v", corpus.KeySum, i+1, o.Sums[i], ref.Sums[i]), false
				}
			}
		}
	}
	return "", o.State == corpus.StateRunning
}

// short shows at most ten values.
func short(v []float64) string {
	if len(v) <= 10 {
		return fmt.Sprint(v)
	}
	return fmt.Sprintf("%v... (%d)", v[:10], len(v))
}
