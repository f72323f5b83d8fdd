package agent

import (
	"errors"
	"strings"
	"time"

	"github.com/wasmbed/wasmbed/protocol"
)

// endpoints walks the gateways of the device's bundle. A failed attempt
// (no connection, a refused session, a session that ended before the
// gateway acknowledged a heartbeat) moves to the next gateway after a short
// pause (MinBackoff, with jitter); once every gateway failed in turn (a
// round), the wait grows exponentially with the rounds, up to MaxBackoff,
// with jitter, so that a fleet that lost its gateway spreads over the others
// quickly and does not hammer them in step when none takes it. A healthy
// session resets it: the device comes back to that gateway first (it is
// where it is assigned), unless the gateway said the device is not served
// there (wrong_gateway): then the next one, at once. A wrong_gateway that
// names the gateway serving the device (its addresses), one of the
// bundle's, sends the device there next instead of to the next in turn.
type endpoints struct {
	n      int // gateways in the bundle
	cur    int // the gateway to try next
	failed int // consecutive failed attempts
}

// failedAttempt records that the attempt on the current gateway failed
// and moves to gateway to (< 0: the next one); the wait before the next
// attempt.
func (e *endpoints) failedAttempt(lo, hi time.Duration, to int) time.Duration {
	e.failed++
	e.move(to)
	if e.failed%max(e.n, 1) != 0 {
		return backoff(0, lo, hi) // the next gateway of this round
	}
	rounds := e.failed / max(e.n, 1)
	if e.n <= 1 {
		return backoff(rounds-1, lo, hi) // one gateway: the first retry after lo, as ever
	}
	return backoff(rounds, lo, hi) // a round failed: wait longer
}

// healthyEnded records that a healthy session (a heartbeat acknowledged)
// ended with err, to the gateway to if err said where the device goes
// (< 0: none); the wait before the next attempt.
func (e *endpoints) healthyEnded(err error, lo, hi time.Duration, to int) time.Duration {
	e.failed = 0
	if wrongGateway(err) {
		e.move(to)
	}
	return backoff(0, lo, hi)
}

func (e *endpoints) move(to int) {
	if to >= 0 && to < e.n {
		e.cur = to
		return
	}
	e.cur = (e.cur + 1) % max(e.n, 1)
}

// wrongGateway: the gateway said it does not serve this device (it is
// assigned to another gateway).
func wrongGateway(err error) bool {
	perr, ok := errors.AsType[*protocol.Error](err)
	return ok && perr.Code == protocol.CodeWrongGateway
}

// redirect is the index in gws of the gateway a wrong_gateway error err
// names (the first of its addresses the bundle lists), or -1.
func redirect(err error, gws []string) int {
	perr, ok := errors.AsType[*protocol.Error](err)
	if !ok || perr.Code != protocol.CodeWrongGateway {
		return -1
	}
	for _, a := range perr.Gateways {
		for i, g := range gws {
			if strings.EqualFold(a, g) {
				return i
			}
		}
	}
	return -1
}
