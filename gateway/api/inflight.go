package api

import (
	"context"
	"net/http"
	"runtime"
	"strconv"
	"time"
)

// Requests the API works on at once. A list page decodes and encodes up to
// maxPage objects (a few MB), so the bound on requests in flight is what
// bounds the API's memory under load; a request that finds no slot waits a
// little (a burst is smoothed, not refused) and is then answered 429 with
// Retry-After. The watch stream, which holds its connection open, is not
// counted.
// The default bound is per core: a list is CPU work, and more at once than a
// few per core only makes each of them slower (measured with bench/gatewaybench
// -only api on 2 cores: 32 at once gave p99 1.6 s, 8 gave 0.6 s, at about the
// same pages per second).
const (
	InFlightPerCPU      = 4
	DefaultInFlightWait = 100 * time.Millisecond
	retryAfterSeconds   = 1
)

// DefaultMaxInFlight is InFlightPerCPU per core the Go runtime uses.
func DefaultMaxInFlight() int { return InFlightPerCPU * runtime.GOMAXPROCS(0) }

// watchRoute is the stream the limit does not count.
const watchRoute = "GET /v1/watch"

// inflight is a counting semaphore over requests.
type inflight struct {
	slots chan struct{}
	wait  time.Duration
}

func newInflight(max int, wait time.Duration) *inflight {
	if max <= 0 {
		max = DefaultMaxInFlight()
	}
	if wait < 0 {
		wait = 0
	}
	return &inflight{slots: make(chan struct{}, max), wait: wait}
}

// acquire takes a slot, waiting at most l.wait; false if none came.
func (l *inflight) acquire(ctx context.Context) bool {
	select {
	case l.slots <- struct{}{}:
		return true
	default:
	}
	if l.wait == 0 {
		return false
	}
	t := time.NewTimer(l.wait)
	defer t.Stop()
	select {
	case l.slots <- struct{}{}:
		return true
	case <-t.C:
		return false
	case <-ctx.Done():
		return false
	}
}

func (l *inflight) release() { <-l.slots }

// LimitInFlight sets how many requests the API works on at once and how long
// one waits for a slot before it is answered 429 (defaults
// DefaultMaxInFlight(), DefaultInFlightWait).
func (s *Server) LimitInFlight(max int, wait time.Duration) {
	s.inflight = newInflight(max, wait)
}

// tooBusy answers a request that found no slot.
func (s *Server) tooBusy(w http.ResponseWriter) {
	w.Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds))
	writeError(w, http.StatusTooManyRequests, "the API is at its limit of requests in flight; retry after "+strconv.Itoa(retryAfterSeconds)+" s")
}
