package main

// The fan-out's device side with the project's own simulator: agent/sim runs
// N real agents (package agent) in this process, sharing one wazero runtime.
// Each enrolls with its token, holds a mutual-TLS session, receives the
// module, checks it, instantiates it and starts it, as a Linux-class device
// would. The parent drives this child like the others (devices.go): one-word
// commands on stdin, one JSON line per answer on stdout.

import (
	"bufio"
	"context"
	"encoding/gob"
	"encoding/json"
	"encoding/pem"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wasmbed/wasmbed/abi"
	"github.com/wasmbed/wasmbed/agent"
	"github.com/wasmbed/wasmbed/agent/runtime"
	"github.com/wasmbed/wasmbed/agent/sim"
	"github.com/wasmbed/wasmbed/protocol"
)

// simDevice is what a simulated device starts from: its name and either a
// one-time token (it enrolls itself) or the key and certificate chain of an
// earlier enrollment, written to its state directory as the agent keeps them
// (identity.pem: the PKCS#8 key, then the chain; see agent/state.go).
type simDevice struct {
	Name, Token string
	Key         []byte
	Chain       [][]byte
	Faulty      bool // faultPin high: the rollout phase's trapping version traps here
}

func cmdSimFleet(args []string) error {
	fs := flag.NewFlagSet("simfleet", flag.ExitOnError)
	devFile := fs.String("devices", "", "gob file of names and tokens")
	from := fs.Int("from", 0, "first device index")
	to := fs.Int("to", 0, "end device index (exclusive)")
	dir := fs.String("dir", "", "state directories (tmpfs: agents fsync their state)")
	addr := fs.String("addr", "", "gateway device address")
	caFile := fs.String("ca", "", "gateway CA root (PEM)")
	srcs := fs.String("src", "127.0.0.1", "comma-separated source addresses")
	board := fs.String("board", benchBoard, "board profile")
	app := fs.String("app", "fanout", "application whose state is counted")
	spread := fs.Duration("spread", 10*time.Second, "first connections spread over this long")
	budget := fs.Duration("call-budget", abi.MaxFuelBudget, "wall-clock budget of one init or tick call, whatever the fuel")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of this process, from the first stats command after ready to quit")
	fs.Parse(args)

	f, err := os.Open(*devFile)
	if err != nil {
		return err
	}
	var devs []simDevice
	err = gob.NewDecoder(f).Decode(&devs)
	f.Close()
	if err != nil {
		return err
	}
	devs = devs[*from:*to]
	caPEM, err := os.ReadFile(*caFile)
	if err != nil {
		return err
	}
	tokens := map[string]string{}
	for _, d := range devs {
		tokens[d.Name] = d.Token
		if d.Key == nil {
			continue
		}
		ddir := filepath.Join(*dir, d.Name)
		if err := os.MkdirAll(ddir, 0o700); err != nil {
			return err
		}
		out := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: d.Key})
		for _, c := range d.Chain {
			out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c})...)
		}
		if err := os.WriteFile(filepath.Join(ddir, "identity.pem"), out, 0o600); err != nil {
			return err
		}
	}
	c := &child{out: json.NewEncoder(os.Stdout)}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// One engine for the process's devices. The runtime turns fuel into a
	// wall-clock budget per call (abi.FuelBudget, at least 100 ms); here
	// thousands of devices and the gateway share 2 cores, so a trivial
	// tick can wait longer than that for a CPU and be stopped as
	// fuel_exhausted, which a device with its own CPU would not be.
	engine, err := runtime.New(ctx, runtime.Config{Budget: func(uint64) time.Duration { return *budget }})
	if err != nil {
		return err
	}
	defer engine.Close(context.Background())
	start := time.Now()
	fleet, err := sim.Start(ctx, sim.Config{
		Engine:      engine,
		Devices:     len(devs),
		Name:        func(i int) string { return devs[i].Name },
		Dir:         *dir,
		SourceAddrs: strings.Split(*srcs, ","),
		StartSpread: *spread,
		Bundle: func(name string) (*agent.Bundle, error) {
			return &agent.Bundle{Gateways: []string{*addr}, CARoot: string(caPEM), ServerName: "127.0.0.1",
				Device: name, Token: tokens[name], Board: *board}, nil
		},
	})
	if err != nil {
		return err
	}
	// The version counted as running ("version V" sets it; "" counts any),
	// so that one run can measure several roll-outs of the app.
	var version atomic.Pointer[string]
	version.Store(new(string))
	running := func() (run, failed int64) {
		want := *version.Load()
		for _, a := range fleet.Agents() {
			d := a.Device()
			if d == nil {
				continue
			}
			if info, ok := d.App(*app); ok && (want == "" || info.Version == want) {
				switch info.State {
				case protocol.AppStateRunning:
					run++
				case protocol.AppStateFailed:
					failed++
				}
			}
		}
		return
	}
	stats := func(ev string) childEvent {
		var enrolled int64
		for _, a := range fleet.Agents() {
			if a.Status().Enrolled {
				enrolled++
			}
		}
		r, fl := running()
		return childEvent{Ev: ev, Open: int64(fleet.Connected()), Acked: enrolled, Running: r, Failures: fl}
	}
	for fleet.Connected() < len(devs) {
		time.Sleep(time.Second)
		c.emit(stats("progress"))
		if time.Since(start) > 10*time.Minute {
			c.emit(childEvent{Ev: "error", Msg: fmt.Sprintf("%d of %d devices connected after 10 minutes", fleet.Connected(), len(devs))})
			break
		}
	}
	faulty := map[string]bool{}
	for _, d := range devs {
		faulty[d.Name] = d.Faulty
	}
	for _, a := range fleet.Agents() {
		if d := a.Device(); d != nil && faulty[a.Name()] {
			d.SetPin(faultPin, true)
		}
	}
	e := stats("ready")
	e.ConnS = time.Since(start).Seconds()
	c.emit(e)

	// From here on "stats" answers at once with the latest count, taken by
	// a loop of its own: reading an agent's state waits for its locks, which
	// an agent installing a module holds for a while.
	var snap atomic.Pointer[childEvent]
	var snapMu sync.Mutex // a count is taken and stored for one version
	snap.Store(&e)
	go func() {
		for ctx.Err() == nil {
			snapMu.Lock()
			s := stats("stats")
			if s.Running == int64(len(devs)) {
				s.LastRunning = time.Now().UnixNano() // all running by the end of this pass
				if p := snap.Load(); p.LastRunning != 0 {
					s.LastRunning = p.LastRunning
				}
			}
			snap.Store(&s)
			snapMu.Unlock()
			time.Sleep(100 * time.Millisecond)
		}
	}()

	if *cpuprofile != "" {
		pf, err := os.Create(*cpuprofile)
		if err != nil {
			return err
		}
		pprof.StartCPUProfile(pf)
		defer func() { pprof.StopCPUProfile(); pf.Close() }()
	}
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		line := strings.TrimSpace(in.Text())
		if v, ok := strings.CutPrefix(line, "version "); ok {
			snapMu.Lock()
			version.Store(&v)
			s := stats("stats") // LastRunning starts over
			snap.Store(&s)
			snapMu.Unlock()
			c.emit(s)
			continue
		}
		switch line {
		case "stats", "mark":
			c.emit(*snap.Load())
		case "stuck": // names and states of devices not running the app
			var lines []string
			for _, a := range fleet.Agents() {
				st := a.Status()
				state := "no device"
				if d := a.Device(); d != nil {
					state = "not installed"
					if info, ok := d.App(*app); ok {
						if info.State == protocol.AppStateRunning {
							continue
						}
						state = info.State.String()
					}
				}
				if len(lines) < 20 {
					lines = append(lines, fmt.Sprintf("%s: app %s, connected %v, sessions %d, last error %q", a.Name(), state, st.Connected, st.Sessions, st.LastError))
				}
			}
			c.emit(childEvent{Ev: "stuck", Msg: strings.Join(lines, "; ")})
		case "quit":
			if *cpuprofile != "" {
				pprof.StopCPUProfile()
			}
			cancel()
			if err := fleet.Stop(); err != nil {
				fmt.Fprintln(os.Stderr, "simfleet:", err)
			}
			return nil
		default:
			c.emit(childEvent{Ev: "error", Msg: "unknown command " + in.Text()})
		}
	}
	return fleet.Stop()
}
