package agent

import (
	"fmt"
	"testing"
	"time"

	"github.com/wasmbed/wasmbed/protocol"
)

// A device that loses its gateway tries each other one after a short pause
// (at most MinBackoff), and waits longer only once a whole round failed;
// a healthy session brings it back to its gateway first, unless that
// gateway said the device is served elsewhere.
func TestEndpointsFailover(t *testing.T) {
	const lo, hi = 100 * time.Millisecond, 2 * time.Second
	e := &endpoints{n: 3}
	var order []int
	var waits []time.Duration
	for range 9 {
		order = append(order, e.cur)
		waits = append(waits, e.failedAttempt(lo, hi, -1))
	}
	if got := fmt.Sprint(order); got != "[0 1 2 0 1 2 0 1 2]" {
		t.Fatalf("gateways tried %s", got)
	}
	for i, w := range waits {
		var want time.Duration // the bound of the wait, jitter aside
		switch i {
		case 2: // the first round failed
			want = 2 * lo
		case 5:
			want = 4 * lo
		case 8:
			want = 8 * lo
		default: // the next gateway of the round
			want = lo
		}
		if w < want/2 || w > want {
			t.Errorf("wait %d: %v, want %v..%v", i, w, want/2, want)
		}
	}
	// A round's waits never exceed MaxBackoff.
	for range 100 {
		if w := e.failedAttempt(lo, hi, -1); w > hi {
			t.Fatalf("wait %v above MaxBackoff %v", w, hi)
		}
	}

	// A healthy session on gateway 1 ends: back to gateway 1 first.
	e = &endpoints{n: 3, cur: 1, failed: 7}
	if w := e.healthyEnded(fmt.Errorf("receive: EOF"), lo, hi, -1); e.cur != 1 || e.failed != 0 || w > lo {
		t.Fatalf("after a healthy session: gateway %d, %d failures, wait %v", e.cur, e.failed, w)
	}
	// ... unless gateway 1 let the device go (its assignment moved).
	if w := e.healthyEnded(&protocol.Error{Code: protocol.CodeWrongGateway, Message: "device d is served by gateway gw-2"}, lo, hi, -1); e.cur != 2 || w > lo {
		t.Fatalf("after wrong_gateway: gateway %d, wait %v", e.cur, w)
	}
	// A wrong_gateway naming the gateway that serves the device (one of
	// the bundle's): there next, whatever the order.
	gws := []string{"a:1", "b:1", "c:1"}
	moved := &protocol.Error{Code: protocol.CodeWrongGateway, Message: "device d is served by gateway c", Gateways: []string{"10.0.0.9:1", "C:1"}}
	if to := redirect(fmt.Errorf("hello: %w", moved), gws); to != 2 {
		t.Fatalf("redirect to %d, want 2", to)
	}
	if to := redirect(&protocol.Error{Code: protocol.CodeForbidden, Gateways: []string{"c:1"}}, gws); to != -1 {
		t.Fatalf("forbidden redirects to %d", to)
	}
	if to := redirect(&protocol.Error{Code: protocol.CodeWrongGateway, Gateways: []string{"z:1"}}, gws); to != -1 {
		t.Fatalf("an address not in the bundle redirects to %d", to)
	}
	e = &endpoints{n: 3}
	if w := e.failedAttempt(lo, hi, 2); e.cur != 2 || w > lo {
		t.Fatalf("redirected: gateway %d, wait %v", e.cur, w)
	}

	// One gateway: the backoff grows with every failure, as before.
	e = &endpoints{n: 1}
	for i := range 4 {
		if w := e.failedAttempt(lo, hi, -1); w < (lo<<i)/2 || w > lo<<i {
			t.Fatalf("one gateway, failure %d: wait %v", i, w)
		}
	}
}
