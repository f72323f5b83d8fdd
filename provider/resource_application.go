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
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/booldefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/int64default"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/objectdefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/tfsdk"
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

var (
	limitsTypes   = map[string]attr.Type{"fuel": types.Int64Type, "memory": types.Int64Type, "tick_ms": types.Int64Type}
	selectorTypes = map[string]attr.Type{"labels": types.MapType{ElemType: types.StringType}, "boards": types.ListType{ElemType: types.StringType}}
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
			"version": schema.StringAttribute{Required: true, Validators: versionValidators,
				Description: "Version of the module, as devices report it. After a progressive rollout that did not complete (rolled back, paused, or still under way), " +
					"the state holds the version the devices were brought to (the last one that passed), so the next plan shows the update as pending."},
			"module_path": schema.StringAttribute{Optional: true, WriteOnly: true,
				Description: "Path of the `.wasm` file. Exactly one of `module_path` and `module_base64`. Write-only: the module is known by `module_sha256`, " +
					"so a changed file plans an update, a moved one with the same bytes does not, and the plan after an import is empty."},
			"module_base64": schema.StringAttribute{Optional: true, WriteOnly: true,
				Description: "The module's bytes, base64 (e.g. `filebase64(...)`). Exactly one of `module_path` and `module_base64`. Write-only, like `module_path`."},
			"module_sha256": schema.StringAttribute{Computed: true,
				Description: "sha256 (hex) of the module; a change of the file plans an update. Like `version`, the module the devices were brought to: " +
					"the last one that passed while a progressive rollout has not completed (empty when no version passed yet)."},
			"config": schema.MapAttribute{Optional: true, ElementType: types.StringType,
				Description: "Configuration the app reads with `config_get`; at most 64 entries, values up to 256 bytes. Default: none."},
			"limits": schema.SingleNestedAttribute{Optional: true, Computed: true,
				Description: "What the app may use on each device. Default: the defaults of its attributes.",
				Default: objectdefault.StaticValue(types.ObjectValueMust(limitsTypes, map[string]attr.Value{
					"fuel": types.Int64Value(fleet.DefaultFuel), "memory": types.Int64Value(fleet.DefaultMemory), "tick_ms": types.Int64Value(fleet.DefaultTickMS)})),
				Attributes: map[string]schema.Attribute{
					"fuel": schema.Int64Attribute{Optional: true, Computed: true, Default: int64default.StaticInt64(fleet.DefaultFuel),
						Validators:  []validator.Int64{int64validator.AtLeast(1)},
						Description: "Fuel (instructions) per init or tick call; at most what each board the application lands on runs within its watchdog (checked at plan; see the board table in docs/abi.md). Default: 250000."},
					"memory": schema.Int64Attribute{Optional: true, Computed: true, Default: int64default.StaticInt64(fleet.DefaultMemory),
						Validators: []validator.Int64{int64validator.Between(1, 1<<32-1)}, Description: "Bytes of linear memory. Default: 65536."},
					"tick_ms": schema.Int64Attribute{Optional: true, Computed: true, Default: int64default.StaticInt64(fleet.DefaultTickMS),
						Validators: []validator.Int64{int64validator.Between(1, 1<<32-1)}, Description: "Period of the tick export, milliseconds. Default: 1000."},
				}},
			"selector": schema.SingleNestedAttribute{Required: true,
				Description: "The devices the application runs on: all `labels` must match and, if `boards` is set, the device's board must be one of them.",
				Attributes: map[string]schema.Attribute{
					"labels": schema.MapAttribute{Optional: true, ElementType: types.StringType, Validators: labelValidators,
						Description: "Labels a device must have (checked at plan like device labels). Default: none (any labels)."},
					"boards": schema.ListAttribute{Optional: true, ElementType: types.StringType, Description: "Boards allowed. Default: none (any board).",
						Validators: nil},
				}},
			"rollout": rolloutSchema(),
			"running": schema.BoolAttribute{Optional: true, Computed: true, Default: booldefault.StaticBool(true),
				Description: "Run the app (true) or keep it installed and stopped (false). Default: true."},
			"wait_for_rollout": schema.BoolAttribute{Optional: true, Computed: true, Default: booldefault.StaticBool(true),
				Description: "Wait on apply until every selected device runs this version (with `rollout.steps`: until the rollout completes), " +
					"logging its progress, and fail with the step, the devices and why when it rolls back, pauses or fails. Default true."},
			"generation": schema.Int64Attribute{Computed: true, Description: "Bumped by the gateway on every change of the spec."},
			"timeouts": timeouts.Attributes(ctx, timeouts.Opts{Create: true, Update: true, Delete: true,
				CreateDescription: "How long apply waits for the first rollout (a duration such as `30s` or `10m`). Default: `10m`.",
				UpdateDescription: "How long apply waits for the rollout of an update. Default: `10m`.",
				DeleteDescription: "How long destroy waits for the devices to confirm removing the app. Default: `2m`."}),
		},
	}
}

func (r *applicationResource) ConfigValidators(context.Context) []resource.ConfigValidator {
	return []resource.ConfigValidator{exactlyOneModule{}, validRollout{}}
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

// moduleSource copies the write-only module_path and module_base64 from the
// configuration into m (a plan holds them null).
func moduleSource(ctx context.Context, config tfsdk.Config, m *applicationModel, diags *diag.Diagnostics) {
	diags.Append(config.GetAttribute(ctx, path.Root("module_path"), &m.ModulePath)...)
	diags.Append(config.GetAttribute(ctx, path.Root("module_base64"), &m.ModuleBase64)...)
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
	opts := basetypes.ObjectAsOptions{UnhandledNullAsEmpty: true, UnhandledUnknownAsEmpty: true}
	diags.Append(m.Limits.As(ctx, &lim, opts)...)
	diags.Append(m.Selector.As(ctx, &sel, opts)...)
	ro, _ := rolloutPolicy(ctx, m.Rollout, diags)
	running := m.Running.ValueBool()
	return apiv1.ApplicationSpec{
		Version: m.Version.ValueString(), SHA256: sha, Config: stringMap(ctx, m.Config, diags),
		Limits:   fleet.Limits{Fuel: uint64(lim.Fuel.ValueInt64()), Memory: uint32(lim.Memory.ValueInt64()), TickMS: uint32(lim.TickMS.ValueInt64())},
		Selector: fleet.Selector{Labels: stringMap(ctx, sel.Labels, diags), Boards: stringList(ctx, sel.Boards, diags)},
		Rollout:  ro,
		Running:  &running,
	}
}

// fill copies what the gateway holds into the model (the module source
// attributes stay as configured). With deployed, the version, module,
// config and limits are those the devices were brought to by a rollout
// that passed (deployedRelease): what the state must record after a
// rollout that did not complete, so the next plan shows the update again.
func (m *applicationModel) fill(ctx context.Context, a *fleet.Application, deployed bool) {
	rel := fleet.ReleaseOf(a)
	if deployed {
		rel = deployedRelease(a)
	}
	m.ID, m.Name, m.Version = types.StringValue(a.Name), types.StringValue(a.Name), types.StringValue(rel.Version)
	m.ModuleSHA256 = types.StringValue(rel.SHA256)
	m.Config = mapValue(rel.Config, m.Config)
	m.Limits = types.ObjectValueMust(limitsTypes, map[string]attr.Value{"fuel": types.Int64Value(int64(rel.Limits.Fuel)),
		"memory": types.Int64Value(int64(rel.Limits.Memory)), "tick_ms": types.Int64Value(int64(rel.Limits.TickMS))})
	var priorSel selectorModel
	if !m.Selector.IsNull() && !m.Selector.IsUnknown() {
		m.Selector.As(ctx, &priorSel, basetypes.ObjectAsOptions{})
	} else {
		priorSel = selectorModel{Labels: types.MapNull(types.StringType), Boards: types.ListNull(types.StringType)}
	}
	m.Selector = types.ObjectValueMust(selectorTypes, map[string]attr.Value{
		"labels": mapValue(a.Selector.Labels, priorSel.Labels), "boards": listValue(a.Selector.Boards, priorSel.Boards)})
	m.Rollout = rolloutValue(ctx, a.Rollout, m.Rollout)
	m.Running = types.BoolValue(a.Running)
	m.Generation = types.Int64Value(a.Generation)
	if m.WaitForRollout.IsNull() || m.WaitForRollout.IsUnknown() {
		m.WaitForRollout = types.BoolValue(true)
	}
}

// deployedRelease is the release of a that its selected devices were
// brought to: a's own spec, unless a progressive rollout of it has not
// completed (under way, paused or rolled back): then the last release that
// passed (a.Stable), or, for a first version that has not passed, a's spec
// without a module (sha256 ""): none is deployed everywhere yet.
func deployedRelease(a *fleet.Application) *fleet.Release {
	rel := fleet.ReleaseOf(a)
	if !a.Rollout.Progressive() {
		return rel
	}
	if p := a.CurrentProgress(); p != nil && p.Phase == fleet.RolloutCompleted {
		return rel
	}
	if a.Stable != nil {
		return a.Stable
	}
	rel.SHA256 = ""
	return rel
}

// ModifyPlan computes the module's sha256 (so a changed file plans an
// update) and refuses, at plan time, a module that cannot run on a board the
// application would land on.
func (r *applicationResource) ModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	ctx, end := startOp(ctx, "wasmbed_application", "plan")
	defer end(&resp.Diagnostics)
	if req.Plan.Raw.IsNull() {
		return // destroy
	}
	var m applicationModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &m)...)
	moduleSource(ctx, req.Config, &m, &resp.Diagnostics)
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

// apply uploads the module and writes the application, then (with
// wait_for_rollout) waits for its rollout. written tells whether the
// application was written (m then holds what the gateway answered); w is
// how the wait ended, for the caller to report.
func (r *applicationResource) apply(ctx context.Context, m *applicationModel, timeout time.Duration, diags *diag.Diagnostics) (written bool, w rolloutWait) {
	wasm, ok := moduleBytes(m, diags)
	if !ok {
		if !diags.HasError() {
			diags.AddError("Module unknown at apply", "module_path or module_base64 has no value")
		}
		return false, w
	}
	if planned := m.ModuleSHA256.ValueString(); planned != "" && planned != sha256Hex(wasm) {
		diags.AddAttributeError(modulePathOf(m), "Module changed since plan",
			"The module's sha256 is "+sha256Hex(wasm)+", the plan has "+planned+": plan again.")
		return false, w
	}
	mod, err := r.backend.UploadModule(ctx, wasm)
	if err != nil {
		apiError(diags, "Cannot upload the module", err)
		return false, w
	}
	spec := m.spec(ctx, mod.SHA256, diags)
	if diags.HasError() {
		return false, w
	}
	name := m.Name.ValueString()
	a, err := r.backend.PutApplication(ctx, name, spec)
	if err != nil {
		apiError(diags, "Cannot write application "+name, err)
		return false, w
	}
	if a.RolledBack() {
		// This very spec was rolled back before and the plan asks for it
		// again (the state records the version the devices went back to):
		// applying it retries it, from its first step.
		act, ok := r.backend.(rolloutActor)
		if !ok {
			diags.AddError("Cannot retry the rollout of "+name, "this backend has no rollout actions")
			return false, w
		}
		tflog.Info(ctx, "version "+a.Version+" of "+name+" was rolled back: retrying it from its first step", map[string]any{"application": name})
		if a, err = act.RolloutAction(ctx, name, fleet.ActionResume); err != nil {
			apiError(diags, "Cannot retry the rollout of "+name, err)
			return false, w
		}
	}
	m.fill(ctx, &a, false)
	if m.WaitForRollout.ValueBool() {
		w = r.waitRollout(ctx, name, a.Generation, spec.Rollout.Progressive(), timeout)
	}
	return true, w
}

// rolloutActor is a backend with the rollout actions (pause, resume, abort,
// promote): the standalone gateway's API.
type rolloutActor interface {
	RolloutAction(ctx context.Context, name, action string) (fleet.Application, error)
}

// rolloutEnd is how waiting for a rollout ended.
type rolloutEnd int

const (
	rolloutDone     rolloutEnd = iota // every selected device runs the spec (steps: the rollout completed)
	rolloutHalted                     // a progressive rollout rolled back or paused
	rolloutFailed                     // without steps: devices failed
	rolloutTimedOut                   // still under way at the timeout
)

// rolloutWait is the outcome of waitRollout: how it ended, and for any end
// but rolloutDone a summary and a detail naming the step, the devices and
// why, for a diagnostic.
type rolloutWait struct {
	end             rolloutEnd
	summary, detail string
	progress        *fleet.RolloutProgress // the last progress seen (steps)
}

// rolloutPoll is how often the wait reads the rollout's status, and
// rolloutLogEvery how often it logs progress that did not change.
var (
	rolloutPoll     = 250 * time.Millisecond
	rolloutLogEvery = 10 * time.Second
)

// waitRollout polls the rollout of the application's generation gen until
// it ends: every selected device runs it (with steps: the rollout
// completed), the rollout halts (steps: rolled back or paused; without:
// a device failed), or timeout passes. It logs the progress (step n of m,
// devices updated, failed) as it changes and every rolloutLogEvery.
func (r *applicationResource) waitRollout(ctx context.Context, name string, gen int64, progressive bool, timeout time.Duration) rolloutWait {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var st apiv1.ApplicationStatus
	var err error
	var lastLog time.Time
	lastLine := ""
	for {
		st, err = r.backend.ApplicationStatus(ctx, name)
		if err == nil && st.Generation >= gen {
			p := st.Rollout
			switch {
			case progressive && p != nil && p.Phase == fleet.RolloutCompleted && st.Converged:
				tflog.Info(ctx, "rollout completed", map[string]any{"application": name, "version": p.Version, "steps": p.Steps, "devices": p.Updated})
				return rolloutWait{end: rolloutDone, progress: p}
			case progressive && p != nil && p.Phase == fleet.RolloutCompleted && st.Failed > 0:
				// Completed, then devices failed (or devices selected
				// since, which take the version at once, did).
				return rolloutWait{end: rolloutFailed, progress: p, summary: "Rollout of " + name + " failed on " + fmt.Sprint(st.Failed) +
					" device(s) after it completed", detail: describeRollout(&st)}
			case progressive && p != nil && (p.Phase == fleet.RolloutRolledBack || p.Phase == fleet.RolloutPaused):
				return rolloutWait{end: rolloutHalted, progress: p, summary: haltSummary(name, p), detail: describeHalt(&st, p)}
			case !progressive && st.Converged:
				tflog.Info(ctx, "rollout converged", map[string]any{"application": name, "devices": st.Updated})
				return rolloutWait{end: rolloutDone}
			case !progressive && st.Failed > 0:
				return rolloutWait{end: rolloutFailed, summary: "Rollout of " + name + " failed on " + fmt.Sprint(st.Failed) + " device(s)",
					detail: describeRollout(&st)}
			}
			line := progressLine(&st, progressive)
			if line != lastLine || time.Since(lastLog) >= rolloutLogEvery {
				fields := map[string]any{"application": name, "version": st.Version, "selected": st.Selected, "updated": st.Updated,
					"in_progress": st.InProgress, "failed": st.Failed}
				if p != nil {
					fields["step"], fields["steps"], fields["step_target"] = p.Step, p.Steps, p.Target
				}
				tflog.Info(ctx, "rollout of "+name+": "+line, fields)
				lastLog, lastLine = time.Now(), line
			}
		}
		select {
		case <-ctx.Done():
			w := rolloutWait{end: rolloutTimedOut, summary: "Rollout of " + name + " timed out"}
			if err != nil {
				w.detail = "The rollout did not end within the timeout. Last error: " + err.Error()
				return w
			}
			w.progress = st.Rollout
			w.detail = "The rollout did not end within the timeout: " + progressLine(&st, progressive) + ".\n" + describeRollout(&st)
			return w
		case <-time.After(rolloutPoll):
		}
	}
}

// progressLine says where a rollout stands: "step 2 of 4 (up to 3
// devices): 2 of 6 devices updated, 0 failed".
func progressLine(st *apiv1.ApplicationStatus, progressive bool) string {
	p := st.Rollout
	switch {
	case progressive && p == nil:
		return fmt.Sprintf("version %s: rollout not started yet", st.Version)
	case progressive:
		s := fmt.Sprintf("version %s, step %d of %d (up to %d devices): %d of %d devices updated, %d failed",
			p.Version, p.Step, p.Steps, p.Target, p.Updated, p.Selected, p.Failed)
		if !p.BakeUntil.IsZero() {
			s += fmt.Sprintf(", baking until %s", p.BakeUntil.UTC().Format(time.TimeOnly))
		}
		return s
	}
	return fmt.Sprintf("version %s: %d of %d devices updated, %d in progress, %d failed", st.Version, st.Updated, st.Selected, st.InProgress, st.Failed)
}

func haltSummary(name string, p *fleet.RolloutProgress) string {
	what := "rolled back"
	if p.Phase == fleet.RolloutPaused {
		what = "paused"
	}
	return fmt.Sprintf("Rollout of %s version %s %s at step %d of %d", name, p.Version, what, p.Step, p.Steps)
}

// describeHalt tells why a progressive rollout halted, the failing devices
// with their step and reason, and where its devices are now.
func describeHalt(st *apiv1.ApplicationStatus, p *fleet.RolloutProgress) string {
	var b strings.Builder
	if p.Reason != "" {
		b.WriteString(p.Reason + ".\n")
	}
	var lines []string
	for _, f := range p.Failures {
		if !f.Accepted {
			lines = append(lines, fmt.Sprintf("%s (step %d): %s", f.Device, f.Step, f.Reason))
		}
	}
	sort.Strings(lines)
	if len(lines) > 20 {
		lines = append(lines[:20], fmt.Sprintf("and %d more", len(lines)-20))
	}
	if len(lines) > 0 {
		fmt.Fprintf(&b, "Failed devices:\n  %s\n", strings.Join(lines, "\n  "))
	}
	switch {
	case p.Phase == fleet.RolloutRolledBack && p.RolledBackTo != "":
		fmt.Fprintf(&b, "The devices that took version %s went back to version %s; devices that never got it were not touched.", p.Version, p.RolledBackTo)
	case p.Phase == fleet.RolloutRolledBack:
		fmt.Fprintf(&b, "No earlier version passed: the devices that took version %s removed it; devices that never got it were not touched.", p.Version)
	default:
		fmt.Fprintf(&b, "The devices that took version %s keep it; the others keep", p.Version)
		if st.StableVersion != "" {
			fmt.Fprintf(&b, " version %s.", st.StableVersion)
		} else {
			b.WriteString(" what they run.")
		}
		fmt.Fprintf(&b, " Resume (accepting these failures), promote or abort the rollout with POST /v1/applications/%s/rollout/{resume,promote,abort}.", st.Application)
	}
	return b.String()
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
	out := fmt.Sprintf("%d of %d selected devices updated.", st.Updated, st.Selected)
	if len(lines) > 0 {
		out += " Not updated:\n  " + strings.Join(lines, "\n  ")
	}
	return out
}

// Create writes the application and waits for its first rollout. Terraform
// taints every resource whose create returns an error with a state, and a
// tainted application would be deleted from every device that runs it on
// the next apply; so a first rollout that does not end well never leaves
// an errored state behind:
//   - halted (rolled back, or paused, by its steps' health gates): nothing
//     of it stays: no device runs it (a rolled-back first version was
//     removed from the devices that took it; a paused one is removed from
//     them now) and the application is deleted from the gateway; apply
//     fails, nothing is saved, and the next plan creates it again;
//   - timed out: the gateway keeps rolling it out; the state is saved with
//     a warning (not an error: it would taint), and with steps a refresh
//     records the module as not deployed everywhere (module_sha256 ""), so
//     the next plan shows the update pending and its apply waits again;
//   - failed on devices without steps: every selected device was sent the
//     version; apply fails and the state is saved (tainted): prefer steps.
func (r *applicationResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	ctx, end := startOp(ctx, "wasmbed_application", "create")
	defer end(&resp.Diagnostics)
	var m applicationModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &m)...)
	moduleSource(ctx, req.Config, &m, &resp.Diagnostics)
	if resp.Diagnostics.HasError() {
		return
	}
	timeout, d := m.Timeouts.Create(ctx, 10*time.Minute)
	resp.Diagnostics.Append(d...)
	name := m.Name.ValueString()
	if _, err := r.backend.GetApplication(ctx, name); err == nil {
		resp.Diagnostics.AddAttributeError(path.Root("name"), "Application already exists",
			"An application named "+name+" exists: import it (terraform import) instead.")
		return
	}
	written, w := r.apply(ctx, &m, timeout, &resp.Diagnostics)
	if !written {
		return
	}
	switch {
	case w.end == rolloutHalted || w.end == rolloutFailed && w.progress == nil:
		// A first version that rolled back or paused, or (without steps)
		// failed on devices: there is no earlier version to go back to,
		// and an error with the application in the state would taint it
		// (the next apply would delete it everywhere and create it again).
		// The provider does that deletion now, and keeps nothing.
		del := r.backend.DeleteApplication(ctx, name)
		if del == nil || isNotFound(del) {
			resp.Diagnostics.AddError(w.summary, w.detail+"\n\nNothing was created: a first version has no earlier one to keep, so the provider "+
				"deleted application "+name+" from the gateway (no device keeps it) rather than leave it tainted. Fix the module and apply again: "+
				"the next plan creates it.")
			return
		}
		resp.Diagnostics.AddError(w.summary, w.detail+"\n\nThe application could not be deleted after its first rollout halted ("+
			del.Error()+"): it is saved in the state, tainted.")
	case w.end == rolloutTimedOut:
		resp.Diagnostics.AddWarning(w.summary+" (application created)", w.detail+"\n\nApplication "+name+" was created and the gateway keeps "+
			"rolling it out (devices that are offline get it when they reconnect). This is a warning, not an error: an error would taint the "+
			"application and make the next apply delete it from every device. With steps, the next plan shows the update pending until the "+
			"rollout completes, and its apply waits again.")
	case w.end == rolloutFailed:
		// Steps: the version passed every step's gates, and devices failed
		// after the rollout completed. It is the application's version
		// now: a warning (an error would taint it), the failures named.
		resp.Diagnostics.AddWarning(w.summary+" (application created)", w.detail+"\n\nApplication "+name+" passed its rollout's steps and "+
			"was created; the devices named failed after it completed. The application's status shows them.")
	}
	m.ModulePath, m.ModuleBase64 = types.StringNull(), types.StringNull() // write-only
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

func (r *applicationResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	ctx, end := startOp(ctx, "wasmbed_application", "read")
	defer end(&resp.Diagnostics)
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
	m.fill(ctx, &a, true)
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

// Update writes the new spec and waits for its rollout. An update that
// fails never taints (Terraform taints only on create); when the rollout
// does not complete (rolled back, paused, failed or timed out) the state
// records what the devices were brought to (deployedRelease: the last
// version that passed), so the next plan shows the update as pending and
// applying a fixed module rolls it out again.
func (r *applicationResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	ctx, end := startOp(ctx, "wasmbed_application", "update")
	defer end(&resp.Diagnostics)
	var m applicationModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &m)...)
	moduleSource(ctx, req.Config, &m, &resp.Diagnostics)
	if resp.Diagnostics.HasError() {
		return
	}
	timeout, d := m.Timeouts.Update(ctx, 10*time.Minute)
	resp.Diagnostics.Append(d...)
	written, w := r.apply(ctx, &m, timeout, &resp.Diagnostics)
	if !written {
		return
	}
	if w.end != rolloutDone {
		name := m.Name.ValueString()
		detail := w.detail
		if a, err := r.backend.GetApplication(ctx, name); err == nil {
			m.fill(ctx, &a, true)
			if rel := deployedRelease(&a); rel.SHA256 != a.SHA256 || rel.Version != a.Version {
				was := "no version (none passed yet)"
				if rel.SHA256 != "" {
					was = "version " + rel.Version
				}
				detail += fmt.Sprintf("\n\nThe state records %s, what the devices were brought to, so the next plan shows the update to %s again", was, a.Version)
				if w.end == rolloutTimedOut {
					detail += ": the gateway keeps rolling it out, and the next apply waits for it again."
				} else {
					detail += fmt.Sprintf(": fix the module and apply, or retry this one as is with POST /v1/applications/%s/rollout/resume.", name)
				}
			}
		}
		resp.Diagnostics.AddError(w.summary, detail)
	}
	m.ModulePath, m.ModuleBase64 = types.StringNull(), types.StringNull() // write-only
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

// Delete removes the application and waits (up to the delete timeout) until
// the devices confirm; devices still holding it then (offline ones) get a
// warning: they remove it when they reconnect.
func (r *applicationResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	ctx, end := startOp(ctx, "wasmbed_application", "delete")
	defer end(&resp.Diagnostics)
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
	ctx, end := startOp(ctx, "wasmbed_application", "import")
	defer end(&resp.Diagnostics)
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("id"), req.ID)...)
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("name"), req.ID)...)
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("wait_for_rollout"), true)...)
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("timeouts"),
		timeouts.Value{Object: types.ObjectNull(map[string]attr.Type{"create": types.StringType, "update": types.StringType, "delete": types.StringType})})...)
}
