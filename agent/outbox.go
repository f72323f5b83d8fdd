package agent

import (
	"fmt"
	"maps"
	"slices"
	"sync"

	"github.com/wasmbed/wasmbed/protocol"
)

// outCap is how many log lines, and how many values, the agent queues per
// app while they wait to be sent (docs/abi.md, "Output").
const outCap = 256

// outbox is the runtime's Sink: it queues app output for batched
// app_output messages, and the runtime's own app stops for app_status.
// Its methods never block on the network.
type outbox struct {
	seqBase uint64
	notify  chan struct{}

	mu     sync.Mutex
	apps   map[string]*appOut
	events []statusEvent
}

type appOut struct {
	logs    []protocol.LogRecord
	values  []protocol.ValueRecord
	dropped int
	seq     uint64
}

type statusEvent struct {
	app    string
	state  protocol.AppState
	detail string
}

func newOutbox(_ *Agent, seqBase uint64) *outbox {
	return &outbox{seqBase: seqBase, notify: make(chan struct{}, 1), apps: map[string]*appOut{}}
}

func (o *outbox) app(name string) *appOut {
	q := o.apps[name]
	if q == nil {
		q = &appOut{}
		o.apps[name] = q
	}
	return q
}

// Log implements runtime.Sink.
func (o *outbox) Log(app string, rec protocol.LogRecord) {
	o.mu.Lock()
	defer o.mu.Unlock()
	q := o.app(app)
	if len(q.logs) >= outCap {
		q.dropped++
		return
	}
	q.logs = append(q.logs, rec)
}

// Publish implements runtime.Sink.
func (o *outbox) Publish(app string, rec protocol.ValueRecord) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	q := o.app(app)
	if len(q.values) >= outCap {
		return false
	}
	q.values = append(q.values, rec)
	return true
}

// Stopped implements runtime.Sink.
func (o *outbox) Stopped(app string, state protocol.AppState, detail string) {
	o.mu.Lock()
	o.events = append(o.events, statusEvent{app, state, detail})
	o.mu.Unlock()
	select {
	case o.notify <- struct{}{}:
	default:
	}
}

func (o *outbox) takeEvents() []statusEvent {
	o.mu.Lock()
	defer o.mu.Unlock()
	ev := o.events
	o.events = nil
	return ev
}

// forget drops a removed app's queue.
func (o *outbox) forget(app string) {
	o.mu.Lock()
	delete(o.apps, app)
	o.mu.Unlock()
}

// Rough CBOR sizes, to keep each app_output under the peer's frame limit.
const (
	outputOverhead = 128 // envelope, app name, seq, array headers
	logOverhead    = 20  // a log record without its text
	valueOverhead  = 24  // a value record without its key
)

// drain takes the queued output as app_output messages of at most
// protocol.MaxRecords logs and values each, and at most maxFrame bytes.
func (o *outbox) drain(maxFrame int) []*protocol.AppOutput {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []*protocol.AppOutput
	for _, name := range slices.Sorted(maps.Keys(o.apps)) {
		q := o.apps[name]
		if q.dropped > 0 {
			var t int64
			if len(q.logs) > 0 {
				t = q.logs[0].Time
			}
			q.logs = append([]protocol.LogRecord{{Time: t, Level: protocol.LogWarn,
				Text: fmt.Sprintf("wasmbed-agent: %d log lines dropped (output queue full)", q.dropped)}}, q.logs...)
			q.dropped = 0
		}
		for len(q.logs) > 0 || len(q.values) > 0 {
			budget := maxFrame - outputOverhead - len(name)
			m := &protocol.AppOutput{App: name}
			for len(q.logs) > 0 && len(m.Logs) < protocol.MaxRecords {
				n := logOverhead + len(q.logs[0].Text)
				if n > budget && len(m.Logs) > 0 {
					break
				}
				budget -= n
				m.Logs = append(m.Logs, q.logs[0])
				q.logs = q.logs[1:]
			}
			for len(q.values) > 0 && len(m.Values) < protocol.MaxRecords {
				n := valueOverhead + len(q.values[0].Key)
				if n > budget && (len(m.Values) > 0 || len(m.Logs) > 0) {
					break
				}
				budget -= n
				m.Values = append(m.Values, q.values[0])
				q.values = q.values[1:]
			}
			q.seq++
			m.Seq = o.seqBase + q.seq
			out = append(out, m)
		}
		if len(q.logs) == 0 {
			q.logs = nil // let the backing arrays go
		}
		if len(q.values) == 0 {
			q.values = nil
		}
	}
	return out
}
