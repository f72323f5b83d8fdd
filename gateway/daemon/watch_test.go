package daemon

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wasmbed/wasmbed/fleet"
	"github.com/wasmbed/wasmbed/gateway"
	"github.com/wasmbed/wasmbed/gateway/apiv1"
	"github.com/wasmbed/wasmbed/module/wasmtest"
	"github.com/wasmbed/wasmbed/protocol"
)

// sseMessage is one server-sent event.
type sseMessage struct {
	event, id, data string
}

// openWatch opens GET /v1/watch with lastID as Last-Event-ID ("" for none)
// and returns its messages as they come.
func (h *harness) openWatch(ctx context.Context, lastID string) (<-chan sseMessage, *http.Response) {
	h.t.Helper()
	return h.openStream(ctx, "/v1/watch", lastID)
}

// openStream opens a server-sent-events stream of the API at path.
func (h *harness) openStream(ctx context.Context, path, lastID string) (<-chan sseMessage, *http.Response) {
	h.t.Helper()
	req, _ := http.NewRequestWithContext(ctx, "GET", h.api+path, nil)
	req.Header.Set("Authorization", "Bearer "+h.reader)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := h.http.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	out := make(chan sseMessage, 64)
	go func() {
		defer close(out)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		var m sseMessage
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if m.event != "" {
					out <- m
				}
				m = sseMessage{}
			case strings.HasPrefix(line, "event: "):
				m.event = line[len("event: "):]
			case strings.HasPrefix(line, "id: "):
				m.id = line[len("id: "):]
			case strings.HasPrefix(line, "data: "):
				m.data = line[len("data: "):]
			}
		}
	}()
	return out, resp
}

// next returns the first message of kind event whose data contains want.
func next(t *testing.T, msgs <-chan sseMessage, event, want string) sseMessage {
	t.Helper()
	timeout := time.After(10 * time.Second) // the stream polls events every 500 ms
	for {
		select {
		case m, ok := <-msgs:
			if !ok {
				t.Fatalf("the stream ended before an %s with %q", event, want)
			}
			if m.event == event && strings.Contains(m.data, want) {
				return m
			}
		case <-timeout:
			t.Fatalf("no %s with %q in 10 s", event, want)
		}
	}
}

// The watch stream's events carry their sequence number as the SSE id, and a
// client reconnecting with Last-Event-ID gets the events it missed.
func TestWatchResumesFromLastEventID(t *testing.T) {
	h := startGateway(t, gateway.Config{})
	ctx, cancel := context.WithCancel(context.Background())
	msgs, resp := h.openWatch(ctx, "")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("watch: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	h.registerDevice("w1", "mps2-an386", nil)
	next(t, msgs, "change", `"key":"w1"`)
	first := next(t, msgs, "event", `"token.created"`)
	var e fleet.Event
	if err := json.Unmarshal([]byte(first.data), &e); err != nil || first.id != strconv.FormatUint(e.Seq, 10) {
		t.Fatalf("event id %q for %s (%v)", first.id, first.data, err)
	}
	cancel()

	// Missed while away: two more tokens.
	for range 2 {
		h.must(http.StatusCreated, "POST", "/v1/devices/w1/tokens", nil, nil)
	}
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	msgs, _ = h.openWatch(ctx2, first.id)
	for i := range 2 {
		m := next(t, msgs, "event", `"token.created"`)
		if want := strconv.FormatUint(e.Seq+uint64(i)+1, 10); m.id != want {
			t.Fatalf("resumed event %d has id %s, want %s", i, m.id, want)
		}
	}

	// A Last-Event-ID that is not a sequence number is a problem, not a stream.
	code := h.callHeader(h.reader, "GET", "/v1/watch", map[string]string{"Last-Event-ID": "x"})
	if code != http.StatusBadRequest {
		t.Fatalf("Last-Event-ID x: %d", code)
	}
}

// callHeader sends a GET with extra headers and returns the status.
func (h *harness) callHeader(token, method, path string, hdr map[string]string) int {
	h.t.Helper()
	req, _ := http.NewRequest(method, h.api+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := h.http.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// An application's output streams as it arrives, each record with its
// place in the feed as the SSE id; a client that reconnects with
// Last-Event-ID gets what it missed, once; ?device= keeps one device's.
func TestOutputStreamResumes(t *testing.T) {
	h := startGateway(t, gateway.Config{})
	sha := h.upload(wasmtest.App(t, "blinker"))
	h.must(http.StatusCreated, "PUT", "/v1/applications/blink", apiv1.ApplicationSpec{Version: "1", SHA256: sha,
		Selector: fleet.Selector{Labels: map[string]string{"role": "blink"}}}, nil)
	devs := map[string]*testDevice{}
	for _, n := range []string{"o1", "o2"} {
		d := newTestDevice(t, h, n)
		must(t, d.enroll(h.registerDevice(n, "stm32f4-discovery", map[string]string{"role": "blink"})))
		d.connect()
		devs[n] = d
	}
	seq := uint64(0)
	say := func(dev, text string) {
		seq++
		devs[dev].send(&protocol.AppOutput{App: "blink", Seq: seq, Logs: []protocol.LogRecord{{Time: time.Now().UnixMilli(), Level: protocol.LogInfo, Text: text}}})
	}

	ctx, cancel := context.WithCancel(context.Background())
	msgs, resp := h.openStream(ctx, "/v1/applications/blink/output/stream", "")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("output stream: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	say("o1", "one")
	first := next(t, msgs, "output", `"text":"one"`)
	cancel()
	say("o1", "two")
	say("o2", "three")
	say("o1", "four")

	// Resumed after "one": two, three and four, each once, ids rising (two
	// sessions: the order between them is the network's).
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	msgs, _ = h.openStream(ctx2, "/v1/applications/blink/output/stream", first.id)
	last := first.id
	var got []string
	for range 3 {
		m := next(t, msgs, "output", `"text":"`)
		var o fleet.OutputRecord
		must(t, json.Unmarshal([]byte(m.data), &o))
		got = append(got, o.Text)
		if mustUint(t, m.id) <= mustUint(t, last) {
			t.Fatalf("id %s after %s", m.id, last)
		}
		last = m.id
	}
	slices.Sort(got)
	if strings.Join(got, " ") != "four three two" {
		t.Fatalf("resumed with %v, want two, three and four", got)
	}

	// One device's output only.
	ctx3, cancel3 := context.WithCancel(context.Background())
	defer cancel3()
	msgs, _ = h.openStream(ctx3, "/v1/applications/blink/output/stream?device=o2&after=0", "")
	if m := next(t, msgs, "output", `"text":"`); !strings.Contains(m.data, `"text":"three"`) || !strings.Contains(m.data, `"device":"o2"`) {
		t.Fatalf("?device=o2: %s", m.data)
	}
	if code := h.callHeader(h.reader, "GET", "/v1/applications/nope/output/stream", nil); code != http.StatusNotFound {
		t.Fatalf("stream of no application: %d", code)
	}
}

func mustUint(t *testing.T, s string) uint64 {
	t.Helper()
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
