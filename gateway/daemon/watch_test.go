package daemon

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wasmbed/wasmbed/fleet"
	"github.com/wasmbed/wasmbed/gateway"
)

// sseMessage is one server-sent event.
type sseMessage struct {
	event, id, data string
}

// openWatch opens GET /v1/watch with lastID as Last-Event-ID ("" for none)
// and returns its messages as they come.
func (h *harness) openWatch(ctx context.Context, lastID string) (<-chan sseMessage, *http.Response) {
	h.t.Helper()
	req, _ := http.NewRequestWithContext(ctx, "GET", h.api+"/v1/watch", nil)
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
