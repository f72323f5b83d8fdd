package controller

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/wasmbed/wasmbed/tracing"
)

// tracerName names the controller's tracer (the instrumentation scope).
const tracerName = "github.com/wasmbed/wasmbed/controller"

// tracedReconciler gives every Reconcile of a controller a span,
// "reconcile <controller>", with the object's namespace and name, whether
// it is requeued, and its error (docs/observability.md).
type tracedReconciler struct {
	name   string
	tracer trace.Tracer
	r      reconcile.Reconciler
}

func traced(tracer trace.Tracer, name string, r reconcile.Reconciler) reconcile.Reconciler {
	return &tracedReconciler{name: name, tracer: tracer, r: r}
}

func (t *tracedReconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	ctx, span := t.tracer.Start(ctx, "reconcile "+t.name, trace.WithSpanKind(trace.SpanKindInternal),
		trace.WithAttributes(attribute.String("wasmbed.controller", t.name),
			attribute.String("k8s.namespace.name", req.Namespace), attribute.String("wasmbed.object", req.Name)))
	defer span.End()
	res, err := t.r.Reconcile(ctx, req)
	if res.RequeueAfter > 0 {
		span.SetAttributes(attribute.Int64("wasmbed.requeue_after_ms", res.RequeueAfter.Milliseconds()))
	}
	tracing.Fail(span, err)
	return res, err
}
