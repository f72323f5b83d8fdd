package main

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// proc is a process the benchmark started: the gateway, mosquitto, or a
// load-generator child. Each dies with the benchmark (Pdeathsig), and its pid
// goes to WORK/pids so bench/run.sh's trap can end exactly these.
type proc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

var procs struct {
	sync.Mutex
	list    []*proc
	pidFile string
}

func startProc(name string, stdin *os.File, stdout io.Writer, logFile string, bin string, args ...string) (*proc, error) {
	cmd := exec.Command(bin, args...)
	if stdin != nil {
		cmd.Stdin = stdin
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.Stdout = stdout
	if logFile != "" {
		f, err := os.OpenFile(logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		cmd.Stderr = f
		if stdout == nil {
			cmd.Stdout = f
		}
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	procs.Lock()
	procs.list = append(procs.list, p)
	if procs.pidFile != "" {
		if f, err := os.OpenFile(procs.pidFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644); err == nil {
			fmt.Fprintln(f, cmd.Process.Pid)
			f.Close()
		}
	}
	procs.Unlock()
	return p, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM, then SIGKILL after grace.
func (p *proc) stop(grace time.Duration) {
	if p.exited() {
		return
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		p.cmd.Process.Kill()
		<-p.done
	}
}

func stopAll() {
	procs.Lock()
	list := procs.list
	procs.list = nil
	procs.Unlock()
	var wg sync.WaitGroup
	for _, p := range list {
		wg.Add(1)
		go func() { defer wg.Done(); p.stop(5 * time.Second) }()
	}
	wg.Wait()
}

// memStatus is a process's resident memory from /proc/PID/status, in bytes.
type memStatus struct {
	RSS, Anon, File int64
	Threads         int
}

func readMem(pid int) (memStatus, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return memStatus{}, err
	}
	var m memStatus
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 {
			continue
		}
		n, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "VmRSS:":
			m.RSS = n * 1024
		case "RssAnon:":
			m.Anon = n * 1024
		case "RssFile:":
			m.File = n * 1024
		case "Threads:":
			m.Threads = int(n)
		}
	}
	if m.RSS == 0 {
		return m, fmt.Errorf("/proc/%d/status: no VmRSS", pid)
	}
	return m, nil
}

// settledMem waits settle, then reads the memory three times a second apart
// and keeps the last reading (the scavenger returns freed pages gradually).
func settledMem(pid int, settle time.Duration) (memStatus, error) {
	time.Sleep(settle)
	var m memStatus
	var err error
	for i := range 3 {
		if i > 0 {
			time.Sleep(time.Second)
		}
		if m, err = readMem(pid); err != nil {
			return m, err
		}
	}
	return m, nil
}

func countFDs(pid int) int {
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return -1
	}
	return len(ents)
}

// freePort returns a loopback port nobody listens on now.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// gatewayMem is the gateway's memory after 5 s of settling: its
// /proc/PID/status figures and the Go runtime's own.
type gatewayMem struct {
	memStatus
	heap, stack, goroutines float64 // heap and stacks in use, bytes
}

func (g *gatewayProc) settledMemory() (gatewayMem, error) {
	m, err := settledMem(g.p.pid(), 5*time.Second)
	if err != nil {
		return gatewayMem{}, err
	}
	gm := gatewayMem{memStatus: m}
	gm.heap, _ = g.api.metric("go_memstats_heap_inuse_bytes")
	gm.stack, _ = g.api.metric("go_memstats_stack_inuse_bytes")
	gm.goroutines, _ = g.api.metric("go_goroutines")
	return gm, nil
}

// loopbackAddrs returns n loopback addresses (host:port) nobody listens on now.
func loopbackAddrs(n int) ([]string, error) {
	addrs := make([]string, n)
	for i := range addrs {
		p, err := freePort()
		if err != nil {
			return nil, err
		}
		addrs[i] = fmt.Sprintf("127.0.0.1:%d", p)
	}
	return addrs, nil
}

func waitPort(addr string, p *proc, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if p != nil && p.exited() {
			return fmt.Errorf("%s exited: %v", p.name, p.err)
		}
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%s did not listen on %s within %s", p.name, addr, timeout)
}

// apiClient talks to the gateway's management API as admin.
type apiClient struct {
	base  string
	token string
	hc    *http.Client
}

func newAPIClient(base, token string, caPEM []byte) (*apiClient, error) {
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		return nil, errors.New("CA root: no certificate")
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}, MaxIdleConnsPerHost: 128, MaxIdleConns: 128}
	return &apiClient{base: base, token: token, hc: &http.Client{Timeout: 120 * time.Second, Transport: tr}}, nil
}

// call sends body (JSON unless []byte) and decodes a JSON answer into out. A
// 429 (the gateway at its limit of requests in flight) is sent again after
// its Retry-After, as the Go client does.
func (a *apiClient) call(method, path string, body any, want int, out any) error {
	var payload []byte
	ctype := "application/json"
	switch b := body.(type) {
	case nil:
	case []byte:
		payload, ctype = b, "application/wasm"
	default:
		js, err := json.Marshal(b)
		if err != nil {
			return err
		}
		payload = js
	}
	for {
		var rd io.Reader
		if payload != nil {
			rd = bytes.NewReader(payload)
		}
		req, err := http.NewRequest(method, a.base+path, rd)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+a.token)
		if rd != nil {
			req.Header.Set("Content-Type", ctype)
		}
		resp, err := a.hc.Do(req)
		if err != nil {
			return fmt.Errorf("%s %s: %w", method, path, err)
		}
		raw, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return fmt.Errorf("%s %s: %w", method, path, err)
		}
		if resp.StatusCode == http.StatusTooManyRequests {
			s, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
			time.Sleep(time.Duration(max(s, 1)) * time.Second)
			continue
		}
		if resp.StatusCode != want && !(want == http.StatusCreated && resp.StatusCode == http.StatusOK) {
			return fmt.Errorf("%s %s: status %d: %s", method, path, resp.StatusCode, bytes.TrimSpace(raw))
		}
		if out != nil {
			if s, ok := out.(*string); ok {
				*s = string(raw)
				return nil
			}
			return json.Unmarshal(raw, out)
		}
		return nil
	}
}

// metric reads one unlabelled counter or gauge from /metrics.
func (a *apiClient) metric(name string) (float64, error) {
	var text string
	if err := a.call("GET", "/metrics", nil, http.StatusOK, &text); err != nil {
		return 0, err
	}
	for line := range strings.Lines(text) {
		f := strings.Fields(line)
		if len(f) == 2 && f[0] == name {
			return strconv.ParseFloat(f[1], 64)
		}
	}
	return 0, fmt.Errorf("metric %s not found", name)
}

// fsyncLatency is the median time of a 4 KiB write + fdatasync in dir: what
// a bbolt commit waits for, twice. It varies a lot on shared virtual disks,
// so the figures that depend on it carry it in their notes.
func fsyncLatency(dir string) time.Duration {
	f, err := os.CreateTemp(dir, "fsync-probe")
	if err != nil {
		return 0
	}
	defer os.Remove(f.Name())
	defer f.Close()
	buf := make([]byte, 4096)
	var ds []time.Duration
	for i := range 100 {
		t := time.Now()
		if _, err := f.WriteAt(buf, int64(i%16)*4096); err != nil {
			return 0
		}
		if err := syscall.Fdatasync(int(f.Fd())); err != nil {
			return 0
		}
		ds = append(ds, time.Since(t))
	}
	slices.Sort(ds)
	return ds[len(ds)/2]
}

// loadAvg is the 1-minute load average: other work on the machine shares
// the 2 cores with the gateway and the load generator.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Fields(string(b))[0]
}

// conditions describes the machine right now, for the notes.
func conditions(dir string) string {
	return fmt.Sprintf("conditions: 1-min load average %s before the phase, 4 KiB write+fdatasync median %s", loadAvg(),
		fsyncLatency(dir).Round(10*time.Microsecond))
}

// cpuTime is the user+system CPU time a process has used (/proc/PID/stat).
func cpuTime(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command (which may hold spaces) in parentheses.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / 100 // USER_HZ is 100 on Linux
}

// cpuMeter measures the CPU the gateway and the load generators use over
// a phase.
type cpuMeter struct {
	gw, load time.Duration
	pids     []int
	gwPid    int
	t        time.Time
}

func startCPU(gwPid int, hs []*childHandle) *cpuMeter {
	m := &cpuMeter{gwPid: gwPid, t: time.Now(), gw: cpuTime(gwPid)}
	for _, h := range hs {
		m.pids = append(m.pids, h.p.pid())
		m.load += cpuTime(h.p.pid())
	}
	return m
}

// stop returns "gateway X CPU-s, load generators Y CPU-s in Z s".
func (m *cpuMeter) stop() string {
	gw := cpuTime(m.gwPid) - m.gw
	var load time.Duration
	for _, p := range m.pids {
		load += cpuTime(p)
	}
	load -= m.load
	wall := time.Since(m.t)
	return fmt.Sprintf("CPU used over the %.1f s: gateway %.1f s (%.0f%% of the 2 cores), device side %.1f s",
		wall.Seconds(), gw.Seconds(), 100*gw.Seconds()/wall.Seconds()/2, load.Seconds())
}

// waitQuiet waits until pid uses less than frac of one core over a second
// (the gateway has finished setting up the sessions it accepted), or max.
func waitQuiet(pid int, frac float64, max time.Duration) time.Duration {
	t0 := time.Now()
	for time.Since(t0) < max {
		c0 := cpuTime(pid)
		time.Sleep(time.Second)
		if (cpuTime(pid) - c0).Seconds() < frac {
			break
		}
	}
	return time.Since(t0)
}
