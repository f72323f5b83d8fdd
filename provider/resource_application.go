package provider

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-timeouts/resource/timeouts"
	"github.com/hashicorp/terraform-plugin-framework-validators/int64validator"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/booldefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/int64default"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/objectdefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringdefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-framework/types/basetypes"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/wasmbed/wasmbed/board"
	"github.com/wasmbed/wasmbed/fleet"
	"github.com/wasmbed/wasmbed/gateway/apiv1"
)

// applicationResource is wasmbed_application: a WASM module version, where
// it runs and how it rolls out.
type applicationResource struct{ backend Backend }

var (
	_ resource.ResourceWithConfigure        = (*applicationResource)(nil)
	_ resource.ResourceWithImportState      = (*applicationResource)(nil)
	_ resource.ResourceWithModifyPlan       = (*applicationResource)(nil)
	_ resource.ResourceWithConfigValidators = (*applicationResource)(nil)
)

func NewApplicationResource() resource.Resource { return &applicationResource{} }

type applicationModel struct {
	ID             types.String   `tfsdk:"id"`
	Name           types.String   `tfsdk:"name"`
	Version        types.String   `tfsdk:"version"`
	ModulePath     types.String   `tfsdk:"module_path"`
	ModuleBase64   types.String   `tfsdk:"module_base64"`
	ModuleSHA256   types.String   `tfsdk:"module_sha256"`
	Config         types.Map      `tfsdk:"config"`
	Limits         types.Object   `tfsdk:"limits"`
	Selector       types.Object   `tfsdk:"selector"`
	Rollout        types.Object   `tfsdk:"rollout"`
	Running        types.Bool     `tfsdk:"running"`
	WaitForRollout types.Bool     `tfsdk:"wait_for_rollout"`
	Generation     types.Int64    `tfsdk:"generation"`
	Timeouts       timeouts.Value `tfsdk:"timeouts"`
}

type limitsModel struct {
	Fuel   types.Int64 `tfsdk:"fuel"`
	Memory types.Int64 `tfsdk:"memory"`
	TickMS types.Int64 `tfsdk:"tick_ms"`
}

type selectorModel struct {
	Labels types.Map  `tfsdk:"labels"`
	Boards types.List `tfsdk:"boards"`
}

type rolloutModel struct {
	Strategy        types.String `tfsdk:"strategy"`
	MaxUnavailable  types.Int64  `tfsdk:"max_unavailable"`
	MinReadySeconds types.Int64  `tfsdk:"min_ready_seconds"`
}

var (
	limitsTypes   = map[string]attr.Type{"fuel": types.Int64Type, "memory": types.Int64Type, "tick_ms": types.Int64Type}
	selectorTypes = map[string]attr.Type{"labels": types.MapType{ElemType: types.StringType}, "boards": types.ListType{ElemType: types.StringType}}
	rolloutTypes  = map[string]attr.Type{"strategy": types.StringType, "max_unavailable": types.Int64Type, "min_ready_seconds": types.Int64Type}
)

func (r *applicationResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_application"
}

func (r *applicationResource) Schema(ctx context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	resp.Schema = schema.Schema{
		Description: "A WebAssembly application: a module version, its config and limits, the devices it runs on (a label and board selector) and how a new version rolls out. " +
			"The module is checked against every board it can land on at plan time. Apply waits until the rollout converges (or its timeout passes) and reports devices that failed.",
		Attributes: map[string]schema.Attribute{
			"id": schema.StringAttribute{Computed: true, Description: "The application name.",
				PlanModifiers: []planmodifier.String{stringplanmodifier.UseStateForUnknown()}},
			"name": schema.StringAttribute{Required: true, Validators: nameValidators, Description: "Application name.",
				PlanModifiers: []planmodifier.String{stringplanmodifier.RequiresReplace()}},
			"version":     schema.StringAttribute{Required: true, Validators: versionValidators, Description: "Version of the module, as devices report it."},
			"module_path": schema.StringAttribute{Optional: true, Description: "Path of the `.wasm` file. Exactly one of `module_path` and `module_base64`."},
			"module_base64": schema.StringAttribute{Optional: true,
				Description: "The module's bytes, base64 (e.g. `filebase64(...)`). Exactly one of `module_path` and `module_base64`."},
			"module_sha256": schema.StringAttribute{Computed: true, Description: "sha256 (hex) of the module; a change of the file plans an update."},
			"config": schema.MapAttribute{Optional: true, ElementType: types.StringType,
				Description: "Configuration the app reads with `config_get`; at most 64 entries, values up to 256 bytes."},
			"limits": schema.SingleNestedAttribute{Optional: true, Computed: true,
				Description: "What the app may use on each device.",
				Default: objectdefault.StaticValue(types.ObjectValueMust(limitsTypes, map[string]attr.Value{
					"fuel": types.Int64Value(fleet.DefaultFuel), "memory": types.Int64Value(fleet.DefaultMemory), "tick_ms": types.Int64Value(fleet.DefaultTickMS)})),
				Attributes: map[string]schema.Attribute{
					"fuel": schema.Int64Attribute{Optional: true, Computed: true, Default: int64default.StaticInt64(fleet.DefaultFuel),
						Validators:  []validator.Int64{int64validator.AtLeast(1)},
						Description: "Fuel (instructions) per init or tick call; at most what each board the application lands on runs within its watchdog (checked at plan; see the board table in docs/abi.md)."},
					"memory": schema.Int64Attribute{Optional: true, Computed: true, Default: int64default.StaticInt64(fleet.DefaultMemory),
						Validators: []validator.Int64{int64validator.Between(1, 1<<32-1)}, Description: "Bytes of linear memory."},
					"tick_ms": schema.Int64Attribute{Optional: true, Computed: true, Default: int64default.StaticInt64(fleet.DefaultTickMS),
						Validators: []validator.Int64{int64validator.Between(1, 1<<32-1)}, Description: "Period of the tick export, milliseconds."},
				}},
			"selector": schema.SingleNestedAttribute{Required: true,
				Description: "The devices the application runs on: all `labels` must match and, if `boards` is set, the device's board must be one of them.",
				Attributes: map[string]schema.Attribute{
					"labels": schema.MapAttribute{Optional: true, ElementType: types.StringType, Description: "Labels a device must have."},
					"boards": schema.ListAttribute{Optional: true, ElementType: types.StringType, Description: "Boards allowed; empty: any.",
						Validators: nil},
				}},
			"rollout": schema.SingleNestedAttribute{Optional: true, Computed: true,
				Description: "How a new version reaches the devices.",
				Default: objectdefault.StaticValue(types.ObjectValueMust(rolloutTypes, map[string]attr.Value{
					"strategy": types.StringValue(fleet.RolloutAllAtOnce), "max_unavailable": types.Int64Value(1), "min_ready_seconds": types.Int64Value(0)})),
				Attributes: map[string]schema.Attribute{
					"strategy": schema.StringAttribute{Optional: true, Computed: true, Default: stringdefault.StaticString(fleet.RolloutAllAtOnce),
						Validators:  []validator.String{stringvalidator.OneOf(fleet.RolloutAllAtOnce, fleet.RolloutBatched)},
						Description: "`all_at_once`, or `batched`: at most `max_unavailable` devices updating (or failed) at a time; a failure halts the rollout."},
					"max_unavailable": schema.Int64Attribute{Optional: true, Computed: true, Default: int64default.StaticInt64(1),
						Validators: []validator.Int64{int64validator.AtLeast(1)}, Description: "Batched: devices updating at once."},
					"min_ready_seconds": schema.Int64Attribute{Optional: true, Computed: true, Default: int64default.StaticInt64(0),
						Validators:  []validator.Int64{int64validator.AtLeast(0)},
						Description: "How long the app must run on a device before it counts as updated; 0: two ticks, at least 1 s."},
				}},
			"running": schema.BoolAttribute{Optional: true, Computed: true, Default: booldefault.StaticBool(true),
				Description: "Run the app (true) or keep it installed and stopped."},
			"wait_for_rollout": schema.BoolAttribute{Optional: true, Computed: true, Default: booldefault.StaticBool(true),
				Description: "Wait on apply until every selected device runs this version, failing with the devices that did not."},
			"generation": schema.Int64Attribute{Computed: true, Description: "Bumped by the gateway on every change of the spec."},
			"timeouts":   timeouts.Attributes(ctx, timeouts.Opts{Create: true, Update: true, Delete: true}),
		},
	}
}

func (r *applicationResource) ConfigValidators(context.Context) []resource.ConfigValidator {
	return []resource.ConfigValidator{exactlyOneModule{}}
}

// exactlyOneModule requires one of module_path and module_base64.
type exactlyOneModule struct{}

func (exactlyOneModule) Description(context.Context) string {
	return "exactly one of module_path and module_base64 must be set"
}
func (v exactlyOneModule) MarkdownDescription(ctx context.Context) string { return v.Description(ctx) }
func (exactlyOneModule) ValidateResource(ctx context.Context, req resource.ValidateConfigRequest, resp *resource.ValidateConfigResponse) {
	var p, b types.String
	req.Config.GetAttribute(ctx, path.Root("module_path"), &p)
	req.Config.GetAttribute(ctx, path.Root("module_base64"), &b)
	if p.IsUnknown() || b.IsUnknown() {
		return
	}
	if p.IsNull() == b.IsNull() {
		resp.Diagnostics.AddAttributeError(path.Root("module_path"), "Module not given once",
			"Set exactly one of module_path (a .wasm file) and module_base64.")
	}
}

func (r *applicationResource) Configure(_ context.Context, req resource.ConfigureRequest, resp *resource.ConfigureResponse) {
	r.backend = backendFrom(req.ProviderData, &resp.Diagnostics)
}

// moduleBytes reads the module the configuration names; ok is false while a
// value is unknown.
func moduleBytes(m *applicationModel, diags *diag.Diagnostics) (wasm []byte, ok bool) {
	switch {
	case m.ModulePath.IsUnknown() || m.ModuleBase64.IsUnknown():
		return nil, false
	case !m.ModulePath.IsNull():
		b, err := os.ReadFile(m.ModulePath.ValueString())
		if err != nil {
			diags.AddAttributeError(path.Root("module_path"), "Cannot read module", err.Error())
			return nil, false
		}
		return b, true
	case !m.ModuleBase64.IsNull():
		b, err := base64.StdEncoding.DecodeString(m.ModuleBase64.ValueString())
		if err != nil {
			diags.AddAttributeError(path.Root("module_base64"), "Invalid base64", err.Error())
			return nil, false
		}
		return b, true
	}
	return nil, false
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// spec turns the model into the API's body (module by sha256).
func (m *applicationModel) spec(ctx context.Context, sha string, diags *diag.Diagnostics) apiv1.ApplicationSpec {
	var lim limitsModel
	var sel selectorModel
	var ro rolloutModel
	opts := basetypes.ObjectAsOptions{UnhandledNullAsEmpty: true, UnhandledUnknownAsEmpty: true}
	diags.Append(m.Limits.As(ctx, &lim, opts)...)
	diags.Append(m.Selector.As(ctx, &sel, opts)...)
	diags.Append(m.Rollout.As(ctx, &ro, opts)...)
	running := m.Running.ValueBool()
	return apiv1.ApplicationSpec{
		Version: m.Version.ValueString(), SHA256: sha, Config: stringMap(ctx, m.Config, diags),
		Limits:   fleet.Limits{Fuel: uint64(lim.Fuel.ValueInt64()), Memory: uint32(lim.Memory.ValueInt64()), TickMS: uint32(lim.TickMS.ValueInt64())},
		Selector: fleet.Selector{Labels: stringMap(ctx, sel.Labels, diags), Boards: stringList(ctx, sel.Boards, diags)},
		Rollout: fleet.Rollout{Strategy: ro.Strategy.ValueString(), MaxUnavailable: int(ro.MaxUnavailable.ValueInt64()),
			MinReadySeconds: int(ro.MinReadySeconds.ValueInt64())},
		Running: &running,
	}
}

// fill copies what the gateway holds into the model (the module source
// attributes stay as configured).
func (m *applicationModel) fill(a *fleet.Application) {
	m.ID, m.Name, m.Version = types.StringValue(a.Name), types.StringValue(a.Name), types.StringValue(a.Version)
	m.ModuleSHA256 = types.StringValue(a.SHA256)
	m.Config = mapValue(a.Config, m.Config)
	m.Limits = types.ObjectValueMust(limitsTypes, map[string]attr.Value{"fuel": types.Int64Value(int64(a.Limits.Fuel)),
		"memory": types.Int64Value(int64(a.Limits.Memory)), "tick_ms": types.Int64Value(int64(a.Limits.TickMS))})
	var priorSel selectorModel
	if !m.Selector.IsNull() && !m.Selector.IsUnknown() {
		m.Selector.As(context.Background(), &priorSel, basetypes.ObjectAsOptions{})
	} else {
		priorSel = selectorModel{Labels: types.MapNull(types.StringType), Boards: types.ListNull(types.StringType)}
	}
	m.Selector = types.ObjectValueMust(selectorTypes, map[string]attr.Value{
		"labels": mapValue(a.Selector.Labels, priorSel.Labels), "boards": listValue(a.Selector.Boards, priorSel.Boards)})
	maxU := int64(a.Rollout.MaxUnavailable)
	if maxU == 0 {
		maxU = 1
	}
	m.Rollout = types.ObjectValueMust(rolloutTypes, map[string]attr.Value{"strategy": types.StringValue(a.Rollout.Strategy),
		"max_unavailable": types.Int64Value(maxU), "min_ready_seconds": types.Int64Value(int64(a.Rollout.MinReadySeconds))})
	m.Running = types.BoolValue(a.Running)
	m.Generation = types.Int64Value(a.Generation)
	if m.WaitForRollout.IsNull() || m.WaitForRollout.IsUnknown() {
		m.WaitForRollout = types.BoolValue(true)
	}
}

// ModifyPlan computes the module's sha256 (so a changed file plans an
// update) and refuses, at plan time, a module that cannot run on a board the
// application would land on.
func (r *applicationResource) ModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	if req.Plan.Raw.IsNull() {
		return // destroy
	}
	var m applicationModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	wasm, ok := moduleBytes(&m, &resp.Diagnostics)
	if !ok {
		return
	}
	sha := sha256Hex(wasm)
	resp.Diagnostics.Append(resp.Plan.SetAttribute(ctx, path.Root("module_sha256"), sha)...)
	if !req.State.Raw.IsNull() {
		var prior applicationModel
		resp.Diagnostics.Append(req.State.Get(ctx, &prior)...)
		if prior.ModuleSHA256.ValueString() != sha {
			resp.Diagnostics.Append(resp.Plan.SetAttribute(ctx, path.Root("generation"), types.Int64Unknown())...)
		}
	}
	if r.backend == nil || m.Selector.IsUnknown() || m.Limits.IsUnknown() {
		return
	}
	spec := m.spec(ctx, sha, &resp.Diagnostics)
	if resp.Diagnostics.HasError() {
		return
	}
	_, err := r.backend.CheckModule(ctx, apiv1.CheckRequest{Module: wasm, Selector: spec.Selector, Limits: spec.Limits})
	var apiErr *apiv1.Error
	switch {
	case errors.As(err, &apiErr) && apiErr.Board != "" && overFuel(apiErr.Board, spec.Limits.Fuel):
		// The gateway's check refused the limit, not the module.
		resp.Diagnostics.AddAttributeError(path.Root("limits").AtName("fuel"), "Fuel limit too high for board "+apiErr.Board,
			fmt.Sprintf("Application %s would land on board %s: %s", m.Name.ValueString(), apiErr.Board,
				strings.TrimPrefix(apiErr.Message, "module cannot run on board "+apiErr.Board+": ")))
	case errors.As(err, &apiErr) && apiErr.Board != "":
		resp.Diagnostics.AddAttributeError(modulePathOf(&m), "Module cannot run on board "+apiErr.Board,
			fmt.Sprintf("Application %s would land on board %s, which cannot run this module: %s", m.Name.ValueString(), apiErr.Board, apiErr.Message))
	case err != nil:
		resp.Diagnostics.AddError("Cannot check the module", err.Error())
	}
}

func modulePathOf(m *applicationModel) path.Path {
	if !m.ModuleBase64.IsNull() {
		return path.Root("module_base64")
	}
	return path.Root("module_path")
}

// overFuel reports whether fuel exceeds what the board's firmware runs per
// call (board.Profile.MaxFuel).
func overFuel(boardName string, fuel uint64) bool {
	p, ok := board.Lookup(boardName)
	return ok && p.MaxFuel != 0 && fuel > p.MaxFuel
}

func (r *applicationResource) apply(ctx context.Context, m *applicationModel, timeout time.Duration, diags *diag.Diagnostics) {
	wasm, ok := moduleBytes(m, diags)
	if !ok {
		if !diags.HasError() {
			diags.AddError("Module unknown at apply", "module_path or module_base64 has no value")
		}
		return
	}
	if planned := m.ModuleSHA256.ValueString(); planned != "" && planned != sha256Hex(wasm) {
		diags.AddAttributeError(modulePathOf(m), "Module changed since plan",
			"The module's sha256 is "+sha256Hex(wasm)+", the plan has "+planned+": plan again.")
		return
	}
	mod, err := r.backend.UploadModule(ctx, wasm)
	if err != nil {
		apiError(diags, "Cannot upload the module", err)
		return
	}
	spec := m.spec(ctx, mod.SHA256, diags)
	if diags.HasError() {
		return
	}
	name := m.Name.ValueString()
	a, err := r.backend.PutApplication(ctx, name, spec)
	if err != nil {
		apiError(diags, "Cannot write application "+name, err)
		return
	}
	m.fill(&a)
	if m.WaitForRollout.ValueBool() {
		r.waitRollout(ctx, name, a.Generation, timeout, diags)
	}
}

// waitRollout polls the rollout until every selected device runs the
// current spec, a device fails, or timeout passes.
func (r *applicationResource) waitRollout(ctx context.Context, name string, gen int64, timeout time.Duration, diags *diag.Diagnostics) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var st apiv1.ApplicationStatus
	var err error
	lastLog := time.Time{}
	for {
		st, err = r.backend.ApplicationStatus(ctx, name)
		if err == nil {
			if st.Converged && st.Generation >= gen {
				tflog.Info(ctx, "rollout converged", map[string]any{"application": name, "devices": st.Updated})
				return
			}
			if st.Failed > 0 {
				diags.AddError("Rollout of "+name+" failed on "+fmt.Sprint(st.Failed)+" device(s)", describeRollout(&st))
				return
			}
			if time.Since(lastLog) > 5*time.Second {
				tflog.Info(ctx, "waiting for rollout", map[string]any{"application": name, "updated": st.Updated,
					"in_progress": st.InProgress, "selected": st.Selected})
				lastLog = time.Now()
			}
		}
		select {
		case <-ctx.Done():
			msg := "The rollout did not converge within the timeout."
			if err != nil {
				msg += " Last error: " + err.Error()
			} else {
				msg += "\n" + describeRollout(&st)
			}
			diags.AddError("Rollout of "+name+" timed out", msg)
			return
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// describeRollout lists the devices that are not running the current spec.
func describeRollout(st *apiv1.ApplicationStatus) string {
	var lines []string
	for _, d := range st.Devices {
		if d.Current && (d.State == "running" || d.State == "installed" || d.State == "stopped") {
			continue
		}
		line := fmt.Sprintf("%s: %s", d.Device, d.State)
		if !d.Online {
			line += " (offline)"
		}
		if d.Detail != "" {
			line += ": " + d.Detail
		}
		lines = append(lines, line)
	}
	sort.Strings(lines)
	return fmt.Sprintf("%d of %d selected devices updated. Not updated:\n  %s", st.Updated, st.Selected, strings.Join(lines, "\n  "))
}

func (r *applicationResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var m applicationModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	timeout, d := m.Timeouts.Create(ctx, 10*time.Minute)
	resp.Diagnostics.Append(d...)
	if _, err := r.backend.GetApplication(ctx, m.Name.ValueString()); err == nil {
		resp.Diagnostics.AddAttributeError(path.Root("name"), "Application already exists",
			"An application named "+m.Name.ValueString()+" exists: import it (terraform import) instead.")
		return
	}
	r.apply(ctx, &m, timeout, &resp.Diagnostics)
	if !m.Generation.IsUnknown() && !m.ID.IsUnknown() {
		// Saved even when the rollout failed: the application exists.
		resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
	}
}

func (r *applicationResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var m applicationModel
	resp.Diagnostics.Append(req.State.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	a, err := r.backend.GetApplication(ctx, m.ID.ValueString())
	if isNotFound(err) {
		resp.State.RemoveResource(ctx)
		return
	}
	if err != nil {
		apiError(&resp.Diagnostics, "Cannot read application "+m.ID.ValueString(), err)
		return
	}
	m.fill(&a)
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

func (r *applicationResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	var m applicationModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	timeout, d := m.Timeouts.Update(ctx, 10*time.Minute)
	resp.Diagnostics.Append(d...)
	r.apply(ctx, &m, timeout, &resp.Diagnostics)
	if !m.Generation.IsUnknown() {
		resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
	}
}

// Delete removes the application and waits (up to the delete timeout) until
// the devices confirm; devices still holding it then (offline ones) get a
// warning: they remove it when they reconnect.
func (r *applicationResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var m applicationModel
	resp.Diagnostics.Append(req.State.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	timeout, d := m.Timeouts.Delete(ctx, 2*time.Minute)
	resp.Diagnostics.Append(d...)
	name := m.ID.ValueString()
	if err := r.backend.DeleteApplication(ctx, name); err != nil && !isNotFound(err) {
		apiError(&resp.Diagnostics, "Cannot delete application "+name, err)
		return
	}
	deadline := time.Now().Add(timeout)
	for {
		deps, err := r.backend.Deployments(ctx, name, "")
		if err == nil && len(deps) == 0 {
			return
		}
		if time.Now().After(deadline) {
			var devs []string
			for _, d := range deps {
				devs = append(devs, d.Device)
			}
			resp.Diagnostics.AddWarning("Application still on some devices",
				fmt.Sprintf("%s was deleted; %d device(s) have not confirmed removing it yet (they will when they reconnect): %s",
					name, len(devs), strings.Join(devs, ", ")))
			return
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func (r *applicationResource) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("id"), req.ID)...)
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("name"), req.ID)...)
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("wait_for_rollout"), true)...)
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("timeouts"),
		timeouts.Value{Object: types.ObjectNull(map[string]attr.Type{"create": types.StringType, "update": types.StringType, "delete": types.StringType})})...)
}
