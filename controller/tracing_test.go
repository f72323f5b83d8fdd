package controller

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// Every Reconcile is a span named by its controller, with the object, the
// requeue and the error.
func TestReconcileSpans(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tr := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec)).Tracer(tracerName)
	fail := errors.New("conflict")
	r := traced(tr, "application-status", reconcile.Func(func(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
		if req.Name == "bad" {
			return reconcile.Result{}, fail
		}
		return reconcile.Result{RequeueAfter: 2 * time.Second}, nil
	}))
	if _, err := r.Reconcile(context.Background(), reconcile.Request{NamespacedName: types.NamespacedName{Namespace: "fleet", Name: "sensor"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Reconcile(context.Background(), reconcile.Request{NamespacedName: types.NamespacedName{Namespace: "fleet", Name: "bad"}}); !errors.Is(err, fail) {
		t.Fatalf("error %v, want the reconciler's", err)
	}
	spans := rec.Ended()
	if len(spans) != 2 {
		t.Fatalf("want 2 spans, got %d", len(spans))
	}
	attrs := map[string]string{}
	for _, kv := range spans[0].Attributes() {
		attrs[string(kv.Key)] = kv.Value.Emit()
	}
	if spans[0].Name() != "reconcile application-status" || attrs["k8s.namespace.name"] != "fleet" || attrs["wasmbed.object"] != "sensor" ||
		attrs["wasmbed.requeue_after_ms"] != "2000" || attrs["wasmbed.controller"] != "application-status" {
		t.Errorf("span %q attributes %v", spans[0].Name(), attrs)
	}
	if spans[1].Status().Code != codes.Error || spans[1].Status().Description != "conflict" {
		t.Errorf("failed Reconcile's span status %v", spans[1].Status())
	}
}
