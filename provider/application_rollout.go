package provider

import (
	"context"
	"fmt"
	"math"
	"strings"

	"github.com/hashicorp/terraform-plugin-framework-validators/int64validator"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/int64default"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/objectdefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringdefault"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-framework/types/basetypes"

	"github.com/wasmbed/wasmbed/fleet"
)

// The rollout block of wasmbed_application: the strategy within a step
// (all_at_once or batched) and, with steps, a progressive rollout
// (fleet/rollout.go). Defaults and validation are fleet's
// (Rollout.SetDefaults and Rollout.Validate): the gateway applies the same
// ones, so a policy that passes plan is accepted at apply.

type rolloutModel struct {
	Strategy        types.String `tfsdk:"strategy"`
	MaxUnavailable  types.Int64  `tfsdk:"max_unavailable"`
	MinReadySeconds types.Int64  `tfsdk:"min_ready_seconds"`
	Steps           types.List   `tfsdk:"steps"`
	Canary          types.Map    `tfsdk:"canary"`
	BakeSeconds     types.Int64  `tfsdk:"bake_seconds"`
	StepFailures    types.Object `tfsdk:"step_failures"`
	TotalFailures   types.Object `tfsdk:"total_failures"`
	Health          types.Object `tfsdk:"health"`
	OnFailure       types.String `tfsdk:"on_failure"`
}

type rolloutStepModel struct {
	Devices     types.Int64   `tfsdk:"devices"`
	Percent     types.Float64 `tfsdk:"percent"`
	BakeSeconds types.Int64   `tfsdk:"bake_seconds"`
}

type thresholdModel struct {
	Count   types.Int64   `tfsdk:"count"`
	Percent types.Float64 `tfsdk:"percent"`
}

type healthModel struct {
	Key           types.String  `tfsdk:"key"`
	Min           types.Float64 `tfsdk:"min"`
	Max           types.Float64 `tfsdk:"max"`
	MaxAgeSeconds types.Int64   `tfsdk:"max_age_seconds"`
}

var (
	stepTypes      = map[string]attr.Type{"devices": types.Int64Type, "percent": types.Float64Type, "bake_seconds": types.Int64Type}
	thresholdTypes = map[string]attr.Type{"count": types.Int64Type, "percent": types.Float64Type}
	healthTypes    = map[string]attr.Type{"key": types.StringType, "min": types.Float64Type, "max": types.Float64Type, "max_age_seconds": types.Int64Type}
	rolloutTypes   = map[string]attr.Type{
		"strategy": types.StringType, "max_unavailable": types.Int64Type, "min_ready_seconds": types.Int64Type,
		"steps": types.ListType{ElemType: types.ObjectType{AttrTypes: stepTypes}}, "canary": types.MapType{ElemType: types.StringType},
		"bake_seconds": types.Int64Type, "step_failures": types.ObjectType{AttrTypes: thresholdTypes},
		"total_failures": types.ObjectType{AttrTypes: thresholdTypes}, "health": types.ObjectType{AttrTypes: healthTypes},
		"on_failure": types.StringType,
	}
)

// defaultRollout is the rollout of an application that sets none: every
// selected device at once, no steps.
func defaultRollout() types.Object {
	return types.ObjectValueMust(rolloutTypes, map[string]attr.Value{
		"strategy": types.StringValue(fleet.RolloutAllAtOnce), "max_unavailable": types.Int64Value(1), "min_ready_seconds": types.Int64Value(0),
		"steps": types.ListNull(types.ObjectType{AttrTypes: stepTypes}), "canary": types.MapNull(types.StringType),
		"bake_seconds": types.Int64Null(), "step_failures": types.ObjectNull(thresholdTypes), "total_failures": types.ObjectNull(thresholdTypes),
		"health": types.ObjectNull(healthTypes), "on_failure": types.StringNull(),
	})
}

func thresholdSchema(what, unset string) schema.SingleNestedAttribute {
	return schema.SingleNestedAttribute{Optional: true,
		Description: what + " Give `count`, `percent` or both (the lower bound wins). Unset: " + unset,
		Attributes: map[string]schema.Attribute{
			"count":   schema.Int64Attribute{Optional: true, Description: "At most this many failed devices (>= 0)."},
			"percent": schema.Float64Attribute{Optional: true, Description: "At most this percentage of the devices concerned, rounded down (0 to 100)."},
		}}
}

// rolloutSchema is the rollout attribute of wasmbed_application.
func rolloutSchema() schema.SingleNestedAttribute {
	return schema.SingleNestedAttribute{Optional: true, Computed: true, Default: objectdefault.StaticValue(defaultRollout()),
		Description: "How a new version reaches the devices. Without `steps`, every selected device is sent it at once " +
			"(or in batches, `strategy = \"batched\"`). With `steps`, the rollout is progressive: each step lets more of the selected " +
			"devices take the new version, bakes under health gates, and a failure beyond the thresholds halts it: it pauses or rolls " +
			"back (the default) the devices that took it to the last version that passed; devices that never got it are not touched. " +
			"A device fails a health gate when its app traps, runs out of fuel or memory, fails to install or crashes the device, " +
			"when the device resets unexpectedly or stops heartbeating, or (with `health`) when the app's health value is missing or out of range. " +
			"`canary`, `bake_seconds`, `step_failures`, `total_failures`, `health` and `on_failure` need `steps`.",
		Attributes: map[string]schema.Attribute{
			"strategy": schema.StringAttribute{Optional: true, Computed: true, Default: stringdefault.StaticString(fleet.RolloutAllAtOnce),
				Validators: []validator.String{stringvalidator.OneOf(fleet.RolloutAllAtOnce, fleet.RolloutBatched)},
				Description: "Within a step (or for the whole rollout without steps): `all_at_once` (default), or `batched`: at most " +
					"`max_unavailable` devices updating (or failed) at a time; without steps a failure halts a batched rollout."},
			"max_unavailable": schema.Int64Attribute{Optional: true, Computed: true, Default: int64default.StaticInt64(1),
				Validators: []validator.Int64{int64validator.AtLeast(1)}, Description: "Batched: devices updating at once. Default 1."},
			"min_ready_seconds": schema.Int64Attribute{Optional: true, Computed: true, Default: int64default.StaticInt64(0),
				Validators: []validator.Int64{int64validator.AtLeast(0)},
				Description: "How long the app must run on a device before it counts as updated; 0 (default): two ticks, at least 1 s, without `steps`; " +
					"with `steps`, no hold (each step's bake is the hold)."},
			"steps": schema.ListNestedAttribute{Optional: true,
				Description: fmt.Sprintf("Progressive rollout: how many of the selected devices may run the new version once each step starts, "+
					"cumulative, as a count (`devices`) or a percentage (`percent`, rounded up, at least one device); e.g. 1 device, 5 %%, 25 %%, 100 %%. "+
					"A last step of every device is implied when the last one does not reach them all. At most %d steps; they must not shrink.", fleet.MaxRolloutSteps),
				NestedObject: schema.NestedAttributeObject{Attributes: map[string]schema.Attribute{
					"devices": schema.Int64Attribute{Optional: true, Description: "Devices (>= 1) that may run the new version from this step on. One of `devices` and `percent`."},
					"percent": schema.Float64Attribute{Optional: true, Description: "Percentage (0 to 100] of the selected devices, rounded up. One of `devices` and `percent`."},
					"bake_seconds": schema.Int64Attribute{Optional: true,
						Description: "How long this step's devices must stay healthy once all updated before the next step starts; unset: the rollout's `bake_seconds`."},
				}}},
			"canary": schema.MapAttribute{Optional: true, ElementType: types.StringType,
				Description: "Labels: the first step takes only selected devices that have them (e.g. `{ ring = \"canary\" }`). " +
					"A rollout whose canary selector matches no selected device pauses at once."},
			"bake_seconds": schema.Int64Attribute{Optional: true,
				Description: fmt.Sprintf("Each step's bake time unless the step sets its own. Default %d.", fleet.DefaultBakeSeconds)},
			"step_failures": thresholdSchema("Failed devices a step tolerates, of the devices the step adds.",
				"none is tolerated: one failed device halts the rollout (the safe default)."),
			"total_failures": thresholdSchema("Failed devices the whole rollout tolerates, of the selected devices.",
				"no limit besides each step's."),
			"health": schema.SingleNestedAttribute{Optional: true,
				Description: "An app-level health gate: a value the app publishes (the ABI's `publish`) under `key`. Every device that takes the new version " +
					"must publish it within `max_age_seconds` of starting the app and keep doing so, within [`min`, `max`]; a device counts as updated only once it did.",
				Attributes: map[string]schema.Attribute{
					"key": schema.StringAttribute{Required: true, Description: "The published value's key, e.g. `health`."},
					"min": schema.Float64Attribute{Optional: true, Description: "Lowest healthy value. Give `min`, `max` or both."},
					"max": schema.Float64Attribute{Optional: true, Description: "Highest healthy value."},
					"max_age_seconds": schema.Int64Attribute{Optional: true,
						Description: fmt.Sprintf("How old the latest value may be. Default %d.", fleet.DefaultHealthMaxAge)},
				}},
			"on_failure": schema.StringAttribute{Optional: true,
				Validators: []validator.String{stringvalidator.OneOf(fleet.OnFailurePause, fleet.OnFailureRollback)},
				Description: "What a rollout with steps does when its failures pass a threshold: `rollback` (default): the devices that took " +
					"the new version go back to the last version that passed (or remove a first version); `pause`: it stops admitting devices " +
					"and waits for an operator (resume, abort or promote)."},
		},
	}
}

// rolloutPolicy turns the rollout object (config or plan) into fleet's
// policy; known is false while a value in it is unknown. Unset attributes
// with a Terraform default get it, the others stay unset for fleet's
// SetDefaults.
func rolloutPolicy(ctx context.Context, obj types.Object, diags *diag.Diagnostics) (ro fleet.Rollout, known bool) {
	if obj.IsNull() {
		return fleet.Rollout{Strategy: fleet.RolloutAllAtOnce, MaxUnavailable: 1}, true
	}
	if v, err := obj.ToTerraformValue(ctx); err != nil || !v.IsFullyKnown() {
		return ro, false
	}
	var m rolloutModel
	diags.Append(obj.As(ctx, &m, basetypes.ObjectAsOptions{})...)
	if diags.HasError() {
		return ro, false
	}
	ro = fleet.Rollout{Strategy: m.Strategy.ValueString(), MaxUnavailable: 1, MinReadySeconds: int(m.MinReadySeconds.ValueInt64()),
		Canary: stringMap(ctx, m.Canary, diags), BakeSeconds: intPtr(m.BakeSeconds), OnFailure: m.OnFailure.ValueString()}
	if ro.Strategy == "" {
		ro.Strategy = fleet.RolloutAllAtOnce
	}
	if !m.MaxUnavailable.IsNull() {
		ro.MaxUnavailable = int(m.MaxUnavailable.ValueInt64())
	}
	if !m.Steps.IsNull() {
		var steps []rolloutStepModel
		diags.Append(m.Steps.ElementsAs(ctx, &steps, false)...)
		ro.Steps = []fleet.RolloutStep{}
		for _, s := range steps {
			ro.Steps = append(ro.Steps, fleet.RolloutStep{Devices: int(s.Devices.ValueInt64()), Percent: s.Percent.ValueFloat64(),
				BakeSeconds: intPtr(s.BakeSeconds)})
		}
	}
	ro.StepFailures = threshold(ctx, m.StepFailures, diags)
	ro.TotalFailures = threshold(ctx, m.TotalFailures, diags)
	if !m.Health.IsNull() {
		var h healthModel
		diags.Append(m.Health.As(ctx, &h, basetypes.ObjectAsOptions{})...)
		ro.Health = &fleet.HealthValue{Key: h.Key.ValueString(), Min: floatPtr(h.Min), Max: floatPtr(h.Max),
			MaxAgeSeconds: int(h.MaxAgeSeconds.ValueInt64())}
	}
	return ro, !diags.HasError()
}

func threshold(ctx context.Context, o types.Object, diags *diag.Diagnostics) fleet.FailureThreshold {
	if o.IsNull() || o.IsUnknown() {
		return fleet.FailureThreshold{}
	}
	var t thresholdModel
	diags.Append(o.As(ctx, &t, basetypes.ObjectAsOptions{})...)
	return fleet.FailureThreshold{Count: int(t.Count.ValueInt64()), Percent: t.Percent.ValueFloat64()}
}

func intPtr(v types.Int64) *int {
	if v.IsNull() || v.IsUnknown() {
		return nil
	}
	i := int(v.ValueInt64())
	return &i
}

func floatPtr(v types.Float64) *float64 {
	if v.IsNull() || v.IsUnknown() {
		return nil
	}
	f := v.ValueFloat64()
	return &f
}

// rolloutValue is the rollout object for what the gateway holds (r, after
// fleet's SetDefaults), keeping an attribute null where prior (the plan or
// the state) has it null and the gateway's value is what null means: an
// unset attribute never shows a diff.
func rolloutValue(ctx context.Context, r fleet.Rollout, prior types.Object) types.Object {
	var p rolloutModel
	if !prior.IsNull() && !prior.IsUnknown() {
		prior.As(ctx, &p, basetypes.ObjectAsOptions{UnhandledNullAsEmpty: true, UnhandledUnknownAsEmpty: true})
	} else {
		p = rolloutModel{Steps: types.ListNull(types.ObjectType{AttrTypes: stepTypes}), Canary: types.MapNull(types.StringType),
			StepFailures: types.ObjectNull(thresholdTypes), TotalFailures: types.ObjectNull(thresholdTypes), Health: types.ObjectNull(healthTypes)}
	}
	maxU := int64(r.MaxUnavailable)
	if maxU == 0 {
		maxU = 1
	}
	stepType := types.ObjectType{AttrTypes: stepTypes}
	steps := types.ListNull(stepType)
	if len(r.Steps) > 0 || (!p.Steps.IsNull() && !p.Steps.IsUnknown()) {
		var priorSteps []rolloutStepModel
		if !p.Steps.IsNull() && !p.Steps.IsUnknown() {
			p.Steps.ElementsAs(ctx, &priorSteps, false)
		}
		var elems []attr.Value
		for i, s := range r.Steps {
			var ps rolloutStepModel
			if i < len(priorSteps) {
				ps = priorSteps[i]
			} else {
				ps = rolloutStepModel{Devices: types.Int64Null(), Percent: types.Float64Null(), BakeSeconds: types.Int64Null()}
			}
			elems = append(elems, types.ObjectValueMust(stepTypes, map[string]attr.Value{
				"devices": int64OrNull(int64(s.Devices), ps.Devices), "percent": float64OrNull(s.Percent, ps.Percent),
				"bake_seconds": intPtrValue(s.BakeSeconds)}))
		}
		steps = types.ListValueMust(stepType, elems)
		if len(elems) == 0 {
			steps = types.ListValueMust(stepType, []attr.Value{})
		}
	}
	onFailure := types.StringValue(r.OnFailure)
	if r.OnFailure == "" || (p.OnFailure.IsNull() && r.OnFailure == fleet.OnFailureRollback) {
		onFailure = types.StringNull()
	}
	health := types.ObjectNull(healthTypes)
	if h := r.Health; h != nil {
		var ph healthModel
		if !p.Health.IsNull() && !p.Health.IsUnknown() {
			p.Health.As(ctx, &ph, basetypes.ObjectAsOptions{})
		} else {
			ph.MaxAgeSeconds = types.Int64Null()
		}
		health = types.ObjectValueMust(healthTypes, map[string]attr.Value{"key": types.StringValue(h.Key),
			"min": floatPtrValue(h.Min), "max": floatPtrValue(h.Max), "max_age_seconds": int64OrNull(int64(h.MaxAgeSeconds), ph.MaxAgeSeconds)})
	}
	return types.ObjectValueMust(rolloutTypes, map[string]attr.Value{
		"strategy": types.StringValue(r.Strategy), "max_unavailable": types.Int64Value(maxU),
		"min_ready_seconds": types.Int64Value(int64(r.MinReadySeconds)), "steps": steps, "canary": mapValue(r.Canary, p.Canary),
		"bake_seconds": intPtrValue(r.BakeSeconds), "step_failures": thresholdValue(ctx, r.StepFailures, p.StepFailures),
		"total_failures": thresholdValue(ctx, r.TotalFailures, p.TotalFailures), "health": health, "on_failure": onFailure,
	})
}

func thresholdValue(ctx context.Context, t fleet.FailureThreshold, prior types.Object) types.Object {
	if t == (fleet.FailureThreshold{}) && (prior.IsNull() || prior.IsUnknown()) {
		return types.ObjectNull(thresholdTypes)
	}
	var p thresholdModel
	if !prior.IsNull() && !prior.IsUnknown() {
		prior.As(ctx, &p, basetypes.ObjectAsOptions{})
	} else {
		p = thresholdModel{Count: types.Int64Null(), Percent: types.Float64Null()}
	}
	return types.ObjectValueMust(thresholdTypes, map[string]attr.Value{
		"count": int64OrNull(int64(t.Count), p.Count), "percent": float64OrNull(t.Percent, p.Percent)})
}

// int64OrNull is v, or null when v is zero and prior is null.
func int64OrNull(v int64, prior types.Int64) types.Int64 {
	if v == 0 && (prior.IsNull() || prior.IsUnknown()) {
		return types.Int64Null()
	}
	return types.Int64Value(v)
}

func float64OrNull(v float64, prior types.Float64) types.Float64 {
	if v == 0 && (prior.IsNull() || prior.IsUnknown()) {
		return types.Float64Null()
	}
	return types.Float64Value(v)
}

func intPtrValue(v *int) types.Int64 {
	if v == nil {
		return types.Int64Null()
	}
	return types.Int64Value(int64(*v))
}

func floatPtrValue(v *float64) types.Float64 {
	if v == nil || math.IsNaN(*v) {
		return types.Float64Null()
	}
	return types.Float64Value(*v)
}

// validRollout checks the rollout policy at validate time with fleet's own
// SetDefaults and Validate (what the gateway runs on PUT), so a policy
// that passes plan is one the gateway accepts.
type validRollout struct{}

func (validRollout) Description(context.Context) string {
	return "the rollout policy is valid (steps, thresholds, health gate, on_failure)"
}
func (v validRollout) MarkdownDescription(ctx context.Context) string { return v.Description(ctx) }
func (validRollout) ValidateResource(ctx context.Context, req resource.ValidateConfigRequest, resp *resource.ValidateConfigResponse) {
	var obj types.Object
	resp.Diagnostics.Append(req.Config.GetAttribute(ctx, path.Root("rollout"), &obj)...)
	if resp.Diagnostics.HasError() || obj.IsNull() || obj.IsUnknown() {
		return
	}
	ro, known := rolloutPolicy(ctx, obj, &resp.Diagnostics)
	if !known {
		return
	}
	ro.SetDefaults()
	if err := ro.Validate(); err != nil {
		for _, line := range strings.Split(err.Error(), "\n") {
			resp.Diagnostics.AddAttributeError(path.Root("rollout"), "Invalid rollout policy", line)
		}
	}
}
