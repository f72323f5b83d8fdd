package api

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestStreamingLiftsTimeouts: a response that streams (the watch) outlives
// the server's read and write timeouts; one that does not is cut at them.
func TestStreamingLiftsTimeouts(t *testing.T) {
	mux := http.NewServeMux()
	stream := func(w http.ResponseWriter, lift bool) {
		if lift {
			streaming(w)
		}
		for i := range 6 {
			fmt.Fprintf(w, "tick %d\n", i)
			w.(http.Flusher).Flush()
			time.Sleep(100 * time.Millisecond)
		}
	}
	mux.HandleFunc("/lifted", func(w http.ResponseWriter, r *http.Request) { stream(w, true) })
	mux.HandleFunc("/bounded", func(w http.ResponseWriter, r *http.Request) { stream(w, false) })
	srv := HTTPServer(mux, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	srv.ReadTimeout, srv.WriteTimeout = 200*time.Millisecond, 200*time.Millisecond
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(Listener(l, 0))
	defer srv.Close()
	get := func(path string) string {
		resp, err := http.Get("http://" + l.Addr().String() + path)
		if err != nil {
			return err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	if got := get("/lifted"); !strings.Contains(got, "tick 5") {
		t.Errorf("a streaming response was cut: %q", got)
	}
	if got := get("/bounded"); strings.Contains(got, "tick 5") {
		t.Errorf("a response outlived the write timeout: %q", got)
	}
}
