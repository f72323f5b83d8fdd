//go:build qemu

// Package e2e runs the firmware under QEMU against the host side: the modem bridge
// (firmware/bridge), TCP test servers, and the real gateway started in-process
// (gateway/daemon). The tests need qemu-system-arm and the firmware images
// (scripts/firmware.sh build); they build only with the `qemu` tag, which
// `scripts/firmware.sh test` does.
package e2e

import (
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/wasmbed/wasmbed/firmware/bridge"
	"github.com/wasmbed/wasmbed/firmware/emulator"
	"github.com/wasmbed/wasmbed/firmware/provision"
)

// boards run under QEMU (firmware/emulator): stm32f4-discovery as
// netduinoplus2, and mps2-an386.
var boards = []struct{ name string }{
	{"stm32f4-discovery"},
	{"mps2-an386"},
}

// renodeBoards have no QEMU machine with two UARTs and run under Renode
// (firmware/emulator's Auto): riscv32-virt. They take the tests that need no
// QEMU-only model (semihosting flash, a watchdog): the TLS handshake and the
// corpus.
var renodeBoards = []struct{ name string }{
	{"riscv32-virt"},
}

// needRenode: the Renode boards' tests need bin/renode on PATH (make setup;
// scripts/firmware.sh test-e2e puts bin/ on PATH).
func needRenode(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("renode"); err != nil {
		t.Fatal("no renode on PATH: run make setup and put bin/ on PATH")
	}
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

// image provisions a copy of the board's firmware image with b: the shipped image, or
// for a bundle with a diag mode the test image (`<board>-selftest.elf`, which has
// them; the shipped one leaves them out for flash).
func image(t *testing.T, board string, b *provision.Bundle) string {
	t.Helper()
	name := board
	if b.Diag != "" {
		name = board + "-selftest"
	}
	return provisioned(t, name, board, b)
}

// provisioned provisions a copy of bin/firmware/<name>.elf, built for board, with b.
func provisioned(t *testing.T, name, board string, b *provision.Bundle) string {
	t.Helper()
	src := filepath.Join(firmwareDir(), name+".elf")
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

// startBridge makes the modem bridge the boards' link UARTs talk to.
func startBridge(t *testing.T) *bridge.Bridge {
	t.Helper()
	return bridge.New(bridge.Config{Log: testLogger(t, "bridge").With("component", "bridge")})
}

// testLogger is the log of a gateway or bridge the test starts: kept, at debug
// level with the time of each line, in <test>.<kind>.log under WASMBED_E2E_LOGS
// (beside the consoles, appended to within a run: a gateway restarted on the
// same data directory goes on in the same file), and printed on stderr with
// WASMBED_TEST_LOG.
func testLogger(t *testing.T, kind string) *slog.Logger {
	t.Helper()
	var w []io.Writer
	if dir := os.Getenv("WASMBED_E2E_LOGS"); dir != "" {
		name := strings.NewReplacer("/", "-", "@", "-").Replace(t.Name())
		path := filepath.Join(dir, name+"."+kind+".log")
		f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		// Closed after the test's other cleanups (registered later, run first) stopped what logs.
		t.Cleanup(func() { f.Close() })
		w = append(w, f)
	}
	if os.Getenv("WASMBED_TEST_LOG") != "" {
		w = append(w, os.Stderr)
	}
	if len(w) == 0 {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return slog.New(slog.NewTextHandler(io.MultiWriter(w...), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// qemu is one emulated board (firmware/emulator) with test-failing waits.
type qemu struct {
	t   *testing.T
	dev *emulator.Device
	log string
}

// boot starts the board under QEMU with the image, its console kept (and
// written to WASMBED_E2E_LOGS when set), its link UART on the bridge. A reset
// (panic, fault, watchdog) ends QEMU.
func boot(t *testing.T, name, board, elf string, br *bridge.Bridge) *qemu {
	return bootWith(t, name, board, elf, br, false)
}

// bootWith: resettable boards reboot on a reset, and q.reset resets them.
func bootWith(t *testing.T, name, board, elf string, br *bridge.Bridge, resettable bool) *qemu {
	t.Helper()
	return bootOpts(t, emulator.Options{Board: board, Image: elf, Bridge: br, Name: name, Reboot: resettable})
}

// bootOpts boots with o, under QEMU unless o.Engine says otherwise or QEMU has no
// machine for the board, the console kept in <o.Name>.console.log.
func bootOpts(t *testing.T, o emulator.Options) *qemu {
	t.Helper()
	dir := os.Getenv("WASMBED_E2E_LOGS")
	if dir == "" {
		dir = t.TempDir()
	}
	log := filepath.Join(dir, o.Name+".console.log")
	os.Remove(log) // the emulator appends
	// QEMU where it has the board (emulator.Auto), else Renode. Each console line
	// with the time it came, to set beside the gateway's and the bridge's logs
	// (testLogger), and Renode's own log beside it.
	o.ConsoleLog, o.ConsoleTimes = log, true
	o.EmulatorLog = filepath.Join(dir, o.Name+".renode.log")
	os.Remove(o.EmulatorLog)
	d, err := emulator.Boot(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Stop() })
	return &qemu{t: t, dev: d, log: log}
}

// mark is the number of console lines so far, for waitFrom.
func (q *qemu) mark() int { return q.dev.Mark() }

// count counts console lines matching pattern.
func (q *qemu) count(pattern string) int { return q.dev.Count(regexp.MustCompile(pattern)) }

// reset presses the reset button (RAM is kept, the image is loaded again).
func (q *qemu) reset() {
	q.t.Helper()
	if err := q.dev.Reset(); err != nil {
		q.t.Fatal(err)
	}
}

// find returns the first console line matching re at or after line from, and its index.
func (q *qemu) find(re *regexp.Regexp, from int) (string, int) {
	for i, l := range q.dev.Lines(from) {
		if re.MatchString(l) {
			return l, from + i
		}
	}
	return "", -1
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
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	l, _, err := q.dev.Wait(ctx, from, regexp.MustCompile(pattern))
	if err != nil {
		q.t.Fatalf("%v (console: %s)", err, q.log)
	}
	return l
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
	br := startBridge(t)
	for _, b := range boards {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			elf := image(t, b.name, &provision.Bundle{Gateways: []string{echo}, Device: "echo-" + b.name, Diag: "echo"})
			q := boot(t, b.name+"-echo", b.name, elf, br)
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
