//go:build qemu

// Package e2e runs the firmware under QEMU against the host side: the modem bridge
// (firmware/bridge), TCP test servers, and the real gateway started in-process
// (gateway/daemon). The tests need qemu-system-arm and the firmware images
// (scripts/firmware.sh build); they build only with the `qemu` tag, which
// `scripts/firmware.sh test` does.
package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wasmbed/wasmbed/firmware/bridge"
	"github.com/wasmbed/wasmbed/firmware/provision"
)

// boards run under QEMU: board name, QEMU machine.
var boards = []struct{ name, machine string }{
	{"stm32f4-discovery", "netduinoplus2"},
	{"mps2-an386", "mps2-an386"},
}

func needQEMU(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("qemu-system-arm"); err != nil {
		t.Fatal("no qemu-system-arm: run make setup")
	}
}

func firmwareDir() string {
	if d := os.Getenv("WASMBED_FIRMWARE_DIR"); d != "" {
		return d
	}
	return filepath.Join("..", "..", "bin", "firmware")
}

// image provisions a copy of the board's firmware image with b.
func image(t *testing.T, board string, b *provision.Bundle) string {
	t.Helper()
	src := filepath.Join(firmwareDir(), board+".elf")
	img, err := os.ReadFile(src)
	if err != nil {
		t.Fatalf("firmware image: %v (scripts/firmware.sh build)", err)
	}
	if b.Board == "" {
		b.Board = board
	}
	raw, err := b.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	out, err := provision.Write(img, raw, -1)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), b.Device+".elf")
	if err := os.WriteFile(path, out, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// startBridge serves modem links on a loopback port.
func startBridge(t *testing.T) (*bridge.Bridge, string) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if os.Getenv("WASMBED_TEST_LOG") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	b := bridge.New(bridge.Config{Log: log.With("component", "bridge")})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		b.Serve(ctx, l)
		close(done)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return b, l.Addr().String()
}

// qemu is one emulated board; its console (first UART) is kept in lines.
type qemu struct {
	t       *testing.T
	name    string
	cmd     *exec.Cmd
	log     string
	monitor string // unix socket of the QEMU monitor, if any

	mu    sync.Mutex
	lines []string
	exit  chan struct{}
}

// boot starts QEMU with the image, console to a file (kept for the test's log), the
// link UART to the bridge. A reset (panic, fault, watchdog) ends QEMU.
func boot(t *testing.T, name, machine, elf, bridgeAddr string) *qemu {
	return bootWith(t, name, machine, elf, bridgeAddr, false)
}

// bootWith: resettable boots with a monitor (for system_reset) and resets that reset.
func bootWith(t *testing.T, name, machine, elf, bridgeAddr string, resettable bool) *qemu {
	t.Helper()
	dir := os.Getenv("WASMBED_E2E_LOGS")
	if dir == "" {
		dir = t.TempDir()
	}
	os.MkdirAll(dir, 0o755)
	log := filepath.Join(dir, name+".console.log")
	q := &qemu{t: t, name: name, log: log, exit: make(chan struct{})}
	pr, pw := io.Pipe()
	args := []string{"-M", machine, "-nographic", "-serial", "stdio", "-serial", "tcp:" + bridgeAddr, "-kernel", elf}
	if resettable {
		// A short path: unix socket paths are limited to 108 bytes.
		mon, err := os.MkdirTemp("", "qmon")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(mon) })
		q.monitor = filepath.Join(mon, "m")
		args = append(args, "-monitor", "unix:"+q.monitor+",server=on,wait=off")
	} else {
		args = append(args, "-monitor", "none", "-no-reboot")
	}
	q.cmd = exec.Command("qemu-system-arm", args...)
	q.cmd.Stdout = pw
	q.cmd.Stderr = pw
	f, err := os.Create(log)
	if err != nil {
		t.Fatal(err)
	}
	if err := q.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		q.cmd.Wait()
		pw.Close()
	}()
	go func() {
		defer close(q.exit)
		defer f.Close()
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			line := strings.TrimRight(sc.Text(), "\r")
			fmt.Fprintln(f, line)
			q.mu.Lock()
			q.lines = append(q.lines, line)
			q.mu.Unlock()
		}
	}()
	t.Cleanup(q.stop)
	return q
}

func (q *qemu) stop() {
	if q.cmd.Process != nil {
		q.cmd.Process.Kill()
	}
	select {
	case <-q.exit:
	case <-time.After(5 * time.Second):
	}
}

// mark is the number of console lines so far, for waitFrom.
func (q *qemu) mark() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.lines)
}

// count counts console lines matching pattern.
func (q *qemu) count(pattern string) int {
	re := regexp.MustCompile(pattern)
	q.mu.Lock()
	defer q.mu.Unlock()
	n := 0
	for _, l := range q.lines {
		if re.MatchString(l) {
			n++
		}
	}
	return n
}

// reset asks QEMU's monitor for a system reset (the board reboots; RAM is kept, the
// image is loaded again).
func (q *qemu) reset() {
	q.t.Helper()
	c, err := net.Dial("unix", q.monitor)
	if err != nil {
		q.t.Fatalf("%s: monitor: %v", q.name, err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("system_reset\n")); err != nil {
		q.t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
}

// find returns the first console line matching re at or after line from, and its index.
func (q *qemu) find(re *regexp.Regexp, from int) (string, int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for i := from; i < len(q.lines); i++ {
		if re.MatchString(q.lines[i]) {
			return q.lines[i], i
		}
	}
	return "", -1
}

// crashed reports a panic or fault on the console.
func (q *qemu) crashed() string {
	l, _ := q.find(regexp.MustCompile(`PANIC|FAULT`), 0)
	return l
}

// wait waits for a console line matching pattern; it fails the test on a crash, QEMU
// exiting, or the timeout.
func (q *qemu) wait(pattern string, timeout time.Duration) string {
	q.t.Helper()
	return q.waitFrom(0, pattern, timeout)
}

// waitFrom waits for a matching line at or after line from (a mark).
func (q *qemu) waitFrom(from int, pattern string, timeout time.Duration) string {
	q.t.Helper()
	re := regexp.MustCompile(pattern)
	deadline := time.Now().Add(timeout)
	for {
		if l, _ := q.find(re, from); l != "" {
			return l
		}
		if c := q.crashed(); c != "" {
			q.t.Fatalf("%s crashed: %s (console: %s)", q.name, c, q.log)
		}
		select {
		case <-q.exit:
			if l, _ := q.find(re, from); l != "" {
				return l
			}
			q.t.Fatalf("%s: QEMU exited before %q (console: %s)\n%s", q.name, pattern, q.log, q.tail(20))
		default:
		}
		if time.Now().After(deadline) {
			q.t.Fatalf("%s: no %q in %v (console: %s)\n%s", q.name, pattern, timeout, q.log, q.tail(20))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (q *qemu) tail(n int) string {
	q.mu.Lock()
	defer q.mu.Unlock()
	from := max(0, len(q.lines)-n)
	return "  " + strings.Join(q.lines[from:], "\n  ")
}

func echoServer(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				io.Copy(c, c)
				c.Close()
			}()
		}
	}()
	return l.Addr().String()
}

// Step 1: each QEMU board opens a TCP connection through the bridge to an echo server,
// sends a line and a block larger than its link window, gets them back, and closes.
func TestLinkEcho(t *testing.T) {
	needQEMU(t)
	t.Parallel()
	echo := echoServer(t)
	br, addr := startBridge(t)
	for _, b := range boards {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			elf := image(t, b.name, &provision.Bundle{Gateways: []string{echo}, Device: "echo-" + b.name, Diag: "echo"})
			q := boot(t, b.name+"-echo", b.machine, elf, addr)
			q.wait(`^link: modem ready`, 30*time.Second)
			q.wait(`^link: echo ok \(22 bytes\)`, 30*time.Second)
			l := q.wait(`^link: echo ok \(16384 bytes`, 60*time.Second)
			q.wait(`^diag: done`, 10*time.Second)
			t.Log(l)
		})
	}
	t.Cleanup(func() { t.Log("bridge: ", br.Stats.String()) })
}

var regexpOnline = regexp.MustCompile(`^session: online`)

var regexpEnroll = regexp.MustCompile(`^enroll: `)
