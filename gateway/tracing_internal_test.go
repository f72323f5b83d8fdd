package gateway

import (
	"context"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/wasmbed/wasmbed/fleet"
	"github.com/wasmbed/wasmbed/protocol"
)

func spanAttr(s sdktrace.ReadOnlySpan, key attribute.Key) attribute.Value {
	for _, kv := range s.Attributes() {
		if kv.Key == key {
			return kv.Value
		}
	}
	return attribute.Value{}
}

func endedNamed(rec *tracetest.SpanRecorder, name string) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range rec.Ended() {
		if s.Name() == name {
			out = append(out, s)
		}
	}
	return out
}

// A command's span continues the trace of the write it carries out, is
// linked to its reconcile pass, counts the module bytes sent, and ends
// with the device's ack (not with a progress report), which has a span of
// its own; without a remembered write it is a child of the pass; a newer
// command supersedes it, and a session's end ends what is pending.
func TestCommandSpans(t *testing.T) {
	g, _ := newTestGateway(t)
	rec := tracetest.NewSpanRecorder()
	g.tp = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	g.tracer = g.tp.Tracer(tracerName)
	s := &session{g: g, device: "dev-1"}

	// The API's write of generation 3 of app "a".
	wctx, write := g.tracer.Start(context.Background(), "PUT /v1/applications/{name}")
	g.NoteApplicationWrite(wctx, "a", 3)
	write.End()
	pass, passSpan := g.tracer.Start(context.Background(), "wasmbed.reconcile")
	st := fleet.Step{Kind: fleet.StepDeploy, App: &fleet.Application{Name: "a", Generation: 3},
		Deployment: fleet.Deployment{App: "a", Device: "dev-1", Generation: 7, Version: "1.0.0"}}
	g.startCommandSpan(pass, s, "linux", st)
	s.commandSize("a", 7, 300)
	s.commandProgress("a", 7, 200)
	s.commandProgress("a", 7, 100)
	s.commandProgress("a", 6, 999) // an older generation's: not this command's
	g.commandAcked(s, &protocol.AppStatus{App: "a", Generation: 7, State: protocol.AppStateDownloading}, time.Now())
	if n := len(endedNamed(rec, "wasmbed.deploy")); n != 0 {
		t.Fatalf("a downloading status ended %d deploy spans", n)
	}
	g.commandAcked(s, &protocol.AppStatus{App: "a", Generation: 7, State: protocol.AppStateRunning, Version: "1.0.0"}, time.Now())
	deploys := endedNamed(rec, "wasmbed.deploy")
	if len(deploys) != 1 {
		t.Fatalf("want 1 deploy span ended by the ack, got %d", len(deploys))
	}
	d := deploys[0]
	if d.Parent().SpanID() != write.SpanContext().SpanID() || d.SpanContext().TraceID() != write.SpanContext().TraceID() {
		t.Errorf("deploy span's parent %v, want the write %v", d.Parent(), write.SpanContext())
	}
	if len(d.Links()) != 1 || d.Links()[0].SpanContext.SpanID() != passSpan.SpanContext().SpanID() {
		t.Errorf("deploy span links %v, want its pass", d.Links())
	}
	for k, want := range map[attribute.Key]string{AttrDevice: "dev-1", AttrApp: "a", AttrCommand: "deploy", AttrOutcome: "running", AttrBoard: "linux"} {
		if got := spanAttr(d, k).AsString(); got != want {
			t.Errorf("deploy %s = %q, want %q", k, got, want)
		}
	}
	for k, want := range map[attribute.Key]int64{AttrGeneration: 7, AttrAppGen: 3, AttrBytesSent: 300, AttrModuleSize: 300} {
		if got := spanAttr(d, k).AsInt64(); got != want {
			t.Errorf("deploy %s = %d, want %d", k, got, want)
		}
	}
	acks := endedNamed(rec, "wasmbed.device.ack")
	if len(acks) != 1 || acks[0].Parent().SpanID() != d.SpanContext().SpanID() || spanAttr(acks[0], AttrAppState).AsString() != "running" {
		t.Fatalf("want 1 ack span under the deploy, got %v", acks)
	}

	// No remembered write (generation 4): a child of the pass. Superseded
	// by the next command, which the session's end ends.
	st.App.Generation, st.Deployment.Generation = 4, 8
	g.startCommandSpan(pass, s, "linux", st)
	st.Kind, st.Deployment.Generation = fleet.StepStop, 9
	g.startCommandSpan(pass, s, "linux", st)
	s.endPending("connection: EOF")
	passSpan.End()
	deploys = endedNamed(rec, "wasmbed.deploy")
	if len(deploys) != 3 {
		t.Fatalf("want 3 deploy spans, got %d", len(deploys))
	}
	sup, closed := deploys[1], deploys[2]
	if sup.Parent().SpanID() != passSpan.SpanContext().SpanID() || len(sup.Links()) != 0 {
		t.Errorf("a command with no write: parent %v links %v, want the pass and no link", sup.Parent(), sup.Links())
	}
	if got := spanAttr(sup, AttrOutcome).AsString(); got != "superseded" {
		t.Errorf("first command's outcome %q, want superseded", got)
	}
	if got := spanAttr(closed, AttrOutcome).AsString(); got != "session_closed" || closed.Status().Code != codes.Error {
		t.Errorf("pending command at the session's end: outcome %q status %v", got, closed.Status())
	}
	if got := spanAttr(closed, AttrCommand).AsString(); got != "stop" {
		t.Errorf("second command %q, want stop", got)
	}

	// A deletion's removals continue the DELETE's trace; a later create of
	// the same name forgets it.
	dctx, del := g.tracer.Start(context.Background(), "DELETE /v1/applications/{name}")
	g.NoteApplicationWrite(dctx, "a", -1)
	del.End()
	rm := fleet.Step{Kind: fleet.StepRemove, Deployment: fleet.Deployment{App: "a", Device: "dev-1", Generation: 10}}
	if sc, ok := g.stepWrite(rm); !ok || sc.SpanID() != del.SpanContext().SpanID() {
		t.Errorf("remove step's write %v %v, want the DELETE", sc, ok)
	}
	g.NoteApplicationWrite(wctx, "a", 1)
	if _, ok := g.stepWrite(rm); ok {
		t.Error("the deletion is still remembered after a create")
	}
	// Nothing is remembered without a sampled span.
	g.NoteApplicationWrite(context.Background(), "b", 1)
	if _, ok := g.stepWrite(fleet.Step{App: &fleet.Application{Name: "b", Generation: 1}}); ok {
		t.Error("a write without a span was remembered")
	}
}

// The remembered writes are bounded, the oldest dropped.
func TestWriteTracesBound(t *testing.T) {
	var w writeTraces
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{1}, SpanID: trace.SpanID{1}, TraceFlags: trace.FlagsSampled})
	for i := range writeTraceCap + 10 {
		w.put(writeKey{"a", int64(i)}, sc)
	}
	if len(w.m) != writeTraceCap {
		t.Fatalf("%d remembered, want %d", len(w.m), writeTraceCap)
	}
	// Written again (a retried write): still one entry, and the order
	// stays bounded.
	for range 3 * writeTraceCap {
		w.put(writeKey{"a", writeTraceCap + 9}, sc)
	}
	if len(w.m) > writeTraceCap || len(w.order) > 2*writeTraceCap {
		t.Fatalf("%d remembered, %d in order: unbounded", len(w.m), len(w.order))
	}
	if _, ok := w.get(writeKey{"a", 0}); ok {
		t.Error("the oldest is still remembered")
	}
	if _, ok := w.get(writeKey{"a", writeTraceCap + 9}); !ok {
		t.Error("the newest is not remembered")
	}
}
