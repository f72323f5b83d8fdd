// Package emulator boots a board's firmware image under QEMU, or under Renode
// when it is on PATH, wires the board's link UART to a modem bridge
// (firmware/bridge, which opens the device's TCP connections to the gateway)
// and keeps the board's console: a handle to wait for console lines, reset the
// board and stop it.
//
// QEMU runs stm32f4-discovery (machine netduinoplus2) and mps2-an386; Renode
// runs stm32f4-discovery, nano33ble and riscv32-virt (boards_gen.go, from
// board/boards.toml). The link UART is a socket the
// emulator serves and this package connects to the bridge, so no TCP port is
// chosen for QEMU: it listens on a unix socket and waits for us before the
// board starts.
//
// Under Renode a board runs on its platform description in renode/ (the
// board's stock Renode platform with the clocks its firmware sets up, package
// renode). Renode comes from `make setup` (built from source when the machine
// has none; renode/README.md), which links it into bin/.
package emulator

import (
	"bufio"
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/wasmbed/wasmbed/firmware/bridge"
	"github.com/wasmbed/wasmbed/renode"
)

// Engine is an emulator.
type Engine string

const (
	// Auto picks QEMU when it has a machine for the board, else Renode.
	Auto   Engine = ""
	QEMU   Engine = "qemu"
	Renode Engine = "renode"
)

// Board says how each emulator runs a board.
type Board struct {
	Name string
	// QEMUMachine is the `-M` machine; empty when QEMU has none for the board.
	// The console is QEMU's first serial port, the link its second.
	QEMUMachine string
	// RenodePlatform is the stock platform description (.repl) under
	// Renode's platforms/ directory that renode/<board>.repl builds on; empty
	// when Renode has none. RenodeConsole and RenodeLink name the UART
	// peripherals.
	RenodePlatform, RenodeConsole, RenodeLink string
}

// boards: boards_gen.go, from board/boards.toml.

// Boards lists the boards some emulator runs.
func Boards() []Board { return slices.Clone(boards) }

// LookupBoard returns the board named name.
func LookupBoard(name string) (Board, error) {
	for _, b := range boards {
		if b.Name == name {
			return b, nil
		}
	}
	names := make([]string, len(boards))
	for i, b := range boards {
		names[i] = b.Name
	}
	return Board{}, fmt.Errorf("emulator: no emulated board %q (have %s)", name, strings.Join(names, ", "))
}

// Options describe one emulated device.
type Options struct {
	// Board names the board (LookupBoard); Image is its firmware image (ELF),
	// provisioned (firmware/provision) or not.
	Board, Image string
	// Bridge serves the board's link UART.
	Bridge *bridge.Bridge
	// Engine: Auto by default.
	Engine Engine
	// Name labels the device in errors; default: the image's base name.
	Name string
	// ConsoleLog, when set, receives every console line as it arrives
	// (appended to what the file holds).
	ConsoleLog string
	// ConsoleTimes prefixes each line written to ConsoleLog with the host's
	// UTC time of day (15:04:05.000), to set beside other logs.
	ConsoleTimes bool
	// EmulatorLog, when set, receives the emulator's own messages (Renode's
	// log; under QEMU, whose output is the console, nothing), appended.
	EmulatorLog string
	// Reboot makes a board reset (watchdog, fault, Reset) reboot the board;
	// without it the emulator ends on a reset, which Wait reports.
	Reboot bool
	// Args are extra emulator arguments (QEMU: e.g. "-icount", "shift=0").
	Args []string
	// StateDir holds what the board keeps across power loss: under QEMU its
	// flash, the file wasmbed-flash.img that the firmware reads and writes
	// through semihosting (firmware/device/src/flash.rs), with its identity.
	// Booting again with the same StateDir is a power cycle of the same board;
	// empty: a directory of its own, removed with the device (a new board).
	StateDir string
}

// Device is a running emulated board.
type Device struct {
	engine   Engine
	label    string
	cmd      *exec.Cmd
	dir      string // scratch: sockets, Renode script
	monitor  string // QEMU monitor socket
	state    string // Options.StateDir, or a directory under dir
	stdin    io.WriteCloser
	reboot   bool
	cancel   context.CancelFunc
	linkDone chan struct{}

	mu      sync.Mutex
	lines   []string
	changed chan struct{} // closed and replaced on every line
	exited  chan struct{} // closed when the emulator ended and its output is read
	waitErr error
}

// crashPattern matches the firmware's panic and fault reports.
var crashPattern = regexp.MustCompile(`PANIC|FAULT`)

// Boot starts the emulator. It returns once the emulator runs and its link is
// connected to the bridge; ctx bounds only that start, Stop ends the device.
func Boot(ctx context.Context, o Options) (*Device, error) {
	b, err := LookupBoard(o.Board)
	if err != nil {
		return nil, err
	}
	if o.Bridge == nil {
		return nil, errors.New("emulator: Options.Bridge is required")
	}
	if _, err := os.Stat(o.Image); err != nil {
		return nil, fmt.Errorf("emulator: firmware image: %w", err)
	}
	engine := o.Engine
	if engine == Auto {
		engine = QEMU
		if b.QEMUMachine == "" {
			engine = Renode
		}
	}
	label := o.Name
	if label == "" {
		label = strings.TrimSuffix(filepath.Base(o.Image), filepath.Ext(o.Image))
	}
	// Unix socket paths are limited to 108 bytes: a short scratch directory.
	dir, err := os.MkdirTemp("", "wbemu")
	if err != nil {
		return nil, fmt.Errorf("emulator: %w", err)
	}
	d := &Device{engine: engine, label: label, dir: dir, reboot: o.Reboot, state: o.StateDir,
		linkDone: make(chan struct{}), changed: make(chan struct{}), exited: make(chan struct{})}
	if d.state == "" {
		d.state = filepath.Join(dir, "state")
	}
	if err := os.MkdirAll(d.state, 0o755); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("emulator: state directory: %w", err)
	}
	var dial func() (net.Conn, error)
	switch engine {
	case QEMU:
		dial, err = d.startQEMU(b, o)
	case Renode:
		dial, err = d.startRenode(b, o)
	default:
		err = fmt.Errorf("emulator: unknown engine %q", engine)
	}
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	conn, err := d.connect(ctx, dial)
	if err != nil {
		d.Stop()
		return nil, fmt.Errorf("emulator: %s: link UART: %w\n%s", label, err, d.Tail(20))
	}
	lctx, cancel := context.WithCancel(context.Background())
	d.cancel = cancel
	go func() {
		defer close(d.linkDone)
		o.Bridge.ServeLink(lctx, conn)
	}()
	return d, nil
}

// startQEMU runs qemu-system-arm: console on stdio, link on a unix socket
// QEMU serves (and waits on before the board starts), monitor on another.
func (d *Device) startQEMU(b Board, o Options) (func() (net.Conn, error), error) {
	if b.QEMUMachine == "" {
		return nil, fmt.Errorf("emulator: QEMU has no machine for board %s", b.Name)
	}
	bin, err := exec.LookPath("qemu-system-arm")
	if err != nil {
		return nil, errors.New("emulator: qemu-system-arm not found (make setup installs it)")
	}
	link := filepath.Join(d.dir, "link")
	d.monitor = filepath.Join(d.dir, "monitor")
	img, err := filepath.Abs(o.Image)
	if err != nil {
		return nil, fmt.Errorf("emulator: firmware image: %w", err)
	}
	// Semihosting: the firmware's flash is a file in the state directory, QEMU's
	// working directory (the firmware opens it by a relative name).
	args := []string{"-M", b.QEMUMachine, "-nographic",
		"-chardev", "socket,id=link,path=" + link + ",server=on,wait=on",
		"-serial", "stdio", "-serial", "chardev:link",
		"-monitor", "unix:" + d.monitor + ",server=on,wait=off",
		"-semihosting-config", "enable=on,target=native",
		"-kernel", img}
	if !o.Reboot {
		args = append(args, "-no-reboot")
	}
	args = append(args, o.Args...)
	cmd := exec.Command(bin, args...)
	cmd.Dir = d.state
	if err := d.start(cmd, o, nil); err != nil {
		return nil, err
	}
	return func() (net.Conn, error) { return net.Dial("unix", link) }, nil
}

// startRenode runs renode headless: console UART to a file we follow, link
// UART as a TCP server socket terminal on a free loopback port. The image is
// loaded once, before the start. A reset (a watchdog's, the firmware's, or
// Reset's `machine Reset` on the monitor, our stdin) resets the peripherals and
// the core and keeps the memories, as the silicon's does: the machine's reset
// macro (run by Renode after every reset, resetMacro) starts the core again as
// the part would, a Cortex-M from the vector table in its flash, a RISC-V core
// at the image's entry. The image is not loaded again on a reset: its RAM segment (the
// statics, zero-filled) covers the firmware's `.uninit` area, whose record of
// the reset and kept identity a reload would wipe.
func (d *Device) startRenode(b Board, o Options) (func() (net.Conn, error), error) {
	if b.RenodePlatform == "" {
		return nil, fmt.Errorf("emulator: Renode has no platform for board %s", b.Name)
	}
	bin, err := exec.LookPath("renode")
	if err != nil {
		return nil, fmt.Errorf("emulator: board %s needs Renode, which is not on PATH (renode/README.md)", b.Name)
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	image, err := filepath.Abs(o.Image)
	if err != nil {
		return nil, err
	}
	platform, err := renode.Platform(b.Name)
	if err != nil {
		return nil, fmt.Errorf("emulator: %w", err)
	}
	repl := filepath.Join(d.dir, b.Name+".repl")
	if err := os.WriteFile(repl, []byte(platform), 0o600); err != nil {
		return nil, err
	}
	// The board's own peripheral models, compiled by Renode, before the platform uses them.
	var include strings.Builder
	models, err := renode.Peripherals(b.Name)
	if err != nil {
		return nil, fmt.Errorf("emulator: %w", err)
	}
	for _, m := range models {
		p := filepath.Join(d.dir, m.Name)
		if err := os.WriteFile(p, m.Data, 0o600); err != nil {
			return nil, err
		}
		fmt.Fprintf(&include, "include @%s\n", p)
	}
	reset, err := resetMacro(image)
	if err != nil {
		return nil, err
	}
	console := filepath.Join(d.dir, "console")
	script := fmt.Sprintf(`mach create %q
%smachine LoadPlatformDescription @%s
%s CreateFileBackend @%s true
emulation CreateServerSocketTerminal %d "link" false
connector Connect %s link
sysbus LoadELF @%s
macro reset
"""
%s
"""
start
`, d.label, include.String(), repl, b.RenodeConsole, console, port, b.RenodeLink, image, reset)
	resc := filepath.Join(d.dir, "board.resc")
	if err := os.WriteFile(resc, []byte(script), 0o600); err != nil {
		return nil, err
	}
	args := append([]string{"--disable-gui", "--console", "--plain", "-e", "include @" + resc}, o.Args...)
	cmd := exec.Command(bin, args...)
	// renode is a script that starts Mono: its own process group, which Stop kills whole.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := d.start(cmd, o, func(stop <-chan struct{}) (io.ReadCloser, error) { return follow(console, stop) }); err != nil {
		return nil, err
	}
	return func() (net.Conn, error) { return net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port)) }, nil
}

// resetMacro is what Renode does after a machine reset for the image at path:
// for a Cortex-M, the vector table offset set to the image's vector table (the
// core then takes its stack pointer and entry from it, in flash, which the reset
// keeps; Renode's guess of the table after a reset is address 0, where the
// STM32F4's flash is only aliased on the part), and for a RISC-V core its
// program counter set to the image's entry (the core's default reset vector is
// not where the image starts).
func resetMacro(path string) (string, error) {
	f, err := elf.Open(path)
	if err != nil {
		return "", fmt.Errorf("emulator: firmware image: %w", err)
	}
	defer f.Close()
	switch f.Machine {
	case elf.EM_RISCV:
		return fmt.Sprintf("    sysbus.cpu PC %#x", f.Entry), nil
	case elf.EM_ARM:
		vt := f.Section(".vector_table")
		if vt == nil {
			return "", fmt.Errorf("emulator: firmware image %s: no .vector_table section", path)
		}
		return fmt.Sprintf("    sysbus.cpu VectorTableOffset %#x", vt.Addr), nil
	}
	return "", fmt.Errorf("emulator: firmware image %s: machine %v", path, f.Machine)
}

// start runs cmd and reads the console: the command's output, or the
// reader consoleFrom opens (Renode's console file), which ends when stop is
// closed; the command's output then goes to o.EmulatorLog.
func (d *Device) start(cmd *exec.Cmd, o Options, consoleFrom func(stop <-chan struct{}) (io.ReadCloser, error)) error {
	logFile, err := appendFile(o.ConsoleLog)
	if err != nil {
		return fmt.Errorf("emulator: console log: %w", err)
	}
	var emuLog *os.File
	if consoleFrom != nil {
		if emuLog, err = appendFile(o.EmulatorLog); err != nil {
			if logFile != nil {
				logFile.Close()
			}
			return fmt.Errorf("emulator: emulator log: %w", err)
		}
	}
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	d.stdin = stdin
	d.cmd = cmd
	if err := cmd.Start(); err != nil {
		if logFile != nil {
			logFile.Close()
		}
		if emuLog != nil {
			emuLog.Close()
		}
		return fmt.Errorf("emulator: start %s: %w", filepath.Base(cmd.Path), err)
	}
	procDone := make(chan struct{})
	go func() {
		err := cmd.Wait()
		d.mu.Lock()
		d.waitErr = err
		d.mu.Unlock()
		pw.Close()
		close(procDone)
	}()
	var console io.Reader = pr
	if consoleFrom != nil {
		go func() { // Renode's own messages, until it ends
			if emuLog == nil {
				io.Copy(io.Discard, pr)
				return
			}
			io.Copy(emuLog, pr)
			emuLog.Close()
		}()
		rc, err := consoleFrom(procDone)
		if err != nil {
			return err
		}
		console = rc
	}
	go func() {
		defer close(d.exited)
		if logFile != nil {
			defer logFile.Close()
		}
		sc := bufio.NewScanner(console)
		sc.Buffer(make([]byte, 4096), 1<<20)
		for sc.Scan() {
			line := strings.TrimRight(sc.Text(), "\r")
			if logFile != nil {
				if o.ConsoleTimes {
					fmt.Fprintln(logFile, time.Now().UTC().Format("15:04:05.000"), line)
				} else {
					fmt.Fprintln(logFile, line)
				}
			}
			d.mu.Lock()
			d.lines = append(d.lines, line)
			close(d.changed)
			d.changed = make(chan struct{})
			d.mu.Unlock()
		}
		<-procDone
	}()
	return nil
}

// appendFile opens path to append to (its directory made), or returns nil
// for "".
func appendFile(path string) (*os.File, error) {
	if path == "" {
		return nil, nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	return os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
}

// connect dials the emulator's link socket until it answers.
func (d *Device) connect(ctx context.Context, dial func() (net.Conn, error)) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		c, err := dial()
		if err == nil {
			return c, nil
		}
		select {
		case <-d.exited:
			return nil, fmt.Errorf("the emulator exited: %v", d.exitErr())
		case <-ctx.Done():
			return nil, fmt.Errorf("%w (last: %v)", ctx.Err(), err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (d *Device) exitErr() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.waitErr
}

// Name is the device's label (Options.Name).
func (d *Device) Name() string { return d.label }

// StateDir is where the board keeps what survives power loss (Options.StateDir).
func (d *Device) StateDir() string { return d.state }

// Engine is the emulator running the device.
func (d *Device) Engine() Engine { return d.engine }

// Mark is the number of console lines so far: a position for Wait.
func (d *Device) Mark() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.lines)
}

// Lines returns the console lines from line from on.
func (d *Device) Lines(from int) []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	if from >= len(d.lines) {
		return nil
	}
	return slices.Clone(d.lines[max(from, 0):])
}

// Count counts console lines matching re.
func (d *Device) Count(re *regexp.Regexp) int {
	n := 0
	for _, l := range d.Lines(0) {
		if re.MatchString(l) {
			n++
		}
	}
	return n
}

// Tail is the last n console lines, indented, for error messages.
func (d *Device) Tail(n int) string {
	lines := d.Lines(0)
	return "  " + strings.Join(lines[max(0, len(lines)-n):], "\n  ")
}

// Crashed returns the first panic or fault the firmware reported, if any.
func (d *Device) Crashed() string {
	for _, l := range d.Lines(0) {
		if crashPattern.MatchString(l) {
			return l
		}
	}
	return ""
}

// Done is closed when the emulator has ended.
func (d *Device) Done() <-chan struct{} { return d.exited }

// Wait waits for a console line matching re at or after line from (a Mark)
// and returns it with its index. It fails on a panic or fault report, on the
// emulator ending first, and when ctx ends.
func (d *Device) Wait(ctx context.Context, from int, re *regexp.Regexp) (string, int, error) {
	for {
		d.mu.Lock()
		changed := d.changed
		for i := max(from, 0); i < len(d.lines); i++ {
			if re.MatchString(d.lines[i]) {
				d.mu.Unlock()
				return d.lines[i], i, nil
			}
		}
		d.mu.Unlock()
		if c := d.Crashed(); c != "" {
			return "", -1, fmt.Errorf("%s crashed: %s\n%s", d.label, c, d.Tail(20))
		}
		select {
		case <-changed:
		case <-d.exited:
			if l, i := d.find(re, from); i >= 0 {
				return l, i, nil
			}
			return "", -1, fmt.Errorf("%s: the emulator ended (%v) before a line matching %q\n%s", d.label, d.exitErr(), re, d.Tail(20))
		case <-ctx.Done():
			return "", -1, fmt.Errorf("%s: no line matching %q: %w\n%s", d.label, re, ctx.Err(), d.Tail(20))
		}
	}
}

func (d *Device) find(re *regexp.Regexp, from int) (string, int) {
	for i, l := range d.Lines(from) {
		if re.MatchString(l) {
			return l, from + i
		}
	}
	return "", -1
}

// Reset resets the board (RAM and flash kept), as a reset
// button does. It needs Options.Reboot.
func (d *Device) Reset() error {
	if !d.reboot {
		return errors.New("emulator: Reset needs Options.Reboot")
	}
	switch d.engine {
	case QEMU:
		c, err := net.DialTimeout("unix", d.monitor, 5*time.Second)
		if err != nil {
			return fmt.Errorf("emulator: %s: monitor: %w", d.label, err)
		}
		defer c.Close()
		if _, err := c.Write([]byte("system_reset\n")); err != nil {
			return fmt.Errorf("emulator: %s: monitor: %w", d.label, err)
		}
		// The monitor acts on the command once it has read it; give it that.
		time.Sleep(200 * time.Millisecond)
		return nil
	default:
		_, err := io.WriteString(d.stdin, "machine Reset\n")
		return err
	}
}

// Stop ends the emulator and the device's link, and removes its scratch
// files. It is safe to call more than once.
func (d *Device) Stop() error {
	if d.cmd != nil && d.cmd.Process != nil {
		if d.engine == Renode {
			syscall.Kill(-d.cmd.Process.Pid, syscall.SIGKILL) // the script and Mono (startRenode)
		}
		d.cmd.Process.Kill()
	}
	if d.cancel != nil {
		d.cancel()
		<-d.linkDone
	}
	var err error
	select {
	case <-d.exited:
	case <-time.After(10 * time.Second):
		err = fmt.Errorf("emulator: %s did not end", d.label)
	}
	os.RemoveAll(d.dir)
	return err
}

// freePort picks a port for Renode's server socket terminal, which Renode
// binds on all addresses a moment later. It is drawn below Linux's ephemeral
// range (32768-60999), where the kernel would otherwise hand the same port to
// any outgoing connection in between (a busy machine makes thousands).
func freePort() (int, error) {
	for range 100 {
		port := 10000 + rand.IntN(22000)
		l, err := net.Listen("tcp", fmt.Sprintf(":%d", port))
		if err != nil {
			continue
		}
		l.Close()
		return port, nil
	}
	return 0, errors.New("emulator: no free port for the link below 32000")
}

// follow reads a file as it grows (Renode's UART file backend) until stop.
func follow(path string, stop <-chan struct{}) (io.ReadCloser, error) {
	pr, pw := io.Pipe()
	go func() {
		var f *os.File
		for f == nil {
			var err error
			if f, err = os.Open(path); err != nil {
				select {
				case <-stop:
					pw.Close()
					return
				case <-time.After(50 * time.Millisecond):
				}
			}
		}
		defer f.Close()
		buf := make([]byte, 4096)
		for {
			n, err := f.Read(buf)
			if n > 0 {
				if _, werr := pw.Write(buf[:n]); werr != nil {
					return
				}
			}
			if err == io.EOF {
				select {
				case <-stop:
					pw.Close()
					return
				case <-time.After(50 * time.Millisecond):
				}
			} else if err != nil {
				pw.CloseWithError(err)
				return
			}
		}
	}()
	return pr, nil
}
