package gateway

import (
	"context"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/wasmbed/wasmbed/fleet"
	"github.com/wasmbed/wasmbed/protocol"
)

// Traces of the deploys (docs/observability.md).
//
// A write through the API that changes an application (PUT or DELETE
// /v1/applications/{name}) has a server span. The reconcile loop acts on
// it later, asynchronously, in a pass that may cover many writes: the pass
// has a span of its own (wasmbed.reconcile) with a link to each write it
// acted on, and every command it sends to a device (deploy, start, stop,
// remove) is a span (wasmbed.deploy) whose parent is the write's span, so
// that the write's trace goes on into each device's deploy and ends when
// the device acks: the first app_status for that generation that is not
// `downloading` (installed, running, stopped, removed, or a failure) ends
// it, with a child span for the ack itself (wasmbed.device.ack).
//
// The write's span context is remembered in memory, by application and
// application generation (the generation the write gave it; -1 for a
// deletion), and not stored on the record: it is observability, not
// fleet state (it would be one more field in the API, the embedded store
// and the Kubernetes resources, and a write that is no change would have to
// rewrite it), and a trace that starts anew at the reconcile pass after a
// gateway restart costs nothing. The memory is bounded (writeTraceCap,
// oldest dropped). A command with no remembered write (a device that came
// online, a rollout step, a write straight to Kubernetes) is a child of its
// pass's span instead.

// writeTraceCap bounds the remembered writes.
const writeTraceCap = 4096

// tracerName names the gateway's tracer (the instrumentation scope).
const tracerName = "github.com/wasmbed/wasmbed/gateway"

// Span attribute keys of the gateway's spans.
const (
	AttrDevice     = attribute.Key("wasmbed.device")
	AttrApp        = attribute.Key("wasmbed.app")
	AttrGeneration = attribute.Key("wasmbed.generation")
	AttrAppGen     = attribute.Key("wasmbed.app.generation")
	AttrVersion    = attribute.Key("wasmbed.app.version")
	AttrCommand    = attribute.Key("wasmbed.command")
	AttrBoard      = attribute.Key("wasmbed.board")
	AttrGateway    = attribute.Key("wasmbed.gateway")
	AttrBytesSent  = attribute.Key("wasmbed.bytes_sent")
	AttrModuleSize = attribute.Key("wasmbed.module.size")
	AttrOutcome    = attribute.Key("wasmbed.outcome")
	AttrAppState   = attribute.Key("wasmbed.app.state")
	AttrSteps      = attribute.Key("wasmbed.steps")
	AttrDevices    = attribute.Key("wasmbed.devices")
)

type writeKey struct {
	app        string
	generation int64
}

// writeTraces remembers the span contexts of the API writes that changed an
// application, by application and generation, the latest writeTraceCap.
type writeTraces struct {
	mu    sync.Mutex
	m     map[writeKey]writeTrace
	order []writeEntry // oldest first; an entry whose seq is not m's is stale
	seq   uint64
}

type writeTrace struct {
	sc  trace.SpanContext
	seq uint64
}

type writeEntry struct {
	k   writeKey
	seq uint64
}

func (w *writeTraces) put(k writeKey, sc trace.SpanContext) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.m == nil {
		w.m = map[writeKey]writeTrace{}
	}
	w.seq++
	w.m[k] = writeTrace{sc, w.seq}
	w.order = append(w.order, writeEntry{k, w.seq})
	for len(w.m) > writeTraceCap || len(w.order) > 2*writeTraceCap {
		e := w.order[0]
		w.order = w.order[1:]
		if cur, ok := w.m[e.k]; ok && cur.seq == e.seq {
			delete(w.m, e.k)
		}
	}
}

func (w *writeTraces) get(k writeKey) (trace.SpanContext, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	t, ok := w.m[k]
	return t.sc, ok
}

func (w *writeTraces) drop(k writeKey) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.m, k) // its entry in order is stale now
}

// TracerProvider is the provider of the gateway's spans (Config.Tracer, or
// the global one): the API's server spans come from it too.
func (g *Gateway) TracerProvider() trace.TracerProvider { return g.tp }

// NoteApplicationWrite remembers the span of ctx (an API request's) as the
// write that gave application app its generation: the deploys of that
// generation continue its trace. Call it before the write commits (the
// reconcile pass may act on the write at once); generation -1 is a
// deletion. Nothing is remembered without a sampled span.
func (g *Gateway) NoteApplicationWrite(ctx context.Context, app string, generation int64) {
	sc := trace.SpanContextFromContext(ctx)
	if g == nil || !sc.IsValid() || !sc.IsSampled() {
		return
	}
	g.writes.put(writeKey{app, generation}, sc)
	if generation >= 0 {
		g.writes.drop(writeKey{app, -1}) // an earlier deletion's: not this application's
	}
}

// stepWrite is the remembered write a planned step carries out.
func (g *Gateway) stepWrite(st fleet.Step) (trace.SpanContext, bool) {
	if st.App == nil {
		return g.writes.get(writeKey{st.Deployment.App, -1})
	}
	return g.writes.get(writeKey{st.App.Name, st.App.Generation})
}

// pendingCommand is a command sent to a device whose ack is awaited: its
// span ends with the ack.
type pendingCommand struct {
	generation uint64
	span       trace.Span
	bytes      int64 // module bytes sent so far
}

// startCommandSpan starts the span of a command to s's device, as a child
// of the write it carries out (else of the pass), linked to the pass, and
// keeps it until the device acks. A command still pending for the app is
// superseded.
func (g *Gateway) startCommandSpan(pass context.Context, s *session, board string, st fleet.Step) {
	dep := st.Deployment
	parent := pass
	var links []trace.Link
	sc, ok := g.stepWrite(st)
	if !ok && !trace.SpanFromContext(pass).IsRecording() {
		return // tracing is off (or this pass not sampled): nothing to make
	}
	if ok {
		parent = trace.ContextWithSpanContext(pass, sc)
		links = append(links, trace.Link{SpanContext: trace.SpanContextFromContext(pass)})
	}
	attrs := []attribute.KeyValue{AttrDevice.String(s.device), AttrApp.String(dep.App), AttrGeneration.Int64(int64(dep.Generation)),
		AttrCommand.String(st.Kind.String()), AttrBoard.String(board), AttrGateway.String(g.cfg.Name), AttrVersion.String(dep.Version)}
	if st.App != nil {
		attrs = append(attrs, AttrAppGen.Int64(st.App.Generation))
	}
	_, span := g.tracer.Start(parent, "wasmbed.deploy", trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithLinks(links...), trace.WithAttributes(attrs...))
	if !span.IsRecording() {
		return
	}
	s.mu.Lock()
	if s.pending == nil {
		s.pending = map[string]*pendingCommand{}
	}
	old := s.pending[dep.App]
	s.pending[dep.App] = &pendingCommand{generation: dep.Generation, span: span}
	s.mu.Unlock()
	if old != nil {
		endCommand(old, "superseded", nil)
	}
}

// commandNotSent ends the pending command span of app on s: the command
// was not sent (outcome says why).
func (g *Gateway) commandNotSent(s *session, app string, generation uint64, outcome string, err error) {
	s.mu.Lock()
	p := s.pending[app]
	if p != nil && p.generation == generation {
		delete(s.pending, app)
	} else {
		p = nil
	}
	s.mu.Unlock()
	if p != nil {
		endCommand(p, outcome, err)
	}
}

// commandSize records the size of the module a deploy sends.
func (s *session) commandSize(app string, generation uint64, size int) {
	s.mu.Lock()
	if p := s.pending[app]; p != nil && p.generation == generation {
		p.span.SetAttributes(AttrModuleSize.Int(size))
	}
	s.mu.Unlock()
}

// commandProgress counts module bytes sent for app's pending command.
func (s *session) commandProgress(app string, generation uint64, n int) {
	s.mu.Lock()
	if p := s.pending[app]; p != nil && p.generation == generation {
		p.bytes += int64(n)
	}
	s.mu.Unlock()
}

// commandAcked ends the pending command span of m.App if m acks it: its
// generation or a later one, in a state that is not `downloading`. The ack
// has a span of its own, a child of the command's, from when the status
// arrived (received) to now.
func (g *Gateway) commandAcked(s *session, m *protocol.AppStatus, received time.Time) {
	if m.State == protocol.AppStateDownloading {
		return
	}
	s.mu.Lock()
	p := s.pending[m.App]
	if p != nil && m.Generation >= p.generation {
		delete(s.pending, m.App)
	} else {
		p = nil
	}
	s.mu.Unlock()
	if p == nil {
		return
	}
	ctx := trace.ContextWithSpan(context.Background(), p.span)
	_, ack := g.tracer.Start(ctx, "wasmbed.device.ack", trace.WithSpanKind(trace.SpanKindConsumer), trace.WithTimestamp(received),
		trace.WithAttributes(AttrDevice.String(s.device), AttrApp.String(m.App), AttrGeneration.Int64(int64(m.Generation)),
			AttrAppState.String(m.State.String()), AttrVersion.String(m.Version)))
	failed := appStateFailed(m.State)
	if failed {
		ack.SetStatus(codes.Error, m.State.String()+": "+m.Detail)
	}
	// Both end at the same instant, said explicitly: left to the SDK, each
	// end time is its start's wall clock plus the monotonic time since, so
	// wall-clock slewing between the two starts could put the command's end
	// before its ack's.
	now := trace.WithTimestamp(time.Now())
	ack.End(now)
	outcome := m.State.String()
	if failed {
		endCommand(p, outcome, errString(m.Detail), now)
		return
	}
	endCommand(p, outcome, nil, now)
}

// endPending ends every command span still pending on s: its session ended.
func (s *session) endPending(reason string) {
	s.mu.Lock()
	pending := s.pending
	s.pending = nil
	s.mu.Unlock()
	for _, p := range pending {
		endCommand(p, "session_closed", errString(reason))
	}
}

func endCommand(p *pendingCommand, outcome string, err error, end ...trace.SpanEndOption) {
	p.span.SetAttributes(AttrOutcome.String(outcome), AttrBytesSent.Int64(p.bytes))
	if err != nil {
		p.span.SetStatus(codes.Error, outcome+": "+err.Error())
	}
	p.span.End(end...)
}

func appStateFailed(s protocol.AppState) bool {
	switch s {
	case protocol.AppStateTrapped, protocol.AppStateFuelExhausted, protocol.AppStateOutOfMemory, protocol.AppStateFailed:
		return true
	}
	return false
}

type errString string

func (e errString) Error() string { return string(e) }
