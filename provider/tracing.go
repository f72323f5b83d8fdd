package provider

import (
	"context"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-log/tflog"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/wasmbed/wasmbed/tracing"
)

// Traces (docs/observability.md): each operation of a resource, data
// source or ephemeral resource is a span, "wasmbed_application create",
// whose context the gateway API client sends along (W3C traceparent), so
// that the gateway's server spans, and the deploys they lead to, are in the
// operation's trace. Tracing is off unless the standard
// OTEL_EXPORTER_OTLP_ENDPOINT (or _TRACES_ENDPOINT) variable is set in the
// environment Terraform runs the provider in; Configure installs the
// exporter (tracing.InstallGlobal).

const tracerName = "github.com/wasmbed/wasmbed/provider"

// flushTimeout bounds the export after each operation.
const flushTimeout = 5 * time.Second

// startOp starts the span of operation op (create, read, update, delete,
// import, plan, open) of typeName (wasmbed_device, ...). Call the function
// it returns with the operation's diagnostics when it ends: it ends the
// span (failed if they have an error) and, except after a plan, exports
// what is buffered: Terraform may end the plugin process as soon as the
// last operation answered.
func startOp(ctx context.Context, typeName, op string) (context.Context, func(*diag.Diagnostics)) {
	ctx, span := otel.Tracer(tracerName).Start(ctx, typeName+" "+op, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("terraform.type", typeName), attribute.String("terraform.operation", op)))
	return ctx, func(diags *diag.Diagnostics) {
		if diags != nil && diags.HasError() {
			for _, d := range diags.Errors() {
				span.SetStatus(codes.Error, d.Summary()+": "+d.Detail())
				break
			}
		}
		span.End()
		if op == "plan" || !span.SpanContext().IsSampled() {
			return
		}
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), flushTimeout)
		defer cancel()
		if err := tracing.ForceFlush(fctx); err != nil {
			tflog.Warn(ctx, "tracing: export failed", map[string]any{"err": err.Error()})
		}
	}
}

// ShutdownTracing exports the spans still buffered and stops the exporter;
// the plugin's main calls it when Terraform stops the provider.
func ShutdownTracing(ctx context.Context) error { return tracing.ShutdownGlobal(ctx) }
