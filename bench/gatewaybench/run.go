package main

import (
	"bufio"
	"cmp"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/gob"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/wasmbed/wasmbed/protocol"
)

type runConfig struct {
	gatewayBin    string
	mosquittoBin  string
	work          string
	sessions      int
	children      int
	fanout        int
	hbSessions    int
	hbWindow      int
	hbWarmup      time.Duration
	hbDuration    time.Duration
	heartbeat     time.Duration
	enrollConc    int
	registerConc  int
	apiInflight   int
	profileDir    string
	only          string
	fanoutDevices string
	fanoutRounds  int
	simEnroll     bool
	simSpread     time.Duration
	reconnect     bool
	stalled       int
}

var started = time.Now()

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: [%4.0fs] %s\n", time.Since(started).Seconds(), fmt.Sprintf(format, args...))
}

// result prints one figure for bench/run.sh to record.
func result(key string, value float64, unit, note string) {
	v := strconv.FormatFloat(value, 'f', -1, 64)
	if math.Abs(value) >= 100 {
		v = strconv.FormatFloat(math.Round(value), 'f', -1, 64)
	} else {
		v = strconv.FormatFloat(math.Round(value*100)/100, 'f', -1, 64)
	}
	note = strings.NewReplacer("\t", " ", "\n", " ").Replace(note)
	fmt.Printf("RESULT\t%s\t%s\t%s\t%s\n", key, v, unit, note)
	logf("RESULT %s = %s %s", key, v, unit)
}

func cmdRun(args []string) error {
	var c runConfig
	fs := flag.NewFlagSet("run", flag.ExitOnError)
	fs.StringVar(&c.gatewayBin, "gateway", "", "wasmbed-gateway binary (go build ./cmd/wasmbed-gateway)")
	fs.StringVar(&c.mosquittoBin, "mosquitto", "/usr/sbin/mosquitto", "mosquitto binary; empty skips the comparison")
	fs.StringVar(&c.work, "work", "", "scratch directory (removed by the caller)")
	fs.IntVar(&c.sessions, "sessions", 19000, "device sessions held at once (gateway and mosquitto)")
	fs.IntVar(&c.children, "children", 4, "load-generator processes the sessions are split over")
	fs.IntVar(&c.fanout, "fanout", 10000, "devices the fan-out deploy targets (of -sessions)")
	fs.IntVar(&c.hbSessions, "hb-sessions", 2000, "sessions sending heartbeats back to back")
	fs.IntVar(&c.hbWindow, "hb-window", 4, "heartbeats each of them keeps in flight")
	fs.DurationVar(&c.hbWarmup, "hb-warmup", 2*time.Second, "heartbeat blast warm-up, not counted")
	fs.DurationVar(&c.hbDuration, "hb-duration", 12*time.Second, "heartbeat blast measured time")
	fs.DurationVar(&c.heartbeat, "heartbeat", 30*time.Second, "the gateway's --heartbeat-interval")
	fs.IntVar(&c.enrollConc, "enroll-concurrency", 64, "enrollments in flight")
	fs.IntVar(&c.registerConc, "register-concurrency", 4*runtime.NumCPU(), "API requests in flight while registering devices (the gateway works on 4 per core at once)")
	fs.IntVar(&c.apiInflight, "api-inflight", 0, "api phase: the gateway's --api-max-inflight (default: the gateway's default)")
	fs.StringVar(&c.profileDir, "profile-dir", "", "run the gateway variant with pprof (gatewaybench gateway) and save CPU profiles of each phase here")
	fs.StringVar(&c.fanoutDevices, "fanout-devices", "sim", "fan-out device side: sim (agent/sim, real agents) or builtin (the light protocol client of devices.go)")
	fs.IntVar(&c.fanoutRounds, "fanout-rounds", 3, "fan-outs of a new version each, the median recorded (the builtin device side does one)")
	fs.BoolVar(&c.simEnroll, "sim-enroll", false, "agent/sim devices enroll themselves with fresh tokens (instead of starting with the enrollment phase's certificates)")
	fs.DurationVar(&c.simSpread, "sim-spread", 10*time.Second, "agent/sim devices' first connections spread over this long")
	fs.BoolVar(&c.reconnect, "reconnect", false, "with -fanout-devices builtin: after the fan-out, close and reopen every session (an experiment, not recorded)")
	fs.StringVar(&c.only, "only", "", "comma-separated phases to run: stalled,api,enroll,idle,heartbeat,fanout,rollout,mosquitto (default all; rollout runs the fan-out first)")
	fs.IntVar(&c.stalled, "stalled", 4000, "stalled pre-auth connections held for gateway_stalled_handshake_bytes")
	fs.Parse(args)
	if c.gatewayBin == "" && c.profileDir == "" {
		return errors.New("-gateway is required")
	}
	if c.work == "" {
		return errors.New("-work is required")
	}
	if c.fanout > c.sessions {
		c.fanout = c.sessions
	}
	procs.pidFile = filepath.Join(c.work, "pids")

	// End every process we started, whatever happens.
	defer stopAll()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		s := <-sig
		logf("%s: stopping", s)
		stopAll()
		os.Exit(1)
	}()
	return run(&c)
}

// benchBoard is the board the bench's devices announce and are registered
// with: the MPS2-AN386 profile, whose module storage (board.go) holds the
// fan-out's 32 KiB module; the STM32F4's (about 28 KB since the firmware
// runs modules in place) does not, and the gateway refuses such a deploy.
const benchBoard = "mps2-an386"

func (c *runConfig) want(phase string) bool {
	return c.only == "" || slices.Contains(strings.Split(c.only, ","), phase)
}

// gatewayProc is the gateway under test and its API.
type gatewayProc struct {
	p          *proc
	dataDir    string
	apiAddr    string
	deviceAddr string
	pprofAddr  string
	api        *apiClient
	caFile     string
}

func startGateway(c *runConfig, dataDir, apiAddr, deviceAddr, pprofAddr string, extra ...string) (*gatewayProc, error) {
	args := []string{"serve", "--data-dir", dataDir, "--api-addr", apiAddr, "--device-addr", deviceAddr,
		"--heartbeat-interval", c.heartbeat.String()}
	args = append(args, extra...)
	bin := c.gatewayBin
	if c.profileDir != "" {
		self, err := os.Executable()
		if err != nil {
			return nil, err
		}
		bin = self
		args = append([]string{"gateway", "--pprof-addr", pprofAddr}, args[1:]...)
	}
	p, err := startProc("gateway", nil, nil, filepath.Join(c.work, "gateway.log"), bin, args...)
	if err != nil {
		return nil, err
	}
	g := &gatewayProc{p: p, dataDir: dataDir, apiAddr: apiAddr, deviceAddr: deviceAddr, pprofAddr: pprofAddr,
		caFile: filepath.Join(dataDir, "ca.crt")}
	if err := waitPort(apiAddr, p, 60*time.Second); err != nil {
		return nil, err
	}
	if err := waitPort(deviceAddr, p, 10*time.Second); err != nil {
		return nil, err
	}
	caPEM, err := os.ReadFile(g.caFile)
	if err != nil {
		return nil, err
	}
	tok, err := os.ReadFile(filepath.Join(dataDir, "admin.token"))
	if err != nil {
		return nil, err
	}
	if g.api, err = newAPIClient("https://"+apiAddr, strings.TrimSpace(string(tok)), caPEM); err != nil {
		return nil, err
	}
	return g, nil
}

func (g *gatewayProc) sessions() (int, error) {
	var h struct{ Sessions int }
	err := g.api.call("GET", "/healthz", nil, http.StatusOK, &h)
	return h.Sessions, err
}

// heapProfile saves the gateway variant's heap profile (in-use space after a
// GC) when profiling is on.
func (c *runConfig) heapProfile(g *gatewayProc, name string) {
	if c.profileDir == "" || g.pprofAddr == "" {
		return
	}
	resp, err := http.Get(fmt.Sprintf("http://%s/debug/pprof/heap?gc=1", g.pprofAddr))
	if err != nil {
		logf("heap profile %s: %v", name, err)
		return
	}
	defer resp.Body.Close()
	f, err := os.Create(filepath.Join(c.profileDir, name+".pprof"))
	if err != nil {
		return
	}
	io.Copy(f, resp.Body)
	f.Close()
	logf("heap profile %s saved", name)
}

// profile saves a CPU profile of the gateway variant over d (in the
// background) when profiling is on.
func (c *runConfig) profile(g *gatewayProc, name string, d time.Duration) (wait func()) {
	if c.profileDir == "" || g.pprofAddr == "" {
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		url := fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", g.pprofAddr, int(d.Seconds()))
		resp, err := http.Get(url)
		if err != nil {
			logf("profile %s: %v", name, err)
			return
		}
		defer resp.Body.Close()
		f, err := os.Create(filepath.Join(c.profileDir, name+".pprof"))
		if err != nil {
			logf("profile %s: %v", name, err)
			return
		}
		io.Copy(f, resp.Body)
		f.Close()
		logf("profile %s saved", name)
	}()
	return func() { <-done }
}

func run(c *runConfig) error {
	if c.profileDir != "" {
		if err := os.MkdirAll(c.profileDir, 0o755); err != nil {
			return err
		}
	}
	addrs, err := loopbackAddrs(4)
	if err != nil {
		return err
	}
	apiAddr, devAddr, pprofAddr, mqttAddr := addrs[0], addrs[1], addrs[2], addrs[3]
	dataDir := filepath.Join(c.work, "gateway-data")

	if c.want("stalled") {
		if err := stalledPhase(c); err != nil {
			return err
		}
		if c.only == "stalled" {
			return nil
		}
	}
	if c.want("api") {
		if err := apiListPhase(c); err != nil {
			return err
		}
		if c.only == "api" {
			return nil
		}
	}

	bin := c.gatewayBin
	if c.profileDir != "" {
		bin = "gatewaybench gateway, the variant with pprof on " + pprofAddr
	}
	logf("starting the gateway (%s): API %s, devices %s, heartbeat %s", bin, apiAddr, devAddr, c.heartbeat)
	g, err := startGateway(c, dataDir, apiAddr, devAddr, pprofAddr)
	if err != nil {
		return err
	}

	n := c.sessions
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("bench-%05d", i)
	}
	logf("making %d device keys and CSRs", n)
	keys, err := makeDeviceKeys(names)
	if err != nil {
		return err
	}

	// Register every device and give it a token (setup, not timed).
	logf("registering %d devices and issuing their tokens through the API (%d requests in flight)", n, c.registerConc)
	tokens := make([]string, n)
	t0 := time.Now()
	if err := parallel(n, c.registerConc, "registered", func(i int) error {
		spec := map[string]any{"board": benchBoard}
		if i < c.fanout {
			spec["labels"] = map[string]string{"bench-group": "fanout"}
		}
		if err := g.api.call("PUT", "/v1/devices/"+names[i], spec, http.StatusCreated, nil); err != nil {
			return err
		}
		var tok struct{ Token string }
		if err := g.api.call("POST", "/v1/devices/"+names[i]+"/tokens", nil, http.StatusCreated, &tok); err != nil {
			return err
		}
		tokens[i] = tok.Token
		return nil
	}); err != nil {
		return err
	}
	logf("registered %d devices in %.1fs (%.0f devices/s, 2 API calls each)", n, time.Since(t0).Seconds(), float64(n)/time.Since(t0).Seconds())

	// ---- enrollment: every device, through the protocol
	creds, err := enrollAll(c, g, keys, tokens)
	if err != nil {
		return err
	}
	credsFile := filepath.Join(c.work, "gateway-creds.gob")
	if err := writeCreds(credsFile, creds); err != nil {
		return err
	}
	creds = nil

	if c.want("idle") || c.want("heartbeat") || c.want("fanout") || c.want("rollout") {
		if err := sessionPhases(c, g, credsFile); err != nil {
			return err
		}
	} else {
		g.p.stop(10 * time.Second)
	}

	if c.want("mosquitto") && c.mosquittoBin != "" {
		if err := mosquittoPhase(c, keys, mqttAddr); err != nil {
			return err
		}
	}
	return nil
}

// parallel runs f(0..n-1) on conc goroutines, logging progress every 5 s.
func parallel(n, conc int, what string, f func(i int) error) error {
	var next, done atomic.Int64
	var firstErr atomic.Pointer[error]
	stop := make(chan struct{})
	go func() {
		t := time.NewTicker(5 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				logf("  %d/%d %s", done.Load(), n, what)
			}
		}
	}()
	defer close(stop)
	var wg sync.WaitGroup
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for firstErr.Load() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := f(i); err != nil {
					firstErr.CompareAndSwap(nil, &err)
					return
				}
				done.Add(1)
			}
		}()
	}
	wg.Wait()
	if p := firstErr.Load(); p != nil {
		return *p
	}
	return nil
}

// enrollAll enrolls every device through an enrollment session (TLS without
// a client certificate, hello, enroll with the CSR and token, certificate)
// with enrollConc in flight, and reports the rate.
func enrollAll(c *runConfig, g *gatewayProc, keys []deviceKey, tokens []string) ([]cred, error) {
	caPEM, err := os.ReadFile(g.caFile)
	if err != nil {
		return nil, err
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	tlsCfg := &tls.Config{RootCAs: roots, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS13}
	n := len(keys)
	creds := make([]cred, n)
	lat := make([]time.Duration, n)
	before, _ := g.api.metric(`wasmbed_gateway_enrollments_total{result="ok"}`)
	cond := conditions(c.work)
	logf("enrolling %d devices through the protocol (%d in flight); %s", n, c.enrollConc, cond)
	var wait func()
	if c.want("enroll") {
		wait = c.profile(g, "enroll", 10*time.Second)
	}
	t0 := time.Now()
	err = parallel(n, c.enrollConc, "enrolled", func(i int) error {
		s := time.Now()
		chain, err := enrollOne(g.deviceAddr, fmt.Sprintf("127.0.0.%d", 2+i%4), tlsCfg, keys[i], tokens[i])
		if err != nil {
			return fmt.Errorf("enroll %s: %w", keys[i].name, err)
		}
		lat[i] = time.Since(s)
		k, err := x509.MarshalPKCS8PrivateKey(keys[i].key)
		creds[i] = cred{Name: keys[i].name, Chain: chain, Key: k}
		return err
	})
	elapsed := time.Since(t0)
	if wait != nil {
		wait()
	}
	if err != nil {
		return nil, err
	}
	after, _ := g.api.metric(`wasmbed_gateway_enrollments_total{result="ok"}`)
	slices.Sort(lat)
	rate := float64(n) / elapsed.Seconds()
	logf("enrolled %d devices in %.1fs: %.0f/s, latency p50 %s p99 %s; gateway counted %.0f", n, elapsed.Seconds(), rate,
		lat[n/2].Round(time.Millisecond), lat[n*99/100].Round(time.Millisecond), after-before)
	if c.want("enroll") {
		result("gateway_enrollments_per_s", rate, "enrollments/s", fmt.Sprintf(
			"%d end-to-end enrollments (TLS 1.3 without client certificate, hello, enroll with a P-256 CSR and a one-time token, certificate chain back), "+
				"%d in flight from one load-generator process; tokens pre-created through the API (PUT /v1/devices/{name}, POST /v1/devices/{name}/tokens), keys and CSRs made before the clock starts; "+
				"gateway counted %.0f ok; latency p50 %s, p99 %s; embedded step-ca, bbolt store on local disk; the load generator shares the 2 cores (target 500/s); %s",
			n, c.enrollConc, after-before, lat[n/2].Round(time.Millisecond), lat[n*99/100].Round(time.Millisecond), cond))
	}
	return creds, nil
}

func enrollOne(addr, src string, cfg *tls.Config, k deviceKey, token string) ([][]byte, error) {
	d := net.Dialer{Timeout: 30 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	raw, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	defer raw.Close()
	conn := tls.Client(raw, cfg)
	conn.SetDeadline(time.Now().Add(60 * time.Second))
	st := protocol.NewStream(conn, 4096)
	if err := st.Send(protocol.Envelope{RequestID: 1, Msg: &protocol.Hello{ABIVersion: 1, Board: benchBoard,
		Firmware: "gatewaybench", RAMFree: 65536, FlashFree: 262144, MaxFrame: 4096,
		Features: []string{"log", "time", "gpio", "publish", "config"}}}); err != nil {
		return nil, err
	}
	env, err := st.Receive()
	if err != nil {
		return nil, err
	}
	if _, ok := env.Msg.(*protocol.Welcome); !ok {
		return nil, fmt.Errorf("answer to hello: %v", env.Msg)
	}
	if err := st.Send(protocol.Envelope{RequestID: 2, Msg: &protocol.Enroll{Device: k.name, Token: token, CSR: k.csr}}); err != nil {
		return nil, err
	}
	env, err = st.Receive()
	if err != nil {
		return nil, err
	}
	cert, ok := env.Msg.(*protocol.Certificate)
	if !ok {
		return nil, fmt.Errorf("answer to enroll: %v", env.Msg)
	}
	return cert.Chain, nil
}

// ---- load-generator children

type childHandle struct {
	p        *proc
	stdin    io.WriteCloser
	events   chan childEvent
	progress atomic.Pointer[childEvent]
	ready    chan childEvent
}

func startChildren(c *runConfig, mode, credsFile, caFile, addr string, n, firstSrc int) ([]*childHandle, error) {
	return spawnChildren(c, mode+"-devices", n, c.children, func(i, from, to int) []string {
		return []string{"devices", "-mode", mode, "-creds", credsFile, "-from", strconv.Itoa(from), "-to", strconv.Itoa(to),
			"-addr", addr, "-src", fmt.Sprintf("127.0.0.%d", firstSrc+i), "-ca", caFile, "-keepalive", c.heartbeat.String()}
	})
}

// spawnChildren starts k children of this binary over n devices, child i
// taking [from, to) with the arguments args gives.
func spawnChildren(c *runConfig, name string, n, k int, args func(i, from, to int) []string) ([]*childHandle, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	var out []*childHandle
	per := (n + k - 1) / k
	for i := range k {
		from, to := i*per, min((i+1)*per, n)
		if from >= to {
			break
		}
		pr, pw := io.Pipe()
		h := &childHandle{events: make(chan childEvent, 16), ready: make(chan childEvent, 1)}
		p, err := startProcStdin(fmt.Sprintf("%s-%d", name, i), pw, filepath.Join(c.work, fmt.Sprintf("%s-%d.log", name, i)),
			&h.stdin, self, args(i, from, to)...)
		if err != nil {
			return nil, err
		}
		h.p = p
		go func() {
			sc := bufio.NewScanner(pr)
			for sc.Scan() {
				var e childEvent
				if json.Unmarshal(sc.Bytes(), &e) != nil {
					continue
				}
				switch e.Ev {
				case "progress":
					h.progress.Store(&e)
				case "ready":
					h.progress.Store(&e)
					h.ready <- e
				case "error":
					logf("  %s: %s", p.name, e.Msg)
				default:
					h.events <- e
				}
			}
		}()
		go func() { <-p.done; pw.Close() }()
		out = append(out, h)
	}
	return out, nil
}

func startProcStdin(name string, stdout io.Writer, logFile string, stdin *io.WriteCloser, bin string, args ...string) (*proc, error) {
	// startProc with a pipe on stdin: the child reads its commands there.
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	*stdin = w
	return startProc(name, r, stdout, logFile, bin, args...)
}

// waitReady waits until every child has opened its sessions, logging progress.
func waitReady(hs []*childHandle, what string, timeout time.Duration) (open, failed int, secs float64, err error) {
	deadline := time.After(timeout)
	tick := time.NewTicker(3 * time.Second)
	defer tick.Stop()
	pending := slices.Clone(hs)
	for len(pending) > 0 {
		select {
		case e := <-pending[0].ready:
			open += int(e.Open)
			failed += int(e.Failed)
			secs = max(secs, e.ConnS)
			pending = pending[1:]
		case <-pending[0].p.done:
			return 0, 0, 0, fmt.Errorf("%s exited: %v (see its log in the work directory)", pending[0].p.name, pending[0].p.err)
		case <-tick.C:
			var o, f int64
			for _, h := range hs {
				if e := h.progress.Load(); e != nil {
					o += e.Open
					f += e.Failed
				}
			}
			logf("  %s: %d open, %d failed", what, o, f)
		case <-deadline:
			return 0, 0, 0, fmt.Errorf("%s: children not ready after %s", what, timeout)
		}
	}
	return open, failed, secs, nil
}

// command sends line to every child and collects one answer from each.
func command(hs []*childHandle, line string, timeout time.Duration) ([]childEvent, error) {
	for _, h := range hs {
		if _, err := io.WriteString(h.stdin, line+"\n"); err != nil {
			return nil, fmt.Errorf("%s: %w", h.p.name, err)
		}
	}
	out := make([]childEvent, len(hs))
	for i, h := range hs {
		select {
		case out[i] = <-h.events:
		case <-h.p.done:
			return nil, fmt.Errorf("%s exited: %v", h.p.name, h.p.err)
		case <-time.After(timeout):
			return nil, fmt.Errorf("%s: no answer to %q in %s", h.p.name, line, timeout)
		}
	}
	return out, nil
}

func sum(es []childEvent) childEvent {
	var s childEvent
	for _, e := range es {
		s.Open += e.Open
		s.Failed += e.Failed
		s.Lost += e.Lost
		s.Acked += e.Acked
		s.Acks += e.Acks
		s.Errors += e.Errors
		s.Deploys += e.Deploys
		s.Running += e.Running
		s.Failures += e.Failures
		s.BlastAcks += e.BlastAcks
		s.BlastSeconds += e.BlastSeconds / float64(len(es))
		s.RTTp50us = max(s.RTTp50us, e.RTTp50us)
		s.RTTp99us = max(s.RTTp99us, e.RTTp99us)
		if e.FirstDeploy != 0 && (s.FirstDeploy == 0 || e.FirstDeploy < s.FirstDeploy) {
			s.FirstDeploy = e.FirstDeploy
		}
		s.LastRunning = max(s.LastRunning, e.LastRunning)
	}
	return s
}

func quitChildren(hs []*childHandle) {
	for _, h := range hs {
		if h.p.exited() {
			continue
		}
		io.WriteString(h.stdin, "quit\n")
		h.stdin.Close()
	}
	for _, h := range hs {
		select {
		case <-h.p.done:
		case <-time.After(30 * time.Second):
			h.p.stop(time.Second)
		}
	}
}

// waitAllAcked marks every session, then waits until every open session has
// had a heartbeat (or PINGREQ) answered since: the whole fleet is alive at
// the server's period.
func waitAllAcked(hs []*childHandle, period time.Duration) (childEvent, time.Duration, error) {
	if _, err := command(hs, "mark", 30*time.Second); err != nil {
		return childEvent{}, 0, err
	}
	t0 := time.Now()
	deadline := t0.Add(period + 30*time.Second)
	for {
		time.Sleep(2 * time.Second)
		es, err := command(hs, "stats", 30*time.Second)
		if err != nil {
			return childEvent{}, 0, err
		}
		s := sum(es)
		if s.Acked >= s.Open {
			return s, time.Since(t0), nil
		}
		if time.Now().After(deadline) {
			return s, time.Since(t0), fmt.Errorf("only %d of %d sessions answered within %s", s.Acked, s.Open, time.Since(t0).Round(time.Second))
		}
		logf("  %d/%d sessions have had a heartbeat answered since the mark", s.Acked, s.Open)
	}
}

// ---- the gateway's session phases: idle sessions and memory, heartbeat
// rate, fan-out

func sessionPhases(c *runConfig, g *gatewayProc, credsFile string) error {
	// A fresh process for the memory baseline: what enrollment allocated
	// is not counted against the sessions.
	logf("restarting the gateway for a clean memory baseline")
	g.p.stop(30 * time.Second)
	g, err := startGateway(c, g.dataDir, g.apiAddr, g.deviceAddr, g.pprofAddr)
	if err != nil {
		return err
	}
	defer g.p.stop(30 * time.Second)
	idle, err := g.settledMemory()
	if err != nil {
		return err
	}
	logf("gateway idle: VmRSS %.1f MiB (anon %.1f, file %.1f), heap in use %.1f MiB, %d fds", mib(idle.RSS), mib(idle.Anon), mib(idle.File),
		mib(int64(idle.heap)), countFDs(g.p.pid()))

	n := c.sessions
	cond := conditions(c.work)
	logf("opening %d mutual-TLS sessions from %d processes; %s", n, c.children, cond)
	wait := c.profile(g, "connect", 10*time.Second)
	t0 := time.Now()
	hs, err := startChildren(c, "wasmbed", credsFile, g.caFile, g.deviceAddr, n, 10)
	if err != nil {
		return err
	}
	defer quitChildren(hs)
	open, failed, _, err := waitReady(hs, "gateway sessions", 10*time.Minute)
	if err != nil {
		return err
	}
	connSecs := time.Since(t0).Seconds()
	wait()
	held, err := g.sessions()
	if err != nil {
		return err
	}
	logf("%d sessions open (%d failed) in %.1fs (%.0f/s); the gateway holds %d, %d fds", open, failed, connSecs, float64(open)/connSecs, held, countFDs(g.p.pid()))
	if failed > 0 {
		logf("warning: %d sessions could not be opened", failed)
	}

	logf("waiting until every session has had a heartbeat answered (period %s)", c.heartbeat)
	st, took, err := waitAllAcked(hs, c.heartbeat)
	if err != nil {
		return err
	}
	logf("all %d sessions answered within %s; %d lost, %d protocol errors", st.Acked, took.Round(time.Second), st.Lost, st.Errors)
	loaded, err := g.settledMemory()
	if err != nil {
		return err
	}
	heldAfter, _ := g.sessions()
	c.heapProfile(g, "sessions-heap")
	fds := countFDs(g.p.pid())
	perSession := float64(loaded.RSS-idle.RSS) / float64(heldAfter)
	perAnon := float64(loaded.Anon-idle.Anon) / float64(heldAfter)
	perHeap := (loaded.heap - idle.heap) / float64(heldAfter)
	perStack := (loaded.stack - idle.stack) / float64(heldAfter)
	logf("gateway with %d sessions: VmRSS %.1f MiB (anon %.1f, file %.1f), heap in use %.1f MiB, %.0f goroutines, %d fds",
		heldAfter, mib(loaded.RSS), mib(loaded.Anon), mib(loaded.File), mib(int64(loaded.heap)), loaded.goroutines, fds)
	if c.want("idle") {
		result("gateway_idle_sessions", float64(heldAfter), "sessions", fmt.Sprintf(
			"mutual-TLS 1.3 device sessions held at once by one gateway process (healthz sessions), every one of them answered a heartbeat within %s at --heartbeat-interval %s "+
				"(%d lost, %d refused); opened from %d load-generator processes on 127.0.0.10-%d in %.0f s (%.0f sessions/s). "+
				"The 50000 target is blocked here by RLIMIT_NOFILE=20000 (hard limit, per process; the gateway had %d fds open). "+
				"At the measured %.1f KiB RSS per session, 50000 sessions would need about %.0f MiB more than idle (and 50000 fds); %s",
			took.Round(time.Second), c.heartbeat, st.Lost, failed, len(hs), 9+len(hs), connSecs, float64(open)/connSecs, fds,
			perSession/1024, perSession*50000/(1<<20), cond))
		result("gateway_bytes_per_session", perSession, "bytes", fmt.Sprintf(
			"(VmRSS with %d sessions - VmRSS idle) / %d, from /proc/PID/status of the wasmbed-gateway process, read after 5 s of settling: %.1f -> %.1f MiB "+
				"(anonymous memory %.0f B/session, of which Go heap in use %.0f B and goroutine stacks %.0f B per session; %.0f goroutines); sessions heartbeat every %s",
			heldAfter, heldAfter, mib(idle.RSS), mib(loaded.RSS), perAnon, perHeap, perStack, loaded.goroutines, c.heartbeat))
	}

	if c.want("heartbeat") {
		if err := heartbeatPhase(c, g, hs, n); err != nil {
			return err
		}
	}
	if c.want("fanout") || c.want("rollout") {
		if c.fanoutDevices == "builtin" {
			if _, err := fanoutPhase(c, g, hs, n, "builtin"); err != nil {
				return err
			}
			if c.reconnect {
				return reconnectPhase(c, g, hs, credsFile, n)
			}
			return nil
		}
		return simFanout(c, g, hs, credsFile)
	}
	return nil
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

func heartbeatPhase(c *runConfig, g *gatewayProc, hs []*childHandle, n int) error {
	per := max(1, c.hbSessions/len(hs))
	logf("heartbeat blast: %d sessions (of %d held), %d in flight each, %s warm-up + %s measured", per*len(hs), n, c.hbWindow, c.hbWarmup, c.hbDuration)
	cond := conditions(c.work)
	before, _ := g.api.metric("wasmbed_gateway_heartbeats_total")
	tb := time.Now()
	wait := c.profile(g, "heartbeat", c.hbDuration)
	cpu := startCPU(g.p.pid(), hs)
	es, err := command(hs, fmt.Sprintf("blast %d %d %s %s", per, c.hbWindow, c.hbWarmup, c.hbDuration), c.hbWarmup+c.hbDuration+60*time.Second)
	if err != nil {
		return err
	}
	cpuNote := cpu.stop()
	wait()
	after, _ := g.api.metric("wasmbed_gateway_heartbeats_total")
	gwRate := (after - before) / time.Since(tb).Seconds()
	s := sum(es)
	rate := float64(s.BlastAcks) / s.BlastSeconds
	logf("heartbeats: %.0f round trips/s (p50 %dus, p99 %dus); gateway counter %.0f/s over the whole blast incl. warm-up and drain; %s", rate, s.RTTp50us, s.RTTp99us, gwRate, cpuNote)
	result("gateway_heartbeats_per_s", rate, "heartbeats/s", fmt.Sprintf(
		"heartbeat -> heartbeat_ack round trips completed per second over %s (after %s warm-up), %d sessions of the %d held each keeping %d heartbeats in flight "+
			"(one frame per TLS write, as a device sends), load split over %d processes; round trip p50 %d us, p99 %d us (worst process); "+
			"the gateway's own counter saw %.0f/s over the whole blast incl. warm-up and drain. The load generator shares the 2 cores with the gateway (target 50000/s): %s; %s",
		c.hbDuration, c.hbWarmup, per*len(hs), n, c.hbWindow, len(hs), s.RTTp50us, s.RTTp99us, gwRate, cpuNote, cond))
	return nil
}

// fanoutModule builds a module of exactly size bytes from WAT with wat2wasm:
// one page of memory, exported init and tick, a data segment padding it.
func fanoutModule(work string, size int, trap bool) ([]byte, error) {
	build := func(pad int) ([]byte, error) {
		var sb strings.Builder
		sb.WriteString("(module\n")
		check := ""
		if trap { // traps in its first tick where faultPin reads high
			sb.WriteString("  (import \"wasmbed\" \"gpio_read\" (func $gpio_read (param i32) (result i32)))\n")
			check = fmt.Sprintf("(if (i32.eq (call $gpio_read (i32.const %d)) (i32.const 1)) (then unreachable)) ", faultPin)
		}
		sb.WriteString("  (memory (export \"memory\") 1 1)\n  (global $n (mut i32) (i32.const 0))\n")
		sb.WriteString("  (func (export \"init\"))\n  (func (export \"tick\") " + check + "(global.set $n (i32.add (global.get $n) (i32.const 1))))\n")
		sb.WriteString("  (data (i32.const 0) \"")
		pattern := make([]byte, pad)
		rand.Read(pattern)
		for _, b := range pattern {
			fmt.Fprintf(&sb, "\\%02x", b)
		}
		sb.WriteString("\"))\n")
		src := filepath.Join(work, "fanout.wat")
		dst := filepath.Join(work, "fanout.wasm")
		if err := os.WriteFile(src, []byte(sb.String()), 0o644); err != nil {
			return nil, err
		}
		if out, err := exec.Command("wat2wasm", src, "-o", dst).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("wat2wasm: %v: %s", err, out)
		}
		return os.ReadFile(dst)
	}
	pad := size - 100
	for range 5 {
		b, err := build(pad)
		if err != nil {
			return nil, err
		}
		if len(b) == size {
			return b, nil
		}
		pad += size - len(b)
	}
	return nil, fmt.Errorf("could not make a module of exactly %d bytes", size)
}

// fanoutRun is one fan-out's figures.
type fanoutRun struct {
	version             string
	acked, converged    time.Duration // the last app_status running recorded; the status converged
	allRunning, putDone time.Duration
	running, failures   int64
	updated, selected   int
	polls               int
	cpuNote             string
}

// fanoutPhase deploys a 32 KiB module to the devices labelled
// bench-group=fanout, held by the children hs (side says which device side
// they run), and measures until the API reports the rollout converged: a
// new version (a new module) each round, the median round recorded. The
// device side shares the 2 cores, so single fan-outs vary by a second or two.
func fanoutPhase(c *runConfig, g *gatewayProc, hs []*childHandle, held int, side string) (fanoutRun, error) {
	rounds := max(c.fanoutRounds, 1)
	if side != "sim" {
		rounds = 1 // the builtin devices count any version as running
	}
	cond := conditions(c.work)
	var runs []fanoutRun
	for r := range rounds {
		run, err := fanoutRound(c, g, hs, held, side, fmt.Sprintf("1.0.%d", r), r == 0)
		if err != nil {
			return fanoutRun{}, err
		}
		runs = append(runs, run)
	}
	var times []string
	for _, r := range runs {
		times = append(times, fmt.Sprintf("%s %.2f s", r.version, r.acked.Seconds()))
	}
	sorted := slices.Clone(runs)
	slices.SortFunc(sorted, func(a, b fanoutRun) int { return cmp.Compare(a.acked, b.acked) })
	m := sorted[len(sorted)/2]
	var devNote string
	switch side {
	case "sim":
		devNote = "Device side: agent/sim, the project's fleet simulator (real agents: mutual TLS, resumable transfer, sha256 check, " +
			"module instantiated and started on one shared wazero runtime per process), " + strconv.Itoa(len(hs)) + " processes, state directories on tmpfs, a call budget of 10 s instead of the wall-clock fuel budget (100 ms for the default fuel), because here 5000 devices per process and the gateway share 2 cores"
		if !c.simEnroll {
			devNote += ", the agents starting enrolled (their keys and certificates from the enrollment phase written to identity.pem)"
		}
	default:
		devNote = "Device side: the bench tool's own protocol implementation (deploy -> transfer_progress -> module_chunk ... -> sha256 check -> " +
			"app_status running, max_frame 4096), which does not instantiate the module"
	}
	result("gateway_fanout_seconds", m.acked.Seconds(), "s", fmt.Sprintf(
		"median of %d fan-outs (%s), each a PUT /v1/applications/fanout of a new %d-byte module and version (wat2wasm: 1 page of memory, init, tick every 1 s, a data segment) selecting %d connected devices "+
			"(%d sessions held by the gateway) until the gateway had recorded app_status running from all of them (latest updated_at in "+
			"GET /v1/applications/fanout/status). The median one (%s): every device ran the app by %s as seen on the device side, polled every 250 ms; the status said converged at %.2f s, "+
			"which includes the rollout's readiness hold (min_ready_seconds 1, the shortest) and 250 ms polling (started only once all devices ran the app; "+
			"updated %d of %d); PUT answered after %s; %s until converged. %s; %s",
		len(runs), strings.Join(times, ", "), 32*1024, c.fanout, held, m.version, m.allRunning.Round(time.Millisecond), m.converged.Seconds(), m.updated, m.selected,
		m.putDone.Round(time.Millisecond), m.cpuNote, devNote, cond))
	return m, nil
}

// fanoutRound rolls out one version to the fan-out devices and measures it.
func fanoutRound(c *runConfig, g *gatewayProc, hs []*childHandle, held int, side, version string, first bool) (fanoutRun, error) {
	run := fanoutRun{version: version}
	wasm, err := fanoutModule(c.work, 32*1024, false)
	if err != nil {
		return run, err
	}
	sum256 := sha256.Sum256(wasm)
	sha := hex.EncodeToString(sum256[:])
	if err := g.api.call("POST", "/v1/modules", wasm, http.StatusCreated, nil); err != nil {
		return run, err
	}
	if side == "sim" {
		if _, err := command(hs, "version "+version, 30*time.Second); err != nil {
			return run, err
		}
	}
	quiet := waitQuiet(g.p.pid(), 0.2, 3*time.Minute)
	logf("fan-out %s: the gateway went quiet (under 20%% of a core) after %s", version, quiet.Round(time.Second))
	logf("fan-out %s: deploying a %d-byte module to the %d devices labelled bench-group=fanout (%d sessions held, device side: %s)", version, len(wasm), c.fanout, held, side)
	// min_ready_seconds 1, the shortest: the status only counts a device as
	// updated once its app has run that long.
	spec := map[string]any{"version": version, "sha256": sha, "limits": map[string]any{"memory": 65536, "tick_ms": 1000},
		"selector": map[string]any{"labels": map[string]string{"bench-group": "fanout"}},
		"rollout":  map[string]any{"strategy": "all_at_once", "min_ready_seconds": 1}}
	wait := func() {}
	if first {
		wait = c.profile(g, "fanout", 15*time.Second)
	}
	cpu := startCPU(g.p.pid(), hs)
	t0 := time.Now()
	want := http.StatusCreated
	if !first {
		want = http.StatusOK
	}
	if err := g.api.call("PUT", "/v1/applications/fanout", spec, want, nil); err != nil {
		return run, err
	}
	run.putDone = time.Since(t0)
	if c.profileDir != "" && first {
		// Where the gateway's goroutines wait, 3 s into the fan-out.
		go func() {
			time.Sleep(3 * time.Second)
			if resp, err := http.Get(fmt.Sprintf("http://%s/debug/pprof/goroutine?debug=1", g.pprofAddr)); err == nil {
				if f, err := os.Create(filepath.Join(c.profileDir, "fanout-goroutines.txt")); err == nil {
					io.Copy(f, resp.Body)
					f.Close()
				}
				resp.Body.Close()
			}
		}()
	}
	deadline := t0.Add(10 * time.Minute)
	var s childEvent
	lastLog, lastChange, lastRunning := time.Now(), time.Now(), int64(-1)
	for {
		es, err := command(hs, "stats", 30*time.Second)
		if err != nil {
			return run, err
		}
		s = sum(es)
		if s.Running+s.Failures >= int64(c.fanout) {
			break
		}
		if s.Running != lastRunning {
			lastRunning, lastChange = s.Running, time.Now()
		}
		if time.Now().After(deadline) || time.Since(lastChange) > time.Minute {
			fanoutDiagnostics(g, hs, side)
			return run, fmt.Errorf("fan-out %s: %d of %d devices running after %s, none more in the last %s", version, s.Running, c.fanout,
				time.Since(t0).Round(time.Second), time.Since(lastChange).Round(time.Second))
		}
		if time.Since(lastLog) > 3*time.Second {
			logf("  %.1fs: %d running on the devices", time.Since(t0).Seconds(), s.Running)
			lastLog = time.Now()
		}
		time.Sleep(250 * time.Millisecond)
	}
	run.allRunning = time.Since(t0)
	if s.LastRunning != 0 {
		run.allRunning = time.Unix(0, s.LastRunning).Sub(t0)
	}
	var status struct {
		Selected, Updated, InProgress, Failed int
		Converged                             bool
		Devices                               []struct {
			State     string
			UpdatedAt time.Time `json:"updated_at"`
		}
	}
	// Every device runs the app; now wait for the gateway to say so. The
	// status call decodes every device and deployment, so it is polled only
	// from here on, and not too often.
	for {
		if err := g.api.call("GET", "/v1/applications/fanout/status", nil, http.StatusOK, &status); err != nil {
			return run, err
		}
		run.polls++
		if status.Converged {
			break
		}
		if time.Now().After(deadline) {
			return run, fmt.Errorf("fan-out %s: status not converged after %s: %+v", version, time.Since(t0).Round(time.Second), status)
		}
		if run.polls%4 == 0 {
			logf("  status at %.1fs: %d of %d updated, %d in progress", time.Since(t0).Seconds(), status.Updated, status.Selected, status.InProgress)
		}
		time.Sleep(250 * time.Millisecond)
	}
	run.converged = time.Since(t0)
	run.cpuNote = cpu.stop()
	wait()
	// When the gateway recorded the last device's app_status running: the
	// latest updated_at of the status rows (same machine, same clock).
	var lastAck time.Time
	for _, d := range status.Devices {
		if d.State == "running" && d.UpdatedAt.After(lastAck) {
			lastAck = d.UpdatedAt
		}
	}
	run.acked = lastAck.Sub(t0)
	run.running, run.failures, run.updated, run.selected = s.Running, s.Failures, status.Updated, status.Selected
	logf("fan-out %s: the gateway recorded the last app_status running %.2fs after the PUT; status converged (min_ready_seconds 1) at %.2fs "+
		"(PUT answered in %s, all devices running by %s on the device side; %d running, %d failed, selected %d; %d status polls)",
		version, run.acked.Seconds(), run.converged.Seconds(), run.putDone.Round(time.Millisecond), run.allRunning.Round(time.Millisecond), s.Running, s.Failures, status.Selected, run.polls)
	logf("fan-out %s: %s", version, run.cpuNote)
	return run, nil
}

// reconnectPhase (-reconnect, not part of make bench) closes every held
// session and opens them again, now that the fan-out left a deployment per
// device in the store: how fast the fleet comes back after a gateway or
// network outage.
func reconnectPhase(c *runConfig, g *gatewayProc, hs []*childHandle, credsFile string, n int) error {
	quitChildren(hs)
	for g2, _ := g.sessions(); g2 > 0; g2, _ = g.sessions() {
		time.Sleep(500 * time.Millisecond)
	}
	waitQuiet(g.p.pid(), 0.2, 3*time.Minute)
	logf("reconnect: opening %d sessions again (%s)", n, conditions(c.work))
	t0 := time.Now()
	cpu := startCPU(g.p.pid(), nil)
	hs2, err := startChildren(c, "wasmbed", credsFile, g.caFile, g.deviceAddr, n, 10)
	if err != nil {
		return err
	}
	defer quitChildren(hs2)
	open, failed, _, err := waitReady(hs2, "reconnecting sessions", 10*time.Minute)
	if err != nil {
		return err
	}
	welcomed := time.Since(t0)
	quiet := waitQuiet(g.p.pid(), 0.2, 10*time.Minute)
	logf("reconnect: %d sessions welcomed in %.1fs (%d failed), the gateway busy for %.1fs more; %s", open, welcomed.Seconds(), failed,
		quiet.Seconds(), cpu.stop())
	return nil
}

// fanoutDiagnostics logs what the gateway and the devices say of the
// devices that do not run the app.
func fanoutDiagnostics(g *gatewayProc, hs []*childHandle, side string) {
	var status struct {
		Devices []struct {
			Device, State string
			Online        bool
			Generation    uint64
			Detail        string
			UpdatedAt     time.Time `json:"updated_at"`
		}
	}
	if err := g.api.call("GET", "/v1/applications/fanout/status", nil, http.StatusOK, &status); err == nil {
		n := 0
		for _, d := range status.Devices {
			if d.State != "running" && n < 20 {
				logf("  gateway: %s: state %q, online %v, generation %d, detail %q, updated %s", d.Device, d.State, d.Online, d.Generation, d.Detail,
					d.UpdatedAt.Format(time.RFC3339Nano))
				n++
			}
		}
	}
	if side == "sim" {
		if es, err := command(hs, "stuck", 30*time.Second); err == nil {
			for _, e := range es {
				logf("  devices: %s", e.Msg)
			}
		}
	}
}

// simFanout closes the held sessions and brings up c.fanout devices of
// agent/sim (the bench-group=fanout devices, re-enrolled with new tokens),
// then runs the fan-out against them.
func simFanout(c *runConfig, g *gatewayProc, hs []*childHandle, credsFile string) error {
	logf("closing the held sessions for the agent/sim fan-out")
	quitChildren(hs)
	for deadline := time.Now().Add(2 * time.Minute); ; {
		n, err := g.sessions()
		if err != nil {
			return err
		}
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("gateway still holds %d sessions", n)
		}
		time.Sleep(500 * time.Millisecond)
	}
	// The devices start enrolled: their keys and certificates from the
	// enrollment phase go into the agents' state directories. (With
	// -sim-enroll they enroll themselves with fresh tokens instead.)
	devs := make([]simDevice, c.fanout)
	faulty := faultyDevices(c.fanout) // the rollout phase's: fault pin high
	if c.simEnroll {
		if err := parallel(c.fanout, c.registerConc, "tokens issued", func(i int) error {
			name := fmt.Sprintf("bench-%05d", i)
			var tok struct{ Token string }
			if err := g.api.call("POST", "/v1/devices/"+name+"/tokens", nil, http.StatusCreated, &tok); err != nil {
				return err
			}
			devs[i] = simDevice{Name: name, Token: tok.Token, Faulty: faulty[i]}
			return nil
		}); err != nil {
			return err
		}
	} else {
		creds, err := readCreds(credsFile)
		if err != nil {
			return err
		}
		for i := range devs {
			devs[i] = simDevice{Name: creds[i].Name, Key: creds[i].Key, Chain: creds[i].Chain, Faulty: faulty[i]}
		}
	}
	devFile := filepath.Join(c.work, "sim-devices.gob")
	f, err := os.Create(devFile)
	if err != nil {
		return err
	}
	if err := gob.NewEncoder(f).Encode(devs); err != nil {
		f.Close()
		return err
	}
	f.Close()
	// Agents fsync their state and modules; on tmpfs that costs nothing, so
	// the disk is the gateway's alone.
	shm := filepath.Join(c.shmDir(), "sim")
	defer os.RemoveAll(c.shmDir())
	k := 2
	how := "enrolled in the enrollment phase"
	if c.simEnroll {
		how = "enrolling themselves with fresh tokens"
	}
	logf("starting %d agent/sim devices in %d processes (%s), first connections spread over %s", c.fanout, k, how, c.simSpread)
	t0 := time.Now()
	sims, err := spawnChildren(c, "simfleet", c.fanout, k, func(i, from, to int) []string {
		var srcs []string
		for j := range 8 {
			srcs = append(srcs, fmt.Sprintf("127.0.0.%d", 60+8*i+j))
		}
		args := []string{"simfleet", "-devices", devFile, "-from", strconv.Itoa(from), "-to", strconv.Itoa(to),
			"-dir", filepath.Join(shm, strconv.Itoa(i)), "-addr", g.deviceAddr, "-ca", g.caFile, "-src", strings.Join(srcs, ","),
			"-spread", c.simSpread.String()}
		if c.profileDir != "" {
			args = append(args, "-cpuprofile", filepath.Join(c.profileDir, fmt.Sprintf("simfleet-%d.pprof", i)))
		}
		return args
	})
	if err != nil {
		return err
	}
	defer quitChildren(sims)
	open, _, _, err := waitReady(sims, "agent/sim devices", 10*time.Minute)
	if err != nil {
		return err
	}
	held, _ := g.sessions()
	logf("%d agent/sim devices connected in %.1fs; the gateway holds %d sessions", open, time.Since(t0).Seconds(), held)
	if open < c.fanout {
		return fmt.Errorf("only %d of %d simulated devices connected", open, c.fanout)
	}
	fanout, err := fanoutPhase(c, g, sims, held, "sim")
	if err != nil || !c.want("rollout") {
		return err
	}
	return rolloutPhase(c, g, sims, fanout, len(faulty))
}

// shmDir is a tmpfs directory of this run, named after the work directory
// (bench/run.sh removes it too).
func (c *runConfig) shmDir() string {
	return filepath.Join("/dev/shm", "gatewaybench-"+filepath.Base(c.work))
}

// ---- mosquitto

func mosquittoPhase(c *runConfig, keys []deviceKey, addr string) error {
	ca, err := newThrowawayCA()
	if err != nil {
		return err
	}
	caFile, certFile, keyFile, err := ca.writeServerFiles(c.work)
	if err != nil {
		return err
	}
	logf("mosquitto: client certificates of a throwaway CA for %d clients", len(keys))
	creds, err := ca.clientCreds(keys)
	if err != nil {
		return err
	}
	credsFile := filepath.Join(c.work, "mqtt-creds.gob")
	if err := writeCreds(credsFile, creds); err != nil {
		return err
	}
	creds = nil
	host, port, _ := net.SplitHostPort(addr)
	conf := fmt.Sprintf(`# gatewaybench: mosquitto with TLS 1.3 and required client certificates
user root
per_listener_settings false
allow_anonymous true
persistence false
max_connections -1
set_tcp_nodelay true
log_dest stderr
log_type error
log_type warning
listener %s %s
cafile %s
certfile %s
keyfile %s
require_certificate true
use_identity_as_username true
tls_version tlsv1.3
`, port, host, caFile, certFile, keyFile)
	confFile := filepath.Join(c.work, "mosquitto.conf")
	if err := os.WriteFile(confFile, []byte(conf), 0o644); err != nil {
		return err
	}
	out, _ := exec.Command(c.mosquittoBin, "-h").CombinedOutput()
	version := strings.TrimSpace(strings.SplitN(string(out), "\n", 2)[0])
	logf("starting %s (%s) on %s", c.mosquittoBin, version, addr)
	p, err := startProc("mosquitto", nil, nil, filepath.Join(c.work, "mosquitto.log"), c.mosquittoBin, "-c", confFile)
	if err != nil {
		return err
	}
	defer p.stop(10 * time.Second)
	if err := waitPort(addr, p, 30*time.Second); err != nil {
		return err
	}
	idle, err := settledMem(p.pid(), 3*time.Second)
	if err != nil {
		return err
	}
	n := len(keys)
	logf("mosquitto idle: VmRSS %.1f MiB; connecting %d MQTT 3.1.1 clients over TLS with client certificates, keepalive %s", mib(idle.RSS), n, c.heartbeat)
	t0 := time.Now()
	hs, err := startChildren(c, "mqtt", credsFile, caFile, addr, n, 40)
	if err != nil {
		return err
	}
	defer quitChildren(hs)
	open, failed, _, err := waitReady(hs, "mqtt clients", 10*time.Minute)
	if err != nil {
		return err
	}
	connSecs := time.Since(t0).Seconds()
	logf("%d clients connected (%d failed) in %.1fs; %d fds in mosquitto", open, failed, connSecs, countFDs(p.pid()))
	st, took, err := waitAllAcked(hs, c.heartbeat)
	if err != nil {
		return err
	}
	loaded, err := settledMem(p.pid(), 5*time.Second)
	if err != nil {
		return err
	}
	perSession := float64(loaded.RSS-idle.RSS) / float64(st.Open)
	logf("mosquitto with %d clients: VmRSS %.1f MiB (%.0f B/client)", st.Open, mib(loaded.RSS), perSession)
	result("mosquitto_bytes_per_session", perSession, "bytes", fmt.Sprintf(
		"%s from Debian (%s), TLS 1.3 listener with require_certificate true (P-256 certificates of a throwaway CA made with crypto/x509), "+
			"%d MQTT 3.1.1 clients (CONNECT/CONNACK/PINGREQ written in the bench tool, clean session, keepalive %s; every client had a PINGRESP within %s) "+
			"from %d processes: (VmRSS with %d clients - VmRSS idle) / %d = (%.1f - %.1f MiB) / %d, read the same way as the gateway's, in the same run",
		c.mosquittoBin, version, st.Open, c.heartbeat, took.Round(time.Second), len(hs), st.Open, st.Open, mib(loaded.RSS), mib(idle.RSS), st.Open))
	return nil
}
